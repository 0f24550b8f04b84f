"""A user's mesh as plain arrays: triangles, islands, normals, borders, closest points.

Everything the character fit needs from a mesh of any topology (quads, triangles,
n-gons, several islands, open borders), without bpy. Polygons are fan-triangulated:
the triangles are only used to measure the surface, never written back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree


def fan_triangles(polygon_sizes: np.ndarray, loop_vertices: np.ndarray) -> np.ndarray:
    """(P,) corner counts and (L,) vertex ids of all corners in order -> (T, 3) int64."""
    sizes = np.asarray(polygon_sizes, dtype=np.int64)
    loops = np.asarray(loop_vertices, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    fans = np.maximum(sizes - 2, 0)
    owner = np.repeat(np.arange(len(sizes)), fans)
    step = np.arange(fans.sum()) - np.repeat(np.cumsum(fans) - fans, fans)
    first = starts[owner]
    return np.stack([loops[first], loops[first + step + 1], loops[first + step + 2]], axis=1)


def triangles_of(faces: list) -> np.ndarray:
    """Polygons as lists of vertex ids -> (T, 3) fan triangles."""
    sizes = np.array([len(face) for face in faces], dtype=np.int64)
    return fan_triangles(sizes, np.concatenate([np.asarray(face, dtype=np.int64) for face in faces]))


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(V, 3) area-weighted unit normals (zero for vertices in no triangle)."""
    corners = vertices[triangles]
    area = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros((len(vertices), 3))
    for column in range(3):
        np.add.at(normals, triangles[:, column], area)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def triangle_areas(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    corners = vertices[triangles]
    return 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)


def island_labels(vertex_count: int, triangles: np.ndarray) -> np.ndarray:
    """(V,) island number per vertex (vertices in no triangle get islands of their own)."""
    rows = np.concatenate([triangles[:, 0], triangles[:, 1]])
    cols = np.concatenate([triangles[:, 1], triangles[:, 2]])
    graph = sparse.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(vertex_count, vertex_count))
    return connected_components(graph, directed=False)[1]


def edge_graph(vertex_count: int, triangles: np.ndarray, vertices: np.ndarray) -> sparse.csr_matrix:
    """Symmetric (V, V) matrix of edge lengths."""
    edges = unique_edges(triangles)
    length = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1) + 1e-12
    graph = sparse.coo_matrix((length, (edges[:, 0], edges[:, 1])), shape=(vertex_count, vertex_count))
    return (graph + graph.T).tocsr()


def unique_edges(triangles: np.ndarray) -> np.ndarray:
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    return np.unique(np.sort(edges, axis=1), axis=0)


def border_vertices(vertex_count: int, triangles: np.ndarray) -> np.ndarray:
    """(V,) bool: vertices on an edge that only one triangle uses (an open border)."""
    edges = np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    border = np.zeros(vertex_count, dtype=bool)
    border[unique[counts == 1].ravel()] = True
    return border


@dataclass
class SurfacePoints:
    """Closest points on a triangle surface: (N, 3) points, triangle ids, barycentrics."""

    points: np.ndarray
    triangle: np.ndarray
    barycentric: np.ndarray
    distance: np.ndarray


