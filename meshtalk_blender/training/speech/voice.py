"""What every voice is: a card (id, engine, language, licence, timing source) and synth().

An engine subclass implements ``_render_phrase``: one phrase of text to native-rate audio
with phoneme segments (already IPA) and words. This base class does the rest the same
way for every engine: per-utterance prosody from the seed, resampling to 16 kHz, pauses
of chosen length between phrases, silence at both ends, and phonemes tiling the audio.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from .utterance import SAMPLE_RATE, Utterance, Word, check_tiling, join_phrases, to_16k


@dataclass(frozen=True)
class VoiceCard:
    """Facts about a voice. ``timing`` says where its phoneme times come from."""

    id: str
    engine: str
    language: str  # ISO 639-1 code of the language it speaks (en, it, ja, ...)
    licence: str
    timing: str
    description: str = ""


@dataclass
class RenderedPhrase:
    """One phrase as an engine made it: audio (N,) float32 at ``sample_rate``,
    segments [(ipa, start_s, end_s)] and words, times relative to the phrase start."""

    audio: np.ndarray
    sample_rate: int
    segments: list[tuple[str, float, float]]
    words: list[Word]


class Voice(ABC):
    """A voice that turns text into an ``Utterance``; subclasses are the engines."""

    card: VoiceCard

    @property
    def id(self) -> str:
        return self.card.id

    @property
    def language(self) -> str:
        return self.card.language

    def synth(self, text: str, seed: int = 0) -> Utterance:
        """Speak ``text`` as one phrase; ``seed`` picks the prosody (rate, pitch, ...)."""
        return self.synth_phrases([text], [], seed)

    def synth_phrases(self, phrases: list[str], pauses_s: list[float], seed: int = 0) -> Utterance:
        """Speak phrases with silent pauses of the given lengths (s) between them.

        The same seed gives the same audio and timings. Leading and trailing silence of
        0.1-0.35 s (drawn from the seed) frames the speech, as in a recording.
        """
        rng = np.random.default_rng(seed)
        prosody = self._draw_prosody(rng)
        rendered = self._render_phrases(phrases, prosody)
        pieces = []
        for phrase in rendered:
            audio = to_16k(phrase.audio, phrase.sample_rate)
            pieces.append((audio, phrase.segments, phrase.words))
        lead, tail = rng.uniform(0.1, 0.35, size=2)
        silence = np.zeros(0, np.float32)
        framed = [(silence, [], [])] + pieces + [(silence, [], [])]
        audio, phonemes, words = join_phrases(framed, [float(lead), *pauses_s, float(tail)])
        check_tiling(phonemes, len(audio) / SAMPLE_RATE)
        return Utterance(
            audio=audio,
            phonemes=phonemes,
            words=words,
            text=" ".join(phrases),
            voice_id=self.card.id,
            language=self.card.language,
            seed=seed,
            meta={"prosody": prosody, "pauses_s": [float(lead), *pauses_s, float(tail)]},
        )

    def _draw_prosody(self, rng: np.random.Generator) -> dict:
        """Per-utterance prosody parameters for this engine (plain floats, kept in meta)."""
        return {}

    def _render_phrases(self, texts: list[str], prosody: dict) -> list[RenderedPhrase]:
        """All phrases of one utterance; engines with a start-up cost do them in one go."""
        return [self._render_phrase(text, prosody) for text in texts]

    @abstractmethod
    def _render_phrase(self, text: str, prosody: dict) -> RenderedPhrase:
        """Synthesise one phrase at the engine's own rate with IPA segments and words."""
