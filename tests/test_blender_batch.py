"""The `meshtalk` batch command: the plain function (through the bpy module in this
process) and a real subprocess Blender run of it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

bpy = pytest.importorskip("bpy")

from blender_support import (ROOT, add_head, addon, addon_module, empty_scene,  # noqa: E402,F401
                             playing_actions, test_model_folder, write_speech)

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
    # Every line plays (its first take), and the scene runs to the end of the last one.
    playing = [take for take in takes if take.playing]
    assert sorted(take.start_frame for take in playing) == starts and all(take.seed == 0 for take in playing)
    assert len([m for m in face.modifiers if m.type == "MESH_CACHE"]) == 3
    assert bpy.context.scene.frame_end >= strips[-1].frame_final_end - 1


def test_one_blend_per_line(blend_with_head, tmp_path):
    lines = [write_speech(tmp_path / f"shot{i}.wav", seconds=1.0, seed=i) for i in range(2)]
    batch = addon_module("blender.batch")
    out = tmp_path / "shots"
    assert batch.main(["animate", "--object", "Face", "--audio", *map(str, lines), "--out-dir", str(out)]) == 0
    for line in lines:
        bpy.ops.wm.open_mainfile(filepath=str(out / f"{line.stem}.blend"))
        face = bpy.data.objects["Face"]
        assert len(face.meshtalk.takes) == 1 and face.meshtalk.takes[0].output == "ARKIT"
        assert playing_actions(face) == [face.meshtalk.takes[0].action]
        assert face.meshtalk.takes[0].head_action is not None  # the head moves by default


def test_no_head_motion_keeps_the_head_still(blend_with_head, tmp_path):
    line = write_speech(tmp_path / "line.wav", seconds=1.0)
    batch = addon_module("blender.batch")
    assert batch.main(["animate", "--object", "Face", "--audio", str(line), "--no-head-motion"]) == 0
    bpy.ops.wm.open_mainfile(filepath=str(blend_with_head))
    face = bpy.data.objects["Face"]
    assert len(face.meshtalk.takes) == 1 and face.meshtalk.takes[0].head_action is None
    assert face.animation_data is None


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


# ---------------------------------------------------------------- all or nothing per output file


def silent_wav(path):
    import numpy as np
    import soundfile

    soundfile.write(path, np.zeros(16000, dtype=np.float32), 16000)
    return path


def folder_state(folder):
    """Every file under ``folder`` with its bytes (what a failed batch must not change)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", ["in_place", "save"])
def test_a_failing_line_leaves_the_output_file_and_the_folder_as_they_were(blend_with_head, tmp_path, capsys, where):
    audio = tmp_path / "audio"
    audio.mkdir()
    lines = [write_speech(audio / "line1.wav", seconds=1.0), silent_wav(audio / "line2.wav")]
    save = tmp_path / "out.blend"
    save.write_bytes(b"the previous version of out.blend")
    before = folder_state(tmp_path)
    argv = ["animate", "--object", "Face", "--audio", *map(str, lines), "--output", "cache"]
    argv += ["--save", str(save)] if where == "save" else []
    assert addon_module("blender.batch").main(argv) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and "silent" in errors[0] and "was not written" in errors[0]
    assert folder_state(tmp_path) == before  # no .blend1, no orphaned line-1 cache, no temporary file


def test_one_blend_per_line_writes_the_good_lines_and_says_which_failed(blend_with_head, tmp_path, capsys):
    lines = [write_speech(tmp_path / "a.wav", seconds=1.0), silent_wav(tmp_path / "b.wav"),
             write_speech(tmp_path / "c.wav", seconds=1.0, seed=3)]
    out = tmp_path / "shots"
    assert addon_module("blender.batch").main(["animate", "--object", "Face", "--audio", *map(str, lines),
                                               "--out-dir", str(out), "--output", "cache"]) == 2
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.glob("*.blend")) == ["a.blend", "c.blend"]
    assert "b.wav: b.blend was not written" in captured.err and "2 of 3 files written, 1 failed" in captured.err
    used = set()
    for name in ("a", "c"):
        bpy.ops.wm.open_mainfile(filepath=str(out / f"{name}.blend"))
        face = bpy.data.objects["Face"]
        used.add(addon_module("blender.writers").cache_file_path(face, face.meshtalk.takes[0]).name)
    assert {p.name for p in (out / "meshtalk_cache").glob("*")} == used  # b's cache is gone


