"""Real audio for tests, generated: a source-filter imitation of speech.

A glottal pulse train (with pitch movement) shaped by time-varying vowel formants,
interrupted by noise bursts (consonants) and silent pauses. Not intelligible, but it has
speech's spectral and loudness structure, which is what the audio front end sees.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

VOWEL_FORMANTS = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410)]


def speech_like(seconds: float, rate: int = 16000, seed: int = 0, pauses: bool = True) -> np.ndarray:
    """(N,) float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    count = int(seconds * rate)
    out = np.zeros(count, dtype=np.float64)
    position = 0
    while position < count:
        length = int(rng.uniform(0.08, 0.25) * rate)
        end = min(count, position + length)
        kind = rng.uniform()
        if pauses and kind < 0.15:
            pass  # silence
        elif kind < 0.35:
            out[position:end] = rng.normal(0, 0.05, end - position)  # fricative-like noise
        else:
            out[position:end] = _vowel(end - position, rate, rng)
        position = end
    return (out / max(1e-9, np.abs(out).max()) * 0.8).astype(np.float32)


def speech_with_a_pause(rate: int = 16000) -> np.ndarray:
    """(3 s,) float32: 1 s of speech without pauses, 1 s of digital silence, 1 s more."""
    return np.concatenate([speech_like(1.0, rate, seed=1, pauses=False), np.zeros(rate, np.float32),
                           speech_like(1.0, rate, seed=2, pauses=False)])


def _vowel(length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    f0 = rng.uniform(90, 220) * (1 + 0.1 * np.sin(np.linspace(0, np.pi, length)))
    phase = np.cumsum(f0 / rate)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    voice = pulses.astype(np.float64)
    for formant, bandwidth in zip(VOWEL_FORMANTS[rng.integers(len(VOWEL_FORMANTS))], (80, 100, 120)):
        b, a = _resonator(formant, bandwidth, rate)
        voice = voice + signal.lfilter(b, a, pulses)
    envelope = np.hanning(length) ** 0.5
    return voice * envelope * 0.3


def _resonator(frequency: float, bandwidth: float, rate: int):
    radius = np.exp(-np.pi * bandwidth / rate)
    theta = 2 * np.pi * frequency / rate
    return [1 - radius], [1, -2 * radius * np.cos(theta), radius * radius]
