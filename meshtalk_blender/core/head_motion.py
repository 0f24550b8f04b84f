"""Head motion while speaking: small nods on emphasis, shifts at phrase starts, drift.

MeshTalk animates the face, not the head (the skull's vertices move at most 0.3 mm in
the bundled model's output), and a face that talks on a perfectly still head reads as
a mannequin (issue 19). Speakers' heads move almost all the time they talk, mostly by a
few degrees: slow drift, a change of posture as a new phrase starts, and quick nods on
stressed syllables (as Hadar et al. 1983 describe them). This draws such a motion for a clip from
its loudness alone, by seed, like the gaze (core/gaze.py): the same seed gives the same
motion, a new seed a new one.

Angles are radians in the head's own frame: pitch about x (positive: the face turns
down, as Blender's X rotation turns the front (-Y) down), yaw about z (positive: toward
the face's left, +x), roll about y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gaze import phrase_starts
from .pauses import pause_spans, quiet_threshold_db


@dataclass(frozen=True)
class HeadMotionStyle:
    drift_degrees: tuple[float, float, float] = (1.4, 2.0, 1.0)  # standard deviation of the slow drift (pitch, yaw, roll)
    drift_seconds: float = 1.8  # how slowly the drift wanders
    shift_degrees: tuple[float, float, float] = (1.5, 2.8, 1.4)  # a new posture at a phrase start
    shift_probability: float = 0.6
    shift_seconds: float = 0.5  # how long a posture change takes
    nod_degrees: tuple[float, float] = (1.5, 4.0)  # a nod's depth, drawn between these
    nod_probability: float = 0.55  # of an emphasised syllable getting a nod
    nod_refractory: float = 0.6  # seconds between nods at least
    emphasis_db: float = 5.0  # a syllable this much above the level around it is emphasised
    pause_stillness: float = 0.5  # the drift's size in pauses, relative to speech
    limit_degrees: float = 10.0  # no axis goes further (softly)


DEFAULT_STYLE = HeadMotionStyle()


def _smooth_steps(times: np.ndarray, onsets: np.ndarray, values: np.ndarray, seconds: float) -> np.ndarray:
    """(T,) a level that moves to each `values[i]` over `seconds` from `onsets[i]`
    (smoothstep), starting at 0."""
    level = np.zeros(len(times))
    current = 0.0
    for onset, value in zip(onsets, values):
        ramp = np.clip((times - onset) / seconds, 0.0, 1.0)
        ramp = ramp * ramp * (3.0 - 2.0 * ramp)
        level = np.where(times >= onset, current + ramp * (value - current), level)
        current = value
    return level


def _drift(rng: np.random.Generator, count: int, fps: float, seconds: float, sizes: np.ndarray) -> np.ndarray:
    """(T, 3) an Ornstein-Uhlenbeck wander per axis with standard deviation `sizes`,
    smoothed so it has no corners."""
    decay = np.exp(-1.0 / (seconds * fps))
    noise = rng.standard_normal((count, 3)) * np.sqrt(1.0 - decay**2)
    out = np.empty((count, 3))
    state = rng.standard_normal(3)
    for frame in range(count):
        state = decay * state + noise[frame]
        out[frame] = state
    width = max(1, int(round(0.15 * fps)))
    kernel = np.hanning(2 * width + 1)
    kernel /= kernel.sum()
    smoothed = np.stack([np.convolve(np.pad(out[:, axis], width, mode="edge"), kernel, mode="valid")
                         for axis in range(3)], axis=1)
    return smoothed * sizes


def emphasis_peaks(levels_db: np.ndarray, fps: float, margin_db: float) -> np.ndarray:
    """Frames of syllables louder by `margin_db` than the second around them (local
    maxima of the level while speaking)."""
    from scipy.ndimage import percentile_filter
    from scipy.signal import find_peaks

    if len(levels_db) < 3:
        return np.zeros(0, dtype=np.int64)
    # An ordinary syllable's peak: the top fifth of the second around (a median would sit
    # in the valleys between syllables, and in pauses, so every syllable would count).
    around = percentile_filter(levels_db, 80, size=max(3, int(fps)), mode="nearest")
    speaking = levels_db > quiet_threshold_db(levels_db)
    peaks, _ = find_peaks(levels_db, distance=max(1, int(0.15 * fps)))
    return peaks[speaking[peaks] & (levels_db[peaks] - around[peaks] > margin_db)]


def head_motion(levels_db: np.ndarray, fps: float, seed: int, style: HeadMotionStyle = DEFAULT_STYLE) -> np.ndarray:
    """(T, 3) float32 radians (pitch, yaw, roll) for a clip with (T,) frame levels in dB
    at `fps`, drawn for `seed`."""
    count = len(levels_db)
    if count == 0:
        return np.zeros((0, 3), dtype=np.float32)
    rng = np.random.default_rng([int(seed), 0x4EAD])
    times = np.arange(count) / fps

    spans = pause_spans(levels_db, fps)
    in_pause = np.zeros(count, dtype=bool)
    for first, end in spans:
        in_pause[first:end] = True
    stillness = np.where(in_pause, style.pause_stillness, 1.0)
    # The stillness eases in and out rather than switching at a frame.
    width = max(1, int(round(0.3 * fps)))
    stillness = np.convolve(np.pad(stillness, width, mode="edge"), np.ones(2 * width + 1) / (2 * width + 1), "valid")
    motion = _drift(rng, count, fps, style.drift_seconds, np.radians(style.drift_degrees)) * stillness[:, None]

    starts = phrase_starts(levels_db, fps)
    starts = starts[starts > 0.0]  # a posture changes as a phrase starts after a pause, not at the clip's start
    shifting = starts[rng.random(len(starts)) < style.shift_probability]
    postures = rng.standard_normal((len(shifting), 3)) * np.radians(style.shift_degrees)
    for axis in range(3):
        motion[:, axis] += _smooth_steps(times, shifting, postures[:, axis], style.shift_seconds)

    last_nod = -np.inf
    for peak in emphasis_peaks(levels_db, fps, style.emphasis_db):
        time = peak / fps
        if time - last_nod < style.nod_refractory or rng.random() >= style.nod_probability:
            continue
        last_nod = time
        depth = np.radians(rng.uniform(*style.nod_degrees))
        # Down a little before the stressed syllable, quickly; back up more slowly.
        onset = time - 0.1
        down = np.clip((times - onset) / 0.15, 0.0, 1.0)
        up = np.clip((times - onset - 0.15) / 0.35, 0.0, 1.0)
        shape = np.sin(0.5 * np.pi * down) ** 2 * (1.0 - np.sin(0.5 * np.pi * up) ** 2)
        motion[:, 0] += depth * shape
    # Drift, a new posture and a nod can add up: a soft limit keeps the head near the
    # camera (and a rare large draw from reading as a look away).
    limit = np.radians(style.limit_degrees)
    return (limit * np.tanh(motion / limit)).astype(np.float32)


def rotation_matrices(angles: np.ndarray) -> np.ndarray:
    """(T, 3) (pitch, yaw, roll) radians -> (T, 3, 3): roll about y, then pitch about x,
    then yaw about z, in the head's frame (x right-to-left, y back, z up)."""
    pitch, yaw, roll = (np.asarray(angles, dtype=np.float64)[:, i] for i in range(3))
    cp, sp, cy, sy, cr, sr = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw), np.cos(roll), np.sin(roll)
    one, zero = np.ones_like(pitch), np.zeros_like(pitch)

    def stack(*rows):
        return np.stack(rows, axis=-1).reshape(len(pitch), 3, 3)

    pitch_matrix = stack(one, zero, zero, zero, cp, -sp, zero, sp, cp)  # front (-y) down for positive angles
    yaw_matrix = stack(cy, -sy, zero, sy, cy, zero, zero, zero, one)  # front toward +x for positive angles
    roll_matrix = stack(cr, zero, sr, zero, one, zero, -sr, zero, cr)
    return yaw_matrix @ pitch_matrix @ roll_matrix
