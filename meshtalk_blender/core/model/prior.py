"""Autoregressive prior over the categorical latent ("context model").

Channels are head-major (index = head * channels + c). Every layer has a 1x1 conv over
the current frame's heads whose weight is masked so that output head h sees only input
heads < h, plus (context layers) the current audio code and a kernel-2 dilated conv over
the past frames t-1 and t-1-d. Teacher-forced, all frames are computed in one parallel
pass (``forward``); sampling has to go frame by frame and head by head, which
``core.sampling`` does incrementally with the weights from ``sampling_weights``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import LEAKY_SLOPE, MeshTalkConfig


def head_mask(heads: int, out_per_head: int, in_per_head: int) -> torch.Tensor:
    """(heads*out, heads*in, 1) 0/1 mask: output head h sees input heads < h only."""
    mask = torch.zeros(heads * out_per_head, heads * in_per_head, 1)
    for head in range(1, heads):
        mask[head * out_per_head : (head + 1) * out_per_head, : head * in_per_head] = 1
    return mask


class MaskedHeadLayer(nn.Module):
    """One prior layer: masked current-frame conv (+ audio) (+ causal history)."""

    def __init__(self, heads: int, in_per_head: int, out_per_head: int, audio_channels: int | None, dilation: int | None):
        super().__init__()
        self.masked_linear = nn.Conv1d(heads * in_per_head, heads * out_per_head, 1)
        self.register_buffer("mask", head_mask(heads, out_per_head, in_per_head))
        self.unmasked_linear = None if audio_channels is None else nn.Conv1d(audio_channels, heads * out_per_head, 1)
        self.dilation = dilation
        self.historic = None if dilation is None else nn.Conv1d(heads * in_per_head, heads * out_per_head, 2, dilation=dilation)

    def forward(self, x: torch.Tensor, audio_code: torch.Tensor | None = None) -> torch.Tensor:
        """(B, H*in, T), (B, A, T) -> (B, H*out, T)."""
        y = F.conv1d(x, self.masked_linear.weight * self.mask, self.masked_linear.bias)
        if self.unmasked_linear is not None:
            y = y + self.unmasked_linear(audio_code)
        if self.historic is not None:
            # Frame t sees frames t-1 and t-1-d: shift by one, pad the start with zeros.
            past = F.pad(x[:, :, :-1], (self.dilation + 1, 0))
            y = y + self.historic(past)
        return y


class Prior(nn.Module):
    def __init__(self, config: MeshTalkConfig):
        super().__init__()
        self.config = config
        heads, classes, width = config.num_heads, config.num_classes, config.prior_channels
        self.embedding = MaskedHeadLayer(heads, classes, width, None, None)
        self.context_layers = nn.ModuleList(
            MaskedHeadLayer(heads, width, width, config.audio_channels, d) for d in config.prior_dilations
        )
        self.logits = MaskedHeadLayer(heads, width, classes, None, None)

    def forward(self, one_hot: torch.Tensor, audio_code: torch.Tensor) -> torch.Tensor:
        """Teacher-forced. (B, T, H, C) one-hot labels, (B, T, A) audio codes ->
        (B, T, H, C) log-probabilities of each frame's labels given the earlier ones."""
        batch, frames, heads, classes = one_hot.shape
        audio = audio_code.transpose(1, 2)
        x = self.embedding(one_hot.reshape(batch, frames, heads * classes).transpose(1, 2))
        for layer in self.context_layers:
            x = F.leaky_relu(layer(x, audio), LEAKY_SLOPE)
        logits = self.logits(x).transpose(1, 2).reshape(batch, frames, heads, classes)
        return F.log_softmax(logits, dim=-1)
