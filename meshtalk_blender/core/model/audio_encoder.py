"""Audio encoder: log-mel frames -> one audio code per mel frame, fully convolutional.

The original cuts a 1 s window around every mesh frame and runs the encoder on each.
The encoder's receptive field is exactly 101 mel frames (1 s), so running it once over
the whole file's log-mel and reading one output per position computes the same codes
with ~30x less work. Convolutions are 'valid': M mel frames in, M - 100 codes out; code j
is centred on mel frame j + 50.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .. import audio
from .config import AUDIO_DILATIONS, AUDIO_KERNEL, LEAKY_SLOPE, MEL_BANDS


class LogMelSpectrogram(nn.Module):
    """Holds the STFT window and mel filterbank as buffers, so that a checkpoint's own
    buffers (the original release stores both) are the ones used."""

    def __init__(self):
        super().__init__()
        self.register_buffer("window", torch.from_numpy(audio.stft_window()))  # (800,)
        self.register_buffer("filterbank", torch.from_numpy(audio.mel_filterbank()))  # (1025, 80)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        """(B, N) samples -> (B, 80, 1 + (N - 2048) // 160) log-mel, frames not centred:
        the caller supplies the context (see audio.mel_frame_samples)."""
        return audio.log_mel_uncentred(samples, self.window, self.filterbank)


class AudioEncoder(nn.Module):
    def __init__(self, channels: int = 128, dropout: float = 0.2):
        super().__init__()
        self.log_mel = LogMelSpectrogram()
        self.convert_dimensions = nn.Conv1d(MEL_BANDS, channels, AUDIO_KERNEL)
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, AUDIO_KERNEL, dilation=d) for d in AUDIO_DILATIONS
        )
        self.code = nn.Linear(channels, channels)
        self.dropout = dropout

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, 80, M) log-mel -> (B, M - 100, channels) audio codes."""
        x = F.leaky_relu(self.convert_dimensions(log_mel), LEAKY_SLOPE)
        for conv, dilation in zip(self.convs, AUDIO_DILATIONS):
            x = F.dropout(x, self.dropout, self.training)
            crop = (AUDIO_KERNEL - 1) * dilation // 2
            x = (x[:, :, crop:-crop] + F.leaky_relu(conv(x), LEAKY_SLOPE)) / 2
        return self.code(x.transpose(1, 2))
