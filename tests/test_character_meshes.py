"""Meshes with known answers for the character rig: the bundled head (any identity) as
another topology, with the ARKit rig resampled to that topology (``truth``), and checks
of the builders themselves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from meshtalk_blender.core.face import IdentityParams, arkit_deltas, build_head


@dataclass
class KnownMesh:
    vertices: np.ndarray  # (V, 3)
    faces: list  # polygons
    truth: np.ndarray  # (52, V, 3) the bundled rig resampled to these vertices (same frame)
    scale: float  # metres of the head per unit of these vertices (for mm errors)
    head_ids: np.ndarray  # vertices that come from the head's skin
    lid_pairs: tuple  # (upper ids, lower ids) of the eyelid margins (left and right eye)
    lip_pairs: tuple  # (upper ids, lower ids) of the inner lip contour
    eye_islands: list  # vertex ids of each eyeball island (left, right)
    eye_centres: np.ndarray  # (2, 3)


def head_mesh(identity: IdentityParams = IdentityParams(), eyes: bool = True) -> KnownMesh:
    head = build_head(identity)
    vertices = [head.vertices.astype(np.float64)]
    faces = [list(map(int, f)) for f in head.faces]
    deltas = arkit_deltas(head).astype(np.float64)
    truths = [deltas]
    islands = []
    count = len(head.vertices)
    if eyes:
        for eye in head.eyes:
            faces += [[i + count for i in f] for f in eye.faces]
            vertices.append(eye.vertices.astype(np.float64))
            truths.append(_eye_truth(eye, 0 if eye is head.eyes[0] else 1))
            islands.append(np.arange(count, count + len(eye.vertices)))
            count += len(eye.vertices)
    sets = head.index_sets
    return KnownMesh(np.concatenate(vertices), faces, np.concatenate(truths, axis=1), 1.0,
                     np.arange(len(head.vertices)), (sets["upper_eyelid"], sets["lower_eyelid"]),
                     (sets["upper_inner_lip"], sets["lower_inner_lip"]), islands, head.eye_centres.astype(np.float64))


def _eye_truth(eye, slot: int) -> np.ndarray:
    """(52, n, 3): the eyeball turned about its centre by each eyeLook key of its side."""
    from meshtalk_blender.core.face import ARKIT_INDEX, eye_rotations

    truth = np.zeros((52, len(eye.vertices), 3))
    suffix = "Left" if slot == 0 else "Right"
    relative = eye.vertices.astype(np.float64) - eye.centre
    for look in ("eyeLookUp", "eyeLookDown", "eyeLookIn", "eyeLookOut"):
        weights = np.zeros(52)
        weights[ARKIT_INDEX[look + suffix]] = 1.0
        turn = eye_rotations(weights)[slot]
        truth[ARKIT_INDEX[look + suffix]] = relative @ turn.T - relative
    return truth


def functional(mesh: KnownMesh, deltas: np.ndarray) -> dict[str, float]:
    """What a user sees, in mm of the head: lips parted by jawOpen, sealed again with
    mouthClose, lids closed by a blink, and the largest motion of a one-sided key on the
    other side of the face."""
    from meshtalk_blender.core.face import ARKIT_INDEX, ARKIT_NAMES

    mm = 1000.0 * mesh.scale
    key = lambda name: deltas[ARKIT_INDEX[name]]  # noqa: E731
    upper, lower = mesh.lip_pairs
    rest = mesh.vertices
    middle = slice(len(upper) // 4, 3 * len(upper) // 4)
    opened = rest + key("jawOpen")
    sealed = opened + key("mouthClose")
    out = {
        "lips_open_mm": float(np.median(np.linalg.norm(opened[upper] - opened[lower], axis=1)[middle]) * mm),
        "lips_sealed_mm": float(np.linalg.norm(sealed[upper] - sealed[lower], axis=1)[middle].max() * mm),
    }
    lids_up, lids_down = mesh.lid_pairs
    half = len(lids_up) // 2
    gaps = []
    for name, ids in (("eyeBlinkLeft", slice(0, half)), ("eyeBlinkRight", slice(half, None))):
        closed = rest + key(name)
        inner = slice(ids.start + 2 if ids.start is not None else 2, (ids.stop - 2) if ids.stop else -2)
        gaps.append(np.linalg.norm(closed[lids_up[ids]] - closed[lids_down[ids]], axis=1)[2:-2].max())
    out["blink_gap_mm"] = float(max(gaps) * mm)
    midline = np.median(rest[mesh.head_ids, 0]) if mesh.scale == 1.0 else None
    x = rest[:, 0] - (rest[mesh.head_ids, 0].min() + rest[mesh.head_ids, 0].max()) / 2
    width = np.ptp(rest[mesh.head_ids, 0])
    leak = 0.0
    for index, name in enumerate(ARKIT_NAMES):
        if name in ("jawLeft", "jawRight", "mouthLeft", "mouthRight"):
            continue
        if name.endswith("Left"):
            other = x < -0.05 * width
        elif name.endswith("Right"):
            other = x > 0.05 * width
        else:
            continue
        leak = max(leak, float(np.linalg.norm(deltas[index][other], axis=1).max() * mm))
    out["other_side_mm"] = leak
    del midline
    return out


def resample(mesh: KnownMesh, matrix: sparse.csr_matrix, faces: list) -> KnownMesh:
    """New vertices = matrix @ old vertices (rows sum to 1); truth resampled the same way."""
    vertices = matrix @ mesh.vertices
    truth = np.stack([matrix @ key for key in mesh.truth])
    old_to_new = {}
    coo = matrix.tocoo()
    for r, c, v in zip(coo.row, coo.col, coo.data):
        if v == 1.0:
            old_to_new[c] = r
    remap = lambda ids: np.array([old_to_new[i] for i in ids])  # noqa: E731
    heads = np.array(sorted(set(old_to_new[i] for i in mesh.head_ids if i in old_to_new)))
    row_source = np.asarray(matrix.argmax(axis=1)).ravel()
    head_set = np.zeros(matrix.shape[1], bool)
    head_set[mesh.head_ids] = True
    head_ids = np.flatnonzero(head_set[row_source])
    islands = []
    for island in mesh.eye_islands:
        member = np.zeros(matrix.shape[1], bool)
        member[island] = True
        islands.append(np.flatnonzero(member[row_source]))
    del heads
    return KnownMesh(vertices, faces, truth, mesh.scale, head_ids, tuple(remap(p) for p in mesh.lid_pairs),
                     tuple(remap(p) for p in mesh.lip_pairs), islands, mesh.eye_centres)


def triangulated(mesh: KnownMesh, seed: int = 0) -> KnownMesh:
    """Every quad split along a random diagonal (same vertices)."""
    rng = np.random.default_rng(seed)
    faces = []
    for face in mesh.faces:
        if len(face) == 4:
            a, b, c, d = face
            faces += [[a, b, c], [a, c, d]] if rng.random() < 0.5 else [[a, b, d], [b, c, d]]
        else:
            faces.append(face)
    identity = sparse.identity(len(mesh.vertices), format="csr")
    return resample(mesh, identity, faces)


def subdivided(mesh: KnownMesh, jitter: float = 0.0, seed: int = 0) -> KnownMesh:
    """Each polygon split into quads at its edge midpoints and centre (no smoothing); with
    ``jitter``, the new points slide along their polygon (a different vertex layout)."""
    rng = np.random.default_rng(seed)
    count = len(mesh.vertices)
    rows, cols, vals = list(range(count)), list(range(count)), [1.0] * count
    edge_ids: dict = {}
    new_faces = []
    next_id = count

    def add(weights: dict) -> int:
        nonlocal next_id
        for c, v in weights.items():
            rows.append(next_id)
            cols.append(c)
            vals.append(v)
        next_id += 1
        return next_id - 1

    for face in mesh.faces:
        n = len(face)
        mids = []
        for k in range(n):
            a, b = face[k], face[(k + 1) % n]
            key = (min(a, b), max(a, b))
            if key not in edge_ids:
                t = 0.5 + (rng.uniform(-jitter, jitter) if jitter else 0.0)
                edge_ids[key] = add({a: 1 - t, b: t} if a == key[0] else {a: t, b: 1 - t})
            mids.append(edge_ids[key])
        weights = rng.dirichlet(np.full(n, 8.0)) if jitter else np.full(n, 1.0 / n)
        centre = add({v: float(w) for v, w in zip(face, weights)})
        for k in range(n):
            new_faces.append([face[k], mids[k], centre, mids[k - 1]])
    matrix = sparse.coo_matrix((vals, (rows, cols)), shape=(next_id, count)).tocsr()
    return resample(mesh, matrix, new_faces)


def decimated(mesh: KnownMesh, cell: float = 0.006, keep_within: float = 0.004) -> KnownMesh:
    """Fewer vertices by clustering: the skin's vertices in each ``cell``-sized cube become
    one (their mean, faces that collapse dropped), except within ``keep_within`` of the
    lips' and lids' margins (artists keep those loops) and on the eyeballs."""
    vertices = mesh.vertices
    margins = np.concatenate([*mesh.lid_pairs, *mesh.lip_pairs])
    from scipy.spatial import cKDTree

    near_margin = cKDTree(vertices[margins]).query(vertices)[0] < keep_within
    kept = near_margin.copy()
    for island in mesh.eye_islands:
        kept[island] = True
    keys = {}
    cluster = np.empty(len(vertices), dtype=np.int64)
    for index, point in enumerate(vertices):
        key = ("kept", index) if kept[index] else tuple(np.floor(point / cell).astype(int))
        cluster[index] = keys.setdefault(key, len(keys))
    counts = np.bincount(cluster)
    matrix = sparse.coo_matrix((1.0 / counts[cluster], (cluster, np.arange(len(vertices)))),
                               shape=(len(keys), len(vertices))).tocsr()
    faces = []
    for face in mesh.faces:
        ids = [int(cluster[v]) for v in face]
        ids = [v for k, v in enumerate(ids) if v != ids[k - 1]]  # collapsed edges
        if len(set(ids)) >= 3:
            faces.append(ids)
    return resample(mesh, matrix, faces)


def transformed(mesh: KnownMesh, scale: float, yaw_degrees: float = 0.0, offset=(0.0, 0.0, 0.0)) -> KnownMesh:
    angle = np.radians(yaw_degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    vertices = scale * mesh.vertices @ rotation.T + np.asarray(offset)
    truth = scale * mesh.truth @ rotation.T
    return KnownMesh(vertices, mesh.faces, truth, mesh.scale / scale, mesh.head_ids, mesh.lid_pairs, mesh.lip_pairs,
                     mesh.eye_islands, scale * mesh.eye_centres @ rotation.T + np.asarray(offset))


def with_body(mesh: KnownMesh) -> KnownMesh:
    """The head's open neck continued into shoulders and a torso (one connected mesh)."""
    head = build_head()
    neck_ids = np.asarray(head.layout.grid[0])  # the lowest ring of the neck (an open border)
    ring = mesh.vertices[neck_ids]
    centre = ring.mean(axis=0)
    vertices = [mesh.vertices]
    faces = list(mesh.faces)
    previous = neck_ids
    count = len(mesh.vertices)
    profile = [(-0.04, 1.05, 1.0), (-0.08, 1.5, 1.2), (-0.11, 3.2, 1.6), (-0.16, 3.4, 1.7), (-0.4, 3.0, 1.6),
               (-0.8, 2.6, 1.5)]
    for drop, widen, deepen in profile:
        new = (ring - centre) * np.array([widen, deepen, 0.0]) + centre + np.array([0.0, 0.0, drop])
        new[:, 2] = ring[:, 2].min() + drop
        ids = np.arange(count, count + len(ring))
        vertices.append(new)
        n = len(ring)
        for k in range(n):
            faces.append([int(previous[k]), int(ids[k]), int(ids[(k + 1) % n]), int(previous[(k + 1) % n])])
        previous = ids
        count += len(ring)
    body = np.concatenate(vertices)
    truth = np.concatenate([mesh.truth, np.zeros((52, len(body) - len(mesh.vertices), 3))], axis=1)
    return KnownMesh(body, faces, truth, mesh.scale, mesh.head_ids, mesh.lid_pairs, mesh.lip_pairs, mesh.eye_islands,
                     mesh.eye_centres)


def test_builders_keep_the_truth_consistent():
    base = head_mesh()
    sub = subdivided(base, jitter=0.2)
    assert len(sub.vertices) > 3 * len(base.vertices)
    assert sub.truth.shape == (52, len(sub.vertices), 3)
    # Original vertices keep their ids and their deltas.
    assert np.allclose(sub.truth[:, : len(base.vertices)], base.truth)
    fewer = decimated(base, 0.008)
    assert len(fewer.vertices) < 0.7 * len(base.vertices) and fewer.truth.shape == (52, len(fewer.vertices), 3)
    lips = np.concatenate(base.lip_pairs)
    assert np.allclose(fewer.vertices[np.concatenate(fewer.lip_pairs)], base.vertices[lips])  # the lips kept
    body = with_body(triangulated(base))
    assert body.vertices[:, 2].min() < -0.9 and len(body.faces) > len(base.faces)
