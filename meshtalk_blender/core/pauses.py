"""Pauses in speech, and how much the mouth rests in them.

A speaker's lips close in a pause of a third of a second or more, and open again just
before the next word (vowels are anticipated by up to ~0.2 s: docs face-motion-facts).
The model's prior draws the mouth from audio and, in pauses, sometimes leaves it ajar or
opens it early (the bundled models left 15-19 % of held-out silent frames open, the
teacher 8 %; the model card has the numbers), so the pipeline finds the pauses from the
audio's level and blends the mouth to the template's closed rest there. A recording
whose pauses are not at least 15 dB under its speech gets no rest (nothing to tell a
pause from speech by). Everything here is deterministic given the audio, so the
lips stay the same whatever the seed.

Levels are measured on the loudness-normalised samples, one per model frame, streamed
in blocks so an hour of audio costs no more memory than a minute.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

MIN_PAUSE_SECONDS = 0.3  # shorter quiet stretches are stop closures and gaps inside speech
CLOSE_SECONDS = 0.15  # the lips settle this long after the speech stops
OPEN_SECONDS = 0.2  # and start to leave the rest this long before it starts again
FLOOR_MARGIN_DB = 10.0
SPEECH_MARGINS_DB = (15.0, 40.0)  # a quiet frame is at least this far under the speech level, at most that
BLOCK_FRAMES = 3000  # frames measured per read (100 s at 30 fps)

SamplesFor = Callable[[int, int], np.ndarray]  # (start, end) -> (end - start,) samples, zeros outside


def frame_levels_db(samples_for: SamplesFor, sample_rate: int, count: int, fps: float) -> np.ndarray:
    """(count,) dB: the mean power of the samples within one frame either side of each
    frame's time. ``samples_for`` must accept forward-moving requests."""
    hop = sample_rate / fps
    half = int(round(hop))
    levels = np.empty(count, dtype=np.float64)
    for first in range(0, count, BLOCK_FRAMES):
        last = min(first + BLOCK_FRAMES, count)
        centres = np.round(np.arange(first, last) * hop).astype(np.int64)
        start = int(centres[0]) - half
        block = samples_for(start, int(centres[-1]) + half).astype(np.float64)
        cumulative = np.concatenate([[0.0], np.cumsum(block * block)])
        lo, hi = centres - half - start, centres + half - start
        levels[first:last] = (cumulative[hi] - cumulative[lo]) / (2 * half)
    return 10 * np.log10(levels + 1e-10)


def speech_and_floor_db(levels_db: np.ndarray) -> tuple[float, float]:
    """(speech level, noise floor) of (T,) frame levels: their 95th and 5th percentiles."""
    return float(np.percentile(levels_db, 95)), float(np.percentile(levels_db, 5))


def quiet_threshold_db(levels_db: np.ndarray) -> float:
    """Below this a frame is quiet: FLOOR_MARGIN_DB over the clip's noise floor, kept
    between SPEECH_MARGINS_DB under its speech level (``speech_and_floor_db``), so that
    studio silence, noisy recordings and clips without pauses all behave."""
    speech, floor = speech_and_floor_db(levels_db)
    nearest, farthest = SPEECH_MARGINS_DB
    return float(np.clip(floor + FLOOR_MARGIN_DB, speech - farthest, speech - nearest))


def pause_spans(levels_db: np.ndarray, fps: float, min_seconds: float = MIN_PAUSE_SECONDS) -> list[tuple[int, int]]:
    """[(first, end)) frame ranges of quiet stretches lasting at least ``min_seconds``."""
    if len(levels_db) == 0:
        return []
    quiet = levels_db < quiet_threshold_db(levels_db)
    edges = np.diff(quiet.astype(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends) if (e - s) / fps >= min_seconds]


def rest_weights(spans: list[tuple[int, int]], count: int, fps: float) -> np.ndarray:
    """(count,) in [0, 1]: how far each frame's mouth goes to the rest. 1 inside a pause,
    easing in over CLOSE_SECONDS after speech stops and out over OPEN_SECONDS before it
    starts again; a pause at the clip's start or end has no ramp on that side."""
    weights = np.zeros(count, dtype=np.float32)
    for first, end in spans:  # disjoint, as pause_spans makes them
        times = np.arange(first, end) / fps
        rise = np.ones(len(times)) if first == 0 else np.clip((times - first / fps) / CLOSE_SECONDS, 0, 1)
        fall = np.ones(len(times)) if end >= count else np.clip((end / fps - times) / OPEN_SECONDS, 0, 1)
        ramp = np.minimum(rise, fall)
        weights[first:end] = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no kink where the ramps meet
    return weights


def clip_levels_db(info, count: int, fps: float) -> np.ndarray:
    """(count,) frame levels at `fps` of a whole clip (core.audio's ClipInfo), read from
    its loudness-normalised samples."""
    from . import audio
    from .model.config import AUDIO_SAMPLE_RATE

    return frame_levels_db(audio.NormalisedSamples(info).get, AUDIO_SAMPLE_RATE, count, fps)


def rest_weights_of_levels(levels_db: np.ndarray, fps: float) -> np.ndarray:
    """(T,) rest weights of a clip from its (T,) frame levels at ``fps``."""
    return rest_weights(pause_spans(levels_db, fps), len(levels_db), fps)


def rest_mouth(vertices: np.ndarray, template: np.ndarray, mouth: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(T, V, 3) vertices with the mouth region (V,) in [0, 1] moved towards the
    template (V, 3) by the frames' rest weights (T,)."""
    amount = weights[:, None, None] * mouth[None, :, None]
    return (vertices + amount * (template[None] - vertices)).astype(vertices.dtype, copy=False)
