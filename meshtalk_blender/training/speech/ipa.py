"""The one phoneme representation every engine maps to: normalised IPA.

Rules for a normalised symbol (``normalize``):
- Unicode NFC; stress marks (ˈ ˌ), tie bars and engine markers are removed.
- Ligature affricates are spelled out (ʧ -> tʃ, ʦ -> ts, ...), ASCII g becomes IPA ɡ.
- Length (ː), palatalisation (ʲ), aspiration (ʰ), nasalisation and other diacritics stay:
  they are part of the phoneme, and ``features`` ignores them.
- A diphthong stays one segment (``aɪ``), as the engines time it.
- Silence of any kind (pause, breath, utterance edge) is ``SILENCE``.

``features(symbol)`` describes a symbol by how it looks on a face (manner, place of
articulation, vowel height/backness/rounding), from its first base letter. That is
what a viseme table needs, and it works for every language the engines speak.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

SILENCE = "sil"

_REMOVE = {"ˈ", "ˌ", "\u0361", "\u035c", "'", "-", "_", "#", "%", "="}
_LIGATURES = {"ʧ": "tʃ", "ʤ": "dʒ", "ʦ": "ts", "ʣ": "dz", "ʨ": "tɕ", "ʥ": "dʑ", "g": "ɡ", "ꭧ": "ɚ"}


def normalize(symbol: str) -> str:
    """Return the normalised IPA form of one phoneme symbol ('' if nothing is left)."""
    text = unicodedata.normalize("NFC", symbol.strip())
    text = "".join(_LIGATURES.get(ch, ch) for ch in text if ch not in _REMOVE)
    return text


@dataclass(frozen=True)
class PhoneFeatures:
    """How a phoneme shows on the face.

    manner: 'silence', 'vowel', 'stop', 'nasal', 'fricative', 'affricate', 'approximant',
    'lateral', 'trill' or 'tap'. place: 'bilabial', 'labiodental', 'dental', 'alveolar',
    'postalveolar', 'retroflex', 'alveolopalatal', 'palatal', 'labiovelar', 'velar',
    'uvular', 'glottal', or '' for vowels and silence. For vowels: height 0 (close, i u)
    to 1 (open, a), backness 0 (front) to 1 (back), rounded lips.
    """

    manner: str
    place: str = ""
    height: float = 0.0
    backness: float = 0.0
    rounded: bool = False

    @property
    def is_bilabial(self) -> bool:
        """True for p, b, m and the other sounds made with both lips closed or nearly so."""
        return self.place == "bilabial"


def _vowel(height: float, backness: float, rounded: bool) -> PhoneFeatures:
    return PhoneFeatures("vowel", "", height, backness, rounded)


_VOWELS = {
    "i": _vowel(0.0, 0.0, False), "y": _vowel(0.0, 0.0, True), "ɨ": _vowel(0.0, 0.5, False),
    "ʉ": _vowel(0.0, 0.5, True), "ɯ": _vowel(0.0, 1.0, False), "u": _vowel(0.0, 1.0, True),
    "ɪ": _vowel(0.15, 0.15, False), "ʏ": _vowel(0.15, 0.15, True), "ᵻ": _vowel(0.15, 0.5, False),
    "ʊ": _vowel(0.15, 0.85, True), "e": _vowel(0.33, 0.0, False), "ø": _vowel(0.33, 0.0, True),
    "ɘ": _vowel(0.33, 0.5, False), "ɵ": _vowel(0.33, 0.5, True), "ɤ": _vowel(0.33, 1.0, False),
    "o": _vowel(0.33, 1.0, True), "ə": _vowel(0.5, 0.5, False), "ᵊ": _vowel(0.5, 0.5, False),
    "ɚ": _vowel(0.5, 0.5, False), "ɝ": _vowel(0.6, 0.5, False), "ɛ": _vowel(0.67, 0.0, False),
    "œ": _vowel(0.67, 0.0, True), "ɜ": _vowel(0.67, 0.5, False), "ɞ": _vowel(0.67, 0.5, True),
    "ʌ": _vowel(0.67, 1.0, False), "ɔ": _vowel(0.67, 1.0, True), "æ": _vowel(0.85, 0.0, False),
    "ɐ": _vowel(0.85, 0.5, False), "a": _vowel(1.0, 0.2, False), "ɶ": _vowel(1.0, 0.0, True),
    "ɑ": _vowel(1.0, 1.0, False), "ɒ": _vowel(1.0, 1.0, True),
}

# (manner, place) for consonant base letters.
_CONSONANTS = {
    "p": ("stop", "bilabial"), "b": ("stop", "bilabial"), "m": ("nasal", "bilabial"),
    "ɸ": ("fricative", "bilabial"), "β": ("fricative", "bilabial"), "ʙ": ("trill", "bilabial"),
    "ɓ": ("stop", "bilabial"),
    "f": ("fricative", "labiodental"), "v": ("fricative", "labiodental"),
    "ɱ": ("nasal", "labiodental"), "ʋ": ("approximant", "labiodental"),
    "θ": ("fricative", "dental"), "ð": ("fricative", "dental"),
    "t": ("stop", "alveolar"), "d": ("stop", "alveolar"), "n": ("nasal", "alveolar"),
    "s": ("fricative", "alveolar"), "z": ("fricative", "alveolar"), "ɹ": ("approximant", "alveolar"),
    "r": ("trill", "alveolar"), "ɾ": ("tap", "alveolar"), "l": ("lateral", "alveolar"),
    "ɫ": ("lateral", "alveolar"), "ɬ": ("fricative", "alveolar"), "ɮ": ("fricative", "alveolar"),
    "ʃ": ("fricative", "postalveolar"), "ʒ": ("fricative", "postalveolar"),
    "ʈ": ("stop", "retroflex"), "ɖ": ("stop", "retroflex"), "ɳ": ("nasal", "retroflex"),
    "ʂ": ("fricative", "retroflex"), "ʐ": ("fricative", "retroflex"), "ɻ": ("approximant", "retroflex"),
    "ɽ": ("tap", "retroflex"), "ɭ": ("lateral", "retroflex"),
    "ɕ": ("fricative", "alveolopalatal"), "ʑ": ("fricative", "alveolopalatal"),
    "c": ("stop", "palatal"), "ɟ": ("stop", "palatal"), "ɲ": ("nasal", "palatal"),
    "ç": ("fricative", "palatal"), "ʝ": ("fricative", "palatal"), "j": ("approximant", "palatal"),
    "ʎ": ("lateral", "palatal"),
    "w": ("approximant", "labiovelar"), "ʍ": ("fricative", "labiovelar"),
    "ɥ": ("approximant", "labiovelar"),
    "k": ("stop", "velar"), "ɡ": ("stop", "velar"), "ŋ": ("nasal", "velar"),
    "x": ("fricative", "velar"), "ɣ": ("fricative", "velar"), "ɰ": ("approximant", "velar"),
    "ʟ": ("lateral", "velar"),
    "q": ("stop", "uvular"), "ɢ": ("stop", "uvular"), "ɴ": ("nasal", "uvular"),
    "χ": ("fricative", "uvular"), "ʁ": ("fricative", "uvular"), "ʀ": ("trill", "uvular"),
    "h": ("fricative", "glottal"), "ɦ": ("fricative", "glottal"), "ʔ": ("stop", "glottal"),
}

_AFFRICATE_SECOND = {"s", "z", "ʃ", "ʒ", "ɕ", "ʑ", "ʂ", "ʐ", "f", "v", "ç", "x"}


def base_letters(symbol: str) -> str:
    """The symbol's letters with every diacritic and modifier letter removed (``tʲː`` -> ``t``)."""
    decomposed = unicodedata.normalize("NFD", symbol)
    return "".join(
        ch for ch in decomposed
        if not unicodedata.combining(ch) and (ch in _VOWELS or ch in _CONSONANTS)
    )


