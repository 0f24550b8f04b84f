"""Where the eyes look: fixations joined by saccades, drawn for a clip by seed.

The model animates the face's vertices; the eyeballs are not among them (they are
separate objects turned by the eyeLook keys), so the model cannot say where they look.
Gaze is drawn here instead, the way the training teacher draws it (training/teacher
uses these functions): the speaker mostly looks at the listener (the camera), with
small scatter, and now and then looks away; looking away is likelier as a phrase starts
(speakers avert their gaze while planning, and look back at the end). Fixations last a
log-normal time around a median; saccades take 21 ms + 2.2 ms per degree (the main
sequence), so most fall within one or two 30 fps frames. At run time the phrases are
found from the audio's level (core.pauses), and the same seed gives the same gaze, so
"Resample Upper Face" (a new seed) gives new gaze with new blinks.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .face.arkit_names import ARKIT_INDEX, ARKIT_NAMES
from .face.rig import EYE_PITCH_DOWN, EYE_PITCH_UP, EYE_YAW

PHRASE_START_AVERSION = 1.6  # look-away odds factor for fixations starting a phrase
# At run time: the middle of the teacher's speaker styles (fixations 0.6-1.4 s, looking
# away on 20-50 % of them).
FIXATION_MEDIAN = 1.0
AVERSION = 0.35
LOOK_NAMES = tuple(name for name in ARKIT_NAMES if name.startswith("eyeLook"))


class Saccade(NamedTuple):
    """A gaze shift starting at ``time`` (s) to (yaw, pitch) degrees; yaw positive
    toward the face's left (+x), pitch positive up."""

    time: float
    duration: float
    yaw: float
    pitch: float
    amplitude: float  # degrees travelled


def draw_saccades(rng: np.random.Generator, phrase_starts: np.ndarray, duration: float,
                  fixation_median: float = FIXATION_MEDIAN, aversion: float = AVERSION) -> list[Saccade]:
    """The gaze shifts of a clip `duration` seconds long whose phrases start at
    `phrase_starts` (seconds); the first entry is the gaze before t = 0."""
    phrase_starts = np.asarray(phrase_starts, dtype=np.float64)
    yaw, pitch = rng.normal(0.0, 1.5), rng.normal(0.0, 1.5)
    saccades = [Saccade(-1.0, 0.0, float(yaw), float(pitch), 0.0)]
    time = -rng.uniform(0.0, fixation_median)
    while True:
        time += float(np.clip(rng.lognormal(np.log(fixation_median), 0.5), 0.25, 4.0))
        if time >= duration:
            break
        near_phrase_start = len(phrase_starts) and np.min(np.abs(phrase_starts - time)) < 0.5
        away = rng.random() < min(0.9, aversion * (PHRASE_START_AVERSION if near_phrase_start else 1.0))
        if away:
            new_yaw = rng.choice([-1.0, 1.0]) * rng.uniform(4.0, 14.0)
            new_pitch = rng.uniform(-10.0, 5.0)
        else:
            new_yaw, new_pitch = rng.normal(0.0, 1.5), rng.normal(0.0, 1.5)
        amplitude = float(np.hypot(new_yaw - yaw, new_pitch - pitch))
        saccades.append(Saccade(time, 0.021 + 0.0022 * amplitude, float(new_yaw), float(new_pitch), amplitude))
        yaw, pitch = new_yaw, new_pitch
    return saccades


def _raised_cosine(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


def gaze_angles(saccades: list[Saccade], times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T,) yaw and (T,) pitch in degrees at ``times``."""
    yaw = np.full(len(times), saccades[0].yaw)
    pitch = np.full(len(times), saccades[0].pitch)
    for before, saccade in zip(saccades, saccades[1:]):
        step = _raised_cosine((times - saccade.time) / saccade.duration)
        moving = times >= saccade.time
        yaw = np.where(moving, before.yaw + step * (saccade.yaw - before.yaw), yaw)
        pitch = np.where(moving, before.pitch + step * (saccade.pitch - before.pitch), pitch)
    return yaw, pitch


def gaze_weights(saccades: list[Saccade], times: np.ndarray) -> np.ndarray:
    """(T, 52) ARKit weights of the eyeLook channels (others zero)."""
    yaw, pitch = gaze_angles(saccades, times)
    turn = np.radians(yaw) / EYE_YAW  # + toward +x: out for the left eye, in for the right
    up = np.clip(np.radians(pitch) / EYE_PITCH_UP, 0.0, 1.0)
    down = np.clip(-np.radians(pitch) / EYE_PITCH_DOWN, 0.0, 1.0)
    weights = np.zeros((len(times), len(ARKIT_NAMES)))
    weights[:, ARKIT_INDEX["eyeLookOutLeft"]] = np.clip(turn, 0.0, 1.0)
    weights[:, ARKIT_INDEX["eyeLookInLeft"]] = np.clip(-turn, 0.0, 1.0)
    weights[:, ARKIT_INDEX["eyeLookInRight"]] = np.clip(turn, 0.0, 1.0)
    weights[:, ARKIT_INDEX["eyeLookOutRight"]] = np.clip(-turn, 0.0, 1.0)
    for suffix in ("Left", "Right"):
        weights[:, ARKIT_INDEX["eyeLookUp" + suffix]] = up
        weights[:, ARKIT_INDEX["eyeLookDown" + suffix]] = down
    return weights


def phrase_starts(levels_db: np.ndarray, fps: float) -> np.ndarray:
    """Seconds where speech starts (after each pause of core.pauses, and the first
    sound), from (T,) frame levels at `fps`."""
    from .pauses import pause_spans

    spans = pause_spans(levels_db, fps)
    starts = [end for _, end in spans if end < len(levels_db)]
    if not spans or spans[0][0] > 0:
        starts.insert(0, 0)
    return np.array(starts, dtype=np.float64) / fps


def clip_gaze(levels_db: np.ndarray, fps: float, seed: int, names: Sequence[str] = ARKIT_NAMES) -> np.ndarray:
    """(T, len(names)) float32: the eyeLook weights of a clip drawn for `seed` (zero in
    the columns of other names), from its (T,) frame levels at `fps`."""
    count = len(levels_db)
    rng = np.random.default_rng([int(seed), 0x6A2E])  # its own stream: other draws of the seed stay as they were
    saccades = draw_saccades(rng, phrase_starts(levels_db, fps), count / fps)
    weights = gaze_weights(saccades, np.arange(count) / fps)
    return weights[:, [ARKIT_INDEX[name] for name in names]].astype(np.float32)


def take_gaze(info, count: int, fps: float, seed: int, names: Sequence[str]) -> np.ndarray:
    """(count, len(names)) float32 eyeLook weights for the clip `info` (core.audio's
    ClipInfo) at `fps`, drawn for `seed`; its phrases from the clip's levels."""
    from .pauses import clip_levels_db

    return clip_gaze(clip_levels_db(info, count, fps), fps, seed, names)


def draw_into(weights: np.ndarray, names: Sequence[str], gaze_of) -> np.ndarray:
    """(T, K) weights with columns `names`: their eyeLook columns replaced by
    `gaze_of(look_names) -> (T, len(look_names))` (in place, returned)."""
    columns = [i for i, name in enumerate(names) if name in LOOK_NAMES]
    if columns:
        weights[:, columns] = gaze_of([names[i] for i in columns])
    return weights
