"""Blinks that close and brows that rise in vertex outputs (core/upper_face_vertices.py),
and the point-cache writer's adjustment pass that carries them (core/cache_io.py)."""

from dataclasses import replace

import numpy as np
import pytest

from meshtalk_blender.core import cache_io
from meshtalk_blender.core.face import ARKIT_INDEX, ARKIT_NAMES, arkit_deltas, load_bundled_head
from meshtalk_blender.core.retarget import BlendshapeSolver, SolveSettings
from meshtalk_blender.core.upper_face_vertices import UpperFaceOnVertices

FPS = 30.0


@pytest.fixture(scope="module")
def rig():
    head = load_bundled_head()
    return arkit_deltas(head), head.vertices.astype(np.float32)


def half_blinks(count: int = 120) -> np.ndarray:
    """(T, 52) a talking-ish jaw and two half blinks (peak 0.6) at 1 s and 3 s."""
    weights = np.zeros((count, 52), np.float32)
    times = np.arange(count) / FPS
    weights[:, ARKIT_INDEX["jawOpen"]] = 0.2 + 0.15 * np.sin(2 * np.pi * 3 * times)
    for centre in (1.0, 3.0):
        blink = 0.6 * np.clip(1.0 - np.abs(times - centre) / 0.12, 0.0, 1.0)
        weights[:, ARKIT_INDEX["eyeBlinkLeft"]] += blink
        weights[:, ARKIT_INDEX["eyeBlinkRight"]] += blink
    return weights


def test_half_blinks_in_vertices_close_and_nothing_else_moves(rig):
    deltas, neutral = rig
    weights = half_blinks()
    frames = neutral + np.einsum("tk,kvc->tvc", weights, deltas)
    upper = UpperFaceOnVertices(deltas, ARKIT_NAMES, neutral)
    upper.add(frames[:50])
    upper.add(frames[50:])  # chunk by chunk, as the job streams them
    upper.complete(FPS, None)
    moved = frames.copy()
    for first in range(0, len(frames), 32):
        offsets = upper.offsets(first, 32)
        if offsets is not None:
            moved[first:first + len(offsets)] += offsets
    assert upper.offsets(104, 16) is None  # no blink there: nothing to add
    exact = replace(SolveSettings(), temporal_lower=0.0, temporal_upper=0.0)  # what each frame shows (no lag)
    solved = BlendshapeSolver(deltas, ARKIT_NAMES, exact).solve(moved - neutral)
    for name in ("eyeBlinkLeft", "eyeBlinkRight"):
        column = solved[:, ARKIT_INDEX[name]]
        assert column[int(1.0 * FPS)] > 0.95 and column[int(3.0 * FPS)] > 0.95  # closed at each peak
    for peak in (int(1.0 * FPS), int(3.0 * FPS)):  # exactly the rig's closed lids, not past them
        closed = weights[peak].copy()
        closed[[ARKIT_INDEX["eyeBlinkLeft"], ARKIT_INDEX["eyeBlinkRight"]]] = 1.0
        assert np.abs(moved[peak] - (neutral + np.einsum("k,kvc->vc", closed, deltas))).max() < 3e-4
    others = [i for i, name in enumerate(ARKIT_NAMES) if not name.startswith(("eyeBlink", "brow"))]
    assert np.abs(solved[:, others] - weights[:, others]).max() < 0.02  # the jaw and the rest as they were
    lids = np.abs(moved - frames).max(axis=(0, 2)) > 1e-6
    assert lids.sum() < 0.2 * len(neutral)  # only the lids' vertices moved


def test_drawn_brows_rise_and_a_resample_changes_only_its_range(rig):
    deltas, neutral = rig
    weights = half_blinks()
    frames = neutral + np.einsum("tk,kvc->tvc", weights, deltas)
    drawn = np.zeros_like(weights)
    drawn[40:70, ARKIT_INDEX["browInnerUp"]] = 0.5
    upper = UpperFaceOnVertices(deltas, ARKIT_NAMES, neutral)
    upper.add(frames)
    redrawn = np.zeros(len(frames), np.float32)
    redrawn[45:60] = 1.0  # a resample of frames 45-59 only
    upper.complete(FPS, drawn, redrawn)
    assert upper.offsets(0, 45) is None and upper.offsets(60, 60) is None  # the rest as the take was
    offsets = upper.offsets(45, 15)
    solved = BlendshapeSolver(deltas, ARKIT_NAMES).solve(frames[45:60] + offsets - neutral)
    assert np.allclose(solved[3:, ARKIT_INDEX["browInnerUp"]], 0.5, atol=0.02)  # (the solver eases in from 0)


@pytest.mark.parametrize("kind", [".pc2", ".mdd"])
def test_a_cache_is_adjusted_in_place_before_it_is_committed(tmp_path, kind):
    frames = np.random.default_rng(0).normal(size=(40, 7, 3)).astype(np.float32)
    path = tmp_path / f"take{kind}"
    added = np.zeros_like(frames)
    added[10:20] = 0.25

    def offsets_for(first, count):
        block = added[first:first + count]
        return block if block.any() else None

    with cache_io.CacheWriter(path, len(frames), 7, FPS) as writer:
        writer.write(frames[:25])
        writer.write(frames[25:])
        assert not path.exists()
        writer.adjust(offsets_for, block=8)
    np.testing.assert_allclose(cache_io.read_cache(path), frames + added, atol=1e-6)


