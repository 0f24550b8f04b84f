"""Articulator tracks and lip contacts -> ARKit weights of the jaw and the mouth.

JALI-like: the jaw axis (jawOpen) and the lip axis (mouthUpperUp / mouthLowerDown) are
separate, on top of the shape channels (pucker, funnel, stretch). The gains below were
set by measuring the bundled head's rig: jawOpen 1 parts the lips by ~25 mm, so a
fully open loud vowel (jaw 1) at JAW_GAIN 0.55 parts them by about 14 mm plus the lip
axis, as in relaxed conversational speech.

The seal overrides the lips: it removes every lip-parting channel and adds mouthClose
equal to jawOpen, which on this rig brings each upper inner-lip vertex onto its lower
partner (the jaw may stay a little open behind sealed lips, as in "mama"). The tuck
nearly closes the jaw and rolls the lower lip up and in, just behind the upper lip's
edge, and lifts the upper lip so that the upper teeth show over the lower one.
"""
from __future__ import annotations

import numpy as np

from ...core.face import ARKIT_INDEX, ARKIT_NAMES
from ...core.lip_tuck import TUCK_LOWER_LIP, TUCK_UPPER_LIP  # the pipeline's tuck is this one
from .visemes import FUNNEL, JAW, LIP_OPEN, PUCKER, SPREAD

JAW_GAIN = 0.55
LOWER_LIP_GAIN = 0.45  # mouthLowerDown per unit of lip_open
UPPER_LIP_GAIN = 0.3  # mouthUpperUp per unit of lip_open
FUNNEL_GAIN = 0.9
PUCKER_GAIN = 1.0
STRETCH_GAIN = 0.35
SPREAD_SMILE_GAIN = 0.15
PRESS_GAIN = 0.35  # sealed lips press together a little
TUCK_JAW_CLOSING = 0.85  # share of the jaw opening a full tuck takes away


def _both(weights: np.ndarray, stem: str, values: np.ndarray) -> None:
    weights[:, ARKIT_INDEX[stem + "Left"]] = values
    weights[:, ARKIT_INDEX[stem + "Right"]] = values


def mouth_weights(tracks: np.ndarray, seal: np.ndarray, tuck: np.ndarray, jaw_gain: float = 1.0,
                  smile: float = 0.0) -> np.ndarray:
    """(T, 5) articulator tracks, (T,) seal and (T,) tuck -> (T, 52) ARKit weights
    (other channels zero). ``smile`` (0..1) is a constant raise of the mouth corners."""
    parted = (1.0 - seal) * (1.0 - tuck)  # what is left of every lip-parting channel
    weights = np.zeros((len(tracks), len(ARKIT_NAMES)))
    jaw = np.clip(JAW_GAIN * jaw_gain * tracks[:, JAW], 0.0, 1.0) * (1.0 - TUCK_JAW_CLOSING * tuck)
    weights[:, ARKIT_INDEX["jawOpen"]] = jaw
    weights[:, ARKIT_INDEX["mouthClose"]] = seal * jaw
    _both(weights, "mouthLowerDown", LOWER_LIP_GAIN * tracks[:, LIP_OPEN] * parted)
    _both(weights, "mouthUpperUp", UPPER_LIP_GAIN * tracks[:, LIP_OPEN] * parted)
    # Pucker and funnel both pull the lip contour inward; together they must not pass
    # a full rounding, or the corners would cross.
    rounding = tracks[:, PUCKER] + tracks[:, FUNNEL]
    squeeze = 1.0 / np.maximum(rounding, 1.0)
    weights[:, ARKIT_INDEX["mouthFunnel"]] = FUNNEL_GAIN * tracks[:, FUNNEL] * squeeze * parted
    weights[:, ARKIT_INDEX["mouthPucker"]] = PUCKER_GAIN * tracks[:, PUCKER] * squeeze
    for name, weight in {**TUCK_LOWER_LIP, **TUCK_UPPER_LIP}.items():
        weights[:, ARKIT_INDEX[name]] += weight * tuck * (1.0 - seal)
    _both(weights, "mouthStretch", STRETCH_GAIN * tracks[:, SPREAD])
    _both(weights, "mouthSmile", SPREAD_SMILE_GAIN * tracks[:, SPREAD] + smile)
    _both(weights, "mouthPress", PRESS_GAIN * seal)
    return np.clip(weights, 0.0, 1.0)
