"""Every bad input gets one clear message and leaves the file exactly as it was; odd but
valid audio (8 kHz, 96 kHz stereo) just works."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_support import (ADDON, add_head, add_strip, addon, addon_module, empty_scene,  # noqa: E402,F401
                             fingerprint, run_operator, write_speech)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def scene(addon, tmp_path):
    empty_scene()
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    return bpy.context.scene


def refuses(message: str, operator: str = "animate_from_audio", **kwargs) -> None:
    """The operator reports ``message`` as an error and changes nothing."""
    before = fingerprint()
    with pytest.raises(RuntimeError, match=message):
        run_operator(operator, **kwargs)
    assert fingerprint() == before


def test_no_sound_strip(scene):
    add_head()
    refuses("no sound strip: click 'Load Audio File'")


def test_nothing_selected(scene, tmp_path):
    add_strip(scene, write_speech(tmp_path / "a.wav"))
    bpy.context.view_layer.objects.active = None
    refuses("Select the face mesh")


def test_not_a_mesh(scene, tmp_path):
    add_strip(scene, write_speech(tmp_path / "a.wav"))
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    bpy.context.view_layer.objects.active = camera
    refuses("'Camera' is a camera, not a mesh")


def test_wrong_topology_suggests_the_head(scene, tmp_path):
    add_strip(scene, write_speech(tmp_path / "a.wav"))
    bpy.ops.mesh.primitive_cube_add()
    refuses("has neither the model's topology .* add the MeshTalk head")
    info = addon_module("blender.targets").inspect(bpy.context.active_object, addon_module(
        "blender.model_source").summarise(addon_module("blender.addon").model_choice()))
    assert info.mode == "UNSUPPORTED"


def test_same_vertex_count_in_another_order(scene, tmp_path):
    add_strip(scene, write_speech(tmp_path / "a.wav"))
    face = add_head()
    rest = np.array([v.co[:] for v in face.data.vertices])
    scrambled = bpy.data.meshes.new("Scrambled")
    scrambled.from_pydata(rest[np.random.default_rng(0).permutation(len(rest))].tolist(), [], [])
    obj = bpy.data.objects.new("Scrambled", scrambled)
    scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    scene.meshtalk.output = "MESH_CACHE"
    refuses("not its vertex order")


def test_edit_mode(scene, tmp_path):
    add_strip(scene, write_speech(tmp_path / "a.wav"))
    add_head()
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        refuses("switch to Object Mode first")
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")


def test_missing_audio_file(scene, tmp_path):
    path = write_speech(tmp_path / "gone.wav")
    add_strip(scene, path)
    add_head()
    path.unlink()
    refuses("Audio file not found: .*gone.wav")


def test_corrupt_audio_file(scene, tmp_path):
    good = write_speech(tmp_path / "line.wav")
    add_strip(scene, good)
    add_head()
    good.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 50)
    refuses("Cannot decode audio file line.wav")


def test_load_audio_refuses_a_missing_file(scene, tmp_path):
    refuses("Audio file not found", "load_audio", filepath=str(tmp_path / "nothing.wav"))


def test_silent_audio(scene, tmp_path):
    import soundfile

    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(32000, dtype=np.float32), 16000)
    add_strip(scene, path)
    add_head()
    refuses("silent .* Pick a clip with speech")


def test_unsaved_file_with_mesh_cache_output(addon, tmp_path):
    scene = empty_scene()
    add_strip(scene, write_speech(tmp_path / "a.wav"))
    add_head()
    scene.meshtalk.output = "MESH_CACHE"
    refuses("Save the .blend file first")


def test_users_action_on_the_shape_keys_is_never_replaced(scene, tmp_path):
    """MeshTalk plays in the NLA: the user's action stays assigned and plays on top."""
    add_strip(scene, write_speech(tmp_path / "a.wav"))
    face = add_head()
    key = face.data.shape_keys
    key.key_blocks["jawOpen"].keyframe_insert("value", frame=1)
    action = key.animation_data.action
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert key.animation_data.action == action and len(key.animation_data.nla_tracks["MeshTalk"].strips) == 1


def test_broken_checkpoint(scene, tmp_path):
    add_strip(scene, write_speech(tmp_path / "a.wav"))
    add_head()
    broken = tmp_path / "broken_model"
    broken.mkdir()
    good = Path(bpy.context.preferences.addons[ADDON].preferences.model_folder)
    (broken / "config.json").write_bytes((good / "config.json").read_bytes())
    (broken / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not safetensors}")
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.model_folder = str(broken)
    try:
        refuses("damaged")
    finally:
        prefs.model_folder = str(good)


def test_model_folder_without_a_model(scene, tmp_path):
    add_strip(scene, write_speech(tmp_path / "a.wav"))
    add_head()
    prefs = bpy.context.preferences.addons[ADDON].preferences
    good = prefs.model_folder
    prefs.model_folder = str(tmp_path)
    try:
        refuses("holds no MeshTalk model")
    finally:
        prefs.model_folder = good


def test_resample_without_a_take(scene, tmp_path):
    add_strip(scene, write_speech(tmp_path / "a.wav"))
    add_head()
    refuses("Animate from Audio first", "resample_upper_face")


@pytest.mark.parametrize("rate, channels", [(8000, 1), (96000, 2), (44100, 2)])
def test_any_sample_rate_and_stereo_animate(scene, tmp_path, rate, channels):
    add_strip(scene, write_speech(tmp_path / f"line_{rate}.wav", seconds=1.5, rate=rate, channels=channels))
    face = add_head()
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert face.meshtalk.takes[0].frames == 46


def test_too_short_audio(scene, tmp_path):
    import soundfile

    path = tmp_path / "blip.wav"
    soundfile.write(path, np.full(800, 0.3, dtype=np.float32), 16000)  # 50 ms
    add_strip(scene, path)
    add_head()
    refuses("The audio is too short")


def test_a_clip_too_long_for_the_basis_output_says_what_to_use(scene, tmp_path, monkeypatch):
    """An hour of speech streams through the other outputs; the basis output, which
    holds every frame while it is fitted, refuses above its memory bound (lowered here
    so that a short clip crosses it)."""
    add_strip(scene, write_speech(tmp_path / "a.wav"))
    add_head()
    scene.meshtalk.output = "BASIS"
    monkeypatch.setattr(addon_module("blender.job"), "MAX_BASIS_BYTES", 1000)
    refuses("too long for the shape-key basis output .* use the Mesh cache output")


def test_packed_sound_whose_file_is_gone_still_animates(scene, tmp_path):
    path = write_speech(tmp_path / "packed.wav", seconds=1.0)
    strip = add_strip(scene, path)
    strip.sound.pack()
    path.unlink()
    face = add_head()
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert face.meshtalk.takes[0].frames == 31
