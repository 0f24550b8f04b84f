"""Faults injected into real command-line runs: a full disk, Ctrl-C (SIGINT) at each
stage, and two runs writing the same output at once. Whatever happens, the output is
either the file that was there before, byte for byte, or one run's complete output, and
no temporary file is left; a fault is one line on stderr, never a traceback.

The stages are found without timing: "model load" is a run blocked reading its model's
config.json, a named pipe the test holds (the test knows the process is inside
``load_model`` when it can open the pipe's writing end and the process sleeps in the
read); "animation" is a run whose
temporary output exists and holds less than a third of the frames; "final write" is a
run whose temporary output holds 95 % of them or more (the signal may then come after
the rename: exit 0 with the complete new file is the other correct outcome).
"""

import errno
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile
from audio_fixtures import speech_like
from conftest import ROOT, TINY, random_model
from fault_support import small_disk

from meshtalk_blender import cli
from meshtalk_blender.core import audio
from meshtalk_blender.core.atomic_files import is_temporary
from meshtalk_blender.core.checkpoints import save_bundle

KINDS = (".pc2", ".mdd", ".npz")
LONG_SECONDS = 300.0  # a few seconds of work for the tiny model: stages that can be caught
FRAME_BYTES = TINY.num_vertices * 3 * 4
WAIT = 120.0  # seconds before a stage that never comes fails the test (a hang, not a slow machine)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fault_inputs")
    soundfile.write(folder / "long.wav", speech_like(LONG_SECONDS, 16000, seed=3), 16000)
    soundfile.write(folder / "short.wav", speech_like(4.0, 16000, seed=1), 16000)
    template = np.random.default_rng(0).normal(size=(TINY.num_vertices, 3)).astype(np.float32)
    save_bundle(folder / "model", random_model(TINY, scale=3.0), template, description="tiny", licence="MIT")
    previous = {}
    for kind in KINDS:  # the output a user already has: a real animation of another clip
        previous[kind] = alone(folder / "short.wav", folder / f"previous{kind}", folder / "model")
    return folder, previous


def alone(audio_path, out, model, *extra) -> bytes:
    """The bytes of ``out`` written by a run on its own (in this process: no start-up cost)."""
    assert cli.main(command(audio_path, out, model, *extra)[3:]) == 0
    return out.read_bytes()


def command(audio_path, out, model, *extra):
    return [sys.executable, "-m", "meshtalk_blender", "animate", str(audio_path), "--checkpoint", str(model),
            "--out", str(out), "--quiet", *map(str, extra)]


