"""Phoneme timings for real speech in any language espeak-ng speaks: DTW against its voice.

pocketsphinx aligns English only. For the other languages espeak-ng reads the same
transcript aloud with its phoneme events (exact sample positions), and dynamic time
warping of the two recordings' spectra (per-utterance normalised log-mel, 10 ms frames)
maps each synthetic phoneme boundary onto the real recording. Measured against
pocketsphinx on English (``real_report``'s alignment check and the model card): the
timing error of the p/b/m and the openness correlation between the two references.

The synthetic voice is first spoken at a rate that gives it about the real clip's
speech duration (the warp then has less to do). A clip whose speech is far longer or
shorter than its transcript read aloud (e.g. a Tux Paint clip that says only the
stamp's name, not its description) is refused: ``AlignmentError``.
"""

from __future__ import annotations

import numpy as np

from .real_speech import AlignmentError
from .speech import ipa
from .speech.espeak import _Library, _segments_and_words
from .speech.utterance import SAMPLE_RATE, Phoneme, Utterance, tile_phonemes, to_16k

ESPEAK_VOICES = {"en": "en-us", "es": "es", "fr": "fr", "ru": "ru", "ro": "ro", "ca": "ca", "bg": "bg",
                 "el": "el", "be": "be", "da": "da", "it": "it", "cs": "cs", "nl": "nl", "ja": "ja"}
HOP = 160  # 10 ms at 16 kHz
MAX_DURATION_RATIO = 1.8  # real speech vs its transcript read aloud, either way
BASE_RATE_WPM = 160


def speech_span(audio: np.ndarray, top_db: float = 35.0) -> tuple[int, int]:
    """(start, end) samples of the audio between its first and last non-quiet 10 ms."""
    import librosa

    _, (start, end) = librosa.effects.trim(audio, top_db=top_db, frame_length=400, hop_length=HOP)
    return int(start), int(end)


def features(audio: np.ndarray) -> np.ndarray:
    """(frames, 40) log-mel at 10 ms up to 5 kHz (Drascula's clips are 11 kHz), each band
    normalised over the utterance, so that a voice's and a microphone's colour weigh less
    than what is said. (MFCCs, with or without deltas, warped worse: on 24 English clips
    the p/b/m centres' median error vs pocketsphinx was 35-41 ms against 29 ms.)"""
    import librosa

    power = librosa.feature.melspectrogram(y=audio, sr=SAMPLE_RATE, n_fft=512, hop_length=HOP, n_mels=40, fmax=5000)
    log_mel = np.log(power + 1e-8)
    return ((log_mel - log_mel.mean(axis=1, keepdims=True)) / (log_mel.std(axis=1, keepdims=True) + 1e-6)).T


def synthesise(text: str, language: str, rate_wpm: int) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """espeak-ng reading ``text``: (16 kHz audio, [(IPA symbol, start_s, end_s)])."""
    library = _Library.get()
    samples, events = library.synthesize(text, ESPEAK_VOICES[language], rate_wpm, 50, 50)
    segments, _ = _segments_and_words(text, len(samples), library.sample_rate, events)
    return to_16k(samples.astype(np.float32) / 32768.0, library.sample_rate), segments


def warp(real: np.ndarray, synthetic: np.ndarray) -> np.ndarray:
    """(S,) for each synthetic frame, the real frame (fractional) it maps to, by DTW on
    ``features`` with the usual three steps; monotonic."""
    import librosa

    _, path = librosa.sequence.dtw(X=features(synthetic).T, Y=features(real).T, metric="euclidean")
    path = path[::-1]
    mapped = np.zeros(int(path[-1, 0]) + 1)
    for s in range(len(mapped)):
        mapped[s] = path[path[:, 0] == s, 1].mean()
    return np.maximum.accumulate(mapped)


def align_with_espeak(name: str, audio: np.ndarray, transcript: str, language: str) -> Utterance:
    """Phonemes tiling ``audio`` (16 kHz) from espeak-ng's reading of ``transcript`` warped
    onto it. Raises AlignmentError when the two cannot be the same words."""
    start, end = speech_span(audio)
    speech = audio[start:end]
    if len(speech) < 0.2 * SAMPLE_RATE:
        raise AlignmentError(f"{name}: almost no speech")
    synthetic, segments = synthesise(transcript, language, BASE_RATE_WPM)
    s_start, s_end = speech_span(synthetic)
    ratio = (s_end - s_start) / len(speech)
    if not 1 / MAX_DURATION_RATIO <= ratio <= MAX_DURATION_RATIO:
        raise AlignmentError(f"{name}: the transcript read aloud takes {ratio:.2f}x the clip's speech")
    rate = int(np.clip(BASE_RATE_WPM * ratio, 80, 450))
    synthetic, segments = synthesise(transcript, language, rate)
    s_start, s_end = speech_span(synthetic)
    mapped = warp(speech, synthetic[s_start:s_end])

    def to_real(seconds: float) -> float:
        frame = np.clip((seconds * SAMPLE_RATE - s_start) / HOP, 0, len(mapped) - 1)
        lower = int(np.floor(frame))
        upper = min(lower + 1, len(mapped) - 1)
        position = mapped[lower] + (frame - lower) * (mapped[upper] - mapped[lower])
        return (start + position * HOP) / SAMPLE_RATE

    spoken = [(symbol, to_real(a), to_real(b)) for symbol, a, b in segments
              if symbol != ipa.SILENCE and s_start / SAMPLE_RATE - 0.02 <= a and b <= s_end / SAMPLE_RATE + 0.02]
    if not spoken:
        raise AlignmentError(f"{name}: espeak-ng spoke no phonemes")
    duration = len(audio) / SAMPLE_RATE
    phonemes = tile_phonemes(spoken, duration)
    return Utterance(audio=audio, phonemes=[Phoneme(*p) for p in phonemes], words=[], text=transcript,
                     voice_id=f"real-{name}", language=language, seed=0, meta={"aligner": "espeak-ng dtw"})
