"""Per-sequence style: how this particular speaker moves, drawn once per sequence.

Real speakers differ in how much they open the jaw, how often they blink, how much
their brows move. Drawing these per sequence (rather than fixing them) gives the
MeshTalk prior a spread of upper-face behaviour to learn, and the audio encoder a
spread of articulation strengths around the same sounds.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Blink rate during conversation: log-normal across people (Bentivoglio 1997; Doughty
# 2001 gives a 95 % range of about 10.5-32.5 per minute, means near 20-26).
BLINK_RATE_MEDIAN = 21.0  # blinks per minute
BLINK_RATE_LOG_SD = 0.27  # 95 % of speakers between about 12 and 36 per minute


@dataclass(frozen=True)
class Style:
    """How one speaker animates. Every field is a plain float (JSON-friendly)."""

    blink_rate: float  # blinks per minute, before pauses and utterance ends modulate it
    articulation: float  # scales the jaw and the lip targets (1 = the tables' values)
    jaw_gain: float  # extra scale on jaw opening (some people talk with a lazy jaw)
    expressiveness: float  # scales brow raises, squints and their number
    accent_follow: float  # probability that a prominent pitch accent gets a brow raise
    smile: float  # constant mouth-corner raise (a friendly or a neutral face)
    gaze_aversion: float  # probability that a fixation looks away from the listener
    fixation_median: float  # seconds, median length of a gaze fixation

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def draw_style(rng: np.random.Generator) -> Style:
    """A random speaker style (same generator state -> same style)."""
    return Style(
        blink_rate=float(BLINK_RATE_MEDIAN * np.exp(rng.normal(0.0, BLINK_RATE_LOG_SD))),
        articulation=float(np.clip(rng.normal(1.0, 0.12), 0.75, 1.3)),
        jaw_gain=float(np.clip(rng.normal(1.0, 0.12), 0.75, 1.3)),
        expressiveness=float(np.clip(np.exp(rng.normal(0.0, 0.3)), 0.5, 1.8)),
        accent_follow=float(rng.uniform(0.35, 0.75)),
        smile=float(rng.uniform(0.0, 0.18)),
        gaze_aversion=float(rng.uniform(0.2, 0.5)),
        fixation_median=float(rng.uniform(0.6, 1.4)),
    )


def style_from_dict(values: dict) -> Style:
    return Style(**{key: float(value) for key, value in values.items()})
