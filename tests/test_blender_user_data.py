"""The user's own animation is never lost: every operator leaves the user's shape-key
action assigned (and playing, on top of MeshTalk's NLA strips), their NLA tracks and
their drivers exactly as they were."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

from blender_support import (add_head, add_strip, addon, addon_module, draw_panel,  # noqa: E402,F401
                             empty_scene, fingerprint, playing_actions, run_operator, write_speech)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    return write_speech(tmp_path_factory.mktemp("audio") / "line.wav", seconds=1.5)


@pytest.fixture
def animated_head(addon, tmp_path, speech):
    """A saved scene with the head animated by MeshTalk, output as the test asks."""

    def make(output: str, takes: int = 1):
        scene = empty_scene()
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
        face = add_head()
        add_strip(scene, speech, frame=1)
        scene.meshtalk.output = output
        assert run_operator("animate_from_audio") == {"FINISHED"}
        if takes > 1:
            scene.meshtalk.variant_count = takes - 1
            assert run_operator("make_variants") == {"FINISHED"}
        return scene, face

    return make


def give_the_keys_a_users_action(face) -> bpy.types.Action:
    """What a user does in the Shape Key Editor: key their own values (Blender makes a
    new action for them in the free active slot)."""
    key = face.data.shape_keys
    assert key.animation_data.action is None
    key.key_blocks["jawOpen"].value = 0.4
    key.key_blocks["jawOpen"].keyframe_insert("value", frame=5)
    action = key.animation_data.action
    assert action is not None and not action.get("meshtalk_take")
    action.name = "MyLipSyncPolish"
    return action


def users_nla_and_driver(face) -> None:
    """An NLA track of the user's on the shape keys and on the object, and a driver."""
    key = face.data.shape_keys
    track_action = bpy.data.actions.new("MyBlinkLayer")
    key.key_blocks["eyeBlinkLeft"].keyframe_insert("value", frame=1)
    track = key.animation_data.nla_tracks.new()
    track.name = "MyBlinks"
    track.strips.new("MyBlinkStrip", 1, track_action)
    face.keyframe_insert("location", frame=1)
    object_track = face.animation_data.nla_tracks.new()
    object_track.name = "MyHeadMoves"
    driver = key.key_blocks["mouthFunnel"].driver_add("value").driver
    driver.expression = "0.5"


def users_things(face) -> dict:
    key = face.data.shape_keys
    animation = key.animation_data
    ours = json.loads(face.meshtalk.track_names or "[]")
    ours_on_object = json.loads(face.meshtalk.head_track_names or "[]")  # the head motion's
    return {"key_action": animation.action.name if animation.action else None,
            "key_tracks": [(t.name, [s.name for s in t.strips]) for t in animation.nla_tracks if t.name not in ours],
            "object_tracks": [t.name for t in face.animation_data.nla_tracks if t.name not in ours_on_object]
            if face.animation_data else [],
            "drivers": [(d.data_path, d.driver.expression) for d in animation.drivers]}


@pytest.mark.parametrize("operator", ["resample_upper_face", "make_variants", "resample_frames",
                                      "animate_from_audio"])
@pytest.mark.parametrize("output", ["ARKIT", "BASIS"])
def test_every_operator_leaves_the_users_action_playing_on_top(animated_head, operator, output):
    """Takes play as NLA strips; the user's action keeps its slot (and its users) and
    overrides the keys it animates."""
    scene, face = animated_head(output)
    action = give_the_keys_a_users_action(face)
    scene.meshtalk.resample_start, scene.meshtalk.resample_end = 5, 20
    assert run_operator(operator) == {"FINISHED"}
    key = face.data.shape_keys
    assert key.animation_data.action == action and action.users >= 1
    assert playing_actions(face) == [face.meshtalk.takes[face.meshtalk.active_take].action]
    scene.frame_set(10)
    assert key.key_blocks["jawOpen"].value == pytest.approx(0.4)  # the user's key wins


