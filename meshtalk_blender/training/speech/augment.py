"""Training-time audio augmentation so the model hears more than clean synthetic voices.

Every function takes float32 mono audio (N,) at 16 kHz and returns audio the same
way; only the speed change moves time, and it returns the rescaled phonemes and words
with it. ``augment`` draws a random chain from a seeded generator: the same seed gives
the same result. Filters run forwards and backwards (zero phase) so that no transform
but speed shifts a sound relative to its phoneme label.

Ranges follow the measurement in docs (synthetic-to-real.md): speed/pitch +-12 %,
pitch +-4 semitones, random EQ and low/high-pass, synthetic reverberation, noise at
5-35 dB SNR, gain -20..+6 dB.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import soxr
from scipy import signal

from .utterance import SAMPLE_RATE, Phoneme, Utterance, Word

# The phase vocoder's frame (time stretch, pitch shift): 16 ms, hop 4 ms. librosa's
# default, 2048 samples, is 128 ms at 16 kHz: it filled the ~70 ms silence of a lip
# closure with the vowels around it, and the shipped detector then heard 58-62 % of the
# p/b/m of pitch-shifted or stretched clean held-out lines instead of 89 % (86-87 % at
# 16 ms, 82 % at 32 ms). A pitch +3/-3 round trip also changes the log-mel least at 16 ms.
VOCODER_FFT = 256
VOCODER_HOP = VOCODER_FFT // 4


def change_speed(audio: np.ndarray, phonemes: list[Phoneme], words: list[Word], factor: float,
                 keep_pitch: bool = False):
    """Play ``factor`` times faster (1.1 = 10 % faster, shorter).

    keep_pitch=False resamples, like a tape played faster (pitch rises with speed);
    keep_pitch=True time-stretches with a phase vocoder. Returns (audio (M,), phonemes,
    words) with every time divided by ``factor`` and the last phoneme ending exactly at
    the new duration.
    """
    if factor <= 0:
        raise ValueError("speed factor must be positive")
    if keep_pitch:
        import librosa

        changed = librosa.effects.time_stretch(audio, rate=factor, n_fft=VOCODER_FFT,
                                               hop_length=VOCODER_HOP).astype(np.float32)
    else:
        # Treat the samples as if recorded at a rate ``factor`` times higher, then bring
        # them back to 16 kHz: the same sound, shorter by ``factor``.
        changed = soxr.resample(audio, SAMPLE_RATE * factor, SAMPLE_RATE, quality="HQ").astype(np.float32)
    duration = len(changed) / SAMPLE_RATE
    scale = duration / (len(audio) / SAMPLE_RATE)  # ~1/factor, exact for the sample count
    new_phonemes = [Phoneme(p.symbol, p.start * scale, p.end * scale) for p in phonemes]
    if new_phonemes:
        new_phonemes[-1] = Phoneme(new_phonemes[-1].symbol, new_phonemes[-1].start, duration)
    new_words = [Word(w.text, w.start * scale, min(w.end * scale, duration)) for w in words]
    return changed, new_phonemes, new_words


def shift_pitch(audio: np.ndarray, semitones: float) -> np.ndarray:
    """Raise (or lower, if negative) the pitch without changing timing; (N,) -> (N,)."""
    import librosa

    shifted = librosa.effects.pitch_shift(audio, sr=SAMPLE_RATE, n_steps=semitones, n_fft=VOCODER_FFT,
                                          hop_length=VOCODER_HOP)
    return _same_length(shifted.astype(np.float32), len(audio))


def apply_gain(audio: np.ndarray, gain_db: float) -> np.ndarray:
    """Scale by ``gain_db`` decibels, clipping at full scale as a recorder would."""
    return np.clip(audio * np.float32(10 ** (gain_db / 20)), -1.0, 1.0).astype(np.float32)


def speech_power(audio: np.ndarray) -> float:
    """Mean power of the louder half of 20 ms frames: the speech, not the pauses."""
    hop = SAMPLE_RATE // 50
    frames = len(audio) // hop
    if frames == 0:
        return float(np.mean(audio**2) + 1e-12)
    power = np.mean(audio[: frames * hop].reshape(frames, hop) ** 2, axis=1)
    return float(np.mean(np.sort(power)[frames // 2:]) + 1e-12)


def coloured_noise(length: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-power noise (length,): 'white', 'pink' (1/f) or 'brown' (1/f^2)."""
    white = rng.standard_normal(length)
    if colour == "white":
        noise = white
    else:
        spectrum = np.fft.rfft(white)
        frequencies = np.maximum(np.fft.rfftfreq(length), 1.0 / length)
        exponent = {"pink": 0.5, "brown": 1.0}[colour]
        noise = np.fft.irfft(spectrum / frequencies**exponent, n=length)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator, colour: str = "white") -> np.ndarray:
    """Add noise so that speech power / noise power is ``snr_db`` decibels."""
    noise = coloured_noise(len(audio), colour, rng)
    noise *= np.float32(np.sqrt(speech_power(audio) / 10 ** (snr_db / 10)))
    return (audio + noise).astype(np.float32)


