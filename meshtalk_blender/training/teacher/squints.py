"""Small squints: brief narrowings of the eyes (with a touch of cheek raise), at random.

They are small (eyeSquint 0.1-0.35) and a few per minute, scaled by the speaker's
expressiveness; they give the lower lids a life of their own apart from blinks.
"""
from __future__ import annotations

import numpy as np

from ...core.face import ARKIT_INDEX, ARKIT_NAMES
from ...core.envelopes import pulse, soft_union

SQUINTS_PER_MINUTE = 3.0


def squint_weights(rng: np.random.Generator, times: np.ndarray, duration: float,
                   expressiveness: float) -> tuple[np.ndarray, list[dict]]:
    """(T, 52) weights (eyeSquint*, cheekSquint*) and the events as dicts."""
    count = int(rng.poisson(SQUINTS_PER_MINUTE * expressiveness * duration / 60.0))
    left, right, events = [], [], []
    for onset in np.sort(rng.uniform(0.0, duration, count)):
        amplitude = float(np.clip(expressiveness * rng.uniform(0.1, 0.3), 0.05, 0.35))
        attack, hold, release = rng.uniform(0.15, 0.3), rng.uniform(0.3, 1.5), rng.uniform(0.3, 0.6)
        shape = pulse(times, float(onset), attack, hold, release, amplitude)
        balance = rng.uniform(0.8, 1.0, size=2)
        left.append(shape * balance[0])
        right.append(shape * balance[1])
        events.append({"onset": float(onset), "attack": float(attack), "hold": float(hold),
                       "release": float(release), "amplitude": amplitude})
    weights = np.zeros((len(times), len(ARKIT_NAMES)))
    for suffix, pulses in (("Left", left), ("Right", right)):
        squint = soft_union(pulses, len(times))
        weights[:, ARKIT_INDEX["eyeSquint" + suffix]] = squint
        weights[:, ARKIT_INDEX["cheekSquint" + suffix]] = 0.4 * squint
    return weights, events
