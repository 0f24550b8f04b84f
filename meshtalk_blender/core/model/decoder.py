"""Decoder ("vertex U-Net"): neutral template (the identity) + latent -> animated vertices.

The template is encoded by an MLP whose activations are kept as skips; the latent is
fused with the template code, run through an LSTM over time and decoded back up the
skips. The output is absolute vertex positions in the template's own space: in the
original's "absolute" vertex space the last layer predicts normalised positions; in the
"offsets" space (config.vertex_space) it predicts normalised offsets from the template.

At inference the template is the same for every frame, so it is encoded once
(``encode_template``), and the one-hot latent's product with the fusion weight is a
gather of one column per head (``decode_labels``); both give the same numbers as the
full per-frame computation (``forward``) that training uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .config import LEAKY_SLOPE, MeshTalkConfig


@dataclass
class TemplateEncoding:
    code: torch.Tensor  # (B, 1, code_width): the innermost template code
    skips: list[torch.Tensor]  # innermost first: (B, 1, 256), (B, 1, 512), (B, 1, V*3)
    template: torch.Tensor  # (B, 1, V, 3) as given


class Decoder(nn.Module):
    def __init__(self, config: MeshTalkConfig):
        super().__init__()
        self.config = config
        vertex_values = config.num_vertices * 3
        shape = (1, 1, config.num_vertices, 3)
        # Statistics of the input templates (and, in the absolute space, of the output).
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("stddev", torch.ones(shape))
        self.predicts_offsets = config.vertex_space == "offsets"
        if self.predicts_offsets:
            self.register_buffer("offset_mean", torch.zeros(shape))
            self.register_buffer("offset_stddev", torch.ones(shape))
        widths = list(config.decoder_widths)
        self.encoder = nn.ModuleList(
            nn.Linear(w_in, w_out) for w_in, w_out in zip([vertex_values] + widths[:-1], widths)
        )
        code_width = widths[-1]
        self.fusion = nn.Linear(code_width + config.latent_size, code_width)
        self.temporal = nn.LSTM(
            code_width, code_width, num_layers=config.decoder_lstm_layers, batch_first=True
        )
        outputs = list(reversed(widths[:-1])) + [vertex_values]
        self.decoder = nn.ModuleList(
            nn.Linear(w_in, w_out) for w_in, w_out in zip(list(reversed(widths)), outputs)
        )
        self.vertex_bias = nn.Parameter(torch.zeros(vertex_values))

    def encode_template(self, template: torch.Tensor) -> TemplateEncoding:
        """(B, T or 1, V, 3) template(s) -> their codes and skips."""
        x = ((template - self.mean) / self.stddev).flatten(start_dim=2)
        skips = []
        for layer in self.encoder:
            skips.insert(0, x)
            x = F.leaky_relu(layer(x), LEAKY_SLOPE)
        return TemplateEncoding(code=x, skips=skips, template=template)

    def forward(self, template: torch.Tensor, one_hot: torch.Tensor) -> torch.Tensor:
        """Training path. (B, T or 1, V, 3) templates, (B, T, H, C) one-hot -> (B, T, V, 3).
        A template given once per sequence (T = 1) is encoded once and used for every frame."""
        encoding = self.encode_template(template)
        latent = one_hot.flatten(start_dim=2)
        code = encoding.code.expand(-1, latent.shape[1], -1)
        fused = self.fusion(torch.cat([code, latent], dim=-1))
        hidden, _ = self.temporal(F.leaky_relu(fused, LEAKY_SLOPE))
        return self._decode(hidden, encoding)

    def decode_labels(
        self,
        encoding: TemplateEncoding,
        labels: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Inference path. (B, T, H) integer labels -> (B, T, V, 3) vertices and the LSTM
        state, which continues the sequence when passed to the next chunk."""
        code_width = encoding.code.shape[-1]
        template_part = encoding.code @ self.fusion.weight[:, :code_width].T + self.fusion.bias
        columns = labels + torch.arange(labels.shape[-1], device=labels.device) * self.config.num_classes
        latent_weight = self.fusion.weight[:, code_width:].T  # (H*C, width)
        latent_part = latent_weight[columns].sum(dim=2)  # (B, T, width)
        fused = F.leaky_relu(template_part + latent_part, LEAKY_SLOPE)
        hidden, state = self.temporal(fused, state)
        return self._decode(hidden, encoding), state

    def _decode(self, hidden: torch.Tensor, encoding: TemplateEncoding) -> torch.Tensor:
        x = hidden
        last = len(self.decoder) - 1
        for index, (layer, skip) in enumerate(zip(self.decoder, encoding.skips)):
            if index == last and self.predicts_offsets:
                # Offsets are signed and centred: a plain linear output, no template skip.
                x = layer(x)
            else:
                x = skip + F.leaky_relu(layer(x), LEAKY_SLOPE)
        x = x + self.vertex_bias
        x = x.view(*x.shape[:2], self.config.num_vertices, 3)
        if self.predicts_offsets:
            return encoding.template + x * self.offset_stddev + self.offset_mean
        return x * self.stddev + self.mean