def synthetic_room(rt60_s: float, direct_to_reverb_db: float, rng: np.random.Generator) -> np.ndarray:
    """A room impulse response (L,) at 16 kHz: a direct path at t=0, then exponentially
    decaying noise (60 dB down after ``rt60_s``) whose onset is 2-20 ms later, as the
    first reflections arrive; high frequencies decay faster, as walls absorb them."""
    length = int(rt60_s * SAMPLE_RATE)
    times = np.arange(length) / SAMPLE_RATE
    tail = rng.standard_normal(length) * np.exp(-6.9078 * times / rt60_s)  # ln(1000) = 6.9078
    tail[: int(rng.uniform(0.002, 0.02) * SAMPLE_RATE)] = 0.0
    # Damp the tail's treble progressively: blend with a low-passed copy over time.
    darker = signal.sosfilt(signal.butter(2, 3000, fs=SAMPLE_RATE, output="sos"), tail)
    blend = np.clip(times / max(rt60_s, 1e-3), 0.0, 1.0)
    tail = (1 - blend) * tail + blend * darker
    tail *= np.sqrt(10 ** (-direct_to_reverb_db / 10) / (np.sum(tail**2) + 1e-12))
    response = tail
    response[0] = 1.0
    return response.astype(np.float32)


def add_reverb(audio: np.ndarray, rt60_s: float, direct_to_reverb_db: float,
               rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room; same length (the tail past the end is cut) and
    the same speech level as the input."""
    wet = signal.fftconvolve(audio, synthetic_room(rt60_s, direct_to_reverb_db, rng))[: len(audio)]
    wet *= np.float32(np.sqrt(speech_power(audio) / speech_power(wet)))
    return wet.astype(np.float32)


def band_limit(audio: np.ndarray, low_hz: float | None, high_hz: float | None) -> np.ndarray:
    """High-pass at ``low_hz`` and/or low-pass at ``high_hz`` (4th-order Butterworth,
    zero phase). ``band_limit(a, 300, 3400)`` sounds like a telephone."""
    result = audio.astype(np.float64)
    if low_hz:
        result = signal.sosfiltfilt(signal.butter(2, low_hz, "highpass", fs=SAMPLE_RATE, output="sos"), result)
    if high_hz:
        result = signal.sosfiltfilt(signal.butter(2, high_hz, "lowpass", fs=SAMPLE_RATE, output="sos"), result)
    return result.astype(np.float32)


def _peaking_filter(centre_hz: float, gain_db: float, q: float) -> np.ndarray:
    """One peaking-EQ biquad (RBJ audio EQ cookbook) as a second-order section."""
    amplitude = 10 ** (gain_db / 40)
    omega = 2 * np.pi * centre_hz / SAMPLE_RATE
    alpha = np.sin(omega) / (2 * q)
    b = [1 + alpha * amplitude, -2 * np.cos(omega), 1 - alpha * amplitude]
    a = [1 + alpha / amplitude, -2 * np.cos(omega), 1 - alpha / amplitude]
    return np.array([[*(np.array(b) / a[0]), 1.0, a[1] / a[0], a[2] / a[0]]])


def random_eq(audio: np.ndarray, rng: np.random.Generator, bands: int = 3,
              max_gain_db: float = 9.0) -> np.ndarray:
    """Boost or cut ``bands`` random frequency regions (100 Hz-6 kHz, +-max_gain_db),
    like a different microphone or room; zero phase, so timing is untouched."""
    result = audio.astype(np.float64)
    for _ in range(bands):
        centre = float(np.exp(rng.uniform(np.log(100), np.log(6000))))
        gain = float(rng.uniform(-max_gain_db, max_gain_db))
        # Forward-backward filtering applies the filter twice: use half the gain.
        section = _peaking_filter(centre, gain / 2, q=float(rng.uniform(0.5, 2.5)))
        result = signal.sosfiltfilt(section, result)
    return result.astype(np.float32)


def _same_length(audio: np.ndarray, length: int) -> np.ndarray:
    if len(audio) >= length:
        return audio[:length]
    return np.pad(audio, (0, length - len(audio)))


def augment(utterance: Utterance, seed: int) -> Utterance:
    """A randomly augmented copy of ``utterance`` (same seed -> same result).

    Each transform is applied with its own probability, in the order a signal would
    meet them: the voice (speed, pitch), the room (reverb), the microphone and line
    (EQ, band limit), background noise, and the recording level (gain). The list of
    applied transforms and their parameters is in ``meta['augmentation']``.
    """
    rng = np.random.default_rng([seed, 104729])
    audio, phonemes, words = utterance.audio, list(utterance.phonemes), list(utterance.words)
    applied: list[dict] = []
    if rng.random() < 0.6:
        factor = float(rng.uniform(0.88, 1.12))
        keep_pitch = bool(rng.random() < 0.5)
        audio, phonemes, words = change_speed(audio, phonemes, words, factor, keep_pitch)
        applied.append({"op": "speed", "factor": factor, "keep_pitch": keep_pitch})
    if rng.random() < 0.4:
        semitones = float(rng.uniform(-4, 4))
        audio = shift_pitch(audio, semitones)
        applied.append({"op": "pitch", "semitones": semitones})
    if rng.random() < 0.35:
        rt60, ratio = float(rng.uniform(0.15, 0.8)), float(rng.uniform(0, 15))
        audio = add_reverb(audio, rt60, ratio, rng)
        applied.append({"op": "reverb", "rt60_s": rt60, "direct_to_reverb_db": ratio})
    if rng.random() < 0.5:
        audio = random_eq(audio, rng)
        applied.append({"op": "eq"})
    if rng.random() < 0.25:
        low, high = (300.0, 3400.0) if rng.random() < 0.5 else (
            float(rng.uniform(50, 400)), float(rng.uniform(3000, 7500)))
        audio = band_limit(audio, low, high)
        applied.append({"op": "band_limit", "low_hz": low, "high_hz": high})
    if rng.random() < 0.6:
        snr, colour = float(rng.uniform(5, 35)), str(rng.choice(["white", "pink", "brown"]))
        audio = add_noise(audio, snr, rng, colour)
        applied.append({"op": "noise", "snr_db": snr, "colour": colour})
    if rng.random() < 0.7:
        gain = float(rng.uniform(-20, 6))
        audio = apply_gain(audio, gain)
        applied.append({"op": "gain", "gain_db": gain})
    meta = {**utterance.meta, "augmentation": applied, "augmentation_seed": seed}
    return dataclasses.replace(utterance, audio=audio.astype(np.float32), phonemes=phonemes,
                               words=words, meta=meta)
