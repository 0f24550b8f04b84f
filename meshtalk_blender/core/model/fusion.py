"""Fusion of expression and audio codes into the categorical latent (heads x classes)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import LEAKY_SLOPE, MeshTalkConfig


class Fusion(nn.Module):
    def __init__(self, config: MeshTalkConfig):
        super().__init__()
        width = config.fusion_width
        self.num_heads, self.num_classes = config.num_heads, config.num_classes
        # Indices 0, 2, 4 (activations in between) keep the original's key names.
        self.mlp = nn.Sequential(
            nn.Linear(config.expression_code + config.audio_channels, width),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Linear(width, width),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Linear(width, config.latent_size),
        )

    def forward(self, expression_code: torch.Tensor, audio_code: torch.Tensor) -> torch.Tensor:
        """(B, T, E), (B, T, A) -> (B, T, H, C) log-probabilities over each head's classes."""
        logits = self.mlp(torch.cat([expression_code, audio_code], dim=-1))
        logits = logits.view(*logits.shape[:2], self.num_heads, self.num_classes)
        return F.log_softmax(logits, dim=-1)


def quantize(log_probs: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Straight-through Gumbel-softmax: (B, T, H, C) -> one-hot in the forward pass,
    soft gradients in the backward pass (as in training the original)."""
    return F.gumbel_softmax(log_probs, tau=tau, hard=True, dim=-1)
