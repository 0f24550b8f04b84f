"""Eyebrow raises and frowns: partly tied to pitch accents, partly free.

Cave et al. (1996): rapid brow raises coincide with F0 rises in about 71 % of cases,
and about 38 % of brow movements happen while the speaker is not talking; raises start
slightly before the accented syllable and peak on it (Kim, Cvejic & Davis 2014). So a
detected accent gets a raise with the speaker's probability (Style.accent_follow) times
its prominence (bigger rises more often); free raises during speech number about 0.41
per accent raise (29 : 71); raises in pauses about 0.61 per raise during speech
(38 : 62). No raise starts within REFRACTORY of another, which thins the pause raises
when pauses are short. Frowns (browDown) are rare and free.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ...core.face import ARKIT_INDEX, ARKIT_NAMES
from ..speech.utterance import Phoneme
from .activity import pause_intervals, speech_intervals
from .envelopes import pulse, soft_union
from .prosody import PitchAccent

FREE_PER_ACCENT_RAISE = 0.29 / 0.71
PAUSE_PER_SPEECH_RAISE = 0.38 / 0.62
MIN_FREE_RAISES_PER_MINUTE = 1.5  # a monotone speaker still moves the brows sometimes
FROWNS_PER_MINUTE = 1.2
REFRACTORY = 1.0  # s between the onsets of two raises


class BrowEvent(NamedTuple):
    """A brow movement: ``kind`` 'accent', 'free', 'pause' (raises) or 'frown'; times
    in s; ``amplitude`` 0..1; ``outer`` left and right outer-brow share of it."""

    kind: str
    onset: float
    attack: float
    hold: float
    release: float
    amplitude: float
    outer_left: float
    outer_right: float

    @property
    def peak(self) -> float:
        return self.onset + self.attack


def accent_raise_probability(rise: float, accent_follow: float) -> float:
    """Chance that a pitch accent rising ``rise`` semitones gets a brow raise."""
    return accent_follow * float(np.clip((rise - 1.5) / 4.0, 0.1, 1.0))


def _spaced(events: list[BrowEvent]) -> list[BrowEvent]:
    """Drop raises that start within REFRACTORY of an earlier kept one (the list's
    order is the priority: accent raises come first)."""
    kept: list[BrowEvent] = []
    for event in events:
        if all(abs(event.onset - other.onset) >= REFRACTORY for other in kept):
            kept.append(event)
    return kept


def _raise(rng: np.random.Generator, kind: str, onset: float, attack: float, strength: float,
           expressiveness: float) -> BrowEvent:
    amplitude = float(np.clip(expressiveness * strength * rng.uniform(0.8, 1.1), 0.05, 1.0))
    symmetric = rng.uniform(0.55, 0.95)
    return BrowEvent(kind, onset, attack, float(rng.uniform(0.1, 0.4)), float(rng.uniform(0.3, 0.7)),
                     amplitude, float(symmetric * rng.uniform(0.9, 1.1)), float(symmetric * rng.uniform(0.9, 1.1)))


def _random_times(rng: np.random.Generator, intervals: list[tuple[float, float]], count: int) -> np.ndarray:
    """``count`` uniform times inside ``intervals`` (longer intervals get more)."""
    lengths = np.array([end - start for start, end in intervals])
    if count == 0 or lengths.sum() <= 0:
        return np.zeros(0)
    picks = rng.choice(len(intervals), size=count, p=lengths / lengths.sum())
    return np.array([intervals[i][0] + rng.random() * lengths[i] for i in picks])


def draw_brow_events(rng: np.random.Generator, phonemes: list[Phoneme], accents: list[PitchAccent],
                     expressiveness: float, accent_follow: float) -> list[BrowEvent]:
    events = []
    for accent in accents:
        if rng.random() >= accent_raise_probability(accent.rise, accent_follow):
            continue
        lead = rng.uniform(0.05, 0.2)  # the raise starts a little before the rise
        onset = accent.rise_start - lead
        attack = float(np.clip(accent.peak - onset, 0.12, 0.45))
        strength = np.clip(0.25 + 0.08 * accent.rise, 0.25, 0.8)
        events.append(_raise(rng, "accent", onset, attack, strength, expressiveness))

    events = _spaced(events)

    speaking = speech_intervals(phonemes)
    speech_minutes = sum(end - start for start, end in speaking) / 60.0
    expected_free = max(FREE_PER_ACCENT_RAISE * len(events), MIN_FREE_RAISES_PER_MINUTE * speech_minutes)
    for time in _random_times(rng, speaking, int(rng.poisson(expected_free))):
        attack = rng.uniform(0.12, 0.3)
        events.append(_raise(rng, "free", time - attack, attack, rng.uniform(0.25, 0.6), expressiveness))

    pauses = [(start, end) for start, end in pause_intervals(phonemes) if end - start >= 0.15]
    for time in _random_times(rng, pauses, int(rng.poisson(PAUSE_PER_SPEECH_RAISE * len(events)))):
        attack = rng.uniform(0.15, 0.35)
        events.append(_raise(rng, "pause", time, attack, rng.uniform(0.2, 0.55), expressiveness))
    events = _spaced(events)

    duration = phonemes[-1].end
    for time in rng.uniform(0.0, duration, int(rng.poisson(FROWNS_PER_MINUTE * duration / 60.0))):
        amplitude = float(np.clip(expressiveness * rng.uniform(0.12, 0.35), 0.05, 0.6))
        side = rng.uniform(0.85, 1.0, size=2)
        events.append(BrowEvent("frown", float(time), float(rng.uniform(0.2, 0.4)), float(rng.uniform(0.4, 1.5)),
                                float(rng.uniform(0.4, 0.8)), amplitude, float(side[0]), float(side[1])))
    return sorted(events, key=lambda event: event.onset)


def brow_weights(events: list[BrowEvent], times: np.ndarray) -> np.ndarray:
    """(T, 52) ARKit weights: browInnerUp, browOuterUp*, browDown* (others zero)."""
    channels = {name: [] for name in ("browInnerUp", "browOuterUpLeft", "browOuterUpRight",
                                      "browDownLeft", "browDownRight")}
    for event in events:
        shape = pulse(times, event.onset, event.attack, event.hold, event.release, event.amplitude)
        if event.kind == "frown":
            channels["browDownLeft"].append(shape * event.outer_left)
            channels["browDownRight"].append(shape * event.outer_right)
        else:
            channels["browInnerUp"].append(shape)
            channels["browOuterUpLeft"].append(shape * event.outer_left)
            channels["browOuterUpRight"].append(shape * event.outer_right)
    weights = np.zeros((len(times), len(ARKIT_NAMES)))
    for name, pulses in channels.items():
        weights[:, ARKIT_INDEX[name]] = soft_union(pulses, len(times))
    return weights
