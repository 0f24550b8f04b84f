"""Expression encoder (training only): tracked meshes -> one expression code per frame."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import LEAKY_SLOPE, MeshTalkConfig


class ExpressionEncoder(nn.Module):
    def __init__(self, config: MeshTalkConfig):
        super().__init__()
        shape = (1, 1, config.num_vertices, 3)
        # Per-vertex statistics of the training meshes (of their offsets from the identity
        # template in the "offsets" vertex space); set by the training loop.
        self.uses_offsets = config.vertex_space == "offsets"
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("stddev", torch.ones(shape))
        first, second = config.expression_widths
        self.layers = nn.ModuleList(
            [nn.Linear(config.num_vertices * 3, first), nn.Linear(first, second)]
        )
        self.lstm = nn.LSTM(second, config.expression_code, batch_first=True)
        self.code = nn.Linear(config.expression_code, config.expression_code)

    def forward(self, vertices: torch.Tensor, templates: torch.Tensor) -> torch.Tensor:
        """(B, T, V, 3) meshes, (B, 1, V, 3) their identities' templates -> (B, T, expression_code)."""
        if self.uses_offsets:
            vertices = vertices - templates
        x = (vertices - self.mean) / self.stddev
        x = x.flatten(start_dim=2)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), LEAKY_SLOPE)
        x, _ = self.lstm(x)
        return self.code(x)
