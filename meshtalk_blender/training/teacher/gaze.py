"""Where the eyes look: fixations joined by saccades (core/gaze.py, which the add-on
also uses at run time), with the phrases where the aligned phonemes put them.
"""
from __future__ import annotations

import numpy as np

from ...core.gaze import Saccade, gaze_angles, gaze_weights  # noqa: F401  (the teacher's gaze is the add-on's)
from ...core.gaze import draw_saccades as draw_saccades_at
from ..speech.utterance import Phoneme
from .activity import speech_intervals


def draw_saccades(rng: np.random.Generator, phonemes: list[Phoneme], duration: float,
                  fixation_median: float, aversion: float) -> list[Saccade]:
    """The teacher's gaze: phrases start where the aligned phonemes say."""
    phrase_starts = np.array([start for start, _ in speech_intervals(phonemes)])
    return draw_saccades_at(rng, phrase_starts, duration, fixation_median, aversion)
