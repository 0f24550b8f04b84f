"""From the model's 30 fps frames to the frames the user asked for, chunk by chunk.

The model runs at its own rate (frame k at k / 30 s). ``FpsResampler`` turns a stream of
model-frame chunks into output frames at n / fps by linear interpolation (or, for
weights that must not fade, the larger of the two model frames around each output
frame), carrying one frame across chunk boundaries. ``TemporalSmoother`` is the
release's post-processing: a 9-tap Gaussian (sigma 2 frames) along time, blended in per
vertex by a mask (forehead and neck jitter most), and optionally a lighter one blended in
by a second mask (the mouth's); it delays the stream by 4 frames and flushes at the end.
"""

from __future__ import annotations

import numpy as np

from .model.config import MODEL_FPS


class FpsResampler:
    def __init__(self, fps: float, num_output_frames: int, keep_peaks: bool = False):
        """``keep_peaks``: an output frame between two model frames takes the larger of
        them instead of a mix, so that a one-frame peak (a closed mouth) survives at any
        output rate of 15 fps or more (where every model frame has an output frame within
        one frame of it)."""
        self.step = MODEL_FPS / fps  # model frames per output frame
        self.keep_peaks = keep_peaks
        self.num_output_frames = num_output_frames
        self.next_output = 0
        self.previous: np.ndarray | None = None  # last model frame of the previous chunk
        self.next_model_frame = 0  # global index of the next model frame to arrive

    def push(self, frames: np.ndarray, last: bool = False) -> np.ndarray:
        """(T, ...) consecutive model frames -> (n, ...) output frames now computable
        (none for an empty chunk that is not the last: a smoother may have held it back)."""
        if not len(frames) and not last:
            return frames
        first = self.next_model_frame
        self.next_model_frame += len(frames)
        if self.previous is not None:
            frames = np.concatenate([self.previous[None], frames])
            first -= 1
        self.previous = frames[-1].copy()
        available_end = self.next_model_frame - 1  # the last model index held
        positions = []
        while self.next_output < self.num_output_frames:
            position = self.next_output * self.step
            if position > available_end and not last:
                break
            positions.append(min(position, available_end))
            self.next_output += 1
        if not positions:
            return frames[:0]
        local = np.asarray(positions) - first
        lower = np.floor(local + 1e-9).astype(np.int64)
        upper = np.minimum(lower + 1, len(frames) - 1)
        weight = (local - lower).astype(np.float32).reshape((-1,) + (1,) * (frames.ndim - 1))
        if self.keep_peaks:
            return np.where(weight > 0, np.maximum(frames[lower], frames[upper]), frames[lower])
        return frames[lower] * (1 - weight) + frames[upper] * weight


def gaussian_taps(sigma: float = 2.0, radius: int = 4) -> np.ndarray:
    offsets = np.arange(-radius, radius + 1)
    taps = np.exp(-0.5 * (offsets / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


class TemporalSmoother:
    """Streams (T, V, 3) chunks; output lags input by ``radius`` frames until ``last``.
    The sequence ends are extended by repeating the first/last frame. ``lighter``: (V,)
    weights and a sigma of a second filter, for what the first mask leaves unsmoothed."""

    def __init__(self, vertex_weights: np.ndarray, sigma: float = 2.0, radius: int = 4,
                 lighter: tuple[np.ndarray, float] | None = None):
        self.weights = vertex_weights.astype(np.float32)[:, None]  # (V, 1): 1 = fully smoothed
        self.taps = gaussian_taps(sigma, radius)
        self.lighter = None
        if lighter is not None:
            lighter_weights, lighter_sigma = lighter
            share = (1.0 - self.weights) * np.asarray(lighter_weights, np.float32)[:, None]  # never over 1 in all
            where = np.flatnonzero(share[:, 0] > 0)  # filtered there only: the mouth is a tenth of a head
            self.lighter = (where, share[where], gaussian_taps(lighter_sigma, radius))
        self.radius = radius
        self.pending: np.ndarray | None = None  # frames received but not yet emitted, with history before them
        self.history = 0  # how many leading frames of pending are history (already emitted)

    def push(self, frames: np.ndarray, last: bool = False) -> np.ndarray:
        if self.pending is None:
            # Repeat the first frame so the start sees a full window.
            self.pending = np.concatenate([np.repeat(frames[:1], self.radius, axis=0), frames])
            self.history = self.radius
        else:
            self.pending = np.concatenate([self.pending, frames])
        if last:
            self.pending = np.concatenate([self.pending, np.repeat(self.pending[-1:], self.radius, axis=0)])
        count = len(self.pending) - self.history - self.radius  # frames with a full window
        if count <= 0:
            return self.pending[:0]
        raw = self.pending[self.history:self.history + count]
        out = raw + self.weights * (self._filtered(self.taps, count) - raw)
        if self.lighter is not None:
            where, share, taps = self.lighter
            out[:, where] += share * (self._filtered(taps, count, where) - raw[:, where])
        keep_from = self.history + count - self.radius
        self.pending = self.pending[keep_from:]
        self.history = self.radius
        return out

    def _filtered(self, taps: np.ndarray, count: int, where: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(count, V', 3) the pending frames after the history, filtered by ``taps``, of the
        vertices ``where``."""
        filtered = np.zeros_like(self.pending[:count, where])
        for offset, tap in enumerate(taps):
            start = self.history - self.radius + offset
            filtered += tap * self.pending[start:start + count, where]
        return filtered
