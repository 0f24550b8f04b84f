"""A depth image of a mesh seen from the front (-Y), rasterised with numpy.

``front_depth(vertices, triangles, bounds, pixel)`` -> ``DepthImage``: for every pixel of
an (x, z) grid the largest "forwardness" f = -y of the surface there (NaN where there is
no surface). Triangles are split until they span a few pixels, then each one writes the
pixel centres it covers (a z-buffer by ``np.maximum.at``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

MAX_SPAN = 3.0  # pixels: triangles larger than this are split first


@dataclass
class DepthImage:
    forward: np.ndarray  # (rows, cols) f = -y, NaN where empty; row 0 is the lowest z
    x0: float
    z0: float
    pixel: float

    def x_of(self, col):
        return self.x0 + (np.asarray(col) + 0.5) * self.pixel

    def z_of(self, row):
        return self.z0 + (np.asarray(row) + 0.5) * self.pixel

    def col_of(self, x):
        return np.floor((np.asarray(x) - self.x0) / self.pixel).astype(np.int64)

    def row_of(self, z):
        return np.floor((np.asarray(z) - self.z0) / self.pixel).astype(np.int64)

    def smooth(self, sigma: float) -> np.ndarray:
        """Gaussian-smoothed forwardness, holes filled by the surroundings first."""
        valid = np.isfinite(self.forward)
        values = np.where(valid, self.forward, 0.0)
        weight = ndimage.gaussian_filter(valid.astype(float), sigma)
        blurred = ndimage.gaussian_filter(values, sigma)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(weight > 1e-3, blurred / weight, np.nan)


def _split(corners: np.ndarray, pixel: float) -> np.ndarray:
    """(T, 3, 2) triangles in (x, z) -> the same area in triangles no wider than MAX_SPAN
    pixels (each long one split into four at its edge midpoints, repeatedly)."""
    pieces = []
    while len(corners):
        span = np.maximum(np.ptp(corners[:, :, 0], axis=1), np.ptp(corners[:, :, 1], axis=1)) / pixel
        small = span <= MAX_SPAN
        pieces.append(corners[small])
        big = corners[~small]
        if not len(big):
            break
        a, b, c = big[:, 0], big[:, 1], big[:, 2]
        ab, bc, ca = 0.5 * (a + b), 0.5 * (b + c), 0.5 * (c + a)
        corners = np.concatenate([np.stack(t, axis=1) for t in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    return np.concatenate(pieces) if pieces else np.zeros((0, 3, 3))


def front_depth(vertices: np.ndarray, triangles: np.ndarray, bounds: tuple[float, float, float, float],
                pixel: float) -> DepthImage:
    """bounds = (x_min, x_max, z_min, z_max); vertices in a frame where the face looks
    toward -Y."""
    x_min, x_max, z_min, z_max = bounds
    cols = max(int(np.ceil((x_max - x_min) / pixel)), 1)
    rows = max(int(np.ceil((z_max - z_min) / pixel)), 1)
    image = np.full(rows * cols, -np.inf)
    corners = vertices[triangles][:, :, [0, 2, 1]].astype(np.float64)  # (x, z, y)
    corners[:, :, 2] *= -1.0  # forwardness
    inside = ((corners[:, :, 0].max(1) >= x_min) & (corners[:, :, 0].min(1) <= x_max)
              & (corners[:, :, 1].max(1) >= z_min) & (corners[:, :, 1].min(1) <= z_max))
    corners = _split(corners[inside], pixel)
    if len(corners):
        # Each small triangle tests the pixel centres in a 4 x 4 block at its lower corner.
        col0 = np.floor((corners[:, :, 0].min(1) - x_min) / pixel - 0.5).astype(np.int64)
        row0 = np.floor((corners[:, :, 1].min(1) - z_min) / pixel - 0.5).astype(np.int64)
        offsets = np.stack(np.meshgrid(np.arange(5), np.arange(5), indexing="ij"), -1).reshape(-1, 2)
        for dc, dr in offsets:
            col, row = col0 + dc, row0 + dr
            px = x_min + (col + 0.5) * pixel
            pz = z_min + (row + 0.5) * pixel
            a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
            v0, v1 = b[:, :2] - a[:, :2], c[:, :2] - a[:, :2]
            w = np.stack([px, pz], 1) - a[:, :2]
            det = v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0]
            ok = np.abs(det) > 1e-20
            safe = np.where(ok, det, 1.0)
            s = (w[:, 0] * v1[:, 1] - w[:, 1] * v1[:, 0]) / safe
            t = (v0[:, 0] * w[:, 1] - v0[:, 1] * w[:, 0]) / safe
            hit = ok & (s >= -1e-9) & (t >= -1e-9) & (s + t <= 1 + 1e-9) & (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
            depth = a[:, 2] + s * (b[:, 2] - a[:, 2]) + t * (c[:, 2] - a[:, 2])
            np.maximum.at(image, (row * cols + col)[hit], depth[hit])
    image = image.reshape(rows, cols)
    image[~np.isfinite(image)] = np.nan
    return DepthImage(image, x_min, z_min, pixel)
