"""Blinks that close (core/blinks.py)."""

import numpy as np
import pytest

from meshtalk_blender.core.blinks import HALF_BLINK, blink_peaks, complete_blinks
from meshtalk_blender.core.face import ARKIT_INDEX, ARKIT_NAMES

FPS = 30.0
LEFT, RIGHT = ARKIT_INDEX["eyeBlinkLeft"], ARKIT_INDEX["eyeBlinkRight"]


def blink(frames: int, centre: int, peak: float, closing: int = 3, opening: int = 4) -> np.ndarray:
    """A triangular-ish blink: `closing` frames down, `opening` frames up."""
    t = np.arange(frames, dtype=np.float64)
    rise = np.clip(1.0 - (centre - t) / closing, 0.0, 1.0) * (t <= centre)
    fall = np.clip(1.0 - (t - centre) / opening, 0.0, 1.0) * (t > centre)
    return peak * (rise + fall)


def take(frames: int = 120) -> np.ndarray:
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.0, 0.3, size=(frames, len(ARKIT_NAMES))).astype(np.float32)
    weights[:, [LEFT, RIGHT]] = 0.05
    return weights


def test_a_blink_closes_fully_keeping_its_timing_and_the_eyes_difference():
    weights = take()
    weights[:, LEFT] += blink(120, 30, 0.62)
    weights[:, RIGHT] += blink(120, 30, 0.54)
    done = complete_blinks(weights, ARKIT_NAMES, FPS)
    np.testing.assert_allclose(done[30, [LEFT, RIGHT]], 1.0, atol=1e-6)  # both eyes close, on the same frame
    assert (done[[29, 31], LEFT] < 1.0).all()
    moved = np.flatnonzero(np.abs(done - weights).max(axis=1) > 1e-7)
    assert moved.min() >= 27 and moved.max() <= 34  # only the blink's own frames
    assert done[28, LEFT] > done[28, RIGHT] and done[32, LEFT] > done[32, RIGHT]  # the left eye leads
    others = [i for i in range(len(ARKIT_NAMES)) if i not in (LEFT, RIGHT)]
    np.testing.assert_array_equal(done[:, others], weights[:, others])


def test_half_blinks_and_flat_curves_are_left_alone():
    weights = take()
    weights[:, [LEFT, RIGHT]] += blink(120, 60, HALF_BLINK - 0.1)[:, None]
    np.testing.assert_array_equal(complete_blinks(weights, ARKIT_NAMES, FPS), weights)
    weights[:, [LEFT, RIGHT]] = 0.5  # a held squint-like level is not a blink
    np.testing.assert_array_equal(complete_blinks(weights, ARKIT_NAMES, FPS), weights)


def test_a_take_whose_blinks_all_peak_low_closes_them_but_keeps_a_dip_well_under_them():
    """A model that averages its blinks down to ~0.3 still blinks: in a take of several,
    each closes, and one that peaks under half of their median stays a half blink."""
    frames = 300
    weights = take(frames)
    for centre, peak in ((30, 0.30), (90, 0.26), (150, 0.34), (210, 0.29)):
        weights[:, [LEFT, RIGHT]] += blink(frames, centre, peak)[:, None]
    done = complete_blinks(weights, ARKIT_NAMES, FPS)
    assert (blink_peaks(done, ARKIT_NAMES, FPS) > 0.95).sum() == 4
    weights = take(frames)  # blinks peaking at 0.6: half of that is 0.3
    for centre, rise in ((30, 0.55), (80, 0.55), (130, 0.55), (180, 0.28), (240, 0.21)):
        weights[:, [LEFT, RIGHT]] += blink(frames, centre, rise)[:, None]
    done = complete_blinks(weights, ARKIT_NAMES, FPS)
    assert done[180, LEFT] > 0.95, "0.33 is over half the take's median blink: a blink"
    np.testing.assert_array_equal(done[225:255], weights[225:255])  # 0.26 is under: a half blink
    assert (blink_peaks(done, ARKIT_NAMES, FPS) > 0.95).sum() == 4


def test_neighbouring_blinks_each_close_and_the_valley_between_stays():
    weights = take()
    weights[:, [LEFT, RIGHT]] += (blink(120, 40, 0.5) + blink(120, 50, 0.7))[:, None]
    done = complete_blinks(weights, ARKIT_NAMES, FPS)
    peaks = blink_peaks(done, ARKIT_NAMES, FPS)
    assert len(peaks) == 2 and peaks.min() > 0.95
    assert done[45, LEFT] < 0.2  # the eyes open between them


def test_weights_without_both_blink_keys_come_back_unchanged():
    names = [n for n in ARKIT_NAMES if n != "eyeBlinkRight"]
    weights = take()[:, [ARKIT_INDEX[n] for n in names]]
    weights[:, names.index("eyeBlinkLeft")] += blink(120, 30, 0.6)
    np.testing.assert_array_equal(complete_blinks(weights, names, FPS), weights)


def test_the_bundled_models_blinks_close_on_the_sample_line():
    from meshtalk_blender.blender.model_source import BUNDLED_MODEL_DIR
    from meshtalk_blender.core import audio, pipeline
    from meshtalk_blender.core.checkpoints import load_model
    from meshtalk_blender.core.face import arkit_deltas, load_bundled_head
    from meshtalk_blender.core.retarget import BlendshapeSolver

    head = load_bundled_head()
    loaded = load_model(BUNDLED_MODEL_DIR)
    sample = BUNDLED_MODEL_DIR.parent / "sample_speech.flac"
    peaks_before, peaks_after = [], []
    for seed in range(3):
        animation = pipeline.animate(loaded, audio.AudioClip(sample), pipeline.AnimateOptions(seed=seed, device="cpu"))
        weights = BlendshapeSolver(arkit_deltas(head), ARKIT_NAMES).solve(animation.vertices - head.vertices)
        peaks_before += blink_peaks(weights, ARKIT_NAMES, animation.fps).tolist()
        peaks_after += blink_peaks(complete_blinks(weights, ARKIT_NAMES, animation.fps), ARKIT_NAMES,
                                   animation.fps).tolist()
    assert len(peaks_after) == len(peaks_before) >= 2
    assert np.mean(np.array(peaks_after) >= 0.95) >= 0.8
