"""Cohen-Massaro coarticulation: articulator tracks from timed visemes.

Each segment s has, per articulator, a target T_s and a dominance that peaks over the
segment's core and decays outside it:

    D_s(t) = a_s * exp(-(d / tau) ** 1.3)

where d (s) is the distance from t to the core (the middle half of the segment) and
tau is the anticipation time before the segment and the carry-over time after it. The
articulator's value is the dominance-weighted mean of the targets, sum(D T) / sum(D).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..speech.utterance import Phoneme
from .visemes import ANTICIPATION, CARRY_OVER, JAW, LIP_OPEN, Viseme, viseme_parts

DOMINANCE_EXPONENT = 1.3
CORE_FRACTION = 0.5  # the middle half of a segment carries its full dominance
SILENCE_REACH = 0.5  # a pause's own dominance reaches half as far as speech's does
INFLUENCE = 0.8  # s: (0.8 / 0.16) ** 1.3 = 8.1, so the longest-reaching dominance is < 3e-4 here


class VisemeSegment(NamedTuple):
    """One timed viseme: a phoneme, or one half of a diphthong."""

    viseme: Viseme
    start: float
    end: float
    phoneme_index: int


def viseme_segments(phonemes: list[Phoneme]) -> list[VisemeSegment]:
    """Timed visemes for phonemes; a diphthong's first vowel takes 55 % of its time."""
    segments = []
    for index, phoneme in enumerate(phonemes):
        parts = viseme_parts(phoneme.symbol)
        if len(parts) == 1:
            segments.append(VisemeSegment(parts[0], phoneme.start, phoneme.end, index))
        else:
            middle = phoneme.start + 0.55 * (phoneme.end - phoneme.start)
            segments.append(VisemeSegment(parts[0], phoneme.start, middle, index))
            segments.append(VisemeSegment(parts[1], middle, phoneme.end, index))
    return segments


def articulator_tracks(segments: list[VisemeSegment], times: np.ndarray,
                       jaw_scale: np.ndarray, lip_scale: np.ndarray,
                       articulation: float = 1.0) -> np.ndarray:
    """(T, 5) articulator values at ``times`` (T,) s.

    ``jaw_scale`` and ``lip_scale`` (S,) scale each segment's jaw and lip-opening target
    (loudness: a louder vowel opens wider). ``articulation`` scales every target.
    """
    targets = np.stack([s.viseme.target for s in segments])  # (S, 5)
    dominance = np.stack([s.viseme.dominance for s in segments])  # (S, 5)
    targets = targets.copy()
    targets[:, JAW] *= jaw_scale
    targets[:, LIP_OPEN] *= lip_scale
    targets *= articulation
    numerator = np.zeros((len(times), targets.shape[1]))
    denominator = np.full((len(times), targets.shape[1]), 1e-9)
    for index, segment in enumerate(segments):
        reach = 1.0 if segment.viseme.is_speech else SILENCE_REACH
        margin = 0.5 * (1.0 - CORE_FRACTION) * (segment.end - segment.start)
        core_start, core_end = segment.start + margin, segment.end - margin
        # Beyond INFLUENCE every dominance is below 3e-4 of its peak: skip those frames.
        first, last = np.searchsorted(times, [core_start - INFLUENCE, core_end + INFLUENCE])
        near = times[first:last, None]  # (n, 1)
        before = np.clip(core_start - near, 0.0, None) / (ANTICIPATION * reach)
        after = np.clip(near - core_end, 0.0, None) / (CARRY_OVER * reach)
        weights = dominance[index] * np.exp(-((before + after) ** DOMINANCE_EXPONENT))  # (n, 5)
        numerator[first:last] += weights * targets[index]
        denominator[first:last] += weights
    return np.clip(numerator / denominator, 0.0, 1.0)
