"""Dialogue scenes: several lines (sound strips) on one character all play, each with
its own takes; takes accumulate until removed; the panel follows the playing take."""

from __future__ import annotations

import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_support import (add_head, add_strip, addon, addon_module, core_animation,  # noqa: E402,F401
                             fingerprint, playing_actions, positions_at, run_operator, saved_scene,
                             test_model_folder, write_speech)

pytestmark = pytest.mark.timeout(300)


def animate_lines(scene, tmp_path, output: str, starts=(1, 80), face=None):
    """The head (a new one unless given) with one take per line, the lines at
    ``starts``; returns (face, takes)."""
    face = face or add_head()
    scene.meshtalk.output = output
    for index, start in enumerate(starts):
        strip = add_strip(scene, write_speech(tmp_path / f"line{index}.wav", seconds=1.5, seed=index), frame=start,
                          name=f"line{index}")
        strip.channel = index + 1
        scene.meshtalk.audio_strip = strip.name
        assert run_operator("animate_from_audio") == {"FINISHED"}
    return face, list(face.meshtalk.takes)


def shown_jaw(scene, face, frame: int) -> float:
    scene.frame_set(frame)
    return face.data.shape_keys.key_blocks["jawOpen"].value


def take_jaw(take, frame: int) -> float:
    values = addon_module("blender.actions").sample_curve(take.action, 'key_blocks["jawOpen"].value', frame, 1)
    return 0.0 if values is None else float(values[0])  # a reduced take has no curve for a key near zero


def test_every_line_plays_its_take_arkit(saved_scene, tmp_path):
    face, (first, second) = animate_lines(saved_scene, tmp_path, "ARKIT")
    assert first.playing and second.playing
    assert playing_actions(face) == [first.action, second.action]
    for take in (first, second):
        for frame in (take.start_frame + 5, take.start_frame + 30):
            assert shown_jaw(saved_scene, face, frame) == pytest.approx(take_jaw(take, frame), abs=1e-6)
    last_of_first = first.start_frame + first.frames - 1
    assert shown_jaw(saved_scene, face, 70) == pytest.approx(take_jaw(first, last_of_first), abs=1e-6)  # holds


def test_every_line_plays_its_take_mesh_cache(saved_scene, tmp_path):
    cache_io, writers = addon_module("core.cache_io"), addon_module("blender.writers")
    face, takes = animate_lines(saved_scene, tmp_path, "MESH_CACHE")
    caches = [cache_io.read_cache(writers.cache_file_path(face, take)) for take in takes]
    assert sorted(m.name for m in face.modifiers if m.type == "MESH_CACHE") == ["MeshTalk Cache", "MeshTalk Cache.001"]
    for take, frames in zip(takes, caches):
        for n in (5, 30):
            assert np.abs(positions_at(saved_scene, face, take.start_frame + n) - frames[n]).max() < 1e-5
    assert np.abs(positions_at(saved_scene, face, 70) - caches[0][-1]).max() < 1e-5  # the first line holds
    assert np.abs(positions_at(saved_scene, face, 1) - caches[0][0]).max() < 1e-5


def test_a_variant_of_one_line_leaves_the_other_line_playing(saved_scene, tmp_path):
    face, (first, second) = animate_lines(saved_scene, tmp_path, "ARKIT")
    face.meshtalk.active_take = 0  # the first line's take
    saved_scene.meshtalk.variant_count = 1
    assert run_operator("make_variants") == {"FINISHED"}
    takes = face.meshtalk.takes
    variant = takes[len(takes) - 1]
    assert variant.strip_name == "line0" and variant.playing and not takes[0].playing and takes[1].playing
    assert playing_actions(face) == [variant.action, takes[1].action]
    face.meshtalk.active_take = 0  # a click plays it again, for its line only
    assert playing_actions(face) == [takes[0].action, takes[1].action]


def test_animating_again_keeps_the_earlier_takes_until_removed(saved_scene, tmp_path):
    face, _ = animate_lines(saved_scene, tmp_path, "ARKIT", starts=(1,))
    for _ in range(2):
        assert run_operator("animate_from_audio") == {"FINISHED"}
    takes = face.meshtalk.takes
    assert len(takes) == 3 and [t.playing for t in takes] == [False, False, True]
    face.meshtalk.active_take = 1
    assert run_operator("remove_take") == {"FINISHED"}  # the playing one: the line's newest other plays
    assert len(takes) == 2 and takes[1].playing and playing_actions(face) == [takes[1].action]
    face.meshtalk.active_take = 0
    assert run_operator("keep_playing_takes") == {"FINISHED"}
    assert len(takes) == 1 and takes[0].playing and playing_actions(face) == [takes[0].action]
    assert {a for a in bpy.data.actions if a.get("meshtalk_take")} == {takes[0].action, takes[0].head_action}
    assert run_operator("remove_take") == {"FINISHED"}  # the last one: the object as it was
    assert not len(takes) and playing_actions(face) == [] and face.data.shape_keys.animation_data is None
    assert face.animation_data is None and "meshtalk_head_motion" not in face and "meshtalk_head_rest" not in face