def run(audio_path, out, model, *extra):
    return subprocess.run(command(audio_path, out, model, *extra), cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def start(audio_path, out, model, *extra):
    return subprocess.Popen(command(audio_path, out, model, *extra), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_until(condition, process):
    """Polls ``condition()`` until true; fails if the process ends or WAIT passes first."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert process.poll() is None, f"the run ended before the stage: {process.communicate()}"
        assert time.monotonic() < deadline, "the stage never came"
        time.sleep(0.002)


def temporary_size(folder) -> int:
    """Bytes in the run's temporary output (0 while there is none)."""
    sizes = [entry.stat().st_size for entry in os.scandir(folder) if is_temporary(entry.name)]
    return max(sizes, default=0)


def assert_previous_or_complete(out, previous, completed, returncode, stderr, reference=None):
    assert not [name for name in os.listdir(out.parent) if is_temporary(name)], "a temporary file was left"
    if returncode == 130:
        assert stderr == "meshtalk: cancelled\n", stderr
        assert out.read_bytes() == previous
    else:
        assert completed and returncode == 0, (returncode, stderr)
        assert reference is not None and out.read_bytes() == reference


@pytest.mark.parametrize("kind", KINDS)
def test_ctrl_c_while_the_model_loads_keeps_the_previous_file(files, tmp_path, kind):
    folder, previous = files
    model = tmp_path / "model"
    model.mkdir()
    shutil.copy(folder / "model" / "model.safetensors", model)
    os.mkfifo(model / "config.json")  # the run blocks reading it, inside load_model
    out = tmp_path / f"take{kind}"
    out.write_bytes(previous[kind])
    process = start(folder / "long.wav", out, model)
    writer = None
    try:
        def reading():
            nonlocal writer
            try:  # opens only while a reader has the pipe open: the run is inside load_model
                writer = os.open(model / "config.json", os.O_WRONLY | os.O_NONBLOCK)
            except OSError as error:
                assert error.errno == errno.ENXIO
            return writer is not None

        wait_until(reading, process)
        # Signalled between its open() and its read(), a process would block in the read
        # with the signal already handled: wait until it sleeps in the read itself.
        wchan = pathlib.Path(f"/proc/{process.pid}/wchan")  # "0" while it runs
        wait_until(lambda: wchan.read_text().endswith("pipe_read"), process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=WAIT)
    finally:
        if writer is not None:
            os.close(writer)
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert_previous_or_complete(out, previous[kind], False, process.returncode, stderr)


@pytest.mark.parametrize("stage", ["animation", "final_write"])
@pytest.mark.parametrize("kind", KINDS)
def test_ctrl_c_while_animating_or_writing_keeps_the_previous_file(files, tmp_path, kind, stage):
    folder, previous = files
    out = tmp_path / f"take{kind}"
    out.write_bytes(previous[kind])
    total = audio.frame_count(LONG_SECONDS, 30) * FRAME_BYTES
    process = start(folder / "long.wav", out, folder / "model", "--seed", 4)
    try:
        if stage == "animation":
            wait_until(lambda: 4 * 150 * FRAME_BYTES < temporary_size(tmp_path) < total / 3, process)
        else:
            wait_until(lambda: temporary_size(tmp_path) >= 0.95 * total or out.read_bytes() != previous[kind],
                       process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
    if stage == "animation":
        assert process.returncode == 130
    reference = None
    if process.returncode == 0:  # the signal came after the rename: the new file must be complete
        reference = alone(folder / "long.wav", tmp_path / f"reference{kind}", folder / "model", "--seed", 4)
    assert_previous_or_complete(out, previous[kind], True, process.returncode, stderr, reference)


@pytest.mark.parametrize("kind", KINDS)
def test_a_full_disk_is_one_line_and_keeps_the_previous_file(files, tmp_path, kind):
    """120 s of frames (1.7 MB) into a real 256 kB file system that holds the previous
    file (a 4 s take, 58 kB)."""
    folder, previous = files
    long120 = tmp_path / "long120.wav"
    soundfile.write(long120, speech_like(120.0, 16000, seed=3), 16000)
    with small_disk(tmp_path / "disk", "256k") as disk:
        out = disk / f"take{kind}"
        out.write_bytes(previous[kind])
        result = run(long120, out, folder / "model")
        assert result.returncode == 2
        assert result.stderr.startswith(f"meshtalk: error: Cannot write {out} (the disk is full); nothing was written.")
        assert result.stderr.count("\n") == 1
        assert out.read_bytes() == previous[kind] and os.listdir(disk) == [out.name]


@pytest.mark.parametrize("kind", KINDS)
def test_two_runs_on_the_same_output_leave_one_complete_output(files, tmp_path, kind):
    folder, _ = files
    long120 = tmp_path / "long120.wav"
    soundfile.write(long120, speech_like(120.0, 16000, seed=5), 16000)
    model = folder / "model"
    references = [alone(long120, tmp_path / f"alone{seed}{kind}", model, "--seed", seed) for seed in (1, 2)]
    assert references[0] != references[1]
    shared = tmp_path / "shared"
    shared.mkdir()
    out = shared / f"take{kind}"
    processes = [start(long120, out, model, "--seed", seed) for seed in (1, 2)]
    results = [process.communicate(timeout=600) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], results
    assert out.read_bytes() in references
    assert os.listdir(shared) == [out.name]
