"""What the teacher hears in the audio: loudness per phoneme, and pitch accents.

Both are cheap (numpy and librosa's YIN, about 2 ms per second of audio) because the
corpus analyses hours of speech. The phoneme labels already say where speech is voiced,
so F0 needs no voicing detector of its own: YIN's estimate is kept only inside voiced
phonemes with enough energy, and octave slips are removed against the speaker's median.
The accents themselves are found by core.prosody, which the add-on uses at run time
(with a voicing test of its own, as it has no labels).
"""
from __future__ import annotations

import numpy as np

from ...core.prosody import ANALYSIS_RATE, frame_power_db, semitones_from_f0, yin_f0
from ..speech import ipa
from ..speech.utterance import Phoneme

VOICED_MANNERS = {"vowel", "nasal", "approximant", "lateral", "trill", "tap"}


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
    f0 = yin_f0(audio)
    power = frame_power_db(audio)
    count = min(len(f0), len(power))
    f0, power = f0[:count], power[:count]
    voiced = _mask_for(phonemes, count, _is_voiced)
    voiced &= power > _speech_reference_db(power, phonemes) - 30.0
    return np.arange(count) / ANALYSIS_RATE, semitones_from_f0(f0, voiced)