def test_the_bundled_models_vertices_blink_shut_on_the_sample_line(rig):
    """The model's own frames on the sample line: after the change, the frames' lids
    (solved exactly, frame by frame) close on at least 80 % of the blinks."""
    from meshtalk_blender.blender.model_source import BUNDLED_MODEL_DIR
    from meshtalk_blender.core import audio, pipeline
    from meshtalk_blender.core.blinks import blink_peaks
    from meshtalk_blender.core.checkpoints import load_model

    deltas, neutral = rig
    loaded = load_model(BUNDLED_MODEL_DIR)
    sample = BUNDLED_MODEL_DIR.parent / "sample_speech.flac"
    exact = replace(SolveSettings(), temporal_lower=0.0, temporal_upper=0.0)
    before, after = [], []
    for seed in range(2):
        frames = pipeline.animate(loaded, audio.AudioClip(sample), pipeline.AnimateOptions(seed=seed, device="cpu")).vertices
        upper = UpperFaceOnVertices(deltas, ARKIT_NAMES, neutral)
        upper.add(frames)
        upper.complete(FPS, None)
        offsets = upper.offsets(0, len(frames))
        moved = frames if offsets is None else frames + offsets
        before += blink_peaks(BlendshapeSolver(deltas, ARKIT_NAMES, exact).solve(frames - neutral), ARKIT_NAMES,
                              FPS).tolist()
        after += blink_peaks(BlendshapeSolver(deltas, ARKIT_NAMES, exact).solve(moved - neutral), ARKIT_NAMES,
                             FPS).tolist()
    assert len(after) >= 2 and np.mean(np.array(before) >= 0.95) < 0.5
    assert np.mean(np.array(after) >= 0.95) >= 0.8


def test_the_command_lines_vertex_outputs_blink_shut_and_raise_the_brows(rig, tmp_path):
    """`python -m meshtalk_blender animate` to .pc2 and .npz with the bundled model: the
    lids close on at least 80 % of the blinks and the brows rise (as in its .csv), the
    two formats hold the same frames, another seed draws another upper face, and the
    scratch file the frames waited in is gone."""
    from meshtalk_blender import cli
    from meshtalk_blender.blender.model_source import BUNDLED_MODEL_DIR
    from meshtalk_blender.core.blinks import blink_peaks

    deltas, neutral = rig
    sample = BUNDLED_MODEL_DIR.parent / "sample_speech.flac"
    exact = replace(SolveSettings(), temporal_lower=0.0, temporal_upper=0.0)
    solved = {}
    for seed in (0, 1):
        out = tmp_path / f"seed{seed}.pc2"
        assert cli.main(["animate", str(sample), "--out", str(out), "--seed", str(seed), "--quiet"]) == 0
        solved[seed] = BlendshapeSolver(deltas, ARKIT_NAMES, exact).solve(cache_io.read_cache(out) - neutral)
    assert cli.main(["animate", str(sample), "--out", str(tmp_path / "seed0.npz"), "--quiet"]) == 0
    with np.load(tmp_path / "seed0.npz") as data:
        np.testing.assert_array_equal(data["vertices"], cache_io.read_cache(tmp_path / "seed0.pc2"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed0.npz", "seed0.pc2", "seed1.pc2"]

    peaks = np.concatenate([blink_peaks(weights, ARKIT_NAMES, FPS) for weights in solved.values()])
    assert len(peaks) >= 2 and np.mean(peaks >= 0.95) >= 0.8
    brows = solved[0][:, ARKIT_INDEX["browInnerUp"]]
    assert brows.max() > 0.2 and brows.std() > 0.05  # the model alone: std 0.004 (README)
    blinks = [weights[:, ARKIT_INDEX["eyeBlinkLeft"]] for weights in solved.values()]
    assert np.abs(blinks[0] - blinks[1]).max() > 0.5  # blinks at other moments


@pytest.mark.parametrize("kind", [".npz", ".pc2"])
def test_a_full_disk_while_the_take_is_read_is_one_line_and_keeps_the_previous_file(tmp_path, capsys, kind):
    """The sample line's frames (11 MB) on a 1 MB file system: the .npz's scratch file
    (where its frames wait for the completion) or the point cache fills it first; the
    user's message is the output's own."""
    from fault_support import small_disk

    from meshtalk_blender import cli
    from meshtalk_blender.blender.model_source import BUNDLED_MODEL_DIR

    with small_disk(tmp_path / "disk", "1m") as disk:
        out = disk / f"take{kind}"
        out.write_bytes(b"the previous take")
        status = cli.main(["animate", str(BUNDLED_MODEL_DIR.parent / "sample_speech.flac"), "--out", str(out), "--quiet"])
        error = capsys.readouterr().err
        assert status == 2 and error.startswith(f"meshtalk: error: Cannot write {out} (the disk is full)"), error
        assert out.read_bytes() == b"the previous take" and sorted(p.name for p in disk.iterdir()) == [out.name]
