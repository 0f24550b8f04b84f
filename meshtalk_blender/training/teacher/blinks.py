"""Blinks: a random process with a person's rate, timing and shape.

Targets (docs: face-motion-facts.md): about 21 blinks per minute in conversation, drawn
per speaker from a log-normal (Style.blink_rate); more blinks in pauses and just after a
phrase ends, fewer mid-phrase (Nakano & Kitazawa 2010); the lid closes in ~60-140 ms,
stays closed briefly, and reopens 1.6-2.2 times slower; about one blink in five does
not close completely.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ...core.face import ARKIT_INDEX, ARKIT_NAMES
from ..speech.utterance import Phoneme
from .activity import is_speaking, speech_intervals
from ...core.envelopes import event_times, pulse

GRID_STEP = 0.01  # s, resolution of the random event times
REFRACTORY = 0.45  # s, no blink starts while the previous one is under way
PAUSE_BOOST = 2.0  # rate factor while not speaking
PHRASE_END_BOOST = 2.5  # extra rate factor just after a phrase ends
PHRASE_END_WINDOW = 0.6  # s after the phrase end that the extra factor covers
SPEECH_FACTOR = 0.75  # rate factor while speaking
INCOMPLETE_PROBABILITY = 0.2


class Blink(NamedTuple):
    """One blink: times in s, ``amplitude`` 1 = lids fully closed."""

    onset: float
    close: float
    hold: float
    open: float
    amplitude: float

    @property
    def duration(self) -> float:
        return self.close + self.hold + self.open


def blink_intensity(phonemes: list[Phoneme], grid: np.ndarray, rate_per_minute: float) -> np.ndarray:
    """(G,) blinks per second on ``grid`` (s): the speaker's rate shaped by speech.

    The shape factors are renormalised to mean 1 over the sequence so that the expected
    number of blinks stays rate x duration. The dead time after each blink is
    compensated where it applies: a dead-time process asked to fire at rate q fires at
    q / (1 + q * dead), so asking for r / (1 - r * dead) gives r.
    """
    factor = np.where(is_speaking(phonemes, grid), SPEECH_FACTOR, PAUSE_BOOST)
    for _, end in speech_intervals(phonemes):
        factor[(grid >= end) & (grid < end + PHRASE_END_WINDOW)] *= PHRASE_END_BOOST
    wanted = factor / factor.mean() * rate_per_minute / 60.0
    return wanted / np.maximum(1.0 - wanted * REFRACTORY, 0.2)


def draw_blink(rng: np.random.Generator, onset: float) -> Blink:
    close = float(np.clip(rng.lognormal(np.log(0.09), 0.2), 0.06, 0.14))
    hold = float(np.clip(rng.lognormal(np.log(0.05), 0.6), 0.01, 0.3))
    reopen = close * float(rng.uniform(1.6, 2.2))
    complete = rng.random() >= INCOMPLETE_PROBABILITY
    amplitude = 1.0 if complete else float(rng.uniform(0.45, 0.9))
    return Blink(onset, close, hold, reopen, amplitude)


def draw_blinks(rng: np.random.Generator, phonemes: list[Phoneme], duration: float,
                rate_per_minute: float, extra_onsets: np.ndarray | None = None) -> list[Blink]:
    """Blinks over [0, duration] s. ``extra_onsets`` (s) are blinks that something else
    triggers (large gaze shifts); they count toward the rate and obey the same dead
    time."""
    extra = 0 if extra_onsets is None else len(extra_onsets)
    spontaneous_rate = max(rate_per_minute - 60.0 * extra / max(duration, 1e-3), 0.5 * rate_per_minute)
    grid = np.arange(0.0, duration, GRID_STEP)
    onsets = event_times(rng, blink_intensity(phonemes, grid, spontaneous_rate), GRID_STEP, REFRACTORY)
    if extra:
        onsets = np.sort(np.concatenate([onsets, extra_onsets]))
        kept = []
        for onset in onsets:
            if not kept or onset - kept[-1] >= REFRACTORY:
                kept.append(onset)
        onsets = np.array(kept)
    return [draw_blink(rng, float(onset)) for onset in onsets]


def blink_weights(blinks: list[Blink], times: np.ndarray) -> np.ndarray:
    """(T, 52) ARKit weights with eyeBlinkLeft/Right from ``blinks`` (others zero)."""
    closure = np.zeros(len(times))
    for blink in blinks:
        # The reopening slows toward its end (release_power > 1), as lids do.
        shape = pulse(times, blink.onset, blink.close, blink.hold, blink.open, blink.amplitude,
                      release_power=1.4)
        closure = np.maximum(closure, shape)
    weights = np.zeros((len(times), len(ARKIT_NAMES)))
    weights[:, ARKIT_INDEX["eyeBlinkLeft"]] = closure
    weights[:, ARKIT_INDEX["eyeBlinkRight"]] = closure
    return weights
