"""Word lists for text generation, per language, from the ``wordfreq`` package.

wordfreq ships frequency lists for ~40 languages inside its wheel (no download). We
keep the most frequent words that are written only in the language's own alphabet
(so every engine, including festival's 8-bit voices, can read them), with a weight
that favours frequent words but flattens Zipf's law so rarer words (and their sounds)
still come up.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

ALPHABETS = {
    "en": "a-z'",
    "es": "a-záéíóúüñ",
    "it": "a-zàèéìíòóùú",
    "de": "a-zäöüß",
    "fr": "a-zàâæçéèêëîïôœùûüÿ'",
    "pt": "a-záâãàçéêíóôõú",
    "nl": "a-zéëïöü'",
    "pl": "a-ząćęłńóśźż",
    "cs": "a-záčďéěíňóřšťúůýž",
    "fi": "a-zäöå",
    "sv": "a-zåäö",
    "ca": "a-zàèéíïòóúüç·",
    "ru": "а-яё",
    "ja": "\u3041-\u3096\u30a1-\u30fa\u30fc",  # hiragana, katakana, long-vowel mark
}

# Letters that are read as a bilabial (p, b, m) in each script.
_BILABIAL_LETTERS = {
    "latin": set("pbm"),
    "ru": set("пбм"),
    "ja": set("まみむめもばびぶべぼぱぴぷぺぽマミムメモバビブベボパピプペポ"),
}

# Japanese kana that cannot begin a word (small kana, sokuon, moraic nasal, long mark).
_JA_BAD_START = set("ぁぃぅぇぉっゃゅょゎんァィゥェォッャュョヮンー")

VOCABULARY_SIZE = 6000

# Web-frequency lists carry slurs and obscenities; the corpus text may be shown to people.
_EXCLUDED = {
    "en": {"fuck", "fucking", "fucked", "shit", "pussy", "bitch", "bitches", "dick", "cock",
           "cunt", "nigga", "nigger", "niggas", "porn", "whore", "slut", "ass", "asshole",
           "sex", "sexy", "fag", "retard", "rape", "cum", "boobs", "tits", "damn", "hell"},
}


@dataclass(frozen=True)
class WordList:
    """Words of one language with sampling weights (sum 1) and a bilabial flag each."""

    language: str
    words: tuple[str, ...]
    weights: np.ndarray
    has_bilabial: np.ndarray


def bilabial_letter_count(word: str, language: str) -> int:
    """How many letters of ``word`` are normally read as p, b or m."""
    letters = _BILABIAL_LETTERS.get(language, _BILABIAL_LETTERS["latin"])
    return sum(1 for character in word.lower() if character in letters)


def _keep(word: str, language: str, pattern: re.Pattern) -> bool:
    if not pattern.fullmatch(word) or word in _EXCLUDED.get(language, ()):
        return False
    if language == "ja":
        return len(word) >= 2 and word[0] not in _JA_BAD_START
    if word.strip("'·") != word:
        return False
    return len(word) >= 2 or word in {"a", "e", "i", "o", "u", "y", "à", "é", "è", "á", "ó"}


@lru_cache(maxsize=None)
def word_list(language: str) -> WordList:
    """The language's word list (cached). Raises KeyError for a language we do not cover."""
    import wordfreq

    pattern = re.compile(f"[{ALPHABETS[language]}]+")
    candidates = wordfreq.top_n_list(language, VOCABULARY_SIZE * 2)
    words = [w for w in candidates if _keep(w, language, pattern)][:VOCABULARY_SIZE]
    ranks = np.arange(len(words), dtype=np.float64)
    # Zipf's law flattened (exponent 0.6 instead of ~1): frequent words still dominate,
    # but the long tail brings more consonant clusters and rarer sounds.
    weights = 1.0 / (ranks + 20.0) ** 0.6
    has_bilabial = np.array([bilabial_letter_count(w, language) > 0 for w in words])
    return WordList(language, tuple(words), weights / weights.sum(), has_bilabial)
