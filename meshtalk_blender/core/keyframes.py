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

import functools

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
    frames = np.flatnonzero(_compiled_key_frames()(samples, slopes, float(tolerance)))
    return ReducedCurve(frames.astype(np.int64), samples[frames].astype(np.float32), slopes[frames].astype(np.float32))


@functools.lru_cache(maxsize=1)
def _compiled_key_frames():
    """_key_frames compiled by numba, on first use: the add-on imports this module when
    Blender starts, and numba must not load then."""
    from .compiled import numba

    return numba.njit(cache=True, nogil=True)(_key_frames)


def _key_frames(samples, slopes, tolerance):
    """(T,) bool: which samples become keys. Splits each segment at its worst sample
    until every segment's Hermite curve is within ``tolerance`` (compiled: in Python a
    4-minute take's 52 curves took 1.6 s)."""
    count = samples.shape[0]
    keys = np.zeros(count, dtype=np.bool_)
    keys[0] = keys[count - 1] = True
    stack = [(0, count - 1)]
    while len(stack):
        first, last = stack.pop()
        if last - first < 2:
            continue
        length = last - first
        worst, worst_error = -1, tolerance
        for index in range(first + 1, last):
            t = (index - first) / length
            t2, t3 = t * t, t * t * t
            value = ((2 * t3 - 3 * t2 + 1) * samples[first] + (t3 - 2 * t2 + t) * length * slopes[first]
                     + (-2 * t3 + 3 * t2) * samples[last] + (t3 - t2) * length * slopes[last])
            error = abs(value - samples[index])
            if error > worst_error:
                worst, worst_error = index, error
        if worst >= 0:
            keys[worst] = True
            stack.append((first, worst))
            stack.append((worst, last))
    return keys


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
