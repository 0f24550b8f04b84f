"""The add-on's Blender-free helpers (no bpy needed): stored latents, frame ranges,
same-lips blending, and a quick start for Blender (enabling imports no torch)."""

import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from meshtalk_blender.blender.take_data import (blend_with_previous, decode_labels, encode_labels,
                                                model_frame_range, redraw_ramp)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_labels_survive_the_text_round_trip():
    labels = np.random.default_rng(0).integers(0, 128, size=(3000, 16))
    text = encode_labels(labels)
    assert text.isascii() and len(text) < 1.4 * labels.size  # random labels: 7 bits each, base64
    assert np.array_equal(decode_labels(text), labels)
    wide = np.random.default_rng(1).integers(0, 1000, size=(10, 4))
    assert np.array_equal(decode_labels(encode_labels(wide)), wide)


@pytest.mark.parametrize("fps", [24.0, 25.0, 30000 / 1001, 30.0, 60.0])
def test_scene_frame_ranges_cover_the_model_frames(fps):
    start, end = model_frame_range(20, 30, 10, fps, 1000)
    assert start <= (20 - 10) / fps * 30 < (30 - 10) / fps * 30 <= end - 1
    assert model_frame_range(-50, 5000, 10, fps, 120) == (0, 120)


def test_redraw_ramp_fades_outside_the_range():
    ramp = redraw_ramp(30, 10, 14, edge=4)
    assert np.all(ramp[10:15] == 1) and np.all(ramp[:6] == 0) and np.all(ramp[19:] == 0)
    assert 0 < ramp[7] < ramp[8] < 1 and np.all(redraw_ramp(5) == 1)


def test_blend_keeps_the_lips_and_everything_outside_the_range():
    new, previous = np.ones((6, 4, 3), np.float32), np.zeros((6, 4, 3), np.float32)
    lips = np.array([1.0, 0.0, 0.5, 0.0])
    redraw = np.array([0, 1, 1, 1, 0.5, 0], np.float32)
    out = blend_with_previous(new, previous, redraw, lips)
    assert np.all(out[:, 0] == 0) and np.all(out[[0, 5]] == 0)
    assert np.allclose(out[1:4, 1], 1) and np.allclose(out[1:4, 2], 0.5) and np.allclose(out[4, 1], 0.5)
    weights = blend_with_previous(np.ones((3, 2), np.float32), np.zeros((3, 2), np.float32), np.ones(3), [1.0, 0.0])
    assert np.all(weights[:, 0] == 0) and np.all(weights[:, 1] == 1)


def test_enabling_the_extension_loads_no_torch():
    """Blender's start stays quick: torch and numba load with the first animation."""
    pytest.importorskip("bpy")
    code = ("import os, sys, time; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
            "import blender_support as s; s.import_bpy(); started = time.time(); s.enable_addon()\n"
            "print('RESULT', 'torch' in sys.modules, 'numba' in sys.modules, round(time.time() - started, 2))\n"
            "s.disable_addon(); sys.stdout.flush(); os._exit(0)")
    env = dict(os.environ, BLENDER_USER_RESOURCES=tempfile.mkdtemp())
    result = subprocess.run([sys.executable, "-c", code, os.path.join(ROOT, "tests"), ROOT], capture_output=True,
                            text=True, timeout=120, env=env)
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT"))
    assert line.split()[1:3] == ["False", "False"], result.stdout + result.stderr


def test_missing_runtime_packages_are_named_for_the_panel(monkeypatch):
    import importlib.util

    from meshtalk_blender.blender import model_source

    assert model_source.dependency_problem() is None  # everything is installed here
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real_find_spec(name, *a))
    problem = model_source.dependency_problem()
    assert problem.startswith("Missing Python packages: torch.") and "built for this platform" in problem