def test_the_scene_end_moves_to_cover_what_was_animated(saved_scene, tmp_path):
    saved_scene.frame_end = 100
    face, (take,) = animate_lines(saved_scene, tmp_path, "ARKIT", starts=(90,))
    assert saved_scene.frame_end == take.start_frame + take.frames - 1 == 135
    saved_scene.frame_end = 500
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert saved_scene.frame_end == 500  # never shortened


def test_the_panel_shows_the_playing_takes_seed_and_temperature(saved_scene, tmp_path):
    face, _ = animate_lines(saved_scene, tmp_path, "ARKIT", starts=(1,))
    settings = saved_scene.meshtalk
    settings.variant_count = 2
    assert run_operator("make_variants") == {"FINISHED"}
    takes = face.meshtalk.takes
    assert settings.seed == takes[face.meshtalk.active_take].seed == 2
    face.meshtalk.active_take = 0
    assert settings.seed == 0 and settings.temperature == pytest.approx(takes[0].temperature)
    assert run_operator("resample_frames") == {"FINISHED"}
    assert len({take.seed for take in takes}) == 3  # a new seed, not a copy of another take


def test_takes_sample_at_the_models_temperature_unless_the_user_sets_one(saved_scene, tmp_path, test_model_folder):
    """A model stores the temperature it is meant to be sampled at: the panel (and the
    batch command) use it unless the user unticks Model's Temperature and sets another."""
    config = test_model_folder / "config.json"
    original = config.read_text()
    config.write_text(json.dumps(json.loads(original) | {"temperature": 1.7}))
    try:
        settings = saved_scene.meshtalk
        assert settings.use_model_temperature  # the default
        settings.temperature = 0.3  # ignored while the model's is used
        face, takes = animate_lines(saved_scene, tmp_path, "ARKIT", starts=(1,))
        line = tmp_path / "line0.wav"
        decode = addon_module("blender.take_data").decode_labels
        at_model, _ = core_animation(line, 0.0, None, 30.0, temperature=1.7)
        at_user, _ = core_animation(line, 0.0, None, 30.0, temperature=0.3)
        assert (at_model.labels != at_user.labels).any()  # the two temperatures draw differently
        assert takes[0].temperature == pytest.approx(1.7)
        np.testing.assert_array_equal(decode(takes[0].labels), at_model.labels)

        settings.use_model_temperature = False
        assert settings.temperature == pytest.approx(1.7)  # the user's own starts from the model's
        settings.temperature = 0.3
        assert run_operator("animate_from_audio") == {"FINISHED"}
        mine = face.meshtalk.takes[-1]
        assert mine.temperature == pytest.approx(0.3)
        np.testing.assert_array_equal(decode(mine.labels), at_user.labels)

        # The batch command: without --temperature, the model's.
        name = face.name
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
        batch = addon_module("blender.batch")
        assert batch.main(["animate", "--object", name, "--audio", str(line)]) == 0
        bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "scene.blend"))
        assert bpy.data.objects[name].meshtalk.takes[-1].temperature == pytest.approx(1.7)
    finally:
        config.write_text(original)


def test_removing_everything_restores_the_dialogue_scene(saved_scene, tmp_path):
    face = add_head()
    before = fingerprint()
    animate_lines(saved_scene, tmp_path, "MESH_CACHE", face=face)
    assert len(face.animation_data.drivers) == 2  # one per line's modifier
    assert run_operator("remove_animation") == {"FINISHED"}
    after = fingerprint()
    after["strips"], after["counts"]["sounds"] = before["strips"], before["counts"]["sounds"]  # the lines stay
    assert after == before
    assert face.animation_data is None and json.loads(face.meshtalk.line_modifiers or "{}") == {}  # as it was


def test_keys_an_animator_adds_outside_a_take_do_not_shift_it(saved_scene, tmp_path):
    face, (first, second) = animate_lines(saved_scene, tmp_path, "ARKIT")
    frames = [second.start_frame + n for n in (5, 15, 25, 35)]

    def shown() -> np.ndarray:
        values = []
        for frame in frames:
            saved_scene.frame_set(frame)
            values.append([block.value for block in face.data.shape_keys.key_blocks])
        return np.array(values)

    expected = shown()
    curve = addon_module("blender.actions")._fcurves(second.action)[0]
    curve.keyframe_points.insert(second.start_frame - 20, 0.3)  # before the take: the strip's range must not move
    face.meshtalk.active_take = 0  # anything that rebuilds the strips
    face.meshtalk.active_take = 1
    np.testing.assert_allclose(shown(), expected, atol=1e-6)


def test_an_animators_strip_settings_survive_a_rebuild(saved_scene, tmp_path):
    face, (first, second) = animate_lines(saved_scene, tmp_path, "ARKIT")
    strips = face.data.shape_keys.animation_data.nla_tracks["MeshTalk"].strips
    strips[1].mute, strips[0].influence = True, 0.5
    face.meshtalk.active_take = 0  # rebuilds the strips
    strips = face.data.shape_keys.animation_data.nla_tracks["MeshTalk"].strips
    assert (strips[0].influence, strips[1].mute) == (pytest.approx(0.5), True)
