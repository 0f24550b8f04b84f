"""``python -m meshtalk_blender animate``: end to end on generated audio, and every error path."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import soundfile
import torch
from audio_fixtures import speech_like, speech_with_a_pause
from conftest import ROOT, TINY, random_model

from meshtalk_blender import cli
from meshtalk_blender.core.cache_io import read_cache
from meshtalk_blender.core.checkpoints import save_bundle
from meshtalk_blender.core.obj_io import ObjMesh, write_obj


@pytest.fixture
def model_dir(tmp_path, template_vertices):
    directory = tmp_path / "model"
    save_bundle(directory, random_model(TINY, scale=3.0), template_vertices, description="tiny", licence="MIT")
    return directory


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "meshtalk_blender", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_animate_writes_a_mesh_cache_in_a_real_process(model_dir, speech_wav, tmp_path):
    out = tmp_path / "anim.pc2"
    result = run_cli("animate", speech_wav, "--checkpoint", model_dir, "--out", out, "--fps", "24", "--seed", "3")
    assert result.returncode == 0, result.stderr
    vertices = read_cache(out)
    assert vertices.shape == (97, TINY.num_vertices, 3)  # 4 s at 24 fps: frames 0..96
    assert np.isfinite(vertices).all() and vertices.std(axis=0).mean() > 0


def test_bad_input_in_a_real_process_is_one_line_without_traceback(model_dir, tmp_path):
    result = run_cli("animate", tmp_path / "nothing.wav", "--checkpoint", model_dir, "--out", tmp_path / "a.pc2")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "Audio file not found" in result.stderr


def test_npz_output_has_vertices_fps_seed_and_latent(model_dir, speech_wav, tmp_path):
    assert cli.main(["animate", str(speech_wav), "--checkpoint", str(model_dir), "--out", str(tmp_path / "a.npz"),
                     "--seed", "7", "--fps", "29.97", "--quiet"]) == 0
    data = np.load(tmp_path / "a.npz")
    assert data["vertices"].shape[1:] == (TINY.num_vertices, 3)
    assert float(data["fps"]) == pytest.approx(29.97) and int(data["seed"]) == 7
    assert data["labels"].shape == (121, TINY.num_heads)


def test_streamed_npz_reads_as_np_savez_wrote_it_and_equals_the_point_cache(model_dir, speech_wav, tmp_path):
    """The .npz is written chunk by chunk (uncompressed); np.load gives the entries, dtypes
    and shapes that np.savez gave, and the vertices of the .pc2 of the same run."""
    args = ["animate", str(speech_wav), "--checkpoint", str(model_dir), "--seed", "5", "--quiet"]
    assert cli.main(args + ["--out", str(tmp_path / "a.npz")]) == 0
    assert cli.main(args + ["--out", str(tmp_path / "a.pc2")]) == 0
    data = np.load(tmp_path / "a.npz")  # allow_pickle=False: no entry is a pickled object
    np.savez(tmp_path / "reference.npz", vertices=data["vertices"], fps=30.0, seed=5, temperature=0.6,
             labels=data["labels"])
    reference = np.load(tmp_path / "reference.npz")
    assert data.files == reference.files == ["vertices", "fps", "seed", "temperature", "labels"]
    for name in data.files:
        assert (data[name].dtype, data[name].shape) == (reference[name].dtype, reference[name].shape), name
        np.testing.assert_array_equal(data[name], reference[name])
    np.testing.assert_array_equal(data["vertices"], read_cache(tmp_path / "a.pc2"))
    assert data["vertices"].shape == (121, TINY.num_vertices, 3) and data["seed"].dtype == np.int64


def test_the_help_says_every_format_streams_and_replaces_atomically(capsys):
    with pytest.raises(SystemExit):
        cli.main(["animate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Every format goes to a temporary file beside it and replaces --out only when complete" in text
    assert "all but .glb stream, so memory stays flat" in text


@pytest.mark.parametrize("which", ["audio", "template", "checkpoint"])
def test_an_output_that_is_an_input_is_refused_before_any_work(which, model_dir, speech_wav, tmp_path,
                                                              template_vertices, capsys):
    audio_file = tmp_path / "speech.pc2"  # a WAV by content: libsndfile does not go by the extension
    audio_file.write_bytes(speech_wav.read_bytes())
    write_obj(tmp_path / "face.mdd", ObjMesh(vertices=template_vertices, faces=[[0, 1, 2]]))
    out = {"audio": audio_file, "template": tmp_path / "face.mdd", "checkpoint": model_dir / "config.json"}[which]
    before = out.read_bytes()
    status = cli.main(["animate", str(audio_file), "--checkpoint", str(model_dir), "--template",
                       str(tmp_path / "face.mdd"), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and "is also an input of this run" in err and err.count("\n") == 1
    assert out.read_bytes() == before


def test_an_output_that_is_a_folder_is_refused_before_any_work(model_dir, speech_wav, tmp_path, capsys):
    (tmp_path / "take.pc2").mkdir()
    status = cli.main(["animate", str(speech_wav), "--checkpoint", str(tmp_path / "nowhere"),
                       "--out", str(tmp_path / "take.pc2")])  # the checkpoint is not even looked at
    assert status == 2 and "is a folder; give a file name inside it" in capsys.readouterr().err
    assert list((tmp_path / "take.pc2").iterdir()) == []


def test_a_read_only_output_folder_is_refused_before_any_work(model_dir, speech_wav, tmp_path, capsys):
    from fault_support import read_only_folder

    with read_only_folder(tmp_path / "ro", {"a.npz": b"previous"}) as folder:
        status = cli.main(["animate", str(speech_wav), "--checkpoint", str(tmp_path / "nowhere"),
                           "--out", str(folder / "a.npz")])
        assert status == 2 and "is not writable; choose another folder" in capsys.readouterr().err
        assert (folder / "a.npz").read_bytes() == b"previous"


def test_template_option_changes_the_identity(model_dir, speech_wav, tmp_path, template_vertices):
    other = template_vertices + np.array([0.0, 0.0, 5.0], np.float32)
    write_obj(tmp_path / "other.obj", ObjMesh(vertices=other, faces=[[0, 1, 2]]))
    args = ["animate", str(speech_wav), "--checkpoint", str(model_dir), "--quiet", "--duration", "1"]
    assert cli.main(args + ["--out", str(tmp_path / "a.mdd")]) == 0
    assert cli.main(args + ["--out", str(tmp_path / "b.mdd"), "--template", str(tmp_path / "other.obj")]) == 0
    assert not np.allclose(read_cache(tmp_path / "a.mdd"), read_cache(tmp_path / "b.mdd"))


def _bad_case(case, tmp_path, model_dir, speech_wav):
    out = tmp_path / "out.pc2"
    base = ["animate", str(speech_wav), "--checkpoint", str(model_dir), "--out", str(out)]
    if case == "corrupt_audio":
        (tmp_path / "bad.wav").write_bytes(b"not audio at all" * 100)
        return ["animate", str(tmp_path / "bad.wav"), "--checkpoint", str(model_dir), "--out", str(out)], "Cannot decode"
    if case == "silent_audio":
        soundfile.write(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
        return ["animate", str(tmp_path / "silent.wav"), "--checkpoint", str(model_dir), "--out", str(out)], "silent"
    if case == "bad_extension":
        return base[:-1] + [str(tmp_path / "out.fbx")], "Unknown output type"
    if case == "missing_folder":
        return base[:-1] + [str(tmp_path / "no" / "out.pc2")], "does not exist"
    if case == "no_checkpoint":
        return base[:3] + [str(tmp_path / "nowhere")] + base[4:], "Checkpoint not found"
    if case == "broken_checkpoint":
        (model_dir / "config.json").write_text("{broken")
        return base, "not a valid model config"
    if case == "wrong_template":
        write_obj(tmp_path / "t.obj", ObjMesh(vertices=np.zeros((5, 3)), faces=[]))
        return base + ["--template", str(tmp_path / "t.obj")], "has 5 vertices but the model expects"
    if case in ("template_short_line", "template_nan"):
        vertex = "v 1 2" if case == "template_short_line" else "v nan 0 0"
        (tmp_path / "t.obj").write_text(f"v 0 0 0\n{vertex}\n")
        return base + ["--template", str(tmp_path / "t.obj")], "t.obj, line 2:"
    if case == "bad_fps":
        return base + ["--fps", "0"], "fps must be"
    if case == "bad_device":
        return base + ["--device", "tpu"], "Unknown device"
    if case == "unknown_flag":
        return base + ["--frobnicate"], "unrecognized arguments"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["corrupt_audio", "silent_audio", "bad_extension", "missing_folder", "no_checkpoint",
                                  "broken_checkpoint", "wrong_template", "template_short_line", "template_nan",
                                  "bad_fps", "bad_device", "unknown_flag"])
def test_every_bad_input_gets_one_clear_line(case, tmp_path, model_dir, speech_wav, capsys):
    argv, message = _bad_case(case, tmp_path, model_dir, speech_wav)
    try:
        status = cli.main(argv)
    except SystemExit as exit_:  # argparse's own errors exit
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2
    assert message in err and err.strip().count("\n") == 0 and "Traceback" not in err
    assert not (tmp_path / "out.pc2").exists()


@pytest.mark.parametrize("flags, message", [
    (["--fps", "nan"], "fps must be"), (["--fps", "inf"], "fps must be"),
    (["--start", "nan"], "start must be"), (["--start", "inf"], "start must be"), (["--start", "-1"], "start must be"),
    (["--duration", "nan"], "duration must be"), (["--duration", "inf"], "duration must be"),
    (["--duration", "0"], "duration must be"),
    (["--seed", "-1"], "seed must be"), (["--seed", str(2**31)], "seed must be"), (["--seed", str(2**64)], "seed must be"),
    (["--temperature", "nan"], "temperature must be"),
])
def test_numbers_out_of_range_are_refused_before_the_model_is_read(flags, message, tmp_path, speech_wav, capsys):
    """NaN, infinity, negative starts and seeds beyond Blender's 32-bit int: one line, exit
    2, before any work (the checkpoint does not exist: reading it would be another error)."""
    argv = ["animate", str(speech_wav), "--checkpoint", str(tmp_path / "nowhere"), "--out", str(tmp_path / "a.pc2")]
    status = cli.main(argv + flags)
    err = capsys.readouterr().err
    assert status == 2, err
    assert message in err and err.strip().count("\n") == 0


@pytest.mark.parametrize("kind", [".pc2", ".mdd", ".npz"])
def test_an_animation_that_is_not_finite_is_not_written(kind, tmp_path, speech_wav, template_vertices, capsys):
    from test_pipeline import overflowing

    save_bundle(tmp_path / "m", overflowing(random_model(TINY)), template_vertices, description="t", licence="MIT")
    out = tmp_path / f"a{kind}"
    status = cli.main(["animate", str(speech_wav), "--checkpoint", str(tmp_path / "m"), "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2 and "invalid numbers (NaN or infinity)" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "speech.wav"]  # no output, no temporary file


def test_the_default_checkpoint_is_the_bundled_model_when_installed(monkeypatch, tmp_path, speech_wav, capsys):
    monkeypatch.setattr(cli, "BUNDLED_MODEL", tmp_path / "absent")
    assert cli.main(["animate", str(speech_wav), "--out", str(tmp_path / "a.pc2")]) == 2
    assert "No bundled model" in capsys.readouterr().err


def test_internal_errors_are_one_line_too(monkeypatch, speech_wav, tmp_path, model_dir, capsys):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(torch, "inference_mode", broken)
    status = cli.main(["animate", str(speech_wav), "--checkpoint", str(model_dir), "--out", str(tmp_path / "a.pc2")])
    err = capsys.readouterr().err
    assert status == 3 and "internal error" in err and err.strip().count("\n") == 0


def animated_vertices(tmp_path, checkpoint, wav, name: str, extra: list[str]) -> np.ndarray:
    """(T, V, 3) from ``animate`` with ``extra`` flags, through an .npz named ``name``."""
    out = tmp_path / f"{name}.npz"
    assert cli.main(["animate", str(wav), "--checkpoint", str(checkpoint), "--out", str(out), "--quiet", *extra]) == 0
    return np.load(out)["vertices"]


def test_the_mouth_rests_in_pauses_unless_told_not_to(tmp_path, template_vertices):
    mouth = np.zeros(TINY.num_vertices, np.float32)
    mouth[:10] = 1.0
    directory = tmp_path / "masked"
    save_bundle(directory, random_model(TINY, scale=3.0), template_vertices, description="tiny", licence="MIT",
                vertex_masks={"mouth": mouth})
    wav = tmp_path / "pause.wav"
    soundfile.write(wav, speech_with_a_pause(), 16000)
    results = {name: animated_vertices(tmp_path, directory, wav, name, extra)
               for name, extra in (("rest", []), ("free", ["--no-pause-rest"]))}
    pause = slice(40, 50)  # 1.33-1.67 s, inside the silence
    np.testing.assert_allclose(results["rest"][pause, :10], np.broadcast_to(template_vertices[:10], (10, 10, 3)),
                               atol=1e-5)
    assert np.abs(results["free"][pause, :10] - template_vertices[:10]).max() > 0.1
    np.testing.assert_array_equal(results["rest"][:, 10:], results["free"][:, 10:])


def test_the_lips_close_where_the_bundles_detector_hears_a_bilabial_unless_told_not_to(tmp_path, template_vertices):
    """A bundle whose lip-closure file hears a p/b/m everywhere: the mouth stays at the
    template's rest throughout, unless --no-lip-seal."""
    from test_lip_closure import firing

    from meshtalk_blender.core.model.lip_closure import CLOSURE_FILE, save_detector

    mouth = np.zeros(TINY.num_vertices, np.float32)
    mouth[:10] = 1.0
    directory = tmp_path / "sealing"
    model = random_model(replace(TINY, audio_normalisation="utterance"), scale=3.0)  # the detector's input
    save_bundle(directory, model, template_vertices, description="tiny", licence="MIT", vertex_masks={"mouth": mouth})
    save_detector(firing(True), directory / CLOSURE_FILE)
    wav = tmp_path / "speech.wav"
    soundfile.write(wav, speech_with_a_pause(), 16000)
    results = {name: animated_vertices(tmp_path, directory, wav, name, extra)
               for name, extra in (("sealed", ["--no-pause-rest"]), ("free", ["--no-pause-rest", "--no-lip-seal"]))}
    count = len(results["sealed"])
    np.testing.assert_allclose(results["sealed"][:, :10], np.broadcast_to(template_vertices[:10], (count, 10, 3)),
                               atol=1e-5)
    assert np.abs(results["free"][:, :10] - template_vertices[:10]).max() > 0.1
    np.testing.assert_array_equal(results["sealed"][:, 10:], results["free"][:, 10:])
