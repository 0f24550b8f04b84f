"""The `meshtalk` batch command: the plain function (through the bpy module in this
process) and a real subprocess Blender run of it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

bpy = pytest.importorskip("bpy")

from blender_support import (ROOT, add_head, addon, addon_module, empty_scene,  # noqa: E402,F401
                             test_model_folder, write_speech)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def blend_with_head(addon, tmp_path):
    empty_scene(fps=25)
    add_head("Face")
    path = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def test_many_lines_become_takes_one_after_another(blend_with_head, tmp_path, capsys):
    lines = [write_speech(tmp_path / f"line{i}.wav", seconds=1.0 + i * 0.5, seed=i) for i in range(3)]
    batch = addon_module("blender.batch")
    status = batch.main(["animate", "--object", "Face", "--audio", *map(str, lines), "--output", "cache",
                         "--frame", "10", "--variants", "1"])
    assert status == 0, capsys.readouterr().err
    bpy.ops.wm.open_mainfile(filepath=str(blend_with_head))
    face = bpy.data.objects["Face"]
    takes = face.meshtalk.takes
    assert len(takes) == 6  # a take and a variant per line
    starts = sorted({take.start_frame for take in takes})
    assert starts[0] == 10 and len(starts) == 3
    strips = sorted(bpy.context.scene.sequence_editor.strips_all, key=lambda s: s.frame_final_start)
    for before, after in zip(strips, strips[1:]):
        assert after.frame_final_start == before.frame_final_end + 25  # one second apart at 25 fps
    assert face.modifiers["MeshTalk Cache"].filepath.startswith("//meshtalk_cache/")
    assert "meshtalk: saved" in capsys.readouterr().out


def test_one_blend_per_line(blend_with_head, tmp_path):
    lines = [write_speech(tmp_path / f"shot{i}.wav", seconds=1.0, seed=i) for i in range(2)]
    batch = addon_module("blender.batch")
    out = tmp_path / "shots"
    assert batch.main(["animate", "--object", "Face", "--audio", *map(str, lines), "--out-dir", str(out)]) == 0
    for line in lines:
        bpy.ops.wm.open_mainfile(filepath=str(out / f"{line.stem}.blend"))
        face = bpy.data.objects["Face"]
        assert len(face.meshtalk.takes) == 1 and face.meshtalk.takes[0].output == "ARKIT"
        assert face.data.shape_keys.animation_data.action is not None


@pytest.mark.parametrize("arguments, message", [
    (["animate", "--object", "Nobody", "--audio", "{audio}"], "No object named 'Nobody'"),
    (["animate", "--object", "Face", "--audio", "{missing}"], "Audio file not found"),
    (["animate", "--object", "Face"], "required: --audio"),
    (["animate", "--object", "Face", "--audio", "{audio}", "--output", "fbx"], "invalid choice: 'fbx'"),
])
def test_user_errors_are_one_line_and_status_2(blend_with_head, tmp_path, capsys, arguments, message):
    audio = write_speech(tmp_path / "a.wav", seconds=1.0)
    argv = [a.format(audio=audio, missing=tmp_path / "missing.wav") for a in arguments]
    assert addon_module("blender.batch").main(argv) == 2
    error_lines = capsys.readouterr().err.strip().splitlines()
    assert len(error_lines) == 1 and error_lines[0].startswith("meshtalk: error: ") and message in error_lines[0]


SUBPROCESS = textwrap.dedent("""
    import os, sys
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    import blender_support as support
    bpy = support.import_bpy()
    support.enable_addon()
    prefs = bpy.context.preferences.addons[support.ADDON].preferences
    prefs.model_source, prefs.model_folder, prefs.device = "FOLDER", sys.argv[3], "CPU"
    bpy.ops.wm.open_mainfile(filepath=sys.argv[4])
    status = support.addon_module("blender.batch").main(sys.argv[5:])
    support.disable_addon()
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(status)
""")


def run_batch_process(blend, model, *argv):
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(blend.parent / "user"))
    return subprocess.run([sys.executable, "-c", SUBPROCESS, str(ROOT / "tests"), str(ROOT), str(model), str(blend),
                           *argv], capture_output=True, text=True, timeout=240, env=env)


def test_batch_in_a_real_blender_process(blend_with_head, test_model_folder, tmp_path):
    audio = write_speech(tmp_path / "take.wav", seconds=1.5)
    result = run_batch_process(blend_with_head, test_model_folder, "animate", "--object", "Face", "--audio",
                               str(audio), "--output", "basis", "--save", str(tmp_path / "out.blend"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "meshtalk: take.wav -> 'Face'" in result.stdout and (tmp_path / "out.blend").is_file()
    failed = run_batch_process(blend_with_head, test_model_folder, "animate", "--object", "Face", "--audio",
                               str(tmp_path / "nothing.wav"))
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines()[-1].startswith("meshtalk: error: Audio file not found")
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "out.blend"))
    assert bpy.data.objects["Face"].meshtalk.takes[0].output == "BASIS"
