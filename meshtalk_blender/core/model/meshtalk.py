"""The assembled MeshTalk model and its audio-code clock.

``MeshTalk`` holds the five modules. Inference uses ``audio_encoder``, ``prior``
(through ``core.sampling``) and ``decoder``; training also uses ``expression_encoder``
and ``fusion``. ``audio_codes_at`` turns log-mel into one audio code per model frame at
exact frame times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import audio
from .audio_encoder import AudioEncoder
from .config import AUDIO_RECEPTIVE_FIELD, MEL_RATE, MeshTalkConfig
from .decoder import Decoder
from .expression_encoder import ExpressionEncoder
from .fusion import Fusion
from .prior import Prior

CODE_MARGIN = AUDIO_RECEPTIVE_FIELD // 2  # 50 mel frames (0.5 s) each side of a code


class MeshTalk(nn.Module):
    def __init__(self, config: MeshTalkConfig):
        super().__init__()
        self.config = config
        self.audio_encoder = AudioEncoder(config.audio_channels)
        self.expression_encoder = ExpressionEncoder(config)
        self.fusion = Fusion(config)
        self.decoder = Decoder(config)
        self.prior = Prior(config)


def code_grid_range(frame_times: np.ndarray) -> tuple[int, int]:
    """The 100 Hz code indices [first, last] that linear interpolation at these times
    (seconds, ascending) reads."""
    positions = frame_times * MEL_RATE
    return int(np.floor(positions[0] + 1e-9)), int(np.ceil(positions[-1] - 1e-9))


def codes_at_positions(codes: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(B, N, A) codes on the 100 Hz grid, (B, T) fractional grid indices into them ->
    (B, T, A) codes, linearly interpolated between grid points.

    Model frames at 30 fps fall on the grid every third frame and a third or two thirds
    of the way between grid points otherwise; a code changes little in 10 ms (it sees
    1 s of audio), so linear interpolation is faithful there."""
    lower = (positions + 1e-6).floor().long().clamp(0, codes.shape[1] - 1)
    upper = (lower + 1).clamp(max=codes.shape[1] - 1)
    weight = (positions - lower).clamp(0, 1).unsqueeze(-1)
    index = lambda i: i.unsqueeze(-1).expand(-1, -1, codes.shape[2])  # noqa: E731
    return torch.gather(codes, 1, index(lower)) * (1 - weight) + torch.gather(codes, 1, index(upper)) * weight


def clip_mel_statistics(model: MeshTalk, samples_for, num_samples: int) -> audio.MelStatistics | None:
    """The statistics the model's audio normalisation needs for a clip (None if it needs
    none). ``samples_for`` as in ``log_mel_window``, from the clip's start."""
    if model.config.audio_normalisation == "none":
        return None
    log_mel = model.audio_encoder.log_mel
    return audio.log_mel_statistics(samples_for, num_samples, log_mel.window, log_mel.filterbank)


@dataclass
class LogMelWindow:
    """The log-mel frames a stretch of model frames needs, normalised as the model expects."""

    log_mel: torch.Tensor  # (1, 80, M)
    first_mel: int  # 100 Hz grid index of its first frame (grid index i is at i / 100 s)


def log_mel_window(model: MeshTalk, samples_for, frame_times: np.ndarray,
                   mel_statistics: audio.MelStatistics | None = None) -> LogMelWindow:
    """The log-mel frames that the audio codes at ``frame_times`` (seconds) need: from
    CODE_MARGIN frames before the first code to CODE_MARGIN after the last.

    ``samples_for(start, end)`` returns the clip's normalised samples [start, end) as a
    float32 numpy array (zeros outside the clip). Computes only these frames, so a long
    clip can be processed window by window.
    ``mel_statistics``: required when the model normalises audio per utterance."""
    first_code, last_code = code_grid_range(frame_times)
    first_mel = first_code - CODE_MARGIN
    mel_count = last_code - first_code + AUDIO_RECEPTIVE_FIELD
    start, end = audio.mel_frame_span(first_mel, mel_count)
    encoder = model.audio_encoder
    device = encoder.code.weight.device
    samples = torch.from_numpy(samples_for(start, end)).to(device)[None]
    log_mel = encoder.log_mel(samples)  # (1, 80, mel_count)
    if model.config.audio_normalisation == "utterance":
        if mel_statistics is None:
            raise ValueError("this model normalises audio per utterance: pass mel_statistics")
        log_mel = mel_statistics.apply(log_mel)
    return LogMelWindow(log_mel, first_mel)


def codes_in_window(model: MeshTalk, window: LogMelWindow, frame_times: np.ndarray) -> torch.Tensor:
    """(T, A) audio codes at ``frame_times``, from the ``log_mel_window`` of those times."""
    codes = model.audio_encoder(window.log_mel)  # (1, M - 100, A): code j at grid first_mel + 50 + j
    first_code = window.first_mel + CODE_MARGIN
    positions = torch.from_numpy((frame_times * MEL_RATE - first_code).astype(np.float32)).to(codes.device)
    return codes_at_positions(codes, positions[None])[0]


def audio_codes_for_window(model: MeshTalk, samples_for, frame_times: np.ndarray,
                           mel_statistics: audio.MelStatistics | None = None) -> torch.Tensor:
    """Audio codes at ``frame_times`` (seconds): (T, A). Arguments as ``log_mel_window``."""
    return codes_in_window(model, log_mel_window(model, samples_for, frame_times, mel_statistics), frame_times)
