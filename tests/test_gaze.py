"""Gaze drawn for a clip (core/gaze.py): fixations and saccades, by seed, looking away
as phrases start."""

import numpy as np
import soundfile

from audio_fixtures import speech_with_a_pause
from meshtalk_blender.core import audio
from meshtalk_blender.core.face import ARKIT_INDEX, ARKIT_NAMES
from meshtalk_blender.core.gaze import (LOOK_NAMES, clip_gaze, draw_into, draw_saccades, gaze_angles, phrase_starts,
                                        take_gaze)

FPS = 30.0


def levels_with_pauses(seconds: float = 60.0) -> np.ndarray:
    """(T,) dB: speech at -20 dB with 0.6 s pauses at -70 dB every 4 s."""
    times = np.arange(int(seconds * FPS)) / FPS
    return np.where((times % 4.0) < 3.4, -20.0, -70.0)


def test_phrases_start_after_each_pause_and_at_the_first_sound():
    starts = phrase_starts(levels_with_pauses(20.0), FPS)
    np.testing.assert_allclose(starts, [0.0, 4.0, 8.0, 12.0, 16.0], atol=1.0 / FPS)


def test_the_eyes_fixate_and_jump_like_a_speakers():
    weights = clip_gaze(levels_with_pauses(), FPS, seed=3)
    assert weights.shape == (1800, len(ARKIT_NAMES)) and weights.dtype == np.float32
    assert 0.0 <= weights.min() and weights.max() <= 1.0
    others = [i for i, name in enumerate(ARKIT_NAMES) if name not in LOOK_NAMES]
    assert not weights[:, others].any()
    saccades = draw_saccades(np.random.default_rng(3), phrase_starts(levels_with_pauses(), FPS), 60.0)
    per_minute = len(saccades) - 1
    assert 25 <= per_minute <= 120  # fixations of about a second
    yaw, pitch = gaze_angles(saccades, np.arange(1800) / FPS)
    step = np.abs(np.diff(yaw)) + np.abs(np.diff(pitch))
    assert (step < 0.05).mean() > 0.8  # still most of the time (fixations) ...
    assert step.max() > 3.0  # ... with fast jumps (saccades)
    away = np.abs(yaw) > 3.0
    assert 0.05 < away.mean() < 0.7  # mostly at the listener, sometimes away
    # Both eyes turn the same way: out for one is in for the other.
    np.testing.assert_array_equal(weights[:, ARKIT_INDEX["eyeLookOutLeft"]], weights[:, ARKIT_INDEX["eyeLookInRight"]])


def test_the_seed_draws_the_gaze():
    levels = levels_with_pauses(20.0)
    np.testing.assert_array_equal(clip_gaze(levels, FPS, 5), clip_gaze(levels, FPS, 5))
    assert np.abs(clip_gaze(levels, FPS, 5) - clip_gaze(levels, FPS, 6)).max() > 0.1


def test_a_takes_gaze_from_its_audio_fills_only_the_look_columns(tmp_path):
    path = tmp_path / "line.wav"
    soundfile.write(path, speech_with_a_pause(), 16000)
    info = audio.probe(audio.AudioClip(path))
    names = ["jawOpen", "eyeLookInLeft", "eyeBlinkLeft", "eyeLookUpRight"]
    weights = np.full((90, 4), 0.25, dtype=np.float32)
    drawn = draw_into(weights.copy(), names, lambda look: take_gaze(info, 90, FPS, 1, look))
    np.testing.assert_array_equal(drawn[:, [0, 2]], weights[:, [0, 2]])
    expected = take_gaze(info, 90, FPS, 1, ["eyeLookInLeft", "eyeLookUpRight"])
    np.testing.assert_array_equal(drawn[:, [1, 3]], expected)
    assert np.isfinite(expected).all() and expected.shape == (90, 2)
