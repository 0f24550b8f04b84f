"""Eyebrow raises and frowns drawn for a clip by seed: partly on pitch accents, partly free.

Cave et al. (1996): rapid brow raises coincide with F0 rises in about 71 % of cases,
and about 38 % of brow movements happen while the speaker is not talking; raises start
slightly before the accented syllable and peak on it (Kim, Cvejic & Davis 2014). So a
detected accent gets a raise with the speaker's probability (accent_follow) times its
prominence (bigger rises more often); free raises during speech number about 0.41 per
accent raise (29 : 71); raises in pauses about 0.61 per raise during speech (38 : 62).
No raise starts within REFRACTORY of another, which thins the pause raises when pauses
are short. Frowns (browDown) are rare and free.

The training teacher draws its brows with these functions (speech and pauses from its
phoneme labels). The bundled model learned them only faintly (browInnerUp's standard
deviation 0.004 on real speech, the teacher's 0.14-0.2 on its corpus), so the add-on's ARKit output and the
command line's weight outputs add brows drawn here for the take's seed, the speech and
pauses found from the clip's level (core.pauses) and the accents from its pitch
(core.prosody): "Resample Upper Face" gives new brows with new blinks and gaze. A model
trained with the brow term (training.losses) samples its own; they are drawn here only
as far as its own leave room (``drawn_share``).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .envelopes import pulse, soft_union
from .face.arkit_names import ARKIT_INDEX, ARKIT_NAMES
from .prosody import PitchAccent

FREE_PER_ACCENT_RAISE = 0.29 / 0.71
PAUSE_PER_SPEECH_RAISE = 0.38 / 0.62
MIN_FREE_RAISES_PER_MINUTE = 1.5  # a monotone speaker still moves the brows sometimes
FROWNS_PER_MINUTE = 1.2
REFRACTORY = 1.0  # s between the onsets of two raises
# At run time: the middle of the teacher's speaker styles (expressiveness e^N(0, 0.3),
# accent_follow 0.35-0.75).
EXPRESSIVENESS = 1.0
ACCENT_FOLLOW = 0.55
BROW_NAMES = ("browInnerUp", "browOuterUpLeft", "browOuterUpRight", "browDownLeft", "browDownRight")
MIN_PAUSE_SECONDS = 0.15  # shorter silences are not pauses a brow can rise in
# browInnerUp's standard deviation over a line of the teacher's corpus (the median of the
# synthetic corpus's first 200 lines; at least a quarter of them have no raise at all).
TEACHER_BROW_STD = 0.136


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


def draw_brow_events(rng: np.random.Generator, accents: list[PitchAccent], speaking: list[tuple[float, float]],
                     pauses: list[tuple[float, float]], duration: float, expressiveness: float = EXPRESSIVENESS,
                     accent_follow: float = ACCENT_FOLLOW) -> list[BrowEvent]:
    """The brow movements of a clip `duration` s long with its `accents`, stretches of
    `speaking` and `pauses` ((start, end) s), sorted by onset."""
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

    speech_minutes = sum(end - start for start, end in speaking) / 60.0
    expected_free = max(FREE_PER_ACCENT_RAISE * len(events), MIN_FREE_RAISES_PER_MINUTE * speech_minutes)
    for time in _random_times(rng, speaking, int(rng.poisson(expected_free))):
        attack = rng.uniform(0.12, 0.3)
        events.append(_raise(rng, "free", time - attack, attack, rng.uniform(0.25, 0.6), expressiveness))

    pauses = [(start, end) for start, end in pauses if end - start >= MIN_PAUSE_SECONDS]
    for time in _random_times(rng, pauses, int(rng.poisson(PAUSE_PER_SPEECH_RAISE * len(events)))):
        attack = rng.uniform(0.15, 0.35)
        events.append(_raise(rng, "pause", time, attack, rng.uniform(0.2, 0.55), expressiveness))
    events = _spaced(events)

    for time in rng.uniform(0.0, duration, int(rng.poisson(FROWNS_PER_MINUTE * duration / 60.0))):
        amplitude = float(np.clip(expressiveness * rng.uniform(0.12, 0.35), 0.05, 0.6))
        side = rng.uniform(0.85, 1.0, size=2)
        events.append(BrowEvent("frown", float(time), float(rng.uniform(0.2, 0.4)), float(rng.uniform(0.4, 1.5)),
                                float(rng.uniform(0.4, 0.8)), amplitude, float(side[0]), float(side[1])))
    return sorted(events, key=lambda event: event.onset)


def brow_weights(events: list[BrowEvent], times: np.ndarray) -> np.ndarray:
    """(T, 52) ARKit weights: browInnerUp, browOuterUp*, browDown* (others zero)."""
    channels = {name: [] for name in BROW_NAMES}
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


def speech_and_pauses(levels_db: np.ndarray, fps: float) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """((start, end) s of speaking, of pauses) from (T,) frame levels: pauses are
    core.pauses' quiet spans of MIN_PAUSE_SECONDS or more, speaking is the rest."""
    from .pauses import pause_spans

    spans = pause_spans(levels_db, fps, MIN_PAUSE_SECONDS)
    pauses = [(first / fps, end / fps) for first, end in spans]
    speaking, time = [], 0.0
    for start, end in pauses + [(len(levels_db) / fps, len(levels_db) / fps)]:
        if start > time:
            speaking.append((time, start))
        time = end
    return speaking, pauses


