"""Where the eyes look: fixations joined by saccades.

The speaker mostly looks at the listener (the camera), with small scatter, and now and
then looks away; looking away is likelier as a phrase starts (speakers avert their gaze
while planning, and look back at the end). Fixations last a log-normal time around the
speaker's median; saccades take 21 ms + 2.2 ms per degree (the main sequence), so most
fall within one or two 30 fps frames.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ...core.face import ARKIT_INDEX, ARKIT_NAMES
from ...core.face.rig import EYE_PITCH_DOWN, EYE_PITCH_UP, EYE_YAW
from ..speech.utterance import Phoneme
from .activity import speech_intervals
from .envelopes import raised_cosine

PHRASE_START_AVERSION = 1.6  # look-away odds factor for fixations starting a phrase


class Saccade(NamedTuple):
    """A gaze shift starting at ``time`` (s) to (yaw, pitch) degrees; yaw positive
    toward the face's left (+x), pitch positive up."""

    time: float
    duration: float
    yaw: float
    pitch: float
    amplitude: float  # degrees travelled


def draw_saccades(rng: np.random.Generator, phonemes: list[Phoneme], duration: float,
                  fixation_median: float, aversion: float) -> list[Saccade]:
    phrase_starts = np.array([start for start, _ in speech_intervals(phonemes)])
    yaw, pitch = rng.normal(0.0, 1.5), rng.normal(0.0, 1.5)
    saccades = [Saccade(-1.0, 0.0, float(yaw), float(pitch), 0.0)]  # the gaze before t = 0
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


def gaze_angles(saccades: list[Saccade], times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T,) yaw and (T,) pitch in degrees at ``times``."""
    yaw = np.full(len(times), saccades[0].yaw)
    pitch = np.full(len(times), saccades[0].pitch)
    for before, saccade in zip(saccades, saccades[1:]):
        step = raised_cosine((times - saccade.time) / saccade.duration)
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