def test_lines_with_the_same_file_name_get_their_own_blend(blend_with_head, tmp_path):
    lines = []
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        lines.append(write_speech(tmp_path / folder / "line.wav", seconds=1.0, seed=len(lines)))
    out = tmp_path / "shots"
    assert addon_module("blender.batch").main(["animate", "--object", "Face", "--audio", *map(str, lines),
                                               "--out-dir", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.blend")) == ["x_line.blend", "y_line.blend"]
    assert addon_module("blender.batch").distinct_names(
        [tmp_path / "a" / "k" / "l.wav", tmp_path / "b" / "k" / "l.wav", tmp_path / "m.wav", tmp_path / "m.flac"]
    ) == ["a_k_l", "b_k_l", "m", "m_2"]


def test_ctrl_c_is_one_line_and_leaves_nothing(blend_with_head, tmp_path, capsys, monkeypatch):
    lines = [write_speech(tmp_path / f"line{i}.wav", seconds=1.0, seed=i) for i in range(2)]
    before = folder_state(tmp_path)
    batch = addon_module("blender.batch")
    real = batch._animate_line
    calls = []

    def interrupted_on_the_second_line(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "_animate_line", interrupted_on_the_second_line)
    assert batch.main(["animate", "--object", "Face", "--audio", *map(str, lines), "--output", "cache"]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines() == [
        "meshtalk: error: cancelled (line0.wav, line1.wav: scene.blend was not written)"]
    assert folder_state(tmp_path) == before


@pytest.mark.parametrize("extra, message", [
    (["--seed", "-1"], "--seed must be between 0 and"),
    (["--seed", str(2**31)], "--seed must be between 0 and 2147483647"),
    (["--variants", "100000"], "--variants must be between 0 and"),
    (["--frame", str(2**31)], "--frame must be between"),
    (["--gap", "nan"], "--gap must be between"),
    (["--temperature", "inf"], "--temperature must be between"),
    (["--save", "{audio}"], "is also an input of this run"),
    (["--save", "{folder}"], "is a folder"),
    (["--audio", "{folder}"], "is a folder, not an audio file"),
    (["--out-dir", "{folder}", "--audio", "{scene_wav}"], "is also an input of this run"),
])
def test_bad_arguments_are_refused_before_any_work(blend_with_head, tmp_path, capsys, extra, message):
    audio = write_speech(tmp_path / "a.wav", seconds=1.0)
    scene_wav = write_speech(tmp_path / "scene.wav", seconds=1.0)  # would become scene.blend: the open file
    before = folder_state(tmp_path)
    argv = ["animate", "--object", "Face", "--audio", str(audio)] + [
        a.format(audio=audio, folder=tmp_path, scene_wav=scene_wav) for a in extra]
    assert addon_module("blender.batch").main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert folder_state(tmp_path) == before


def test_ctrl_c_in_a_real_blender_process(blend_with_head, test_model_folder, tmp_path):
    """SIGINT while the second line is animated: exit 130, one line, the .blend and its
    folder as they were (no traceback, no orphaned point cache of the first line)."""
    import signal

    lines = [write_speech(tmp_path / "first.wav", seconds=1.0), write_speech(tmp_path / "second.wav", seconds=120.0)]
    before = folder_state(tmp_path)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path.parent / f"{tmp_path.name}-user"))
    process = subprocess.Popen([sys.executable, "-u", "-c", SUBPROCESS, str(ROOT / "tests"), str(ROOT),
                                str(test_model_folder), str(blend_with_head), "animate", "--object", "Face",
                                "--output", "cache", "--audio", *map(str, lines)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        seen = []
        for line in process.stdout:
            seen.append(line)
            if "first.wav -> 'Face'" in line:
                break
        assert seen and "first.wav" in seen[-1], seen
        time.sleep(0.2)  # into the second line's work
        started = time.time()
        process.send_signal(signal.SIGINT)
        err = process.communicate(timeout=120)[1]
        elapsed = time.time() - started
    finally:
        process.kill()
    assert process.returncode == 130, (elapsed, err[-2000:])
    assert "Traceback" not in err and "cancelled" in err.strip().splitlines()[-1]
    assert folder_state(tmp_path) == before


def test_exports_write_each_lines_arkit_weights_beside_the_blend(blend_with_head, tmp_path, capsys):
    """--export csv json glb: Live Link Face CSV, JSON and a glTF that Blender's own
    importer reads back as the head with 52 keys playing the same weights."""
    import csv
    import json

    import numpy as np

    lines = [write_speech(tmp_path / f"line{i}.wav", seconds=1.0, seed=i) for i in range(2)]
    out = tmp_path / "shot.blend"
    assert addon_module("blender.batch").main(["animate", "--object", "Face", "--audio", *map(str, lines), "--save",
                                               str(out), "--export", "csv", "json", "glb"]) == 0
    assert capsys.readouterr().out.count("meshtalk: exported") == 6
    for line in ("line0", "line1"):
        rows = list(csv.reader((tmp_path / f"{line}.csv").open()))
        document = json.loads((tmp_path / f"{line}.json").read_text())
        assert len(rows) == 1 + document["frame_count"] == 1 + 26  # 1 s at 25 fps
        assert float(rows[6][rows[0].index("JawOpen")]) == pytest.approx(document["frames"][5]["weights"]["jawOpen"],
                                                                          abs=1e-5)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps = 25
    bpy.ops.import_scene.gltf(filepath=str(tmp_path / "line1.glb"))
    head = next(o for o in bpy.context.scene.objects if o.type == "MESH")
    keys = head.data.shape_keys.key_blocks
    assert len(head.data.vertices) == 3656 and [k.name for k in keys][1:] == document["names"]
    for frame in (0, 12, 25):
        bpy.context.scene.frame_set(frame)  # the importer puts time 0 on frame 0
        played = np.array([keys[name].value for name in document["names"]])
        wanted = np.array([document["frames"][frame]["weights"][name] for name in document["names"]])
        assert np.abs(played - wanted).max() < 1e-5


def test_exports_need_arkit_output(blend_with_head, tmp_path, capsys):
    audio = write_speech(tmp_path / "a.wav", seconds=1.0)
    assert addon_module("blender.batch").main(["animate", "--object", "Face", "--audio", str(audio), "--output",
                                               "cache", "--export", "csv"]) == 2
    assert "--export writes ARKit weights" in capsys.readouterr().err
