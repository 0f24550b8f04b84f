"""Phoneme -> articulatory target, from IPA features only (so every language works).

The mouth is described by five articulators, each 0..1, later mapped to ARKit weights
(``mouth.py``):

    jaw       jaw opening (vowel openness; JALI's jaw axis)
    lip_open  lips parted beyond what the jaw does (JALI's lip axis; shows the teeth)
    pucker    small round protruded lips (u, w)
    funnel    open round protruded lips (o, ɔ, ʃ, English ɹ)
    spread    lips drawn sideways (i, e, s)

Each phoneme gives a target and a dominance per articulator (Cohen & Massaro 1993): a
high dominance means "this phoneme needs this articulator here" (a vowel needs its jaw),
a low one means "don't care", which lets neighbours spread into it (the rounding of
"soon" starts on the s).

Lip contacts are not articulators: a bilabial seal (p, b, m) and a labiodental tuck
(f, v) are timed events with an exact shape (``closures.py``), because a
dominance-weighted average never quite reaches its target, and a lip that does not
close on "m" or touch the teeth on "f" looks wrong at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..speech import ipa

ARTICULATORS = ("jaw", "lip_open", "pucker", "funnel", "spread")
JAW, LIP_OPEN, PUCKER, FUNNEL, SPREAD = range(len(ARTICULATORS))

# How far (s) each articulator's dominance reaches before a segment (anticipation) and
# after it (carry-over). Rounding is anticipated longest (up to ~200 ms).
ANTICIPATION = np.array([0.09, 0.07, 0.16, 0.14, 0.10])
CARRY_OVER = np.array([0.07, 0.06, 0.10, 0.09, 0.08])

SEAL, TUCK = "seal", "tuck"


@dataclass(frozen=True)
class Viseme:
    """Targets (5,) and dominances (5,) in ARTICULATORS order, and the lip contact the
    phoneme makes: ``contact`` SEAL (both lips), TUCK (lower lip to upper teeth) or ''
    with its ``contact_strength`` (1 complete, less leaves a slit)."""

    target: np.ndarray
    dominance: np.ndarray
    contact: str = ""
    contact_strength: float = 0.0
    is_speech: bool = True


def _make(jaw=(0.15, 0.5), lip_open=(0.2, 0.4), pucker=(0.0, 0.08), funnel=(0.0, 0.08),
          spread=(0.0, 0.08), contact="", contact_strength=0.0, is_speech=True) -> Viseme:
    pairs = (jaw, lip_open, pucker, funnel, spread)
    return Viseme(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]),
                  contact, contact_strength, is_speech)


def vowel_viseme(height: float, backness: float, rounded: bool) -> Viseme:
    """A vowel from its height (0 close .. 1 open), backness (0 front .. 1 back), rounding."""
    if rounded:
        # The round opening is made by the lips (funnel), not by parting them across
        # the whole mouth width: close vowels pucker, open ones funnel.
        funnel_share = 0.3 + 0.7 * height
        return _make(
            jaw=(0.1 + 0.7 * height, 1.0),
            lip_open=(0.05 + 0.35 * height, 1.0),
            pucker=(1.0 - funnel_share, 1.0),
            funnel=(funnel_share, 1.0),
            spread=(0.0, 0.6),
        )
    spread = (1.0 - backness) * (1.0 - 0.8 * height)
    return _make(
        jaw=(0.15 + 0.85 * height, 1.0),
        lip_open=(0.25 + 0.6 * height, 1.0),
        pucker=(0.0, 0.4),
        funnel=(0.0, 0.4),
        spread=(spread, 1.0 if spread > 0.2 else 0.4),
    )


# A pause holds the lips together more firmly (lip_open, funnel) than it holds them
# unrounded: protruding toward a coming "sh" is fine, parting the lips is not.
SILENCE_VISEME = _make(jaw=(0.0, 1.0), lip_open=(0.0, 1.2), pucker=(0.0, 0.6), funnel=(0.0, 1.2),
                       spread=(0.0, 0.6), is_speech=False)


def consonant_viseme(manner: str, place: str) -> Viseme:
    """A consonant from its manner and place of articulation (ipa.PhoneFeatures)."""
    sibilant = manner in ("fricative", "affricate")
    if place == "bilabial":
        # Stops and nasals seal; the fricatives (Spanish β, Japanese ɸ) nearly do.
        strength = 1.0 if manner in ("stop", "nasal", "affricate") else 0.8
        return _make(jaw=(0.05, 0.8), lip_open=(0.0, 3.0), contact=SEAL, contact_strength=strength)
    if place == "labiodental":
        strength = 0.6 if manner in ("approximant", "nasal") else 1.0  # ʋ, ɱ: a lighter tuck
        return _make(jaw=(0.03, 1.5), lip_open=(0.0, 2.0), funnel=(0.0, 0.5), contact=TUCK,
                     contact_strength=strength)
    if place == "dental":
        return _make(jaw=(0.18, 0.8), lip_open=(0.4, 0.8))
    if place == "labiovelar":
        return _make(jaw=(0.06, 1.5), lip_open=(0.0, 2.0), pucker=(0.9, 2.5), funnel=(0.1, 1.0))
    if place in ("postalveolar", "alveolopalatal") or (place == "retroflex" and sibilant):
        return _make(jaw=(0.04, 2.0), lip_open=(0.1, 1.2), pucker=(0.3, 0.8), funnel=(0.6, 1.5))
    if place in ("alveolar", "retroflex"):
        if sibilant:  # s, z, ts: teeth close together, lips a little apart and spread
            return _make(jaw=(0.03, 2.0), lip_open=(0.12, 1.2), spread=(0.3, 0.3))
        if manner == "approximant":  # English ɹ and retroflex ɻ round the lips a little
            return _make(jaw=(0.12, 0.6), lip_open=(0.15, 0.4), pucker=(0.2, 0.4), funnel=(0.4, 0.8))
        return _make(jaw=(0.12, 0.6), lip_open=(0.2, 0.4))
    if place == "palatal":
        return _make(jaw=(0.12, 0.6), lip_open=(0.2, 0.4), spread=(0.4, 0.5))
    if place in ("velar", "uvular"):
        return _make(jaw=(0.2, 0.35), lip_open=(0.25, 0.3))
    # Glottal sounds (h, ʔ) are made in the throat: the mouth takes its neighbours' shape.
    return Viseme(np.array([0.15, 0.2, 0.0, 0.0, 0.0]), np.full(len(ARTICULATORS), 0.05))


@lru_cache(maxsize=None)
def viseme_parts(symbol: str) -> tuple[Viseme, ...]:
    """The visemes of one phoneme symbol: one, or two for a diphthong (aɪ -> a, ɪ).

    Symbols ``ipa.features`` cannot describe get a neutral, low-dominance viseme (they
    take their neighbours' shape) rather than failing a whole utterance.
    """
    if symbol == ipa.SILENCE:
        return (SILENCE_VISEME,)
    try:
        features = ipa.features(symbol)
    except KeyError:
        return (consonant_viseme("unknown", "glottal"),)
    if features.manner != "vowel":
        return (consonant_viseme(features.manner, features.place),)
    vowels = [ipa.features(letter) for letter in ipa.base_letters(symbol)]
    vowels = [v for v in vowels if v.manner == "vowel"]
    return tuple(vowel_viseme(v.height, v.backness, v.rounded) for v in vowels[:2])
