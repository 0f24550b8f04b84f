"""The add-on in real Blender (bpy): each target mode, each output, frame clocks, takes,
undo, save and reload, cancel. Expected positions come from the Blender-free core."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_support import (ADDON, add_head, add_strip, addon, addon_module, core_animation,  # noqa: E402,F401
                             away_from_the_looks, core_vertex_output, empty_scene, fingerprint, saved_scene, positions_at, run_operator, test_model_folder,
                             make_test_model, playing_actions, write_speech)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    return write_speech(tmp_path_factory.mktemp("audio") / "line.wav", seconds=2.0)


def key_weights_at(obj, names):
    return np.array([obj.data.shape_keys.key_blocks[n].value for n in names])


def test_extension_registers_and_unregisters_cleanly(addon):
    import addon_utils

    from blender_support import disable_addon, enable_addon

    assert addon.__name__ == ADDON and addon_utils.check(ADDON) == (True, True)
    assert hasattr(bpy.types.Scene, "meshtalk") and hasattr(bpy.ops.meshtalk, "animate_from_audio")
    assert "MESHTALK_PT_panel" in dir(bpy.types)
    prefs = bpy.context.preferences.addons[ADDON].preferences
    saved = (prefs.model_source, prefs.model_folder, prefs.device)
    disable_addon()
    assert not hasattr(bpy.types.Scene, "meshtalk") and "MESHTALK_PT_panel" not in dir(bpy.types)
    enable_addon()
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.model_source, prefs.model_folder, prefs.device = saved
    assert hasattr(bpy.types.Object, "meshtalk")


def test_panel_draws_in_every_state(saved_scene, speech):
    """The panel's draw() runs (headless, against a recording layout) and says what the
    user needs: which model, which strip, which target mode, what to do."""
    from blender_support import draw_panel

    panel = addon_module("blender.panel").MESHTALK_PT_panel
    texts = " | ".join(text for _, text in draw_panel(panel))
    assert "test model (random)" in texts and "no sound strip" in texts
    bpy.ops.mesh.primitive_cube_add()
    add_strip(saved_scene, speech)
    texts = " | ".join(text for _, text in draw_panel(panel))
    assert "'Cube' (8 vertices) has neither" in texts and "'line': frames 1-" in texts
    add_head()
    assert run_operator("animate_from_audio") == {"FINISHED"}
    calls = draw_panel(panel)
    assert ("template_list", "MESHTALK_UL_takes") in calls
    assert any("Same topology as the model" in text for _, text in calls)


def test_manifest_is_a_valid_extension(addon):
    import subprocess
    import sys

    tool = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    package = Path(addon_module("blender").__file__).parents[1]  # the extension as enabled: package + manifest
    result = subprocess.run([sys.executable, str(tool), "validate", str(package)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "Success" in result.stdout, result.stdout + result.stderr
    import tomllib

    manifest = tomllib.loads((package / "blender_manifest.toml").read_text())
    assert manifest["id"] == "meshtalk_blender" and manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert addon_module("blender.addon").version() == manifest["version"]


def test_mesh_cache_plays_the_core_animation_on_the_right_frames(saved_scene, speech, tmp_path):
    scene = saved_scene
    face = add_head()
    add_strip(scene, speech, frame=5)
    scene.meshtalk.output = "MESH_CACHE"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    expected, _ = core_vertex_output(speech, 0.0, None, 30.0)
    modifier = face.modifiers["MeshTalk Cache"]
    assert modifier.filepath.startswith("//meshtalk_cache/") and list(face.modifiers)[0] == modifier
    assert Path(bpy.path.abspath(modifier.filepath)).is_file()
    for n in (0, 1, 17, len(expected) - 1):
        assert np.abs(positions_at(scene, face, 5 + n) - expected[n]).max() < 1e-5, n
    motion = np.abs(expected[17] - expected[0]).max()
    assert motion > 1e-4  # the test model moves: the frame checks above mean something
    # The eyes' gaze is keyed on the eyeLook keys (the eyeballs turn by them), as drawn for the seed.
    gaze, audio = addon_module("core.gaze"), addon_module("core.audio")
    take = face.meshtalk.takes[0]
    looks = gaze.take_gaze(audio.probe(audio.AudioClip(speech)), take.frames, 30.0, 0, gaze.LOOK_NAMES)
    keyed = np.stack([addon_module("blender.actions").sample_curve(take.action, f'key_blocks["{name}"].value',
                                                                   take.start_frame, take.frames)
                      for name in gaze.LOOK_NAMES], axis=1)
    assert looks.std(axis=0).max() > 0.02 and np.abs(keyed - looks).max() < 0.011  # within the keys' tolerance
    eyes = [child for child in face.children if child.animation_data and len(child.animation_data.drivers)]
    assert eyes
    turns = []
    for n in range(0, take.frames, 5):
        scene.frame_set(5 + n)
        turns.append(np.array(eyes[0].matrix_world)[:3, :3])
    assert np.ptp(np.array(turns), axis=0).max() > 0.01  # the eyeball turns with the gaze


def test_rest_in_pauses_is_the_panels_choice(saved_scene, tmp_path):
    """A line with a 1 s pause: by default the mouth rests there; unticked, it is left as
    the model drew it. Either way the mesh plays what the core computes."""
    import soundfile
    from audio_fixtures import speech_with_a_pause

    path = tmp_path / "pause.wav"
    soundfile.write(path, speech_with_a_pause(), 16000)
    scene = saved_scene
    face = add_head()
    add_strip(scene, path, frame=1)
    scene.meshtalk.output = "MESH_CACHE"
    assert scene.meshtalk.rest_in_pauses
    scene.meshtalk.rest_in_pauses = False
    assert run_operator("animate_from_audio") == {"FINISHED"}
    free, loaded = core_animation(path, 0.0, None, 30.0, rest_in_pauses=False)
    rested, _ = core_animation(path, 0.0, None, 30.0)
    shown, _ = core_vertex_output(path, 0.0, None, 30.0, rest_in_pauses=False)
    mouth = loaded.vertex_masks["mouth"] >= 1.0  # fully in the mouth region (the mask is soft at its edge)
    assert mouth.sum() > 100
    pause = 45  # 1.5 s: the middle of the pause
    assert np.abs(rested.vertices[pause][mouth] - loaded.template[mouth]).max() < 1e-5
    assert np.abs(free.vertices[pause][mouth] - loaded.template[mouth]).max() > 1e-3
    for n in (10, pause):
        assert np.abs(positions_at(scene, face, 1 + n) - shown[n]).max() < 1e-5, n


def test_seal_lips_is_the_panels_choice(saved_scene, tmp_path):
    """A model whose lip-closure detector hears a p/b/m everywhere: by default the mouth
    stays at its closed rest; unticked, it moves as the model drew it."""
    import soundfile
    import torch
    from audio_fixtures import speech_like

    lip_closure = addon_module("core.model.lip_closure")
    folder = make_test_model(tmp_path / "sealing", audio_normalisation="utterance")  # the detector's input
    detector = lip_closure.LipClosureDetector(width=8, dilations=(2,))
    with torch.no_grad():
        detector.output.weight.zero_()
        detector.output.bias.fill_(10.0)
    lip_closure.save_detector(detector, folder / lip_closure.CLOSURE_FILE)
    path = tmp_path / "speech.wav"
    soundfile.write(path, speech_like(1.5, 16000, seed=3, pauses=False), 16000)
    prefs = bpy.context.preferences.addons[ADDON].preferences
    previous = prefs.model_folder
    prefs.model_folder = str(folder)
    try:
        scene = saved_scene
        face = add_head()
        add_strip(scene, path, frame=1)
        scene.meshtalk.output = "MESH_CACHE"
        assert scene.meshtalk.seal_lips
        assert run_operator("animate_from_audio") == {"FINISHED"}
        sealed, loaded = core_animation(path, 0.0, None, 30.0)
        mouth = loaded.vertex_masks["mouth"] >= 1.0
        assert loaded.lip_closure is not None and mouth.sum() > 100
        shown, _ = core_vertex_output(path, 0.0, None, 30.0)
        for n in (5, 20, 40):
            assert np.abs(sealed.vertices[n][mouth] - loaded.template[mouth]).max() < 1e-5, n
            assert np.abs(positions_at(scene, face, 1 + n) - shown[n]).max() < 1e-5, n
        scene.meshtalk.seal_lips = False
        assert run_operator("animate_from_audio") == {"FINISHED"}
        free, _ = core_animation(path, 0.0, None, 30.0, seal_lips=False)
        shown, _ = core_vertex_output(path, 0.0, None, 30.0, seal_lips=False)
        assert np.abs(free.vertices[20][mouth] - loaded.template[mouth]).max() > 1e-3
        for n in (5, 20, 40):
            assert np.abs(positions_at(scene, face, 1 + n) - shown[n]).max() < 1e-5, n
    finally:
        prefs.model_folder = previous


def test_arkit_weights_on_the_heads_own_keys(saved_scene, speech):
    scene = saved_scene
    face = add_head()
    add_strip(scene, speech, frame=1)
    scene.meshtalk.output = "ARKIT"
    scene.meshtalk.keys = "EVERY_FRAME"  # the solve itself, key for key (reduced keys: test_blender_keys.py)
    assert run_operator("animate_from_audio") == {"FINISHED"}
    retarget = addon_module("core.retarget")
    names = list(addon_module("core.face").ARKIT_NAMES)
    targets = addon_module("blender.targets")
    rest = targets.rest_positions(face)
    deltas = targets.key_offsets(face, names)
    animation, _ = core_animation(speech, 0.0, None, 30.0)
    solved = retarget.BlendshapeSolver(deltas, names).solve(animation.vertices - rest)
    # The gaze is drawn for the seed (the vertices have no eyeballs), brows rise on the
    # pitch accents, then every blink closes.
    gaze, brows = addon_module("core.gaze"), addon_module("core.brows")
    info = addon_module("core.audio").probe(addon_module("core.audio").AudioClip(speech))
    solved = gaze.draw_into(solved.copy(), names, lambda look: gaze.take_gaze(info, len(solved), 30.0, 0, look))
    solved = brows.add_brows(solved, names, brows.take_brows(info, len(solved), 30.0, 0, names))
    weights = addon_module("core.blinks").complete_blinks(solved, names, 30.0)
    looks = [names.index(name) for name in gaze.LOOK_NAMES]
    assert weights[:, looks].std(axis=0).max() > 0.02  # the eyes move
    keyed = addon_module("blender.actions").sample_curve(
        face.meshtalk.takes[0].action, 'key_blocks["eyeBlinkLeft"].value', 1, len(weights))
    assert np.abs(keyed - weights[:, names.index("eyeBlinkLeft")]).max() < 1e-5
    key = face.data.shape_keys
    assert key.animation_data.action is None  # free for the user's own
    assert [strip.action for strip in key.animation_data.nla_tracks["MeshTalk"].strips] == [face.meshtalk.takes[0].action]
    for n in (0, 9, 40):
        positions = positions_at(scene, face, 1 + n)
        assert np.abs(key_weights_at(face, names) - weights[n]).max() < 1e-5
        assert np.abs(positions - (rest + np.einsum("k,kvc->vc", weights[n], deltas))).max() < 1e-5
    assert weights.max() > 0.05  # the keys really move


def test_compact_basis_reproduces_the_vertices(saved_scene, speech):
    scene = saved_scene
    face = add_head()
    add_strip(scene, speech, frame=3)
    scene.meshtalk.output = "BASIS"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    expected, _ = core_vertex_output(speech, 0.0, None, 30.0)
    names = json.loads(face.meshtalk.takes[0].basis_keys)
    assert 1 <= len(names) <= 64 and all(n in face.data.shape_keys.key_blocks for n in names)
    size = np.linalg.norm(np.ptp(expected[0], axis=0))
    away = away_from_the_looks(face)  # the take also keys the gaze, and the lids follow the eyes
    assert away.mean() > 0.8
    for n in (0, 30, len(expected) - 1):
        assert np.abs(positions_at(scene, face, 3 + n)[away] - expected[n][away]).max() < 3e-4 * size
    keyed = addon_module("blender.actions").curve_paths(face.meshtalk.takes[0].action)
    assert any("eyeLook" in path for path in keyed)  # the eyeballs turn


@pytest.mark.parametrize("fps, fps_base", [(24, 1.0), (25, 1.0), (30, 1.0), (30000, 1001.0)])
def test_scene_rates_and_strip_trims(addon, speech, tmp_path, fps, fps_base):
    scene = empty_scene(fps, fps_base)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    face = add_head()
    strip = add_strip(scene, speech, frame=11)
    strip.frame_offset_start, strip.frame_offset_end = 7, 5
    scene.meshtalk.output = "MESH_CACHE"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    rate = fps / fps_base
    shown = strip.frame_final_end - strip.frame_final_start
    expected, _ = core_vertex_output(speech, 7 / rate, shown / rate, rate)
    take = face.meshtalk.takes[0]
    assert take.start_frame == 18 and json.loads(take.clock)["fps"] == rate
    for n in (0, 1, len(expected) // 2, len(expected) - 1):
        assert np.abs(positions_at(scene, face, 18 + n) - expected[n]).max() < 1e-5, (fps, n)
    assert np.abs(positions_at(scene, face, 2) - expected[0]).max() < 1e-5  # holds before the line


def test_same_topology_in_any_units_and_axes(saved_scene, speech):
    """The head in centimetres, Y up, moved: the animation is the metre/Z-up one mapped
    through the same transform."""
    from mathutils import Matrix

    scene = saved_scene
    face = add_head()
    transform = Matrix.Translation((0.0, 150.0, 4.0)) @ Matrix.Rotation(-1.5707963, 4, "X") @ Matrix.Scale(100.0, 4)
    face.data.transform(transform, shape_keys=True)
    add_strip(scene, speech, frame=1)
    scene.meshtalk.output = "MESH_CACHE"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    expected, _ = core_vertex_output(speech, 0.0, None, 30.0)
    matrix = np.array(transform)
    for n in (0, 25):
        mapped = expected[n] @ matrix[:3, :3].T + matrix[:3, 3]
        assert np.abs(positions_at(scene, face, 1 + n) - mapped).max() < 100 * 2e-5


def test_arkit_character_of_another_topology(saved_scene, speech):
    """A grid with ARKit-named keys (prefixes, side suffixes, a user key, a driven key):
    the weights are the solve of the model's animation on the head's rig."""
    scene = saved_scene
    scene.meshtalk.keys = "EVERY_FRAME"
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=8, y_subdivisions=8, size=0.2)
    character = bpy.context.active_object
    character.shape_key_add(name="Basis", from_mix=False)
    rng = np.random.default_rng(0)
    count = len(character.data.vertices)
    rest = np.array([v.co[:] for v in character.data.vertices], dtype=np.float32)
    names = {"A25_Jaw_Open": "jawOpen", "eyeBlink_L": "eyeBlinkLeft", "MouthSmileRight": "mouthSmileRight",
             "ARKit_browInnerUp": "browInnerUp"}
    for key_name in [*names, "MyOwnKey", "mouthFunnel"]:
        block = character.shape_key_add(name=key_name, from_mix=False)
        block.data.foreach_set("co", (rest + rng.normal(0, 0.01, (count, 3))).astype(np.float32).ravel())
    character.data.shape_keys.key_blocks["MyOwnKey"].value = 0.25
    driver = character.data.shape_keys.key_blocks["mouthFunnel"].driver_add("value").driver
    driver.expression = "0.5"
    add_strip(scene, speech, frame=1)
    assert run_operator("animate_from_audio") == {"FINISHED"}
    retarget = addon_module("core.retarget")
    face = addon_module("core.face")
    animation, loaded = core_animation(speech, 0.0, None, 30.0)
    order = [arkit for arkit in face.ARKIT_NAMES if arkit in names.values()]
    rig = face.arkit_deltas(face.load_bundled_head())[[face.ARKIT_INDEX[n] for n in order]]
    weights = retarget.BlendshapeSolver(rig, order).solve(animation.vertices - loaded.template)
    key_of = {arkit: key for key, arkit in names.items()}
    blocks = character.data.shape_keys.key_blocks
    for n in (0, 20, 45):
        positions_at(scene, character, 1 + n)
        assert np.allclose([blocks[key_of[a]].value for a in order], weights[n], atol=1e-5)
    assert blocks["MyOwnKey"].value == pytest.approx(0.25)  # the user's key is not animated
    assert blocks["mouthFunnel"].value == pytest.approx(0.5)  # a driven key is left to its driver
    assert weights.max() > 0.01


def test_reruns_keep_their_takes_and_remove_restores_the_object(saved_scene, speech):
    scene = saved_scene
    face = add_head()
    user_key = face.shape_key_add(name="MySmile", from_mix=False)
    user_key.value = 0.3
    face.location = (0.0, 0.0, 0.0)
    face.keyframe_insert("location", frame=1)
    face.location = (0.0, 0.0, 1.0)
    face.keyframe_insert("location", frame=20)
    user_modifier = face.modifiers.new("MyDisplace", "DISPLACE")
    user_modifier.strength = 0.0
    add_strip(scene, speech, frame=1)
    scene.frame_set(1)
    before = fingerprint()
    outputs = ("ARKIT", "ARKIT", "MESH_CACHE", "MESH_CACHE", "BASIS", "BASIS")
    for count, output in enumerate(outputs, start=1):
        scene.meshtalk.output = output
        assert run_operator("animate_from_audio") == {"FINISHED"}
        state = fingerprint()["objects"][face.name]
        takes = face.meshtalk.takes
        assert len(takes) == count and [t.playing for t in takes] == [False] * (count - 1) + [True]
        assert [name for name, _ in state["modifiers"]] == (["MeshTalk Cache", "MyDisplace"]
                                                            if output == "MESH_CACHE" else ["MyDisplace"])
        meshtalk_keys = [k for k in face.data.shape_keys.key_blocks if k.name.startswith("MeshTalk ")]
        assert (len(meshtalk_keys) > 0) == ("BASIS" in outputs[:count])
        head_actions = [take.head_action for take in takes]
        assert None not in head_actions  # every take of the head moves the head, whatever its output
        # Every take has an action: point-cache takes key the eyes' gaze (the eyeballs turn by eyeLook).
        assert len([a for a in bpy.data.actions if a.get("meshtalk_take") and a not in head_actions]) == count
        assert [s.action for s in face.animation_data.nla_tracks["MeshTalk Head Motion"].strips] == [
            takes[count - 1].head_action]
        assert playing_actions(face) == [takes[count - 1].action]
        assert face.animation_data.action.name == before["objects"][face.name]["action"]
        assert face.data.shape_keys.key_blocks["MySmile"].value == pytest.approx(0.3)
    assert run_operator("remove_animation") == {"FINISHED"}
    scene.frame_set(1)
    after = fingerprint()
    after["strips"] = before["strips"]
    assert after == before


def test_undo_reverts_an_animation_in_one_step(saved_scene, speech):
    """In the UI Blender pushes the undo step of an UNDO operator when it finishes;
    operators called from Python in background mode do not, so this test pushes the
    step itself, exactly where the UI would, and checks one undo brings the file back."""
    scene = saved_scene
    add_head()
    add_strip(scene, speech, frame=1)
    scene.meshtalk.output = "ARKIT"
    bpy.ops.ed.undo_push(message="before MeshTalk")
    before = fingerprint()
    assert "UNDO" in bpy.ops.meshtalk.animate_from_audio.bl_options
    assert run_operator("animate_from_audio") == {"FINISHED"}
    bpy.ops.ed.undo_push(message="Animate from Audio")
    assert fingerprint() != before
    bpy.ops.ed.undo()
    assert fingerprint() == before
    assert len(bpy.data.objects["MeshTalk Head"].meshtalk.takes) == 0


def test_save_and_reopen_keeps_every_take_playing(saved_scene, speech, tmp_path):
    scene = saved_scene
    face = add_head()
    add_strip(scene, speech, frame=1)
    scene.meshtalk.output = "MESH_CACHE"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert run_operator("make_variants") == {"FINISHED"}
    takes = len(face.meshtalk.takes)
    assert takes == 1 + scene.meshtalk.variant_count
    expected = []
    for index in (0, 1):
        face.meshtalk.active_take = index
        expected.append(positions_at(scene, face, 30))
    assert np.abs(expected[0] - expected[1]).max() > 1e-5
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=bpy.data.filepath)
    face = bpy.data.objects["MeshTalk Head"]
    scene = bpy.context.scene
    assert len(face.meshtalk.takes) == takes and face.modifiers["MeshTalk Cache"].filepath.startswith("//")
    assert np.abs(positions_at(scene, face, 30) - expected[1]).max() < 1e-6
    face.meshtalk.active_take = 0
    assert np.abs(positions_at(scene, face, 30) - expected[0]).max() < 1e-6
    bpy.context.view_layer.objects.active = face
    assert run_operator("resample_upper_face") == {"FINISHED"}  # the latent came back with the file


def test_arkit_variants_are_separate_actions_and_survive_saving(saved_scene, speech):
    scene = saved_scene
    face = add_head()
    add_strip(scene, speech, frame=1)
    scene.meshtalk.output = "ARKIT"
    scene.meshtalk.variant_count = 2
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert run_operator("make_variants") == {"FINISHED"}
    takes = face.meshtalk.takes
    assert len(takes) == 3 and len({t.action.name for t in takes}) == 3 and len({t.seed for t in takes}) == 3
    blink = []
    for index in range(3):
        face.meshtalk.active_take = index
        assert playing_actions(face) == [takes[index].action]
        blink.append(addon_module("blender.actions").read_curve(takes[index].action,
                                                                'key_blocks["eyeBlinkLeft"].value'))
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=bpy.data.filepath)
    # Each take: its shape-key action and its head motion's.
    assert len([a for a in bpy.data.actions if a.get("meshtalk_take")]) == 6
    assert all(take.head_action is not None for take in bpy.data.objects["MeshTalk Head"].meshtalk.takes)


def test_resample_keeps_the_lips_and_redraws_the_upper_face(saved_scene, speech):
    scene = saved_scene
    face = add_head()
    add_strip(scene, speech, frame=1)
    scene.meshtalk.output = "MESH_CACHE"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    cache_io = addon_module("core.cache_io")
    writers = addon_module("blender.writers")
    first = cache_io.read_cache(writers.cache_file_path(face, face.meshtalk.takes[0]))
    assert run_operator("resample_upper_face") == {"FINISHED"}
    take = face.meshtalk.takes[0]
    assert len(face.meshtalk.takes) == 1 and take.seed == 1 and scene.meshtalk.seed == 1
    second = cache_io.read_cache(writers.cache_file_path(face, take))
    mouth = addon_module("core.face").load_bundled_head().masks["mouth"]
    lips, upper = mouth >= 0.999, mouth <= 0.001
    assert np.abs(second[:, lips] - first[:, lips]).max() < 1e-6
    assert np.abs(second[:, upper] - first[:, upper]).max() > 1e-4
    # Only frames 20-30: everything else stays (the fades end 4 frames outside).
    scene.meshtalk.resample_start, scene.meshtalk.resample_end = 20, 30
    assert run_operator("resample_frames") == {"FINISHED"}
    third = cache_io.read_cache(writers.cache_file_path(face, face.meshtalk.takes[0]))
    start = face.meshtalk.takes[0].start_frame
    outside = np.r_[0:20 - start - 4, 30 - start + 5:len(third)]
    assert np.abs(third[outside] - second[outside]).max() < 1e-6
    assert np.abs(third[20 - start:31 - start][:, upper] - second[20 - start:31 - start][:, upper]).max() > 1e-5


def test_cancel_leaves_nothing_behind(saved_scene, tmp_path):
    scene = saved_scene
    long_speech = write_speech(tmp_path / "long.wav", seconds=40.0)
    face = add_head()
    add_strip(scene, long_speech, frame=1)
    scene.meshtalk.output = "MESH_CACHE"
    before = fingerprint()
    session = addon_module("blender.session")
    work = session.plan_animate(bpy.context, face)
    job = addon_module("blender.job").Job(work.plans).start()
    deadline = time.time() + 60
    while job.progress <= 0.0 and time.time() < deadline:
        time.sleep(0.01)
    job.cancel()
    assert job.wait(60)
    assert job.cancelled and job.results == [] and job.error is None
    assert fingerprint() == before
    assert not [p for p in (tmp_path / "meshtalk_cache").glob("*")], "a cache file stayed behind"


def test_main_thread_stays_free_while_a_job_runs(saved_scene, tmp_path):
    """What keeps the UI responsive: the job runs on a worker and leaves the main
    thread (where Blender draws and the modal timer fires) to itself."""
    scene = saved_scene
    face = add_head()
    add_strip(scene, write_speech(tmp_path / "medium.wav", seconds=12.0), frame=1)
    scene.meshtalk.output = "MESH_CACHE"
    work = addon_module("blender.session").plan_animate(bpy.context, face)
    job = addon_module("blender.job").Job(work.plans).start()
    longest, last = 0.0, time.perf_counter()
    while not job.finished:
        time.sleep(0.01)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    assert job.error is None
    print(f"main thread: longest pause {longest * 1000:.0f} ms during a {job.seconds:.1f} s job")
    assert longest < 0.25
    job.discard()


@pytest.mark.parametrize("fps", [24, 30])
def test_resample_frames_runs_only_that_part_of_a_long_take(addon, tmp_path, monkeypatch, fps):
    """Frames 150-160 of a 10 s take: the model runs about a second on each side of them,
    not the whole take; everything outside the range and its fades is the previous take,
    exactly; the lips stay; the upper face in the range is new."""
    scene = empty_scene(fps)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    face = add_head()
    add_strip(scene, write_speech(tmp_path / "long.wav", seconds=10.0), frame=1)
    scene.meshtalk.output = "MESH_CACHE"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    cache_io, writers = addon_module("core.cache_io"), addon_module("blender.writers")
    before = cache_io.read_cache(writers.cache_file_path(face, face.meshtalk.takes[0]))
    pipeline = addon_module("core.pipeline")
    runs = []
    original_init = pipeline.AnimationRun.__init__

    def recording_init(run, *args, **kwargs):
        original_init(run, *args, **kwargs)
        runs.append(run.num_model_frames)

    monkeypatch.setattr(pipeline.AnimationRun, "__init__", recording_init)
    scene.meshtalk.resample_start, scene.meshtalk.resample_end = 150, 160
    assert run_operator("resample_frames") == {"FINISHED"}
    take = face.meshtalk.takes[0]
    after = cache_io.read_cache(writers.cache_file_path(face, take))
    assert len(runs) == 1 and runs[0] < 100 < take.frames  # about 2 s of the take's 10 s
    first, last = 150 - take.start_frame, 160 - take.start_frame
    outside = np.r_[0:first - 4, last + 5:len(after)]
    assert np.array_equal(after[outside], before[outside])
    mouth = addon_module("core.face").load_bundled_head().masks["mouth"]
    assert np.abs(after[:, mouth >= 0.999] - before[:, mouth >= 0.999]).max() < 1e-6
    assert np.abs(after[first:last + 1][:, mouth <= 0.001] - before[first:last + 1][:, mouth <= 0.001]).max() > 1e-5


def test_resample_frames_of_a_long_arkit_take_keeps_the_rest_of_its_weights(addon, tmp_path):
    scene = empty_scene(25)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    face = add_head()
    add_strip(scene, write_speech(tmp_path / "long.wav", seconds=10.0), frame=1)
    scene.meshtalk.output, scene.meshtalk.keys = "ARKIT", "EVERY_FRAME"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    session = addon_module("blender.session")
    names = tuple(json.loads(face.meshtalk.takes[0].key_names))
    before = session._played_weights(face.meshtalk.takes[0], names)
    scene.meshtalk.resample_start, scene.meshtalk.resample_end = 120, 130
    assert run_operator("resample_frames") == {"FINISHED"}
    after = session._played_weights(face.meshtalk.takes[0], names)
    outside = np.r_[0:119 - 4, 129 + 5:len(after)]
    np.testing.assert_allclose(after[outside], before[outside], atol=1e-6)
    assert np.abs(after[119:130] - before[119:130]).max() > 1e-4
