"""Phoneme and word times from a neural voice's own per-token durations.

Piper (VITS) and Kokoro (StyleTTS 2) expand every input token to a whole number of
output frames before they make any sound, so the audio is built from the durations: a
token's time span is exact, not estimated. Input tokens are characters, several per
phoneme (``ˈ``, ``ɑ``, ``ː`` for ``ˈɑː``), plus fillers (Piper's blank between tokens,
word spaces) and pauses (punctuation, sentence edges).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import ipa
from .utterance import Word

FILLER = -1  # a token that belongs to no phoneme and is not a pause (blank, space)
PAUSE = -2  # punctuation or a sentence edge: its time is silence


@dataclass
class TokenPlan:
    """What each model input token is.

    ``owners[k]`` is the index of the phoneme that token k spells, or FILLER, or PAUSE.
    ``phonemes`` are normalised IPA symbols; ``word_of_phoneme[i]`` is phoneme i's word.
    """

    owners: list[int]
    phonemes: list[str]
    word_of_phoneme: list[int]
    word_texts: list[str]


def timed_segments(plan: TokenPlan, frames: np.ndarray, frame_s: float):
    """Token durations -> (IPA segments, words) in seconds.

    ``frames`` (K,) is the number of output frames per token, ``frame_s`` one frame's
    length. A phoneme spans its own tokens. The time between two phonemes is silence
    when a pause token with any duration lies in it; otherwise (blanks, spaces) it is
    shared at its midpoint, since there the model is moving from one sound to the next.
    """
    if len(frames) != len(plan.owners):
        raise ValueError(f"{len(frames)} durations for {len(plan.owners)} tokens")
    ends = np.cumsum(np.asarray(frames, dtype=np.float64)) * frame_s
    starts = ends - np.asarray(frames, dtype=np.float64) * frame_s
    count = len(plan.phonemes)
    spans = np.full((count, 2), np.nan)
    for token, owner in enumerate(plan.owners):
        if owner >= 0:
            if np.isnan(spans[owner, 0]):
                spans[owner, 0] = starts[token]
            spans[owner, 1] = ends[token]
    spoken = [i for i in range(count) if not np.isnan(spans[i, 0]) and spans[i, 1] > spans[i, 0]]
    segments = []
    segment_of_phoneme = {}
    for position, index in enumerate(spoken):
        start, end = spans[index]
        if position > 0:
            previous_end = spans[spoken[position - 1], 1]
            if start > previous_end:
                between = [t for t, owner in enumerate(plan.owners)
                           if owner == PAUSE and frames[t] > 0
                           and starts[t] >= previous_end and ends[t] <= start]
                if between:
                    segments.append((ipa.SILENCE, previous_end, start))
                else:
                    middle = (previous_end + start) / 2
                    segments[-1] = (segments[-1][0], segments[-1][1], middle)
                    start = middle
        segment_of_phoneme[index] = len(segments)
        segments.append((plan.phonemes[index], float(start), float(end)))
    words = []
    for word_index, text in enumerate(plan.word_texts):
        members = [segments[segment_of_phoneme[i]] for i in spoken
                   if plan.word_of_phoneme[i] == word_index]
        if members:
            words.append(Word(text, members[0][1], members[-1][2]))
    return segments, words
