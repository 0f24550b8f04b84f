"""Teeth, gums and tongue (core/face/mouth_parts.py): where they sit and how they move.

Inside/outside is decided by ray parity against closed meshes. The face is closed for this by capping its neck and
eye openings; a point outside it is in the mouth when the first surface behind it is the
mouth bag's (teeth are seen through parted lips), and otherwise in front of the skin,
which a tooth must never be; nor may a lip vertex be inside a tooth.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from meshtalk_blender.core.face import ARKIT_INDEX, ARKIT_NAMES, arkit_deltas, build_head, load_bundled_head
from meshtalk_blender.core.face.head import MOUTH_MATERIAL
from meshtalk_blender.core.face.identity import IdentityParams
from meshtalk_blender.core.face.mouth_parts import DENTAL_LIP_PART, GUM, TONGUE, TOOTH, build_mouth_parts
from meshtalk_blender.core.face.rig import jaw_open_offsets

COMBINATIONS = (
    "jawOpen+mouthClose", "jawOpen+mouthFunnel", "jawOpen+mouthPucker", "jawOpen+mouthRollLower+mouthRollUpper",
    "mouthRollLower+mouthRollUpper", "mouthPressLeft+mouthPressRight+mouthRollLower", "jawOpen+tongueOut",
    "mouthSmileLeft+mouthSmileRight+jawOpen", "mouthUpperUpLeft+mouthUpperUpRight+mouthLowerDownLeft+mouthLowerDownRight",
    "jawForward+jawOpen", "jawLeft+mouthLeft", "jawRight+mouthRight",
)


def triangles(faces: list[list[int]]) -> np.ndarray:
    return np.array([[face[0], face[i], face[i + 1]] for face in faces for i in range(1, len(face) - 1)])


def _cells_of_triangles(flat: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Every (cell key, triangle id) for the grid cells (`size` wide, in x and z) that each
    triangle's outline box covers, sorted by key."""
    low = np.floor(flat.min(axis=1) / size).astype(np.int64)  # (T, 2)
    span = np.floor(flat.max(axis=1) / size).astype(np.int64) - low + 1
    counts = span[:, 0] * span[:, 1]
    tri_ids = np.repeat(np.arange(len(flat)), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    cell_x = low[tri_ids, 0] + within % span[tri_ids, 0]
    cell_z = low[tri_ids, 1] + within // span[tri_ids, 0]
    keys = cell_x * 1_000_003 + cell_z
    order = np.argsort(keys, kind="stable")
    return keys[order], tri_ids[order]


def _ray_crossings(points: np.ndarray, vertices: np.ndarray, tris: np.ndarray):
    """Where the line through each point along y crosses a triangle mesh: (point ids,
    triangle ids, crossing y, the point's y) of every crossing. Candidates come from a
    grid over the triangles' outlines seen from the front (x, z). The points are nudged
    off the symmetry plane, where a line would run along edges."""
    corners = vertices[tris].astype(np.float64)  # (T, 3, 3)
    flat = corners[:, :, [0, 2]]
    size = 0.004
    keys, cell_tris = _cells_of_triangles(flat, size)
    points = np.asarray(points, dtype=np.float64) + [1.3e-7, 0.0, 0.7e-7]
    point_cells = np.floor(points[:, [0, 2]] / size).astype(np.int64)
    point_keys = point_cells[:, 0] * 1_000_003 + point_cells[:, 1]
    first, last = np.searchsorted(keys, point_keys, "left"), np.searchsorted(keys, point_keys, "right")
    counts = last - first
    point_ids = np.repeat(np.arange(len(points)), counts)
    tri_ids = cell_tris[np.repeat(first, counts) + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)]
    p = points[point_ids]
    a, b, c = corners[tri_ids, 0], corners[tri_ids, 1], corners[tri_ids, 2]
    # Barycentric coordinates of the point's (x, z) in the triangle's (x, z) outline.
    ab, ac, ap = b - a, c - a, p - a
    det = ab[:, 0] * ac[:, 2] - ab[:, 2] * ac[:, 0]
    safe = np.where(np.abs(det) > 1e-18, det, 1.0)
    u = (ap[:, 0] * ac[:, 2] - ap[:, 2] * ac[:, 0]) / safe
    v = (ab[:, 0] * ap[:, 2] - ab[:, 2] * ap[:, 0]) / safe
    crossed = (np.abs(det) > 1e-18) & (u >= 0) & (v >= 0) & (u + v <= 1)
    hit_y = a[:, 1] + u * ab[:, 1] + v * ac[:, 1]
    return point_ids[crossed], tri_ids[crossed], hit_y[crossed], p[crossed, 1]


