"""One synthesised utterance: 16 kHz audio with its phoneme and word timings.

Every engine returns the same thing, so everything downstream (teacher animation,
datasets, augmentation) is written once. Phoneme symbols are normalised IPA (see
``ipa.py``); silence is the explicit symbol ``ipa.SILENCE``. The phoneme list tiles the
whole utterance: the first phoneme starts at 0, each one starts where the previous one
ends, and the last one ends at the audio's duration.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import soxr

from . import ipa

SAMPLE_RATE = 16000


class Phoneme(NamedTuple):
    """One phoneme segment: normalised IPA symbol (or ``ipa.SILENCE``), start and end in s."""

    symbol: str
    start: float
    end: float


class Word(NamedTuple):
    """One word as the engine read it (numbers may be spelled out), start and end in s."""

    text: str
    start: float
    end: float


@dataclass
class Utterance:
    """Audio (float32 mono, ``SAMPLE_RATE`` Hz, shape (N,)) with phonemes tiling it.

    ``seed`` is the seed that chose the text and the voice's prosody; re-running the same
    voice with the same text and seed gives the same audio and timings.
    """

    audio: np.ndarray
    phonemes: list[Phoneme]
    words: list[Word]
    text: str
    voice_id: str
    language: str
    seed: int
    sample_rate: int = SAMPLE_RATE
    meta: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Length of the audio in seconds."""
        return len(self.audio) / self.sample_rate


def to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Resample mono audio (N,) at ``sample_rate`` to float32 at 16 kHz."""
    audio = np.asarray(audio, dtype=np.float32)
    if sample_rate == SAMPLE_RATE:
        return audio
    return soxr.resample(audio, sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)


def tile_phonemes(segments: list[tuple[str, float, float]], duration: float) -> list[Phoneme]:
    """Turn engine segments into phonemes that tile [0, duration] exactly.

    ``segments`` are (symbol, start_s, end_s) in time order, already normalised IPA or
    ``ipa.SILENCE``. Gaps become silence, overlaps are cut at the later segment's start,
    segments shorter than 1 ms are dropped (engines emit zero-length markers), adjacent
    silences are merged, and the ends are stretched or padded with silence so the list
    covers the audio. Engines round their times to ms or frames, so a last segment that
    overshoots the audio by a little is clipped to it.
    """
    tiled: list[list] = []
    cursor = 0.0
    for symbol, start, end in segments:
        start = max(start, cursor)
        end = min(end, duration)
        if end - start < 1e-3:
            continue
        if start - cursor >= 1e-3:
            tiled.append([ipa.SILENCE, cursor, start])
        elif tiled:
            tiled[-1][2] = start  # close a sub-millisecond gap
        else:
            start = 0.0
        tiled.append([symbol, start, end])
        cursor = end
    if duration - cursor >= 1e-3:
        tiled.append([ipa.SILENCE, cursor, duration])
    elif tiled:
        tiled[-1][2] = duration
    merged: list[list] = []
    for segment in tiled:
        if merged and segment[0] == ipa.SILENCE and merged[-1][0] == ipa.SILENCE:
            merged[-1][2] = segment[2]
        else:
            merged.append(segment)
    if not merged:
        merged = [[ipa.SILENCE, 0.0, duration]]
    return [Phoneme(symbol, float(start), float(end)) for symbol, start, end in merged]


def check_tiling(phonemes: list[Phoneme], duration: float, tolerance: float = 1e-6) -> None:
    """Raise ValueError unless ``phonemes`` tile [0, duration] in order with no gaps."""
    if not phonemes:
        raise ValueError("an utterance needs at least one phoneme segment")
    if abs(phonemes[0].start) > tolerance:
        raise ValueError(f"first phoneme starts at {phonemes[0].start:.4f} s, not 0")
    if abs(phonemes[-1].end - duration) > tolerance:
        raise ValueError(f"last phoneme ends at {phonemes[-1].end:.4f} s, audio is {duration:.4f} s")
    for before, after in zip(phonemes, phonemes[1:]):
        if abs(before.end - after.start) > tolerance:
            raise ValueError(f"gap or overlap between {before} and {after}")
    for phoneme in phonemes:
        if phoneme.end <= phoneme.start:
            raise ValueError(f"empty or reversed segment {phoneme}")


def join_phrases(
    phrases: list[tuple[np.ndarray, list[tuple[str, float, float]], list[Word]]],
    pauses_s: list[float],
) -> tuple[np.ndarray, list[Phoneme], list[Word]]:
    """Concatenate phrases (16 kHz audio, phoneme segments, words) with silent pauses.

    ``pauses_s`` has one entry per gap (len(phrases) - 1). Returns the joined audio (N,),
    phonemes tiling it, and words with shifted times. Used to put pauses of a chosen
    length between phrases whatever the engine.
    """
    if len(pauses_s) != len(phrases) - 1:
        raise ValueError("need exactly one pause between each pair of phrases")
    pieces, segments, words = [], [], []
    offset = 0.0
    for index, (audio, phrase_segments, phrase_words) in enumerate(phrases):
        phrase_duration = len(audio) / SAMPLE_RATE
        phrase_phonemes = tile_phonemes(phrase_segments, phrase_duration)
        segments.extend((p.symbol, p.start + offset, p.end + offset) for p in phrase_phonemes)
        words.extend(Word(w.text, w.start + offset, w.end + offset) for w in phrase_words)
        pieces.append(audio)
        offset += phrase_duration
        if index < len(pauses_s):
            gap = np.zeros(int(round(pauses_s[index] * SAMPLE_RATE)), np.float32)
            pieces.append(gap)
            offset += len(gap) / SAMPLE_RATE
    joined = np.concatenate(pieces).astype(np.float32)
    return joined, tile_phonemes(segments, len(joined) / SAMPLE_RATE), words
