"""What the teacher hears in the audio: loudness per phoneme, and pitch accents.

Both are cheap (numpy and librosa's YIN, about 2 ms per second of audio) because the
corpus analyses hours of speech. The phoneme labels already say where speech is voiced,
so F0 needs no voicing detector of its own: YIN's estimate is kept only inside voiced
phonemes with enough energy, and octave slips are removed against the speaker's median.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage, signal

from ..speech import ipa
from ..speech.utterance import SAMPLE_RATE, Phoneme

HOP = 160  # samples: analysis every 10 ms
ANALYSIS_RATE = SAMPLE_RATE / HOP
F0_MIN, F0_MAX = 65.0, 450.0
VOICED_MANNERS = {"vowel", "nasal", "approximant", "lateral", "trill", "tap"}
MIN_ACCENT_RISE = 1.5  # semitones: smaller rises are not heard as accents


class PitchAccent(NamedTuple):
    """An F0 rise: it starts at ``rise_start`` (s), peaks at ``peak`` (s) and climbs
    ``rise`` semitones."""

    rise_start: float
    peak: float
    rise: float


def frame_power_db(audio: np.ndarray) -> np.ndarray:
    """(M,) power in dB of 25 ms windows every 10 ms (window m centred at m * 10 ms)."""
    padded = np.pad(audio.astype(np.float64), (200, 200))
    count = 1 + len(audio) // HOP
    windows = np.lib.stride_tricks.sliding_window_view(padded, 400)[::HOP][:count]
    return 10.0 * np.log10(np.mean(windows**2, axis=1) + 1e-10)


def _speech_reference_db(power_db: np.ndarray, phonemes: list[Phoneme]) -> float:
    """The level of loud speech: the 90th percentile of the frames inside phonemes."""
    speaking = _mask_for(phonemes, len(power_db), lambda symbol: symbol != ipa.SILENCE)
    values = power_db[speaking] if speaking.any() else power_db
    return float(np.percentile(values, 90))


def _mask_for(phonemes: list[Phoneme], count: int, keep) -> np.ndarray:
    """(count,) bool: analysis frames inside phonemes for which keep(symbol) is true."""
    mask = np.zeros(count, bool)
    for phoneme in phonemes:
        if keep(phoneme.symbol):
            first = int(np.ceil(phoneme.start * ANALYSIS_RATE))
            last = int(np.floor(phoneme.end * ANALYSIS_RATE))
            mask[first:last + 1] = True
    return mask


def segment_loudness(audio: np.ndarray, phonemes: list[Phoneme]) -> np.ndarray:
    """(S,) loudness of each phoneme in dB relative to the utterance's loud speech
    (0 = as loud as the loudest tenth of speech, negative = softer)."""
    power = frame_power_db(audio)
    reference = _speech_reference_db(power, phonemes)
    linear = 10.0 ** (power / 10.0)
    levels = []
    for phoneme in phonemes:
        first = int(np.floor(phoneme.start * ANALYSIS_RATE))
        last = max(first + 1, int(np.ceil(phoneme.end * ANALYSIS_RATE)))
        levels.append(10.0 * np.log10(np.mean(linear[first:last]) + 1e-10) - reference)
    return np.array(levels)


def _is_voiced(symbol: str) -> bool:
    if symbol == ipa.SILENCE or not ipa.is_known(symbol):
        return False
    return ipa.features(symbol).manner in VOICED_MANNERS


def pitch_semitones(audio: np.ndarray, phonemes: list[Phoneme]) -> tuple[np.ndarray, np.ndarray]:
    """F0 every 10 ms: (times (M,) s, semitones (M,) relative to the speaker's median,
    NaN where unvoiced or unreliable)."""
    import librosa

    f0 = librosa.yin(audio.astype(np.float32), fmin=F0_MIN, fmax=F0_MAX, sr=SAMPLE_RATE,
                     frame_length=800, hop_length=HOP, center=True)
    power = frame_power_db(audio)
    count = min(len(f0), len(power))
    f0, power = f0[:count], power[:count]
    voiced = _mask_for(phonemes, count, _is_voiced)
    voiced &= power > _speech_reference_db(power, phonemes) - 30.0
    voiced &= (f0 > F0_MIN * 1.02) & (f0 < F0_MAX * 0.98)  # YIN pins failures to the limits
    semitones = np.full(count, np.nan)
    if voiced.sum() < 5:
        return np.arange(count) / ANALYSIS_RATE, semitones
    log_f0 = 12.0 * np.log2(f0 / np.median(f0[voiced]))
    # Octave slips: a short run far from its neighbours' median is an error, not a tune.
    local = ndimage.median_filter(np.where(voiced, log_f0, 0.0), size=9)
    voiced &= np.abs(log_f0 - local) < 4.0
    voiced &= np.abs(log_f0) < 12.0
    semitones[voiced] = log_f0[voiced]
    return np.arange(count) / ANALYSIS_RATE, semitones


def _smooth_contour(semitones: np.ndarray, max_gap_s: float = 0.15) -> np.ndarray:
    """Bridge short unvoiced gaps linearly and smooth with a 30 ms Gaussian; long gaps
    stay NaN (a pause breaks the intonation phrase)."""
    valid = ~np.isnan(semitones)
    if valid.sum() < 2:
        return semitones.copy()
    index = np.arange(len(semitones))
    filled = np.interp(index, index[valid], semitones[valid])
    # Distance (frames) from each frame to the nearest voiced one decides what to bridge.
    distance = ndimage.distance_transform_edt(~valid)
    filled[distance > max_gap_s * ANALYSIS_RATE / 2] = np.nan
    keep = ~np.isnan(filled)
    smoothed = ndimage.gaussian_filter1d(np.where(keep, filled, 0.0), 3.0)
    weight = ndimage.gaussian_filter1d(keep.astype(float), 3.0)
    out = np.where(keep, smoothed / np.maximum(weight, 1e-6), np.nan)
    return out


def pitch_accents(times: np.ndarray, semitones: np.ndarray) -> list[PitchAccent]:
    """Local F0 peaks reached by a rise of at least MIN_ACCENT_RISE semitones from the
    lowest point in the 400 ms before them (within the same voiced stretch)."""
    contour = _smooth_contour(semitones)
    if np.all(np.isnan(contour)):
        return []
    filled = np.where(np.isnan(contour), -np.inf, contour)
    peaks, _ = signal.find_peaks(np.where(np.isinf(filled), -100.0, filled), distance=15)
    accents = []
    look_back = int(0.4 * ANALYSIS_RATE)
    for peak in peaks:
        if np.isnan(contour[peak]):
            continue
        start = peak
        while start > 0 and peak - start < look_back and not np.isnan(contour[start - 1]):
            start -= 1
        window = contour[start:peak + 1]
        lowest = start + int(np.argmin(window))
        rise = contour[peak] - contour[lowest]
        if rise >= MIN_ACCENT_RISE:
            accents.append(PitchAccent(float(times[lowest]), float(times[peak]), float(rise)))
    return accents
