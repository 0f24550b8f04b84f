"""The procedural head: topology, symmetry, semantics, identities and shipped files."""

from collections import Counter

import json

import numpy as np
import pytest

from meshtalk_blender.core.face import (
    NEUTRAL_IDENTITY,
    IdentityParams,
    build_head,
    load_bundled_head,
    sample_identity,
    vertex_normals,
)
from meshtalk_blender.core.face import export
from meshtalk_blender.core.face.eyes import LIMBUS_ANGLE
from meshtalk_blender.core.face.sculpt import CORNEA_HEIGHT
from meshtalk_blender.core.face.layout import EYE_TUCK, NECK
from meshtalk_blender.core.obj_io import read_obj

FLIP_X = np.array([-1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def head():
    return load_bundled_head()


def _edge_counts(faces):
    directed = Counter()
    for face in faces:
        for a, b in zip(face, face[1:] + face[:1]):
            directed[(a, b)] += 1
    undirected = Counter()
    for (a, b), count in directed.items():
        undirected[(min(a, b), max(a, b))] += count
    return directed, undirected


def test_size_and_face_kinds(head):
    assert 2000 <= head.vertex_count <= 6000
    kinds = Counter(len(f) for f in head.faces)
    assert set(kinds) <= {3, 4} and kinds[3] <= 2  # all quads but the mouth bag's two ends
    assert head.vertices.dtype == np.float32 and np.isfinite(head.vertices).all()
    used = np.unique(np.concatenate([np.asarray(f) for f in head.faces]))
    assert len(used) == head.vertex_count  # no loose vertices


def test_manifold_with_only_the_expected_borders(head):
    directed, undirected = _edge_counts(head.faces)
    assert max(directed.values()) == 1  # consistent winding: each edge once per direction
    assert max(undirected.values()) <= 2
    border = [edge for edge, count in undirected.items() if count == 1]
    border_vertices = np.unique(np.array(border))
    region = head.layout.region
    # Open only at the bottom of the neck and behind each eyelid (the tucks).
    bottom_row = head.layout.grid[0]
    allowed = set(bottom_row.tolist()) | set(np.flatnonzero(region == EYE_TUCK).tolist())
    assert set(border_vertices.tolist()) == allowed
    # Each border vertex has exactly two border edges: the borders are simple loops.
    degree = Counter(np.array(border).ravel().tolist())
    assert set(degree.values()) == {2}
    assert (region[bottom_row] == NECK).all()


def test_normals_point_outward(head):
    normals = vertex_normals(head.vertices.astype(np.float64), head.faces)
    skull = head.index_sets["stable"]
    centre = np.array([0.0, 0.07, 0.0])
    outward = np.einsum("ij,ij->i", normals[skull], head.vertices[skull] - centre)
    assert (outward > 0).mean() > 0.99


def test_mirror_map_is_an_involution_matching_the_geometry(head):
    mirror = head.mirror_map
    assert (mirror[mirror] == np.arange(head.vertex_count)).all()
    mirrored = head.vertices[mirror] * FLIP_X
    assert np.abs(mirrored - head.vertices).max() < 1e-6
    on_plane = mirror == np.arange(head.vertex_count)
    assert np.abs(head.vertices[on_plane, 0]).max() < 1e-6
    assert (np.abs(head.vertices[~on_plane, 0]) > 1e-4).all()


def test_real_human_proportions(head):
    x, y, z = head.vertices.T
    left_eye, right_eye = head.eye_centres
    assert 0.058 < left_eye[0] - right_eye[0] < 0.068  # interpupillary distance
    assert -0.05 < y.min() < -0.035  # the nose tip, 3.5-5 cm ahead of the eyes
    chin = z[(np.abs(x) < 0.005) & (y < -0.002)].min()
    assert 0.21 < z.max() - chin < 0.26  # vertex to chin
    assert 0.17 < y.max() - y.min() < 0.23  # nose tip to back of the head
    assert 0.13 < np.ptp(x) < 0.18
    corners = head.vertices[head.index_sets["mouth_corners"]]
    assert 0.044 < corners[1, 0] - corners[0, 0] < 0.056


def test_eyeballs_sit_inside_the_lids(head):
    lids = head.vertices[head.masks["eyelids"] > 0.0]
    for side, eye in zip((1.0, -1.0), head.eyes):
        assert np.sign(eye.centre[0]) == side
        offset = lids - eye.centre
        distance = np.linalg.norm(offset, axis=1)
        polar = np.arccos(np.clip(-offset[:, 1] / distance, -1.0, 1.0))  # from the gaze axis
        bulge = np.where(polar < LIMBUS_ANGLE, np.cos(0.5 * np.pi * polar / LIMBUS_ANGLE) ** 2, 0.0)
        eye_surface = head.eye_radius + CORNEA_HEIGHT * bulge
        assert (distance > eye_surface + 0.0001).all()  # no lid vertex inside eyeball or cornea


def test_masks_and_index_sets(head):
    for name in ("mouth", "upper_face", "forehead", "neck", "eyelids"):
        mask = head.masks[name]
        assert mask.shape == (head.vertex_count,) and mask.dtype == np.float32
        assert 0.0 <= mask.min() and mask.max() == 1.0 and (mask > 0.5).sum() > 30
    z = head.vertices[:, 2]
    assert z[head.masks["forehead"] > 0.9].min() > z[head.masks["mouth"] > 0.9].max()
    assert z[head.masks["neck"] > 0.9].max() < z[head.masks["mouth"] > 0.9].min()
    sets = head.index_sets
    assert len(sets["upper_inner_lip"]) == len(sets["lower_inner_lip"]) >= 15
    gap = np.linalg.norm(head.vertices[sets["upper_inner_lip"]] - head.vertices[sets["lower_inner_lip"]], axis=1)
    assert gap.max() < 0.001  # neutral lips touch
    assert len(sets["upper_eyelid"]) == len(sets["lower_eyelid"])
    upper, lower = head.vertices[sets["upper_eyelid"]], head.vertices[sets["lower_eyelid"]]
    assert np.abs(upper[:, 0] - lower[:, 0]).max() < 1e-6  # pairs are vertically matched
    assert (upper[:, 2] - lower[:, 2]).max() > 0.008  # eyes open about a centimetre
    for name in ("left_eye_corners", "right_eye_corners", "mouth_corners"):
        assert len(sets[name]) == 2
    assert head.vertices[sets["left_eye_corners"], 0].min() > 0
    mouth_ids = set(sets["lip_keypoints"].tolist())
    assert set(sets["upper_inner_lip"].tolist()) <= mouth_ids


def test_uvs_cover_every_corner(head):
    assert len(head.face_uvs) == len(head.faces)
    assert all(len(a) == len(b) for a, b in zip(head.face_uvs, head.faces))
    assert head.uvs.min() >= 0.0 and head.uvs.max() <= 1.0


def test_identities_keep_topology_and_stay_human():
    rng = np.random.default_rng(7)
    neutral = load_bundled_head()
    heights, widths = [], []
    for _ in range(24):
        identity = sample_identity(rng)
        head = build_head(identity)
        assert head.vertices.shape == neutral.vertices.shape and head.faces is neutral.faces
        mirrored = head.vertices[head.mirror_map] * FLIP_X
        assert np.abs(mirrored - head.vertices).max() < 1e-5
        x, y, z = head.vertices.T
        chin = z[(np.abs(x) < 0.005) & (y < -0.002)].min()
        heights.append(z.max() - chin)
        widths.append(np.ptp(x))
        ipd = head.eye_centres[0, 0] - head.eye_centres[1, 0]
        assert 0.054 < ipd < 0.072
        assert np.abs(head.vertices - neutral.vertices).max() < 0.02
    assert 0.2 < min(heights) and max(heights) < 0.27
    assert 0.12 < min(widths) and max(widths) < 0.19
    assert np.std(heights) > 0.002  # identities really differ


def test_extreme_identity_is_bounded():
    extreme = IdentityParams(**{name: 1.0 for name in NEUTRAL_IDENTITY.as_dict()})
    head = build_head(extreme)
    assert np.abs(head.vertices - load_bundled_head().vertices).max() < 0.03


def test_sampler_is_seeded():
    a = sample_identity(np.random.default_rng(3))
    b = sample_identity(np.random.default_rng(3))
    assert a == b and a != sample_identity(np.random.default_rng(4))
    assert np.all(np.abs(a.as_vector()) <= 1.0)


def test_shipped_files_match_the_code(head):
    mesh = read_obj(export.ASSET_FOLDER / export.OBJ_NAME)
    assert np.abs(mesh.vertices - head.vertices).max() < 2e-6
    assert mesh.faces == [list(map(int, f)) for f in head.faces]
    assert mesh.uvs is not None and len(mesh.face_uvs) == len(head.faces)
    shipped = json.loads((export.ASSET_FOLDER / export.SEMANTICS_NAME).read_text())
    fresh = export.semantics_document(head)
    assert shipped == fresh, "run: python -m meshtalk_blender.core.face.export"


def test_the_shipped_neutral_is_what_the_code_sculpts():
    """The neutral is read from assets/head/meshtalk_head_neutral.npz (the sculpting's
    ray casts cost seconds): it must be exactly what the code sculpts today, for this
    layout."""
    from meshtalk_blender.core.face.head import NEUTRAL_FILE, layout_fingerprint, sculpted_neutral
    from meshtalk_blender.core.face.layout import build_layout
    from meshtalk_blender.core.face.placement import place_neutral

    layout = build_layout()
    with np.load(NEUTRAL_FILE) as shipped:
        assert str(shipped["layout"]) == layout_fingerprint(layout), "run: python -m meshtalk_blender.core.face.export"
    fresh_neutral, fresh_bulge = place_neutral(layout)
    neutral, bulge = sculpted_neutral(layout)
    np.testing.assert_array_equal(neutral, fresh_neutral)
    np.testing.assert_array_equal(bulge, fresh_bulge)
