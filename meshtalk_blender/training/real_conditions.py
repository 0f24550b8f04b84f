"""Recording conditions made from clean real speech, for the real-speech report.

Each condition takes a clean clip (N,) float32 at 16 kHz and a seeded generator and
returns (audio, time_scale): the processed clip, and how its times relate to the clean
one's (only "fast speech" changes time: 1 / 1.3). Phoneme timings of the clean clip,
times ``time_scale``, are those of the processed one.
- telephone: 300-3400 Hz, 8 kHz, 8-bit mu-law (G.711-like codec), a little line noise;
- outdoor: wind-like brown noise and traffic-like pink noise at 5-15 dB SNR, gusting;
- podcast: presence EQ, a fast compressor (4:1 over -24 dB), a small room (RT60 0.3-0.5 s);
- whisper: the clip's LPC envelope (order 18, 25 ms frames) driven by noise instead of
  its own residual: no voicing, the same articulation;
- fast: 1.3x faster with the pitch kept (phase vocoder with 16 ms frames, as the corpus).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import soxr
from scipy import signal

from .speech import augment
from .speech.utterance import SAMPLE_RATE

FAST_FACTOR = 1.3


def telephone(audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    narrow = augment.band_limit(audio, 300.0, 3400.0)
    eight = soxr.resample(narrow, SAMPLE_RATE, 8000)
    peak = max(float(np.abs(eight).max()), 1e-6)
    mu = 255.0
    coded = np.sign(eight / peak) * np.log1p(mu * np.abs(eight / peak)) / np.log1p(mu)
    coded = np.round(coded * 127) / 127  # 8 bits
    decoded = np.sign(coded) * ((1 + mu) ** np.abs(coded) - 1) / mu * peak
    back = soxr.resample(decoded.astype(np.float32), 8000, SAMPLE_RATE)[:len(audio)]
    back = augment.add_noise(back.astype(np.float32), float(rng.uniform(30, 40)), rng, "white")
    return augment._same_length(back, len(audio)).astype(np.float32), 1.0


def outdoor(audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    wind = augment.coloured_noise(len(audio), "brown", rng)
    traffic = augment.coloured_noise(len(audio), "pink", rng)
    gusts = 1.0 + 0.6 * np.sin(2 * np.pi * rng.uniform(0.2, 0.7) * np.arange(len(audio)) / SAMPLE_RATE
                               + rng.uniform(0, 2 * np.pi))
    noise = wind / (np.std(wind) + 1e-9) * gusts + traffic / (np.std(traffic) + 1e-9)
    snr = float(rng.uniform(5.0, 15.0))
    scale = np.sqrt(augment.speech_power(audio) / (np.mean(noise ** 2) + 1e-12) / 10 ** (snr / 10))
    return (audio + scale * noise).astype(np.float32), 1.0


def _compress(audio: np.ndarray, threshold_db: float = -24.0, ratio: float = 4.0) -> np.ndarray:
    """A feed-forward compressor with 5 ms attack and 80 ms release on a 10 ms RMS level."""
    level = np.sqrt(signal.lfilter([1 / 160], [1, -(1 - 1 / 160)], audio ** 2) + 1e-12)
    level_db = 20 * np.log10(level / (np.sqrt(np.mean(audio ** 2)) * 4 + 1e-12))
    gain_db = np.minimum(0.0, (threshold_db - level_db) * (1 - 1 / ratio))
    smoothed = np.empty_like(gain_db)
    attack, release = np.exp(-1 / (0.005 * SAMPLE_RATE)), np.exp(-1 / (0.08 * SAMPLE_RATE))
    current = 0.0
    for i, g in enumerate(gain_db):
        coefficient = attack if g < current else release
        current = coefficient * current + (1 - coefficient) * g
        smoothed[i] = current
    return audio * 10 ** (smoothed / 20)


def podcast(audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    presence = signal.lfilter(*signal.iirpeak(float(rng.uniform(2500, 4500)) / (SAMPLE_RATE / 2), 1.0), audio)
    shaped = audio + 0.5 * presence
    shaped = augment.band_limit(shaped.astype(np.float32), 80.0, None)
    compressed = _compress(shaped).astype(np.float32)
    roomy = augment.add_reverb(compressed, float(rng.uniform(0.3, 0.5)), float(rng.uniform(6, 12)), rng)
    return augment._same_length(roomy, len(audio)).astype(np.float32), 1.0


def whisper(audio: np.ndarray, rng: np.random.Generator, order: int = 18) -> tuple[np.ndarray, float]:
    import librosa

    frame, hop = 400, 200  # 25 ms, half overlap (Hann windows sum to one)
    window = np.hanning(frame + 1)[:-1].astype(np.float64)
    padded = np.concatenate([np.zeros(frame), audio.astype(np.float64), np.zeros(frame)])
    out = np.zeros_like(padded)
    noise = rng.standard_normal(len(padded))
    for start in range(0, len(padded) - frame, hop):
        piece = padded[start:start + frame] * window
        if np.sum(piece ** 2) < 1e-10:
            continue
        coefficients = librosa.lpc(piece + 1e-9 * rng.standard_normal(frame), order=order)
        residual = signal.lfilter(coefficients, [1.0], piece)
        excitation = noise[start:start + frame] * np.sqrt(np.mean(residual ** 2))
        out[start:start + frame] += signal.lfilter([1.0], coefficients, excitation) * window
    whispered = out[frame:frame + len(audio)]
    whispered *= np.sqrt(augment.speech_power(audio) / (augment.speech_power(whispered.astype(np.float32)) + 1e-12))
    return whispered.astype(np.float32), 1.0


def fast(audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    faster, _, _ = augment.change_speed(audio, [], [], FAST_FACTOR, keep_pitch=True)
    return faster, len(faster) / len(audio)


def clean(audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    return audio, 1.0


CONDITIONS: dict[str, Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, float]]] = {
    "clean": clean, "telephone": telephone, "outdoor": outdoor, "podcast": podcast, "whisper": whisper,
    "fast": fast,
}
