"""Building blocks for upper-face events: smooth pulses and random event times.

A facial event (a blink, a brow raise, a squint) is a pulse: it rises over ``attack``
seconds from its onset, holds, then falls over ``release`` seconds. Pulses are
evaluated directly at the frame times, so an event shorter than a frame still shows
at whatever phase the frames catch it, as a 30 fps camera would.
"""
from __future__ import annotations

import numpy as np


def raised_cosine(u: np.ndarray) -> np.ndarray:
    """0 -> 1 for u in [0, 1] with zero slope at both ends (clipped outside)."""
    u = np.clip(u, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


def pulse(times: np.ndarray, onset: float, attack: float, hold: float, release: float,
          amplitude: float = 1.0, release_power: float = 1.0) -> np.ndarray:
    """(T,) pulse at ``times`` (s): rise over ``attack`` from ``onset``, hold, fall over
    ``release``. ``release_power`` > 1 gives a fall that slows toward the end (a long
    tail, as an eyelid reopening)."""
    rise = raised_cosine((times - onset) / max(attack, 1e-4))
    fall_start = onset + attack + hold
    fall = 1.0 - raised_cosine((times - fall_start) / max(release, 1e-4))
    fall = fall ** release_power
    shape = np.where(times < fall_start, rise, fall)
    return amplitude * shape


def soft_union(pulses: list[np.ndarray], length: int) -> np.ndarray:
    """Combine pulses in [0, 1] so overlaps add up but never pass 1: 1 - prod(1 - p)."""
    remaining = np.ones(length)
    for values in pulses:
        remaining *= 1.0 - np.clip(values, 0.0, 1.0)
    return 1.0 - remaining


def event_times(rng: np.random.Generator, intensity: np.ndarray, step: float,
                refractory: float) -> np.ndarray:
    """Random event times (s) from a time-varying rate.

    ``intensity`` (G,) is in events per second on a grid of cell width ``step`` s
    starting at 0. Each cell fires with probability ``intensity * step``; an event
    within ``refractory`` s of the previous one is dropped (a blink cannot start while
    the last one is still under way). Returns sorted times (E,) at the cell starts plus
    a uniform jitter inside the cell.
    """
    fires = rng.random(len(intensity)) < np.clip(intensity * step, 0.0, 1.0)
    jitter = rng.random(len(intensity)) * step
    times = []
    last = -np.inf
    for index in np.flatnonzero(fires):
        time = index * step + jitter[index]
        if time - last >= refractory:
            times.append(time)
            last = time
    return np.array(times, dtype=np.float64)
