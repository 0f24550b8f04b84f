"""Signed distance primitives for sculpting the head: negative inside, positive outside.

All functions take points as an (N, 3) array and return (N,) distances in metres. The
ellipsoid distance is the usual first-order approximation, which is exact on the surface
and good enough near it; the head is found by ray casting, which only needs the sign
and a smooth field.
"""

from __future__ import annotations

import numpy as np


def sphere(points: np.ndarray, centre, radius: float) -> np.ndarray:
    return np.linalg.norm(points - np.asarray(centre), axis=1) - radius


def ellipsoid(points: np.ndarray, centre, radii) -> np.ndarray:
    radii = np.asarray(radii, dtype=np.float64)
    local = points - np.asarray(centre)
    k0 = np.linalg.norm(local / radii, axis=1)
    k1 = np.linalg.norm(local / radii**2, axis=1)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)


def capsule(points: np.ndarray, start, end, radius_start: float, radius_end: float | None = None) -> np.ndarray:
    """A segment with a radius that changes linearly from start to end (a rounded cone
    when the radii differ; the approximation ignores the cone's slope, fine for
    slender shapes)."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    radius_end = radius_start if radius_end is None else radius_end
    axis = end - start
    along = np.clip((points - start) @ axis / (axis @ axis), 0.0, 1.0)
    closest = start + along[:, None] * axis
    return np.linalg.norm(points - closest, axis=1) - (radius_start + (radius_end - radius_start) * along)


def smooth_union(a: np.ndarray, b: np.ndarray, blend: float) -> np.ndarray:
    """Union whose crease is rounded over about `blend` metres (polynomial smooth min)."""
    h = np.clip(0.5 + 0.5 * (b - a) / blend, 0.0, 1.0)
    return b + (a - b) * h - blend * h * (1.0 - h)


def smooth_subtract(base: np.ndarray, cut: np.ndarray, blend: float) -> np.ndarray:
    """`base` minus `cut`, with the rim of the cut rounded over about `blend` metres."""
    return -smooth_union(-base, cut, blend)


def mirrored(points: np.ndarray) -> np.ndarray:
    """Points with x replaced by |x|: a primitive placed at x > 0 then appears on both
    sides, which keeps the sculpt exactly symmetric."""
    out = points.copy()
    out[:, 0] = np.abs(out[:, 0])
    return out
