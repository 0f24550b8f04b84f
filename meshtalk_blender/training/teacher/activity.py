"""When the speaker talks and when they pause, from the phoneme labels."""
from __future__ import annotations

import numpy as np

from ..speech import ipa
from ..speech.utterance import Phoneme


def speech_intervals(phonemes: list[Phoneme]) -> list[tuple[float, float]]:
    """(start, end) s of each stretch of consecutive non-silence phonemes."""
    intervals: list[list[float]] = []
    for phoneme in phonemes:
        if phoneme.symbol == ipa.SILENCE:
            continue
        if intervals and abs(intervals[-1][1] - phoneme.start) < 1e-6:
            intervals[-1][1] = phoneme.end
        else:
            intervals.append([phoneme.start, phoneme.end])
    return [(start, end) for start, end in intervals]


def pause_intervals(phonemes: list[Phoneme]) -> list[tuple[float, float]]:
    """(start, end) s of every silence segment, including the leading and trailing ones."""
    return [(p.start, p.end) for p in phonemes if p.symbol == ipa.SILENCE]


def is_speaking(phonemes: list[Phoneme], times: np.ndarray) -> np.ndarray:
    """(T,) bool: True where ``times`` fall inside a speech interval."""
    speaking = np.zeros(len(times), bool)
    for start, end in speech_intervals(phonemes):
        speaking |= (times >= start) & (times < end)
    return speaking
