"""The evaluation metrics on hand-made sequences with known answers."""

import numpy as np
import pytest

from meshtalk_blender.training import metrics


def test_lip_vertex_error_centres_and_takes_the_worst_vertex():
    target = np.zeros((2, 3, 3))
    predicted = target.copy()
    predicted[:, :, 0] += 0.010  # a rigid 10 mm shift: centring removes it
    assert metrics.lip_vertex_error(predicted, target, np.arange(3)) == pytest.approx(0.0, abs=1e-9)
    predicted[0, 0, 2] += 0.003  # one vertex 3 mm off in one frame
    expected = np.linalg.norm([0, 0, 0.003 * 2 / 3]) * 1000 / 2  # centred: that vertex is 2/3 of 3 mm off
    assert metrics.lip_vertex_error(predicted, target, np.arange(3)) == pytest.approx(expected, rel=1e-6)
    # The squared variant does not centre: the 10 mm shift counts.
    assert metrics.lip_vertex_error_squared(predicted, target, np.arange(3)) > 100


def test_fdd_is_zero_for_identical_dynamics_and_positive_for_a_frozen_prediction():
    rng = np.random.default_rng(0)
    template = rng.normal(size=(5, 3))
    moving = template + rng.normal(scale=0.002, size=(40, 5, 3))
    frozen = np.repeat(template[None], 40, axis=0)
    upper = np.arange(5)
    assert metrics.fdd(moving, moving, template, upper) == pytest.approx(0.0)
    assert metrics.fdd(frozen, moving, template, upper) > 0


def test_seal_silence_and_blinks_on_a_synthetic_curve():
    fps = 30
    gap = np.full(300, 8.0)  # mm
    gap[30:33] = 0.2  # a seal at 1.0-1.1 s
    gap[150:240] = 0.5  # closed mouth 5-8 s
    closures = [(1.0, 1.07), (3.0, 3.07)]  # the second one is missed
    assert metrics.rate(metrics.bilabial_seals(gap, fps, closures)) == pytest.approx(0.5)
    assert metrics.rate(metrics.closed_silent_frames(gap, fps, [(5.0, 8.0)])) == pytest.approx(1.0)
    assert metrics.rate(metrics.closed_silent_frames(gap, fps, [(2.0, 4.0)])) == pytest.approx(0.0)
    assert metrics.bilabial_seals(gap, fps, closures) == (1, 2)
    # 5.15-7.85 s: frames 155-235; the 0.2 s silence at 9 s is too short to count
    assert metrics.closed_silent_frames(gap, fps, [(5.0, 8.0), (9.0, 9.2)]) == (81, 81)
    assert np.isnan(metrics.rate(metrics.bilabial_seals(gap, fps, [])))
    eyelid = np.full(1800, 10.0)
    for onset in range(0, 1800, 120):  # a blink every 4 s, 5 frames closed
        eyelid[onset + 10:onset + 15] = 1.0
    statistics = metrics.blinks(eyelid, fps)
    assert statistics.count == 15 and statistics.per_minute == pytest.approx(15.0)
    np.testing.assert_allclose(statistics.durations, 5 / fps)


def test_the_report_pools_seals_and_silent_frames_over_utterances():
    """One sealed closure in a short line and three missed in a long one: a quarter of
    the closures, not the mean of the lines' rates (a half)."""
    from meshtalk_blender.training.evaluate import summarise
    row = lambda seals, silent: {"lip_vertex_error_mm": 1.0, "lip_vertex_error_squared_mm2": 1.0, "fdd_mm2": 0.0,  # noqa: E731
                                 "bilabial_seals": seals, "closed_silent_frames": silent, "blinks": 0,
                                 "minutes": 1.0, "blink_durations_s": []}
    summary = summarise([row((1, 1), (10, 10)), row((0, 3), (0, 30)), row((0, 0), (0, 0))])
    assert summary["bilabial_seal_rate"] == pytest.approx(0.25)
    assert summary["closed_in_silence_rate"] == pytest.approx(0.25)