def clip_brows(levels_db: np.ndarray, accents: list[PitchAccent], fps: float, seed: int,
               names: Sequence[str]) -> np.ndarray:
    """(T, len(names)) float32 brow weights (the BROW_NAMES among `names`; others 0)
    for a clip with (T,) frame levels and its pitch `accents`, drawn for `seed`."""
    count = len(levels_db)
    speaking, pauses = speech_and_pauses(levels_db, fps)
    events = draw_brow_events(np.random.default_rng([int(seed), 0xB80]), accents, speaking, pauses, count / fps)
    weights = brow_weights(events, np.arange(count) / fps)
    return np.stack([weights[:, ARKIT_INDEX[name]] if name in BROW_NAMES else np.zeros(count)
                     for name in names], axis=1).reshape(count, len(names)).astype(np.float32)


def take_accents(info) -> list[PitchAccent]:
    """The pitch accents of a whole clip (core.audio's ClipInfo)."""
    from . import audio
    from .prosody import clip_pitch_semitones, pitch_accents

    return pitch_accents(*clip_pitch_semitones(audio.NormalisedSamples(info).get, info.num_samples))


def take_brows(info, count: int, fps: float, seed: int, names: Sequence[str]) -> np.ndarray:
    """(count, len(names)) brow weights for the clip `info` (core.audio's ClipInfo) at
    `fps`, drawn for `seed`."""
    from .pauses import clip_levels_db

    return clip_brows(clip_levels_db(info, count, fps), take_accents(info), fps, seed, names)


def drawn_share(weights: np.ndarray, names: Sequence[str]) -> float:
    """How much of the drawn brows a take of (T, K) `weights` gets: all of them where the
    model's own browInnerUp is still, less as it moves, none where it moves as much as
    the teacher's (TEACHER_BROW_STD), so that a model that samples its own brows is not
    given a second set on top."""
    if "browInnerUp" not in names or len(weights) < 2:
        return 1.0
    own = float(np.std(weights[:, list(names).index("browInnerUp")]))
    return float(np.clip(1.0 - own / TEACHER_BROW_STD, 0.0, 1.0))


def add_brows(weights: np.ndarray, names: Sequence[str], drawn: np.ndarray) -> np.ndarray:
    """(T, K) `weights` with `drawn` (T, K) brows, times `drawn_share`, joined to the
    brow columns as the teacher joins overlapping pulses (1 - (1 - a)(1 - b)): the
    model's own brow motion stays, the drawn raises come on top, nothing passes 1."""
    out = weights.copy()
    share = drawn_share(weights, names)
    for column, name in enumerate(names):
        if name in BROW_NAMES:
            model = np.clip(out[:, column], 0.0, 1.0)
            out[:, column] = 1.0 - (1.0 - model) * (1.0 - share * np.clip(drawn[:, column], 0.0, 1.0))
    return out
