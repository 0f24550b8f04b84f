"""Pitch accents: where the voice's F0 rises by a semitone and a half or more.

Brow raises go with them (core/brows.py). The training teacher finds them in its
corpus with these functions, its voicing taken from the phoneme labels
(training/teacher/prosody.py); at run time there are no labels, so the voicing is taken
from the audio itself (`clip_pitch_semitones`): YIN's F0 where the frame is loud enough
to be speech, with octave slips removed against the neighbours, as the teacher does.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage, signal

SAMPLE_RATE = 16000
HOP = 160  # samples: analysis every 10 ms
ANALYSIS_RATE = SAMPLE_RATE / HOP
F0_MIN, F0_MAX = 65.0, 450.0
MIN_ACCENT_RISE = 1.5  # semitones: smaller rises are not heard as accents
# At run time a frame is voiced speech if its F0 is found, it is within this of the
# clip's loud speech and its zero-crossing rate is below this (fricatives and noise
# cross far more often). Chosen on 60 of the corpus's lines against the accents the
# teacher finds with its phoneme labels: 45 accents a minute (the teacher's 44), 74 % of
# them the teacher's and 75 % of the teacher's found (without the crossing rate: 77 a
# minute, 46 % of them the teacher's).
VOICED_BELOW_LOUD_DB = 20.0
MAX_VOICED_CROSSING_RATE = 0.2
BLOCK_SECONDS = 30.0  # YIN runs on blocks of the clip: its frames of a whole hour would not fit in memory


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


def crossing_rate(audio: np.ndarray) -> np.ndarray:
    """(M,) zero crossings per sample in the windows of frame_power_db."""
    import librosa

    return librosa.feature.zero_crossing_rate(audio.astype(np.float32), frame_length=400, hop_length=HOP,
                                              center=True)[0]


def yin_f0(audio: np.ndarray) -> np.ndarray:
    """(M,) YIN's F0 in Hz every 10 ms (frame m centred at m * 10 ms)."""
    import librosa

    return librosa.yin(audio.astype(np.float32), fmin=F0_MIN, fmax=F0_MAX, sr=SAMPLE_RATE,
                       frame_length=800, hop_length=HOP, center=True)


def semitones_from_f0(f0: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """(M,) semitones relative to the speaker's median F0 where `voiced` (M,) and the
    estimate is reliable, NaN elsewhere."""
    voiced = voiced & (f0 > F0_MIN * 1.02) & (f0 < F0_MAX * 0.98)  # YIN pins failures to the limits
    semitones = np.full(len(f0), np.nan)
    if voiced.sum() < 5:
        return semitones
    log_f0 = 12.0 * np.log2(f0 / np.median(f0[voiced]))
    # Octave slips: a short run far from its neighbours' median is an error, not a tune.
    local = ndimage.median_filter(np.where(voiced, log_f0, 0.0), size=9)
    voiced &= np.abs(log_f0 - local) < 4.0
    voiced &= np.abs(log_f0) < 12.0
    semitones[voiced] = log_f0[voiced]
    return semitones


def clip_pitch_semitones(samples_for, sample_count: int) -> tuple[np.ndarray, np.ndarray]:
    """(times (M,) s, semitones (M,) relative to the median, NaN where unvoiced) of a
    clip read through ``samples_for(start, end)`` (16 kHz samples), in blocks."""
    block = int(BLOCK_SECONDS * SAMPLE_RATE)
    margin = 800  # a window either side, so the blocks' frames join exactly
    f0s, powers, crossings = [], [], []
    for start in range(0, max(sample_count, 1), block):
        end = min(sample_count, start + block)
        first, last = max(0, start - margin), min(sample_count, end + margin)
        samples = samples_for(first, last)
        skip = (start - first) // HOP
        frames = (end - start + HOP - 1) // HOP
        f0s.append(yin_f0(samples)[skip:skip + frames])
        powers.append(frame_power_db(samples)[skip:skip + frames])
        crossings.append(crossing_rate(samples)[skip:skip + frames])
    f0, power, crossing = np.concatenate(f0s), np.concatenate(powers), np.concatenate(crossings)
    count = min(len(f0), len(power), len(crossing))
    f0, power, crossing = f0[:count], power[:count], crossing[:count]
    loud = float(np.percentile(power, 90)) if count else 0.0
    voiced = (power > loud - VOICED_BELOW_LOUD_DB) & (crossing < MAX_VOICED_CROSSING_RATE)
    semitones = semitones_from_f0(f0, voiced)
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
