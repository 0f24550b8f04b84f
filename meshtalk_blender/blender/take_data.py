"""Plain helpers for takes (no bpy): the latent stored in the .blend, frame clocks and
the weights that keep parts of a previous take when the upper face is redrawn."""

from __future__ import annotations

import base64
import math
import zlib

import numpy as np

EDGE_FRAMES = 4  # output frames over which a partial resample fades in and out


def encode_labels(labels: np.ndarray) -> str:
    """(K, H) int latent labels -> a short ASCII string (kept in the .blend with the take):
    "KxHxB:" then base64 of zlib of B-byte little-endian labels (B = 1 below 256 classes)."""
    labels = np.asarray(labels)
    width = 1 if labels.size == 0 or int(labels.max()) < 256 else 2
    raw = labels.astype(f"<u{width}").tobytes()
    return f"{labels.shape[0]}x{labels.shape[1]}x{width}:" + base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def decode_labels(text: str) -> np.ndarray:
    """The inverse of encode_labels: (K, H) int64."""
    header, _, body = text.partition(":")
    frames, heads, width = (int(part) for part in header.split("x"))
    raw = zlib.decompress(base64.b64decode(body.encode("ascii")))
    return np.frombuffer(raw, dtype=f"<u{width}").astype(np.int64).reshape(frames, heads)


def model_frame_range(first_scene_frame: float, last_scene_frame: float, take_start_frame: float,
                      fps: float, num_model_frames: int) -> tuple[int, int]:
    """Scene frames [first, last] (inclusive) of a take starting at ``take_start_frame``
    -> model frames [start, end) at 30 fps that cover them, clipped to the take."""
    from ..core.model.config import MODEL_FPS  # here: the model package loads torch

    first_seconds = (first_scene_frame - take_start_frame) / fps
    last_seconds = (last_scene_frame - take_start_frame) / fps
    start = max(0, math.floor(first_seconds * MODEL_FPS + 1e-9))
    end = min(num_model_frames, math.ceil(last_seconds * MODEL_FPS - 1e-9) + 1)
    return start, end


REDRAW_CONTEXT = 30  # model frames (1 s) run before and after a redrawn range


def redraw_window(model_frames: tuple[int, int] | None, num_model_frames: int,
                  fps: float) -> tuple[int, int, int] | None:
    """The part of a take to run again when model frames [start, end) are redrawn:
    (first, end) model frames and the output frame at ``first``; None: run it all.

    REDRAW_CONTEXT frames on each side give the encoder its audio, the prior its
    look-back and the decoder time to settle before the fades; ``first`` sits where the
    model's 30 fps and the output clock meet on a whole frame, so the part's frames fall
    on the take's own (every 5 model frames at 24 fps, 6 at 25, 1001 at 29.97). A part
    of more than 70 % of the take is not worth it."""
    from fractions import Fraction

    from ..core.model.config import MODEL_FPS  # here: the model package loads torch

    if model_frames is None:
        return None
    step = Fraction(fps / MODEL_FPS).limit_denominator(1001).denominator
    first = max(0, model_frames[0] - REDRAW_CONTEXT) // step * step
    end = min(num_model_frames, model_frames[1] + REDRAW_CONTEXT)
    if end - first > 0.7 * num_model_frames:
        return None
    return first, end, int(round(first * fps / MODEL_FPS))


def redraw_ramp(num_frames: int, first: int | None = None, last: int | None = None,
                edge: int = EDGE_FRAMES) -> np.ndarray:
    """(T,) float32: 1 where output frames are redrawn (first..last inclusive; None: all),
    0 where the previous take stays, with linear fades of ``edge`` frames outside the
    range (the decoder's memory makes frames just after a redrawn range differ a bit)."""
    frames = np.arange(num_frames, dtype=np.float64)
    if first is None and last is None:
        return np.ones(num_frames, dtype=np.float32)
    first = 0 if first is None else first
    last = num_frames - 1 if last is None else last
    before = np.clip(1.0 - (first - frames) / (edge + 1), 0.0, 1.0)
    after = np.clip(1.0 - (frames - last) / (edge + 1), 0.0, 1.0)
    return np.minimum(before, after).astype(np.float32)


def blend_with_previous(new: np.ndarray, previous: np.ndarray, redraw: np.ndarray, keep_lips: np.ndarray) -> np.ndarray:
    """new, previous: (T, ...) chunks of one take; redraw: (T,) from redraw_ramp;
    keep_lips: per item (the trailing shape, e.g. (V,) a mouth mask or (K,) mouth keys)
    in [0, 1], 1 where the previous take is always kept. Returns (T, ...) float32."""
    redraw = np.asarray(redraw, dtype=np.float32).reshape((-1,) + (1,) * (new.ndim - 1))
    keep_lips = np.asarray(keep_lips, dtype=np.float32)
    keep_lips = keep_lips.reshape(keep_lips.shape + (1,) * (new.ndim - 1 - keep_lips.ndim))
    keep = 1.0 - redraw * (1.0 - keep_lips[None])
    # Weighted this way, a frame or vertex kept whole (keep = 1) is the previous value to
    # the bit (new + keep * (previous - new) is not, in floating point).
    return (keep * previous + (1.0 - keep) * new).astype(np.float32)
