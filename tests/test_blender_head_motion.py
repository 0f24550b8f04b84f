"""Head motion on the MeshTalk head (blender/head_actions.py): the object turns about
its neck in its own frame through its delta transforms, on its own NLA track, by the
Head strength; the user's transforms and keys stay theirs."""

import json
from pathlib import Path

import numpy as np
import pytest
from blender_support import add_head, add_strip, addon_module, import_bpy, run_operator, write_speech

bpy = import_bpy()


@pytest.fixture
def long_speech(tmp_path) -> Path:
    return write_speech(tmp_path / "line.wav", seconds=4.0)


def expected_angles(face, take, path: Path) -> np.ndarray:
    """(T, 3) what core.head_motion draws for the take's clip and seed."""
    audio = addon_module("core.audio")
    levels = addon_module("core.pauses").clip_levels_db(audio.probe(audio.AudioClip(path)), take.frames, 30.0)
    return addon_module("core.head_motion").head_motion(levels, 30.0, take.seed)


def matrix_at(scene, face, frame: int) -> np.ndarray:
    scene.frame_set(frame)
    return np.array(face.matrix_world)


def expected_matrix(rest: np.ndarray, take, angles: np.ndarray) -> np.ndarray:
    """(4, 4) the head at rest turned by `angles` (3,) about the take's pivot, in its own frame."""
    pivot, axes = addon_module("blender.head_actions").frame_of(take)
    turn = np.eye(4)
    turn[:3, :3] = axes @ addon_module("core.head_motion").rotation_matrices(angles[None])[0] @ axes.T
    to_pivot, back = np.eye(4), np.eye(4)
    to_pivot[:3, 3], back[:3, 3] = pivot, -pivot
    return rest @ to_pivot @ turn @ back


@pytest.mark.parametrize("rotation_mode", ["XYZ", "QUATERNION"])
def test_the_head_nods_about_its_neck_in_its_own_frame(saved_scene, long_speech, rotation_mode):
    scene = saved_scene
    face = add_head()
    # The user placed and turned the head, and set a delta of their own.
    face.rotation_mode = rotation_mode
    face.location = (1.0, -2.0, 0.5)
    if rotation_mode == "XYZ":
        face.rotation_euler = (0.3, -0.2, 0.8)
    else:
        face.rotation_quaternion = (0.9, 0.1, -0.3, 0.2)
        face.rotation_quaternion.normalize()
    face.delta_location = (0.0, 0.0, 0.1)
    face.scale = (2.0, 2.0, 2.0)
    add_strip(scene, long_speech, frame=1)
    rest = matrix_at(scene, face, 1)
    own = (tuple(face.location), tuple(face.rotation_euler), tuple(face.rotation_quaternion), tuple(face.scale))
    scene.meshtalk.output = "ARKIT"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    take = face.meshtalk.takes[0]
    assert take.head_action is not None
    assert [s.action for s in face.animation_data.nla_tracks["MeshTalk Head Motion"].strips] == [take.head_action]
    angles = expected_angles(face, take, long_speech)
    assert np.degrees(np.abs(angles)).max() > 0.5  # it moves
    for frame in (1, 20, 60, 100):
        np.testing.assert_allclose(matrix_at(scene, face, frame), expected_matrix(rest, take, angles[frame - 1]),
                                   atol=2e-5)
        assert (tuple(face.location), tuple(face.rotation_euler), tuple(face.rotation_quaternion),
                tuple(face.scale)) == own  # the user's own transforms are untouched
    # The pivot (the top of the spine) stays put while the head turns about it.
    pivot = np.append(addon_module("blender.head_actions").frame_of(take)[0], 1.0)
    stays = [matrix_at(scene, face, frame) @ pivot for frame in range(1, take.frames + 1, 7)]
    np.testing.assert_allclose(stays, np.broadcast_to(rest @ pivot, (len(stays), 4)), atol=2e-5)
    assert run_operator("remove_animation") == {"FINISHED"}
    np.testing.assert_allclose(matrix_at(scene, face, 40), rest, atol=1e-6)  # as it was, user's delta too
    assert tuple(face.delta_location) == pytest.approx((0.0, 0.0, 0.1))


def test_the_head_strength_rescales_without_running_again(saved_scene, long_speech):
    scene = saved_scene
    face = add_head()
    add_strip(scene, long_speech, frame=1)
    rest = matrix_at(scene, face, 1)
    scene.meshtalk.output = "MESH_CACHE"  # any output moves the head
    assert run_operator("animate_from_audio") == {"FINISHED"}
    take = face.meshtalk.takes[0]
    angles = expected_angles(face, take, long_speech)
    frame = int(np.argmax(np.abs(angles).sum(axis=1))) + 1
    for strength in (0.5, 0.0, 1.5):
        face.meshtalk.strength_head = strength
        np.testing.assert_allclose(matrix_at(scene, face, frame),
                                   expected_matrix(rest, take, strength * angles[frame - 1]), atol=2e-5)
        assert json.loads(take.strengths)["head"] == pytest.approx(strength, abs=1e-3)


def test_head_motion_off_leaves_the_object_alone(saved_scene, long_speech):
    scene = saved_scene
    face = add_head()
    add_strip(scene, long_speech, frame=1)
    scene.meshtalk.head_motion = False
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert face.meshtalk.takes[0].head_action is None and face.animation_data is None
    assert "meshtalk_head_motion" not in face


def test_axis_angle_heads_are_told_and_left_still(saved_scene, long_speech):
    scene = saved_scene
    face = add_head()
    face.rotation_mode = "AXIS_ANGLE"
    add_strip(scene, long_speech, frame=1)
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert face.meshtalk.takes[0].head_action is None and face.animation_data is None
    note = addon_module("blender.head_actions").supported(face)
    assert note and "axis and angle" in note


def test_resampling_frames_redraws_the_head_only_there(saved_scene, long_speech):
    scene = saved_scene
    face = add_head()
    add_strip(scene, long_speech, frame=1)
    scene.meshtalk.output = "ARKIT"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    head_actions = addon_module("blender.head_actions")
    before = head_actions.raw_angles(face.meshtalk.takes[0])
    scene.meshtalk.seed = 7
    scene.meshtalk.resample_start, scene.meshtalk.resample_end = 40, 80
    assert run_operator("resample_frames") == {"FINISHED"}
    take = face.meshtalk.takes[face.meshtalk.active_take]
    after = head_actions.raw_angles(take)
    assert after.shape == before.shape
    np.testing.assert_allclose(after[:30], before[:30], atol=1e-6)  # kept away from the range
    np.testing.assert_allclose(after[95:], before[95:], atol=1e-6)
    assert np.degrees(np.abs(after[45:75] - before[45:75])).max() > 0.2  # drawn anew inside it
