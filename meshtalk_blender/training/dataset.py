"""Training data in memory: sequences of audio and tracked meshes, cut into random segments.

A ``Sequence`` holds one utterance: its 16 kHz waveform, its meshes at 30 fps (as
offsets from the neutral template of its identity) and that template. ``SegmentBatcher`` draws random segments of a fixed
number of frames and returns, for each, the log-mel window that the audio encoder needs
to produce codes at exactly those frames' times (see ``model.meshtalk``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..core import audio
from ..core.model.config import AUDIO_RECEPTIVE_FIELD, MEL_RATE, MODEL_FPS
from ..core.model.meshtalk import CODE_MARGIN


@dataclass
class Sequence:
    waveform: np.ndarray  # (N,) float32, 16 kHz mono, loudness-normalised
    # (T, V, 3) float32 or float16, metres at 30 fps: the meshes minus the template.
    # Offsets, not positions, because float16 positions at head size are exact only to
    # ~0.03 mm, a quarter of the upper face's typical motion; float16 offsets keep ~1 um.
    offsets: np.ndarray
    template: np.ndarray  # (V, 3) float32: the identity's neutral face
    name: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.offsets)

    @property
    def vertices(self) -> np.ndarray:
        """(T, V, 3) float32 absolute meshes."""
        return self.frames(0, self.num_frames)

    def frames(self, start: int, stop: int) -> np.ndarray:
        """(stop - start, V, 3) float32 absolute meshes of frames [start, stop)."""
        return self.template + self.offsets[start:stop].astype(np.float32)


@dataclass
class Batch:
    log_mel: torch.Tensor  # (B, 80, M) windows for the encoder
    code_positions: torch.Tensor  # (B, T) fractional code index of each frame inside its window's codes
    vertices: torch.Tensor  # (B, T, V, 3)
    templates: torch.Tensor  # (B, V, 3)

    def to(self, device) -> "Batch":
        return Batch(*(t.to(device) for t in (self.log_mel, self.code_positions,
                                              self.vertices, self.templates)))


class SegmentBatcher:
    """Random fixed-length segments from a list of sequences, reproducibly by seed."""

    def __init__(self, sequences: list[Sequence], segment_frames: int, batch_size: int, seed: int = 0,
                 audio_normalisation: str = "none"):
        usable = [s for s in sequences if s.num_frames >= segment_frames]
        if not usable:
            raise ValueError(f"no sequence has {segment_frames} frames")
        self.sequences = usable
        self.segment_frames = segment_frames
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        # Codes a segment needs: frames are 10/3 grid steps apart, so this many grid points.
        self.codes_per_window = int(np.ceil((segment_frames - 1) * MEL_RATE / MODEL_FPS)) + 2
        self.mel_per_window = self.codes_per_window + AUDIO_RECEPTIVE_FIELD - 1
        self._window = torch.from_numpy(audio.stft_window())
        self._filterbank = torch.from_numpy(audio.mel_filterbank())
        # Per-utterance statistics of the whole sequence, as inference computes them for a clip.
        self._statistics = None if audio_normalisation == "none" else [
            audio.log_mel_statistics(lambda a, b, w=s.waveform: audio.slice_with_zeros(w, a, b), len(s.waveform),
                                     self._window, self._filterbank) for s in usable
        ]
        weights = np.array([s.num_frames - segment_frames + 1 for s in usable], dtype=np.float64)
        self._weights = weights / weights.sum()  # every frame equally likely to be drawn

    def next_batch(self) -> Batch:
        picks = self.rng.choice(len(self.sequences), size=self.batch_size, p=self._weights)
        sample_windows, positions, vertices, templates = [], [], [], []
        for index in picks:
            sequence = self.sequences[index]
            start = int(self.rng.integers(0, sequence.num_frames - self.segment_frames + 1))
            times = np.arange(start, start + self.segment_frames) / MODEL_FPS
            first_code = int(np.floor(times[0] * MEL_RATE + 1e-9))
            span = audio.mel_frame_span(first_code - CODE_MARGIN, self.mel_per_window)
            sample_windows.append(audio.slice_with_zeros(sequence.waveform, *span))
            positions.append(times * MEL_RATE - first_code)
            vertices.append(sequence.frames(start, start + self.segment_frames))
            templates.append(sequence.template.astype(np.float32))
        log_mel = audio.log_mel_uncentred(torch.from_numpy(np.stack(sample_windows)), self._window, self._filterbank)
        if self._statistics is not None:
            log_mel = torch.stack([self._statistics[i].apply(log_mel[row:row + 1])[0] for row, i in enumerate(picks)])
        return Batch(
            log_mel=log_mel,
            code_positions=torch.from_numpy(np.stack(positions).astype(np.float32)),
            vertices=torch.from_numpy(np.stack(vertices)),
            templates=torch.from_numpy(np.stack(templates)),
        )


def vertex_statistics(sequences: list[Sequence], space: str = "absolute") -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex mean and standard deviation over all frames: (V, 3) each, of the
    positions ("absolute") or of the offsets from each sequence's template ("offsets")."""
    def frames():
        for s in sequences:  # one sequence at a time in float64: hours of meshes never are
            offsets = s.offsets.astype(np.float64)
            yield offsets if space == "offsets" else offsets + s.template
    return _statistics(frames)


def template_statistics(sequences: list[Sequence]) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex mean and standard deviation of the sequences' templates: (V, 3) each."""
    return _statistics(lambda: (s.template.astype(np.float64)[None] for s in sequences))


def _statistics(arrays) -> tuple[np.ndarray, np.ndarray]:
    """``arrays()`` yields (T_i, V, 3) arrays (called twice: mean, then spread) -> mean and
    std over all their frames. The std has a floor so that vertices that never move do
    not divide by zero."""
    count, total = 0, 0.0
    for a in arrays():
        count += len(a)
        total = total + a.sum(axis=0)
    mean = total / count
    std = np.sqrt(sum(((a - mean) ** 2).sum(axis=0) for a in arrays()) / count)
    floor = max(1e-6, 0.05 * float(std.mean()))
    return mean.astype(np.float32), np.maximum(std, floor).astype(np.float32)