@pytest.mark.parametrize("operator", ["resample_upper_face", "make_variants", "resample_frames"])
def test_mesh_cache_takes_resample_beside_the_users_action(animated_head, operator):
    scene, face = animated_head("MESH_CACHE")
    scene.meshtalk.output = "ARKIT"  # a user switching back and forth
    face.data.shape_keys.key_blocks["jawOpen"].keyframe_insert("value", frame=5)
    action = face.data.shape_keys.animation_data.action
    scene.meshtalk.resample_start, scene.meshtalk.resample_end = 5, 20
    assert run_operator(operator) == {"FINISHED"}
    assert face.data.shape_keys.animation_data.action == action and action.users >= 1


@pytest.mark.parametrize("output", ["ARKIT", "BASIS", "MESH_CACHE"])
def test_remove_with_several_takes_keeps_the_users_action_nla_and_drivers(animated_head, output):
    scene, face = animated_head(output, takes=3)
    if output == "MESH_CACHE":
        face.data.shape_keys.animation_data_create()
    else:
        give_the_keys_a_users_action(face)
    if face.data.shape_keys.animation_data.action is None:
        face.data.shape_keys.key_blocks["jawOpen"].keyframe_insert("value", frame=5)
    users_nla_and_driver(face)
    before = users_things(face)
    assert run_operator("remove_animation") == {"FINISHED"}
    assert users_things(face) == before
    assert bpy.data.actions[before["key_action"]].users >= 1
    assert not [a for a in bpy.data.actions if a.get("meshtalk_take")]


def test_picking_a_take_does_not_replace_the_users_action(animated_head):
    scene, face = animated_head("ARKIT", takes=2)
    action = give_the_keys_a_users_action(face)
    face.meshtalk.active_take = 1 - face.meshtalk.active_take
    assert face.data.shape_keys.animation_data.action == action
    texts = " ".join(text for _, text in draw_panel(addon_module("blender.panel").MESHTALK_PT_panel))
    assert "Your action 'MyLipSyncPolish' plays on top of the takes" in texts


@pytest.mark.parametrize("operator", ["resample_upper_face", "make_variants", "resample_frames",
                                      "animate_from_audio", "remove_animation"])
def test_every_operator_keeps_the_users_nla_tracks_and_drivers(animated_head, operator):
    scene, face = animated_head("ARKIT")
    users_nla_and_driver(face)
    before = users_things(face)
    scene.meshtalk.resample_start, scene.meshtalk.resample_end = 5, 20
    assert run_operator(operator) == {"FINISHED"}
    after = users_things(face)
    assert after["key_tracks"] == before["key_tracks"] and after["object_tracks"] == before["object_tracks"]
    assert after["drivers"] == before["drivers"]
    assert face.data.shape_keys.key_blocks["mouthFunnel"].value == pytest.approx(0.5)


def test_a_user_action_assigned_while_the_job_ran_stays(animated_head):
    """The results are written seconds after the job started: whatever the user did to
    the shape keys' action meanwhile stays."""
    scene, face = animated_head("ARKIT")
    session = addon_module("blender.session")
    work = session.plan_resample(bpy.context, face, [5])
    job = addon_module("blender.job").Job(work.plans)
    job.run()
    action = give_the_keys_a_users_action(face)
    session.apply(work, job.results)
    assert face.data.shape_keys.animation_data.action == action
    assert playing_actions(face) == [face.meshtalk.takes[0].action]


def test_same_topology_arkit_output_leaves_driven_keys_to_their_drivers(animated_head):
    """A key driven by the user's driver is neither solved for nor keyed (the driver
    would win on playback and the other keys' solve would be wrong)."""
    scene, face = animated_head("ARKIT")
    scene.meshtalk.keys = "EVERY_FRAME"  # every key that is not driven gets a curve
    driver = face.data.shape_keys.key_blocks["jawOpen"].driver_add("value").driver
    driver.expression = "0.25"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    take = face.meshtalk.takes[face.meshtalk.active_take]
    paths = addon_module("blender.actions").curve_paths(take.action)
    assert 'key_blocks["jawOpen"].value' not in paths and len(paths) == 51
    scene.frame_set(10)
    assert face.data.shape_keys.key_blocks["jawOpen"].value == pytest.approx(0.25)
    texts = " ".join(text for _, text in draw_panel(addon_module("blender.panel").MESHTALK_PT_panel))
    assert "1 driven keys left alone" in texts
