"""Seeded text for the corpus: phrases with wide phonetic coverage, and pauses.

A ``Script`` is what one utterance says: phrases and the silent pauses between them.
Phrases are random word sequences from the language's frequency list (not grammar:
what matters is which sounds occur, in running speech with sentence intonation), in
several kinds: statements, questions, exclamations, lists of numbers, short calls and
long sentences with commas. Words with p, b or m are drawn more often, and every
phrase carries at least one, because bilabial closures are what synthetic training
data teaches worst (docs: synthetic-to-real.md).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from .wordlists import word_list

KINDS = ("statement", "question", "exclamation", "numbers", "short", "long")
_KIND_WEIGHTS = np.array([0.30, 0.18, 0.10, 0.10, 0.12, 0.20])
BILABIAL_BOOST = 2.5  # a word with p/b/m is this many times as likely as its frequency says

_AND = {
    "en": "and", "es": "y", "it": "e", "de": "und", "fr": "et", "pt": "e", "nl": "en",
    "pl": "i", "cs": "a", "fi": "ja", "sv": "och", "ca": "i", "ru": "и", "ja": "と",
}
_JAPANESE_NUMBERS = (
    "いち", "に", "さん", "よん", "ご", "ろく", "なな", "はち", "きゅう", "じゅう", "ひゃく",
    "せん", "まん", "さんびゃく", "ろっぴゃく", "はっぴゃく", "にひゃく",
)


@dataclass(frozen=True)
class Script:
    """What one utterance says: ``phrases`` with ``pauses_s`` (one per gap) between them."""

    language: str
    phrases: tuple[str, ...]
    pauses_s: tuple[float, ...]
    kinds: tuple[str, ...]
    seed: int

    @property
    def text(self) -> str:
        return " ".join(self.phrases)


def _draw_words(language: str, count: int, rng: np.random.Generator) -> list[str]:
    words = word_list(language)
    weights = words.weights * np.where(words.has_bilabial, BILABIAL_BOOST, 1.0)
    chosen = list(rng.choice(len(words.words), size=count, p=weights / weights.sum()))
    if not any(words.has_bilabial[i] for i in chosen):
        bilabial = np.nonzero(words.has_bilabial)[0]
        chosen[int(rng.integers(count))] = int(rng.choice(bilabial, p=words.weights[bilabial] / words.weights[bilabial].sum()))
    return [words.words[i] for i in chosen]


def _number(language: str, rng: np.random.Generator) -> str:
    if language == "ja":
        return str(rng.choice(_JAPANESE_NUMBERS))
    magnitude = rng.choice([10, 100, 1000, 10000], p=[0.4, 0.35, 0.2, 0.05])
    return str(int(rng.integers(0, magnitude)))


def _join(language: str, words: list[str], commas: list[int], end: str) -> str:
    pieces = []
    for index, word in enumerate(words):
        pieces.append(word + ("," if index in commas else ""))
    if language == "ja":
        text = " ".join(pieces).replace(",", "、")
        return text + {".": "。", "?": "？", "!": "！"}[end]
    text = " ".join(pieces)
    return text[:1].upper() + text[1:] + end


def make_phrase(language: str, kind: str, rng: np.random.Generator) -> str:
    """One phrase of the given kind (see KINDS) in ``language``."""
    if kind == "numbers":
        count = int(rng.integers(2, 6))
        numbers = [_number(language, rng) for _ in range(count)]
        # A list of numbers reads "3, 17, 42 and 9"; a bilabial word leads it in.
        lead = _draw_words(language, 1, rng)
        words = lead + numbers[:-1] + [_AND[language], numbers[-1]]
        return _join(language, words, list(range(1, count - 1)), ".")
    length = {
        "statement": (4, 10), "question": (3, 9), "exclamation": (1, 5),
        "short": (1, 3), "long": (10, 19),
    }[kind]
    count = int(rng.integers(length[0], length[1] + 1))
    words = _draw_words(language, count, rng)
    commas = []
    if count >= 6:
        commas = sorted(int(i) for i in rng.choice(np.arange(2, count - 2), size=count // 6, replace=False))
    end = {"question": "?", "exclamation": "!"}.get(kind, "." if kind != "short" else str(rng.choice([".", "!", "?"])))
    return _join(language, words, commas, end)


def _pause(rng: np.random.Generator) -> float:
    # Mostly the short gaps of running speech, sometimes a long hesitation.
    if rng.random() < 0.75:
        return float(rng.uniform(0.05, 0.45))
    return float(rng.uniform(0.6, 1.6))


def make_script(language: str, seed: int, max_phrases: int = 4) -> Script:
    """A reproducible script: 1..max_phrases phrases of random kinds, pauses between."""
    rng = np.random.default_rng([seed, zlib.crc32(language.encode())])
    count = int(rng.integers(1, max_phrases + 1))
    kinds = tuple(str(k) for k in rng.choice(KINDS, size=count, p=_KIND_WEIGHTS))
    phrases = tuple(make_phrase(language, kind, rng) for kind in kinds)
    pauses = tuple(_pause(rng) for _ in range(count - 1))
    return Script(language, phrases, pauses, kinds, seed)
