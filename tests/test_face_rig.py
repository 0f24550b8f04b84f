"""The ARKit-52 rig on the MeshTalk head: names, symmetry and what each shape must do."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from meshtalk_blender.core.face import (
    ARKIT_INDEX,
    ARKIT_NAMES,
    apply_arkit,
    arkit_deltas,
    build_head,
    eye_rotations,
    load_bundled_head,
    mirror_name,
    sample_identity,
)
from meshtalk_blender.core.face.eyes import LIMBUS_ANGLE
from meshtalk_blender.core.face.layout import CAP

# Typed from Apple's ARFaceAnchor documentation, independently of the package's list.
APPLE_ORDER = """eyeBlinkLeft eyeLookDownLeft eyeLookInLeft eyeLookOutLeft eyeLookUpLeft eyeSquintLeft
eyeWideLeft eyeBlinkRight eyeLookDownRight eyeLookInRight eyeLookOutRight eyeLookUpRight
eyeSquintRight eyeWideRight jawForward jawLeft jawRight jawOpen mouthClose mouthFunnel
mouthPucker mouthLeft mouthRight mouthSmileLeft mouthSmileRight mouthFrownLeft
mouthFrownRight mouthDimpleLeft mouthDimpleRight mouthStretchLeft mouthStretchRight
mouthRollLower mouthRollUpper mouthShrugLower mouthShrugUpper mouthPressLeft
mouthPressRight mouthLowerDownLeft mouthLowerDownRight mouthUpperUpLeft mouthUpperUpRight
browDownLeft browDownRight browInnerUp browOuterUpLeft browOuterUpRight cheekPuff
cheekSquintLeft cheekSquintRight noseSneerLeft noseSneerRight tongueOut""".split()

FLIP_X = np.array([-1.0, 1.0, 1.0], dtype=np.float32)


def _heads():
    rng = np.random.default_rng(11)
    return [load_bundled_head()] + [build_head(sample_identity(rng)) for _ in range(3)]


@pytest.fixture(scope="module", params=range(4), ids=["neutral", "identity1", "identity2", "identity3"])
def rigged(request):
    head = _heads()[request.param]
    return head, arkit_deltas(head)


def pose(head, deltas, **weights):
    vector = np.zeros(len(ARKIT_NAMES), dtype=np.float32)
    for name, value in weights.items():
        vector[ARKIT_INDEX[name]] = value
    return apply_arkit(head, vector, deltas)


def lip_gap(head, vertices):
    sets = head.index_sets
    return np.linalg.norm(vertices[sets["upper_inner_lip"]] - vertices[sets["lower_inner_lip"]], axis=1)


def test_names_are_arkit_exactly():
    assert ARKIT_NAMES == tuple(APPLE_ORDER)
    assert len(set(ARKIT_NAMES)) == 52
    assert mirror_name("eyeBlinkLeft") == "eyeBlinkRight" and mirror_name("jawOpen") == "jawOpen"


def test_every_shape_moves_something_and_only_in_front(rigged):
    head, deltas = rigged
    assert deltas.shape == (52, head.vertex_count, 3) and deltas.dtype == np.float32
    assert np.isfinite(deltas).all()
    size = np.linalg.norm(deltas, axis=2).max(axis=1)
    assert (size > 0.001).all(), [n for n, s in zip(ARKIT_NAMES, size) if s <= 0.001]
    assert (size < 0.045).all()
    x, y, z = head.vertices.T
    back_of_head = (y > 0.095) | (z < -0.19) | (head.layout.region == CAP)
    assert np.abs(deltas[:, back_of_head]).max() == 0.0


def test_left_and_right_shapes_mirror_each_other(rigged):
    head, deltas = rigged
    for index, name in enumerate(ARKIT_NAMES):
        twin = deltas[ARKIT_INDEX[mirror_name(name)]]
        mirrored = twin[head.mirror_map] * FLIP_X
        assert np.abs(mirrored - deltas[index]).max() < 1e-6, name


def test_blink_closes_the_lids_onto_each_other(rigged):
    head, deltas = rigged
    sets = head.index_sets
    upper, lower = sets["upper_eyelid"], sets["lower_eyelid"]
    open_gap = head.vertices[upper, 2] - head.vertices[lower, 2]
    assert open_gap.max() > 0.008
    closed = pose(head, deltas, eyeBlinkLeft=1.0, eyeBlinkRight=1.0)
    assert np.linalg.norm(closed[upper] - closed[lower], axis=1).max() < 0.0005
    assert (closed[upper, 2] >= closed[lower, 2] - 1e-5).all()  # not through the lower lid
    one_eye = pose(head, deltas, eyeBlinkLeft=1.0)
    left = head.vertices[upper, 0] > 0
    assert np.linalg.norm(one_eye[upper] - one_eye[lower], axis=1)[left].max() < 0.0005
    assert np.allclose(one_eye[upper[~left]], head.vertices[upper[~left]])


@pytest.mark.parametrize("amount", [0.25, 0.5, 0.75, 1.0])
def test_blinking_lids_stay_outside_the_eye_and_cornea(rigged, amount):
    head, deltas = rigged
    lids = pose(head, deltas, eyeBlinkLeft=amount, eyeBlinkRight=amount)[head.masks["eyelids"] > 0.0]
    cornea_height = np.linalg.norm(head.eyes[0].vertices[0] - head.eyes[0].centre) - head.eye_radius
    for eye in head.eyes:
        offset = lids - eye.centre
        distance = np.linalg.norm(offset, axis=1)
        polar = np.arccos(np.clip(-offset[:, 1] / distance, -1.0, 1.0))
        bulge = np.where(polar < LIMBUS_ANGLE, np.cos(0.5 * np.pi * polar / LIMBUS_ANGLE) ** 2, 0.0)
        assert (distance > head.eye_radius + cornea_height * bulge).all()


def test_jaw_opens_the_mouth_and_mouth_close_seals_it(rigged):
    head, deltas = rigged
    assert lip_gap(head, head.vertices).max() < 0.001
    opened = pose(head, deltas, jawOpen=1.0)
    assert lip_gap(head, opened).max() > 0.01
    assert lip_gap(head, pose(head, deltas, jawOpen=0.5)).max() > 0.005
    upper = head.index_sets["upper_inner_lip"]
    assert np.abs(opened[upper] - head.vertices[upper]).max() < 0.001  # the upper lip stays
    sealed = pose(head, deltas, jawOpen=1.0, mouthClose=1.0)
    assert lip_gap(head, sealed).max() < 0.0005
    chin = np.argmin(head.vertices[:, 2] + 10.0 * (np.abs(head.vertices[:, 0]) > 0.003) + 10 * (head.vertices[:, 1] > 0))
    assert sealed[chin, 2] < head.vertices[chin, 2] - 0.01  # sealed while the jaw is open
    half = pose(head, deltas, jawOpen=0.5, mouthClose=0.5)
    assert lip_gap(head, half).max() < 0.0005


def test_mouth_shapes_do_what_their_names_say(rigged):
    head, deltas = rigged
    corners = head.index_sets["mouth_corners"]  # [right, left]
    width = np.diff(head.vertices[corners, 0])[0]
    front = head.index_sets["lip_keypoints"]

    smile = pose(head, deltas, mouthSmileLeft=1.0)
    assert smile[corners[1], 2] - head.vertices[corners[1], 2] > 0.004
    assert smile[corners[1], 0] > head.vertices[corners[1], 0]
    assert abs(smile[corners[0], 2] - head.vertices[corners[0], 2]) < 0.001
    frown = pose(head, deltas, mouthFrownRight=1.0)
    assert frown[corners[0], 2] - head.vertices[corners[0], 2] < -0.004
    stretch = pose(head, deltas, mouthStretchLeft=1.0, mouthStretchRight=1.0)
    assert np.diff(stretch[corners, 0])[0] > width + 0.008

    for name, opens in (("mouthFunnel", True), ("mouthPucker", False)):
        shaped = pose(head, deltas, **{name: 1.0})
        assert np.diff(shaped[corners, 0])[0] < 0.65 * width, name
        assert (head.vertices[front, 1] - shaped[front, 1]).mean() > 0.004, name  # lips push out
        gap = lip_gap(head, shaped).max()
        assert (gap > 0.008) if opens else (gap < 0.001), name

    lowered = pose(head, deltas, mouthLowerDownLeft=1.0, mouthLowerDownRight=1.0)
    assert lip_gap(head, lowered).max() > 0.003
    raised = pose(head, deltas, mouthUpperUpLeft=1.0, mouthUpperUpRight=1.0)
    assert lip_gap(head, raised).max() > 0.003
    pressed = pose(head, deltas, mouthPressLeft=1.0, mouthPressRight=1.0)
    sets = head.index_sets
    assert (pressed[sets["upper_inner_lip"], 2] >= pressed[sets["lower_inner_lip"], 2] - 1e-4).all()
    left = pose(head, deltas, mouthLeft=1.0)
    assert (left[front, 0] - head.vertices[front, 0]).mean() > 0.005


def test_eyes_brows_and_looks(rigged):
    head, deltas = rigged
    upper = head.index_sets["upper_eyelid"]
    down = pose(head, deltas, eyeLookDownLeft=1.0, eyeLookDownRight=1.0)
    assert (down[upper, 2] - head.vertices[upper, 2]).min() < -0.002
    wide = pose(head, deltas, eyeWideLeft=1.0, eyeWideRight=1.0)
    assert (wide[upper, 2] - head.vertices[upper, 2]).max() > 0.0015
    brows = pose(head, deltas, browInnerUp=1.0)
    rise = brows[:, 2] - head.vertices[:, 2]
    assert rise.max() > 0.006
    assert np.abs(rise[head.index_sets["eyelid_keypoints"]]).max() < 1e-4  # margins stay
    rotation = eye_rotations(np.eye(52, dtype=np.float32)[ARKIT_INDEX["eyeLookUpLeft"]])
    gaze = rotation[0] @ np.array([0.0, -1.0, 0.0])
    assert gaze[2] > 0.3 and np.allclose(rotation[1], np.eye(3))
    inward = eye_rotations(np.eye(52, dtype=np.float32)[ARKIT_INDEX["eyeLookInRight"]])[1] @ np.array([0.0, -1.0, 0.0])
    assert inward[0] > 0.3  # the right eye (at -x) looks in toward +x


def test_apply_is_a_linear_blend():
    head = load_bundled_head()
    deltas = arkit_deltas(head)
    weights = np.random.default_rng(0).uniform(0, 1, (1000, 52)).astype(np.float32)
    frames = apply_arkit(head, weights, deltas)
    assert frames.shape == (1000, head.vertex_count, 3) and frames.dtype == np.float32
    expected = head.vertices + np.tensordot(weights[17], deltas, axes=1)
    assert np.allclose(frames[17], expected, atol=1e-6)
    assert np.array_equal(apply_arkit(head, np.zeros(52)), head.vertices)


def test_apply_gives_the_same_bits_whatever_blas_threads_are_allowed():
    """The training corpus's vertices are compared bit for bit between runs; OpenBLAS's
    float32 products differed in the last bit between one and two threads (0.2-0.4 % of
    the values), and its thread count is process-wide state the sampler lowers."""
    head = load_bundled_head()
    deltas = arkit_deltas(head)
    weights = np.random.default_rng(1).uniform(0, 0.6, (311, 52)).astype(np.float32)
    default = apply_arkit(head, weights, deltas)
    with threadpool_limits(limits=1, user_api="blas"):
        one_thread = apply_arkit(head, weights, deltas)
    assert np.array_equal(default, one_thread)