def inside(points: np.ndarray, vertices: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(P,) bool: is each point inside a closed triangle mesh? A ray from the point
    toward the front (-y) crosses its surface an odd number of times exactly when it is."""
    point_ids, _, hit_y, point_y = _ray_crossings(points, vertices, tris)
    return np.bincount(point_ids[hit_y < point_y], minlength=len(points)) % 2 == 1


def inside_and_behind(points: np.ndarray, vertices: np.ndarray, tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((P,) inside as `inside`, (P,) the triangle a ray from each point toward the back
    (+y) meets first, -1 if none)."""
    point_ids, tri_ids, hit_y, point_y = _ray_crossings(points, vertices, tris)
    is_inside = np.bincount(point_ids[hit_y < point_y], minlength=len(points)) % 2 == 1
    behind = hit_y > point_y
    point_ids, tri_ids, hit_y = point_ids[behind], tri_ids[behind], hit_y[behind]
    order = np.lexsort((hit_y, point_ids))
    first = np.full(len(points), -1)
    ids, starts = np.unique(point_ids[order], return_index=True)
    first[ids] = tri_ids[order][starts]
    return is_inside, first


def border_loops(faces: list[list[int]]) -> list[list[int]]:
    """Each border of a mesh as a vertex loop, in the direction its faces run."""
    next_vertex = {}
    edge_count = defaultdict(int)
    for face in faces:
        for i in range(len(face)):
            edge_count[frozenset((face[i], face[(i + 1) % len(face)]))] += 1
    for face in faces:
        for i in range(len(face)):
            a, b = face[i], face[(i + 1) % len(face)]
            if edge_count[frozenset((a, b))] == 1:
                next_vertex[b] = a  # a border runs against its face's winding
    loops, seen = [], set()
    for start in next_vertex:
        if start in seen:
            continue
        loop, vertex = [], start
        while vertex not in seen:
            seen.add(vertex)
            loop.append(vertex)
            vertex = next_vertex[vertex]
        loops.append(loop)
    return loops


def _signed_volume(vertices: np.ndarray, faces: list[list[int]]) -> float:
    corners = vertices[triangles(faces)].astype(np.float64)
    return float(np.einsum("tk,tk->t", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum() / 6.0)


class ClosedFace:
    """The face surface (mouth bag included) with its neck and eye openings capped:
    (posed vertices) -> a closed triangle mesh, and which of its triangles are skin. A
    point outside it is in the air in front of the face or in the mouth; it is in the
    mouth when the first surface behind it is the bag's."""

    def __init__(self, head):
        self.faces = head.faces
        self.loops = border_loops(self.faces)
        assert len(self.loops) == 3  # the neck and two eye openings
        self.count = len(head.vertices)
        bag = np.array([material == MOUTH_MATERIAL for material in head.face_materials])
        per_triangle = np.repeat(bag, [len(face) - 2 for face in self.faces])
        caps = sum(len(loop) for loop in self.loops)
        self.skin = np.concatenate([~per_triangle, np.ones(caps, dtype=bool)])

    def mesh(self, posed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vertices, tris = [posed], [triangles(self.faces)]
        for k, loop in enumerate(self.loops):
            centre = self.count + k
            vertices.append(posed[loop].mean(axis=0, keepdims=True))
            tris.append(np.array([[loop[i], loop[(i + 1) % len(loop)], centre] for i in range(len(loop))]))
        return np.concatenate(vertices), np.concatenate(tris)

    def in_front_of_skin(self, points: np.ndarray, posed: np.ndarray) -> np.ndarray:
        """(P,) bool: outside the head and not in its mouth."""
        is_inside, behind = inside_and_behind(points, *self.mesh(posed))
        return ~is_inside & ((behind < 0) | self.skin[np.maximum(behind, 0)])


def pose(head, deltas: np.ndarray, names: str) -> tuple[np.ndarray, np.ndarray]:
    weights = np.zeros(len(ARKIT_NAMES))
    for name in names.split("+"):
        if name != "neutral":
            weights[ARKIT_INDEX[name]] = 1.0
    return head.vertices + np.tensordot(weights, deltas, axes=1), weights


def posed_part(part, weights: np.ndarray, tongue: dict[str, float] | None = None) -> np.ndarray:
    """The part at (52,) ARKit weights and {tongue control: weight} (core.tongue's keys)."""
    moved = part.vertices.astype(np.float64).copy()
    for name, delta in part.key_deltas.items():
        moved += (weights[ARKIT_INDEX[name]] if name in ARKIT_INDEX else (tongue or {}).get(name, 0.0)) * delta
    return moved


def lip_vertices(head) -> np.ndarray:
    """The lips' skin and red, up to their inner edge (not the bag behind it)."""
    bag = {v for face, material in zip(head.faces, head.face_materials) if material == MOUTH_MATERIAL for v in face}
    mouth = np.flatnonzero(head.masks["mouth"] > 0.0)
    return np.array([v for v in mouth if v not in bag])


@pytest.fixture(scope="module")
def neutral():
    head = load_bundled_head()
    return head, arkit_deltas(head), build_mouth_parts(head)


def _check_pose(head, deltas, parts, names: str, closed: ClosedFace, lips: np.ndarray) -> list[str]:
    problems = []
    posed, weights = pose(head, deltas, names)
    for part in parts:
        moved = posed_part(part, weights)
        if part.name == "Tongue" and weights[ARKIT_INDEX["tongueOut"]] > 0:
            continue  # the tongue is meant to come out
        outside = closed.in_front_of_skin(moved, posed)
        if outside.any():
            problems.append(f"{names}: {outside.sum()} {part.name} vertices in front of the skin")
        if part.name != "Tongue":
            caught = inside(posed[lips], moved, triangles(part.faces))
            if caught.any():
                problems.append(f"{names}: {caught.sum()} lip vertices inside the {part.name}")
    return problems


def test_the_parts_are_closed_outward_meshes_with_their_materials(neutral):
    head, _, parts = neutral
    assert [part.name for part in parts] == ["Teeth Upper", "Teeth Lower", "Tongue"]
    for part in parts:
        assert border_loops(part.faces) == [], f"{part.name} has holes"
        assert _signed_volume(part.vertices, part.faces) > 0  # outward normals
    tongue_centre = parts[2].vertices.mean(axis=0, keepdims=True)
    assert inside(tongue_centre, parts[2].vertices, triangles(parts[2].faces))[0]
    assert not inside(tongue_centre + [[0.0, 0.0, 0.05]], parts[2].vertices, triangles(parts[2].faces))[0]
    upper, lower, tongue = parts
    assert set(upper.face_materials) == {TOOTH, GUM} == set(lower.face_materials)
    assert set(tongue.face_materials) == {TONGUE}
    assert upper.key_deltas == {}  # the upper teeth are fixed to the skull


def test_teeth_sit_behind_the_lips_and_inside_the_face_in_every_shape(neutral):
    head, deltas, parts = neutral
    closed, lips = ClosedFace(head), lip_vertices(head)
    problems = []
    for names in ("neutral",) + tuple(ARKIT_NAMES) + COMBINATIONS:
        problems += _check_pose(head, deltas, parts, names, closed, lips)
    assert problems == []


def test_teeth_fit_other_identities():
    for values in ((1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1), (-1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1)):
        head = build_head(IdentityParams(*[0.8 * v for v in values]))
        deltas, parts = arkit_deltas(head), build_mouth_parts(head)
        closed, lips = ClosedFace(head), lip_vertices(head)
        problems = []
        for names in ("neutral", "jawOpen", "jawOpen+mouthClose", "mouthRollLower+mouthRollUpper", "mouthFunnel"):
            problems += _check_pose(head, deltas, parts, names, closed, lips)
        assert problems == [], values


def test_the_lower_teeth_follow_the_jaw_exactly_and_show_when_it_opens(neutral):
    head, deltas, parts = neutral
    upper, lower, tongue = parts
    np.testing.assert_allclose(lower.key_deltas["jawOpen"], jaw_open_offsets(lower.vertices, head.jaw_hinge), atol=1e-6)
    # The chin's skin (jaw weight 1 there) moves by the same field at the same points.
    full = np.isclose(deltas[ARKIT_INDEX["jawOpen"]], jaw_open_offsets(head.vertices, head.jaw_hinge), atol=1e-6)
    assert full.all(axis=1).sum() > 100
    # The incisors' edges: about 2 mm of overbite closed, more than a centimetre apart open.
    front = lambda vertices: vertices[np.abs(vertices[:, 0]) < 0.004]  # noqa: E731
    upper_edge = front(upper.vertices)[:, 2].min()
    lower_edge = front(lower.vertices)[:, 2].max()
    assert 0.001 < lower_edge - upper_edge < 0.004
    opened = front(lower.vertices + lower.key_deltas["jawOpen"])[:, 2].max()
    assert upper_edge - opened > 0.015
    # The tongue's tip rests behind and below the lower incisors' edges, touching no tooth,
    # and comes forward past the lips.
    tip = tongue.vertices[tongue.vertices[:, 1] < tongue.vertices[:, 1].min() + 0.01]
    assert tip[:, 2].max() < lower_edge
    for teeth in (upper, lower):
        assert not inside(tongue.vertices, teeth.vertices, triangles(teeth.faces)).any(), teeth.name
    lips = head.vertices[lip_vertices(head)]
    lips_front = lips[(np.abs(lips[:, 0]) < 0.005) & (np.abs(lips[:, 2] - upper_edge) < 0.008), 1].min()
    assert (tongue.vertices + tongue.key_deltas["tongueOut"])[:, 1].min() < lips_front - 0.005


@pytest.mark.parametrize("jaw", [0.0, 0.15, 0.4])
def test_the_tongue_articulates_inside_the_mouth_without_entering_the_teeth(neutral, jaw):
    """t/d/n/l put the tip on the ridge behind the upper incisors, th between the incisors'
    edges at their front, k/g raise the back; never through a tooth or in front of the skin."""
    head, deltas, parts = neutral
    upper, lower, tongue = parts
    closed, lips = ClosedFace(head), lip_vertices(head)
    front = lambda vertices: vertices[np.abs(vertices[:, 0]) < 0.004]  # noqa: E731
    upper_edge, incisor_front = front(upper.vertices)[:, 2].min(), upper.vertices[:, 1].min()
    tip = np.argmin(tongue.vertices[:, 1])
    posed, weights = pose(head, deltas, "neutral")
    weights[ARKIT_INDEX["jawOpen"]] = jaw
    posed = posed + jaw * deltas[ARKIT_INDEX["jawOpen"]]
    rest = posed_part(tongue, weights)
    for key in ("tongueTipUp", "tongueDental", "tongueBackUp"):
        moved = posed_part(tongue, weights, {key: 1.0})
        face = posed  # the face's own tongueDental key parts the lips
        if key == "tongueDental":
            face = posed + DENTAL_LIP_PART * deltas[ARKIT_INDEX["tongueOut"]]
        assert not closed.in_front_of_skin(moved, face).any(), key
        for teeth in (upper, lower):
            placed = posed_part(teeth, weights, {key: 1.0})
            assert not inside(moved, placed, triangles(teeth.faces)).any(), (key, teeth.name)
            assert not inside(face[lips], placed, triangles(teeth.faces)).any(), (key, teeth.name)
        if key == "tongueTipUp":
            lift = moved[tip, 2] - rest[tip, 2]
            assert lift > 0.012, lift  # from behind the lower incisors up to the ridge
            if jaw == 0.0:
                assert 0.004 < moved[tip, 2] - upper_edge < 0.01  # the ridge: above the upper incisors' edges
                assert 0.007 < moved[tip, 1] - incisor_front < 0.013  # behind their crowns and gum
        elif key == "tongueDental":
            assert abs(moved[tip, 1] - incisor_front) < 0.003 + jaw * 0.012  # at the incisors' front
            assert moved[:, 1].min() > incisor_front - 0.004  # not out past the lips: that is tongueOut
        else:
            dorsum = rest[:, 1] > rest[tip, 1] + 0.02
            assert (moved - rest)[dorsum, 2].max() > 0.005
            assert np.allclose(moved[tip], rest[tip])


def test_teeth_stay_behind_the_lips_in_the_bundled_models_animation_of_the_sample_line(neutral):
    """The bundled model's animation of the sample line, solved into the 52 weights as
    the add-on's ARKit output is, moves the face and the mouth's parts by the same
    weights: in no frame is a tooth in front of the skin or a lip inside a tooth."""
    from meshtalk_blender.blender.model_source import BUNDLED_MODEL_DIR
    from meshtalk_blender.core import audio, pipeline
    from meshtalk_blender.core.checkpoints import load_model
    from meshtalk_blender.core.retarget import BlendshapeSolver
    from test_bundled_model import SAMPLE

    head, deltas, parts = neutral
    loaded = load_model(BUNDLED_MODEL_DIR)
    animation = pipeline.animate(loaded, audio.AudioClip(SAMPLE), pipeline.AnimateOptions(seed=0, device="cpu"))
    weights = BlendshapeSolver(deltas, ARKIT_NAMES).solve(animation.vertices - head.vertices)
    assert weights[:, ARKIT_INDEX["jawOpen"]].max() > 0.2  # the mouth opens (5 mm of jaw): the check means something
    closed, lips = ClosedFace(head), lip_vertices(head)
    problems = []
    for frame_weights in weights[::2]:
        posed = head.vertices + np.tensordot(frame_weights, deltas, axes=1)
        for part in parts[:2]:
            moved = posed_part(part, frame_weights)
            problems += [part.name] * int(closed.in_front_of_skin(moved, posed).sum())
            problems += ["lip in " + part.name] * int(inside(posed[lips], moved, triangles(part.faces)).sum())
    assert problems == []


def test_on_an_f_the_upper_teeth_show_over_the_tucked_lower_lip(neutral):
    """The f/v tuck of core.lip_tuck (the lower lip rolled in and lifted, the upper lip
    lifted): seen from the front, in the middle of the mouth, a ray between the lips'
    inner edges meets an upper tooth before any skin, a ray at the incisors' edges meets
    the lower lip; no lip is in a tooth and no tooth in front of the skin. At rest the
    same rays meet the lips."""
    from meshtalk_blender.core.lip_tuck import TUCK_ROLL, TUCK_SHRUG, TUCK_UPPER_UP, tuck_rig

    head, deltas, parts = neutral
    upper_teeth = parts[0]
    weights = np.zeros(len(ARKIT_NAMES))
    weights[ARKIT_INDEX["mouthRollLower"]], weights[ARKIT_INDEX["mouthShrugLower"]] = TUCK_ROLL, TUCK_SHRUG
    weights[ARKIT_INDEX["mouthUpperUpLeft"]] = weights[ARKIT_INDEX["mouthUpperUpRight"]] = TUCK_UPPER_UP
    tucked = head.vertices + np.tensordot(weights, deltas, axes=1)
    rig = tuck_rig(len(head.vertices))
    np.testing.assert_allclose(tucked - head.vertices, rig.offsets + rig.lift, atol=1e-7)
    closed, lips = ClosedFace(head), lip_vertices(head)
    assert not closed.in_front_of_skin(upper_teeth.vertices, tucked).any()
    assert not inside(tucked[lips], upper_teeth.vertices, triangles(upper_teeth.faces)).any()

    upper, lower = (np.asarray(head.index_sets[name]) for name in ("upper_inner_lip", "lower_inner_lip"))
    middle = np.abs(head.vertices[upper, 0]) < 0.004
    incisor_edge = upper_teeth.vertices[np.abs(upper_teeth.vertices[:, 0]) < 0.004, 2].min()

    def first_met(posed: np.ndarray, z: float) -> np.ndarray:
        """(9,) 'tooth' or 'face' for rays from the front at x -4..4 mm and height z."""
        face_vertices, face_tris = closed.mesh(posed)
        vertices = np.concatenate([face_vertices, upper_teeth.vertices])
        tris = np.concatenate([face_tris, triangles(upper_teeth.faces) + len(face_vertices)])
        points = np.stack([np.linspace(-0.004, 0.004, 9), np.full(9, -0.3), np.full(9, z)], axis=1)
        _, met = inside_and_behind(points, vertices, tris)
        assert (met >= 0).all()
        return np.where(met >= len(face_tris), "tooth", "face")

    between = 0.5 * (tucked[upper[middle], 2].mean() + tucked[lower[middle], 2].mean())
    assert tucked[upper[middle], 2].mean() - tucked[lower[middle], 2].mean() > 0.0015  # the teeth show 1.5 mm+
    assert (first_met(tucked, between) == "tooth").all()
    assert (first_met(tucked, incisor_edge + 0.001) == "face").all()  # the lower lip hides their edges
    assert (first_met(head.vertices, between) == "face").all()
