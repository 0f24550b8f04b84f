"""Lip contacts: bilabial seals (p, b, m) and labiodental tucks (f, v), exactly timed.

A face that does not seal its lips on p, b and m looks wrong at once, and these
closures are what synthetic training data transfers worst (docs: synthetic-to-real.md),
so they are not left to the smooth coarticulation average: each such phoneme gets a
hold interval over which the contact is complete. The hold is the phoneme's own interval
(a stop's closure ends at its burst, the phoneme's end), widened around its centre to
at least MIN_HOLD so that at least two 30 fps frames see it. The lips travel over the
APPROACH before the hold and part over the RELEASE after it, both shortened when the
previous or next contact is close.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..speech.utterance import Phoneme
from ...core.envelopes import raised_cosine
from .visemes import viseme_parts

MIN_HOLD = 0.07  # s
APPROACH = 0.06  # s, lips travelling together before the hold
RELEASE = 0.035  # s, lips parting after the burst


class Contact(NamedTuple):
    """A lip contact of ``kind`` ('seal' or 'tuck'), complete over [hold_start, hold_end]
    (s); ``strength`` 1 is complete, less leaves a slit; ``phoneme_index`` points back."""

    kind: str
    hold_start: float
    hold_end: float
    strength: float
    phoneme_index: int


def lip_contacts(phonemes: list[Phoneme]) -> list[Contact]:
    """One Contact per bilabial or labiodental phoneme, in time order."""
    contacts = []
    for index, phoneme in enumerate(phonemes):
        viseme = viseme_parts(phoneme.symbol)[0]
        if not viseme.contact:
            continue
        centre = 0.5 * (phoneme.start + phoneme.end)
        start = min(phoneme.start, centre - 0.5 * MIN_HOLD)
        end = max(phoneme.end, centre + 0.5 * MIN_HOLD)
        contacts.append(Contact(viseme.contact, start, end, viseme.contact_strength, index))
    return contacts


def contact_track(contacts: list[Contact], kind: str, times: np.ndarray) -> np.ndarray:
    """(T,) how complete the contacts of ``kind`` are at ``times``: 1 during every hold,
    smooth ramps around it."""
    chosen = [c for c in contacts if c.kind == kind]
    track = np.zeros(len(times))
    for number, contact in enumerate(chosen):
        previous_end = chosen[number - 1].hold_end if number > 0 else -np.inf
        next_start = chosen[number + 1].hold_start if number + 1 < len(chosen) else np.inf
        # With a short vowel between two closures ("baby") the lips still part a little.
        approach = np.clip(0.4 * (contact.hold_start - previous_end), 0.025, APPROACH)
        release = np.clip(0.4 * (next_start - contact.hold_end), 0.02, RELEASE)
        closing = raised_cosine((times - (contact.hold_start - approach)) / approach)
        opening = 1.0 - raised_cosine((times - contact.hold_end) / release)
        shape = np.where(times <= contact.hold_end, closing, opening)
        track = np.maximum(track, contact.strength * shape)
    return track
