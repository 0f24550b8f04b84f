"""Few keys an animator can edit, for a curve sampled at every frame.

The model gives a weight per frame. Keyed as is, that is one LINEAR key per frame and
channel (7,696 keys for 4.9 s of ARKit weights), which nobody can polish. Here a curve
becomes the fewest Bezier keys found by splitting (a key where the curve is worst, until
every sample is within ``tolerance``): each key has the sample's value and the samples'
slope there, and its handles lie on that slope at a third of the way to the next key,
which is exactly a cubic Hermite segment, the curve Blender draws between two keys with
such handles. A channel that never leaves ``tolerance`` of zero gets no key at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ReducedCurve:
    frames: np.ndarray  # (K,) int64 sample indices of the keys (0 = the first sample)
    values: np.ndarray  # (K,) float32 the keys' values
    slopes: np.ndarray  # (K,) float32 value per frame at each key (both handles lie on it)

    def handles(self) -> tuple[np.ndarray, np.ndarray]:
        """((K, 2), (K, 2)): each key's left and right handle (frame, value), on its
        slope a third of the way to the previous and the next key (the first and last
        keys mirror their one neighbour's gap)."""
        gaps = np.diff(self.frames).astype(np.float64) / 3.0
        end = gaps[:1] if len(gaps) else np.ones(1)
        before, after = np.concatenate([end, gaps]), np.concatenate([gaps, gaps[-1:] if len(gaps) else end])
        slopes, values = self.slopes.astype(np.float64), self.values.astype(np.float64)
        left = np.stack([self.frames - before, values - slopes * before], axis=1)
        right = np.stack([self.frames + after, values + slopes * after], axis=1)
        return left, right


def reduce_curve(samples: np.ndarray, tolerance: float) -> ReducedCurve | None:
    """(T,) samples at consecutive frames -> the keys of a Bezier curve within
    ``tolerance`` of every sample; None when every sample is within ``tolerance`` of 0."""
    samples = np.asarray(samples, dtype=np.float64)
    if not len(samples) or np.abs(samples).max() <= tolerance:
        return None
    slopes = np.gradient(samples) if len(samples) > 1 else np.zeros(1)
    keys = {0, len(samples) - 1}
    pending = [(0, len(samples) - 1)]
    while pending:
        first, last = pending.pop()
        if last - first < 2:
            continue
        inside = np.arange(first + 1, last)
        error = np.abs(hermite(samples[first], slopes[first], samples[last], slopes[last], last - first,
                               inside - first) - samples[inside])
        worst = int(np.argmax(error))
        if error[worst] > tolerance:
            split = int(inside[worst])
            keys.add(split)
            pending += [(first, split), (split, last)]
    frames = np.array(sorted(keys), dtype=np.int64)
    return ReducedCurve(frames, samples[frames].astype(np.float32), slopes[frames].astype(np.float32))


def hermite(value0: float, slope0: float, value1: float, slope1: float, length: float,
            offsets: np.ndarray) -> np.ndarray:
    """The cubic with these values and slopes (per frame) at offsets 0 and ``length``,
    at ``offsets``: what Blender draws between two Bezier keys whose handles lie on the
    slopes at a third of the gap."""
    t = np.asarray(offsets, dtype=np.float64) / length
    t2, t3 = t * t, t * t * t
    return ((2 * t3 - 3 * t2 + 1) * value0 + (t3 - 2 * t2 + t) * length * slope0
            + (-2 * t3 + 3 * t2) * value1 + (t3 - t2) * length * slope1)


def evaluate(curve: ReducedCurve | None, count: int) -> np.ndarray:
    """(count,) the reduced curve at frames 0..count-1 (0 where there is no curve);
    before the first key and after the last it holds their values, as Blender does."""
    out = np.zeros(count, dtype=np.float64)
    if curve is None:
        return out.astype(np.float32)
    frames, values, slopes = curve.frames, curve.values.astype(np.float64), curve.slopes.astype(np.float64)
    out[: frames[0] + 1] = values[0]
    out[frames[-1]:] = values[-1]
    for k in range(len(frames) - 1):
        first, last = frames[k], frames[k + 1]
        offsets = np.arange(0, last - first + 1)
        out[first:last + 1] = hermite(values[k], slopes[k], values[k + 1], slopes[k + 1], last - first, offsets)
    return out.astype(np.float32)
