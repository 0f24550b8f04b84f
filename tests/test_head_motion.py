"""Head motion drawn for a clip (core/head_motion.py): small, by seed, nods on
emphasis, stiller in pauses; and the rotations it is written with."""

from dataclasses import replace

import numpy as np
import soundfile

from audio_fixtures import speech_with_a_pause
from meshtalk_blender.core import audio
from meshtalk_blender.core.head_motion import DEFAULT_STYLE, emphasis_peaks, head_motion, rotation_matrices
from meshtalk_blender.core.pauses import clip_levels_db

FPS = 30.0


def syllables(seconds: float = 60.0, stressed_every: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """((T,) dB levels, (T,) frames in stressed syllables): syllables at 4 a second
    between -32 and -22 dB, every `stressed_every`-th 10 dB louder, a 2 s pause at
    -70 dB every 6 s."""
    times = np.arange(int(seconds * FPS)) / FPS
    stressed = np.floor(times * 4.0).astype(int) % stressed_every == 3
    levels = -27.0 + 5.0 * np.cos(2.0 * np.pi * 4.0 * times) + np.where(stressed, 10.0, 0.0)
    pause = (times % 6.0) >= 4.0
    return np.where(pause, -70.0, levels), stressed & ~pause


def test_the_head_moves_by_a_few_degrees_like_a_speakers():
    levels, _ = syllables()
    angles = np.degrees(np.stack([head_motion(levels, FPS, seed) for seed in range(6)]))
    assert angles.shape == (6, 1800, 3) and angles.dtype == np.float32
    spread = angles.std(axis=1).mean(axis=0)  # per axis, averaged over seeds
    assert np.all(spread > 0.5) and np.all(spread < 4.0)  # a few degrees, never still
    assert spread[1] > spread[2]  # turns more than tilts
    assert np.abs(angles).max() < 12.0
    speed = np.abs(np.diff(angles, axis=1)).max() * FPS
    assert speed < 120.0  # degrees a second: nods, never snaps


def test_the_seed_draws_the_motion():
    levels, _ = syllables(20.0)
    np.testing.assert_array_equal(head_motion(levels, FPS, 4), head_motion(levels, FPS, 4))
    assert np.degrees(np.abs(head_motion(levels, FPS, 4) - head_motion(levels, FPS, 5))).max() > 1.0


def test_nods_fall_on_emphasised_syllables():
    levels, stressed = syllables()
    peaks = emphasis_peaks(levels, FPS, DEFAULT_STYLE.emphasis_db)
    assert len(peaks) > 15 and stressed[peaks].all()
    only_nods = replace(DEFAULT_STYLE, drift_degrees=(0.0, 0.0, 0.0), shift_degrees=(0.0, 0.0, 0.0),
                        nod_probability=1.0)
    pitch = np.degrees(head_motion(levels, FPS, 0, only_nods)[:, 0])
    near = np.zeros(len(levels), dtype=bool)
    for peak in peaks:
        near[max(0, peak - int(0.1 * FPS)):peak + int(0.5 * FPS) + 1] = True
    assert not pitch[~near].any()  # nods only around emphasis
    assert 1.5 <= pitch.max() <= 4.0 * 1.01
    down = [pitch[peak] for peak in peaks]
    assert np.mean(np.array(down) > 1.0) > 0.5  # the head is down at the stressed syllable


def test_the_head_is_stiller_in_pauses():
    levels, _ = syllables()
    pause = levels < -60.0
    inner = pause & np.roll(pause, 15) & np.roll(pause, -15)  # away from the pause's edges
    no_nods = replace(DEFAULT_STYLE, nod_probability=0.0, shift_probability=0.0)
    speed = np.stack([np.abs(np.diff(head_motion(levels, FPS, seed, no_nods), axis=0)).sum(axis=1)
                      for seed in range(8)])
    assert speed[:, inner[1:]].mean() < 0.7 * speed[:, ~pause[1:]].mean()


def test_rotations_turn_the_front_down_for_pitch_and_to_the_left_for_yaw():
    front = np.array([0.0, -1.0, 0.0])  # the head looks along -y
    pitch, yaw, roll = (rotation_matrices(np.radians([axis])) for axis in ([10, 0, 0], [0, 10, 0], [0, 0, 10]))
    assert (pitch[0] @ front)[2] < -0.15  # down
    assert (yaw[0] @ front)[0] > 0.15  # toward +x
    assert abs((roll[0] @ front)[2]) < 1e-9 and abs((roll[0] @ np.array([1.0, 0, 0]))[2]) > 0.15
    many = rotation_matrices(np.radians(np.random.default_rng(0).uniform(-20, 20, (50, 3))))
    np.testing.assert_allclose(many @ many.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (50, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(many), 1.0)


def test_a_clips_motion_from_its_audio(tmp_path):
    path = tmp_path / "line.wav"
    soundfile.write(path, speech_with_a_pause(), 16000)
    info = audio.probe(audio.AudioClip(path))
    count = int(info.duration * FPS)
    angles = head_motion(clip_levels_db(info, count, FPS), FPS, 2)
    assert angles.shape == (count, 3) and np.isfinite(angles).all() and np.degrees(np.abs(angles)).max() > 0.3
    assert head_motion(np.zeros(0), FPS, 2).shape == (0, 3)
