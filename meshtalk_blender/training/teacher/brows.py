"""Eyebrow raises and frowns: partly tied to pitch accents, partly free (core/brows.py,
which the add-on also uses at run time). The teacher knows where speech and pauses are
from its phoneme labels.
"""
from __future__ import annotations

import numpy as np

from ...core.brows import BrowEvent
from ...core.brows import draw_brow_events as draw_for_intervals
from ...core.prosody import PitchAccent
from ..speech.utterance import Phoneme
from .activity import pause_intervals, speech_intervals


def draw_brow_events(rng: np.random.Generator, phonemes: list[Phoneme], accents: list[PitchAccent],
                     expressiveness: float, accent_follow: float) -> list[BrowEvent]:
    return draw_for_intervals(rng, accents, speech_intervals(phonemes), pause_intervals(phonemes),
                              phonemes[-1].end, expressiveness, accent_follow)
