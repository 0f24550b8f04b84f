"""Festival phone sets -> normalised IPA, one table per phone set.

Festival voices label segments in their own phone set (``radio`` for US English,
``italian``, ``finnish``, ``czech``, ``msu_ru``, ``upc_catalan``). Stress digits on
vowels (``a1``) carry no mouth shape and are stripped before lookup.
"""
from __future__ import annotations

from . import ipa

_SILENCES = {"pau", "h#", "brth", "#", "##", "_", "sil"}

RADIO = {  # US English (kal, ked, slt): the CMU/ARPAbet-style radio set
    "aa": "ɑ", "ae": "æ", "ah": "ʌ", "ao": "ɔ", "aw": "aʊ", "ax": "ə", "axr": "ɚ",
    "ay": "aɪ", "b": "b", "ch": "tʃ", "d": "d", "dh": "ð", "dx": "ɾ", "eh": "ɛ",
    "el": "l̩", "em": "m̩", "en": "n̩", "er": "ɝ", "ey": "eɪ", "f": "f", "g": "ɡ",
    "hh": "h", "hv": "ɦ", "ih": "ɪ", "iy": "i", "jh": "dʒ", "k": "k", "l": "l",
    "m": "m", "n": "n", "nx": "ɾ̃", "ng": "ŋ", "ow": "oʊ", "oy": "ɔɪ", "p": "p",
    "r": "ɹ", "s": "s", "sh": "ʃ", "t": "t", "th": "θ", "uh": "ʊ", "uw": "u",
    "v": "v", "w": "w", "y": "j", "z": "z", "zh": "ʒ",
}

ITALIAN = {  # lp, pc
    "i": "i", "e": "e", "E": "ɛ", "a": "a", "o": "o", "O": "ɔ", "u": "u",
    "j": "j", "w": "w", "p": "p", "t": "t", "k": "k", "b": "b", "d": "d", "g": "ɡ",
    "f": "f", "s": "s", "S": "ʃ", "v": "v", "z": "z", "Z": "ʒ", "ts": "ts",
    "tS": "tʃ", "dz": "dz", "dZ": "dʒ", "m": "m", "n": "n", "J": "ɲ", "ng": "ŋ",
    "nf": "ɱ", "l": "l", "L": "ʎ", "r": "r",
}

_FINNISH_SHORT = {  # suopuhe lj, mv; a trailing ':' marks a long phone
    "a": "ɑ", "e": "e", "i": "i", "o": "o", "u": "u", "y": "y", "@": "æ", "7": "ø",
    "&": "ə", "p": "p", "t": "t", "k": "k", "b": "b", "d": "d", "g": "ɡ", "f": "f",
    "T": "θ", "D": "ð", "s": "s", "z": "z", "S": "ʃ", "Z": "ʒ", "h": "h", "v": "ʋ",
    "m": "m", "n": "n", "N": "ŋ", "l": "l", "L": "l", "r": "r", "j": "j", "w": "w",
}
FINNISH = {**_FINNISH_SHORT, **{f"{k}:": f"{v}ː" for k, v in _FINNISH_SHORT.items()}}

CZECH = {  # dita, machac, krb, ph
    "a": "a", "a:": "aː", "b": "b", "c": "ts", "c~": "tʃ", "ch": "x", "d": "d",
    "d~": "ɟ", "dz": "dz", "dz~": "dʒ", "e": "ɛ", "e:": "ɛː", "f": "f", "g": "ɡ",
    "h": "ɦ", "i": "ɪ", "i:": "iː", "j": "j", "k": "k", "l": "l", "m": "m", "n": "n",
    "n*": "ŋ", "n~": "ɲ", "o": "o", "o:": "oː", "p": "p", "r": "r", "r~": "r̝",
    "r~*": "r̝̊", "s": "s", "s~": "ʃ", "t": "t", "t~": "c", "u": "u", "u:": "uː",
    "v": "v", "z": "z", "z~": "ʒ",
}

RUSSIAN = {  # msu_ru_nsh; doubled consonants are palatalised, doubled vowels stressed
    "ii": "i", "yy": "ɨ", "uu": "u", "ee": "e", "oo": "o", "aa": "a", "a": "ɐ",
    "e": "ɪ", "i": "i", "y": "ɨ", "u": "u", "ae": "ə", "ay": "ɪ", "ur": "ʊ",
    "p": "p", "pp": "pʲ", "b": "b", "bb": "bʲ", "t": "t", "tt": "tʲ", "d": "d",
    "dd": "dʲ", "k": "k", "kk": "kʲ", "g": "ɡ", "gg": "ɡʲ", "c": "ts", "ch": "tɕ",
    "f": "f", "ff": "fʲ", "v": "v", "vv": "vʲ", "s": "s", "ss": "sʲ", "z": "z",
    "zz": "zʲ", "sh": "ʂ", "sch": "ɕː", "zh": "ʐ", "h": "x", "hh": "xʲ", "m": "m",
    "mm": "mʲ", "n": "n", "nn": "nʲ", "l": "ɫ", "ll": "lʲ", "r": "r", "rr": "rʲ",
    "j": "j",
}

CATALAN = {  # upc ona (HTS)
    "ax": "ə", "a": "a", "b": "b", "d": "d", "e": "e", "E": "ɛ", "f": "f", "g": "ɡ",
    "i": "i", "j": "j", "J": "ɲ", "k": "k", "l": "l", "L": "ʎ", "m": "m", "n": "n",
    "o": "o", "O": "ɔ", "p": "p", "r": "ɾ", "rr": "r", "s": "s", "S": "ʃ", "t": "t",
    "u": "u", "w": "w", "z": "z", "Z": "ʒ",
}

PHONE_SETS = {
    "radio": RADIO, "italian": ITALIAN, "finnish": FINNISH, "czech": CZECH,
    "msu_ru": RUSSIAN, "catalan": CATALAN,
}


def to_ipa(phone: str, phone_set: str) -> str:
    """Map one festival phone name to normalised IPA (or ``ipa.SILENCE``).

    Raises KeyError for a phone the table does not know, so a new voice with an
    unexpected phone fails loudly instead of teaching the model a wrong mouth shape.
    """
    if phone in _SILENCES:
        return ipa.SILENCE
    table = PHONE_SETS[phone_set]
    if phone in table:
        return ipa.normalize(table[phone])
    unstressed = phone.rstrip("0123456789")
    if unstressed in table:
        return ipa.normalize(table[unstressed])
    raise KeyError(f"festival phone {phone!r} is not in the {phone_set} table")