class TriangleSurface:
    """Closest-point queries on a triangle mesh (candidate triangles from a k-d tree of
    their centroids, then the exact point-triangle distance)."""

    def __init__(self, vertices: np.ndarray, triangles: np.ndarray, candidates: int = 16):
        self.vertices = np.asarray(vertices, dtype=np.float64)
        self.triangles = np.asarray(triangles, dtype=np.int64)
        corners = self.vertices[self.triangles]
        self.tree = cKDTree(corners.mean(axis=1))
        self.candidates = min(candidates, len(self.triangles))
        # A long triangle's centroid can be far from its closest point: search as far as
        # the longest edge so such triangles are still candidates.
        edges = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2)
        self.reach = float(edges.max()) if len(edges) else 0.0

    def closest(self, points: np.ndarray, block: int = 20000) -> SurfacePoints:
        points = np.asarray(points, dtype=np.float64)
        out_points = np.zeros_like(points)
        out_triangle = np.zeros(len(points), dtype=np.int64)
        out_bary = np.zeros((len(points), 3))
        out_distance = np.zeros(len(points))
        for start in range(0, len(points), block):
            query = points[start:start + block]
            _, ids = self.tree.query(query, k=self.candidates)
            ids = ids.reshape(len(query), -1)
            corners = self.vertices[self.triangles[ids]]  # (Q, K, 3, 3)
            closest, bary = closest_on_triangles(query[:, None, :], corners[:, :, 0], corners[:, :, 1], corners[:, :, 2])
            distance = np.linalg.norm(closest - query[:, None, :], axis=2)
            best = np.argmin(distance, axis=1)
            rows = np.arange(len(query))
            out_points[start:start + block] = closest[rows, best]
            out_triangle[start:start + block] = ids[rows, best]
            out_bary[start:start + block] = bary[rows, best]
            out_distance[start:start + block] = distance[rows, best]
        return SurfacePoints(out_points, out_triangle, out_bary, out_distance)


def closest_on_triangles(p, a, b, c):
    """Closest point of triangles (a, b, c) to points p (broadcast (..., 3)); returns
    (points (..., 3), barycentric (..., 3)). Ericson, Real-Time Collision Detection 5.1.5."""
    p, a, b, c = np.broadcast_arrays(p, a, b, c)
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    bp = p - b
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    cp = p - c
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    shape = d1.shape
    u = np.zeros(shape)
    v = np.zeros(shape)
    w = np.zeros(shape)  # barycentric weights of a, b, c
    done = np.zeros(shape, dtype=bool)

    def take(mask, wa, wb, wc):
        nonlocal done
        mask = mask & ~done
        u[mask], v[mask], w[mask] = wa[mask] if np.ndim(wa) else wa, wb[mask] if np.ndim(wb) else wb, wc[mask] if np.ndim(wc) else wc
        done |= mask

    with np.errstate(divide="ignore", invalid="ignore"):
        take((d1 <= 0) & (d2 <= 0), 1.0, 0.0, 0.0)
        take((d3 >= 0) & (d4 <= d3), 0.0, 1.0, 0.0)
        take((d6 >= 0) & (d5 <= d6), 0.0, 0.0, 1.0)
        t = d1 / (d1 - d3)
        take((vc <= 0) & (d1 >= 0) & (d3 <= 0), 1.0 - t, t, np.zeros(shape))
        t = d2 / (d2 - d6)
        take((vb <= 0) & (d2 >= 0) & (d6 <= 0), 1.0 - t, np.zeros(shape), t)
        t = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        take((va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0), np.zeros(shape), 1.0 - t, t)
        denominator = va + vb + vc
        bv = vb / denominator
        cw = vc / denominator
        take(np.ones(shape, dtype=bool), 1.0 - bv - cw, bv, cw)
    bary = np.stack([u, v, w], axis=-1)
    bary = np.nan_to_num(bary, nan=1.0 / 3.0)  # degenerate triangles
    points = bary[..., 0:1] * a + bary[..., 1:2] * b + bary[..., 2:3] * c
    return points, bary


def sample_surface(vertices: np.ndarray, triangles: np.ndarray, spacing: float, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Points about ``spacing`` apart on the surface (plus every vertex), and the
    triangle each lies on (-1 for the vertices)."""
    rng = np.random.default_rng(0) if rng is None else rng
    areas = triangle_areas(vertices, triangles)
    counts = np.floor(areas / (spacing**2) + rng.random(len(areas))).astype(np.int64)
    counts = np.minimum(counts, 64)
    owner = np.repeat(np.arange(len(triangles)), counts)
    r1, r2 = rng.random(len(owner)), rng.random(len(owner))
    flip = r1 + r2 > 1.0
    r1[flip], r2[flip] = 1.0 - r1[flip], 1.0 - r2[flip]
    corners = vertices[triangles[owner]]
    samples = corners[:, 0] + r1[:, None] * (corners[:, 1] - corners[:, 0]) + r2[:, None] * (corners[:, 2] - corners[:, 0])
    return samples, owner
