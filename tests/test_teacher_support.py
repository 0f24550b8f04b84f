"""Utterances made to order for the teacher tests: chosen phonemes and timings, with
audio whose loudness and pitch are known (a harmonic tone on voiced phonemes, noise on
the others, silence in pauses). No speech engine is involved."""

from __future__ import annotations

import numpy as np

from meshtalk_blender.core.face import load_bundled_head
from meshtalk_blender.training.speech import ipa
from meshtalk_blender.training.speech.utterance import SAMPLE_RATE, Phoneme, Utterance
from meshtalk_blender.training.teacher.style import Style

QUIET_STYLE = Style(blink_rate=20.0, articulation=1.0, jaw_gain=1.0, expressiveness=1.0, accent_follow=0.6,
                    smile=0.0, gaze_aversion=0.3, fixation_median=1.0)


def make_utterance(plan: list[tuple[str, float]], f0=None, level=None, seed: int = 0) -> Utterance:
    """``plan``: (IPA symbol or 'sil', seconds) in order. ``f0(times) -> Hz`` gives the
    pitch (default 120 Hz), ``level(times) -> amplitude`` the loudness (default 0.3)."""
    phonemes, start = [], 0.0
    for symbol, length in plan:
        phonemes.append(Phoneme(symbol, start, start + length))
        start += length
    count = int(round(start * SAMPLE_RATE))
    phonemes[-1] = Phoneme(phonemes[-1].symbol, phonemes[-1].start, count / SAMPLE_RATE)
    times = np.arange(count) / SAMPLE_RATE
    pitch = np.full(count, 120.0) if f0 is None else f0(times)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, 8))
    noise = np.random.default_rng(seed).standard_normal(count) * 0.3
    audio = np.zeros(count)
    for phoneme in phonemes:
        inside = (times >= phoneme.start) & (times < phoneme.end)
        if phoneme.symbol == ipa.SILENCE:
            continue
        voiced = ipa.features(phoneme.symbol).manner in ("vowel", "nasal", "approximant", "lateral")
        audio[inside] = tone[inside] if voiced else noise[inside]
    amplitude = np.full(count, 0.3) if level is None else level(times)
    audio = (audio * amplitude * 0.3).astype(np.float32)
    return Utterance(audio, phonemes, [], "", "test-voice", "xx", seed)


def inner_lip_gap(vertices: np.ndarray) -> np.ndarray:
    """(T, V, 3) -> (T,) largest distance (m) between paired upper and lower inner-lip
    vertices: 0 when the lips are sealed all along."""
    head = load_bundled_head()
    upper, lower = head.index_sets["upper_inner_lip"], head.index_sets["lower_inner_lip"]
    return np.linalg.norm(vertices[:, upper] - vertices[:, lower], axis=2).max(axis=1)


def frames_in(times: np.ndarray, start: float, end: float) -> np.ndarray:
    """Indices of frames with start <= time <= end, or the nearest frame to the middle
    if none falls inside."""
    inside = np.flatnonzero((times >= start) & (times <= end))
    if len(inside) == 0:
        inside = np.array([int(np.argmin(np.abs(times - 0.5 * (start + end))))])
    return inside