def features(symbol: str) -> PhoneFeatures:
    """Describe a normalised symbol for the face; raises KeyError for an unknown letter."""
    if symbol == SILENCE:
        return PhoneFeatures("silence")
    letters = base_letters(symbol)
    if not letters:
        raise KeyError(f"no IPA letter in phoneme symbol {symbol!r}")
    first = letters[0]
    if first in _VOWELS:
        return _VOWELS[first]
    manner, place = _CONSONANTS[first]
    if manner == "stop" and len(letters) > 1 and letters[1] in _AFFRICATE_SECOND:
        # An affricate looks like its fricative release (tʃ rounds like ʃ), except that
        # a bilabial one (German pf) seals the lips first, and the seal is what shows.
        if place != "bilabial":
            place = _CONSONANTS[letters[1]][1]
        manner = "affricate"
    return PhoneFeatures(manner, place)


def is_known(symbol: str) -> bool:
    """True when ``features`` can describe the symbol."""
    try:
        features(symbol)
    except KeyError:
        return False
    return True


def split_phonemes(transcription: str) -> list[str]:
    """Split an IPA string into phonemes: each base letter with the diacritics and
    modifier letters (ʲ ʰ ː ...) that follow it (``kʲoː`` -> ``kʲ``, ``oː``).

    Characters that are neither letters nor modifiers (spaces, punctuation, stress
    marks) are dropped. Returns the pieces as written (not normalised).
    """
    phonemes: list[str] = []
    for character in unicodedata.normalize("NFC", transcription):
        decomposed = unicodedata.normalize("NFD", character)
        base = decomposed[0]
        is_letter = base in _VOWELS or base in _CONSONANTS or base in _LIGATURES
        is_modifier = unicodedata.combining(base) or unicodedata.category(base) == "Lm"
        if is_letter:
            phonemes.append(character)
        elif is_modifier and phonemes and character not in _REMOVE and character not in "ˈˌ":
            phonemes[-1] += character
    return phonemes
