"""Sizes of a MeshTalk model, as one small dataclass that is saved next to the weights.

The original release is ``MeshTalkConfig.original()``; the bundled model is a smaller
instance of the same architecture. Everything that shapes a tensor is here, so a
checkpoint plus its config is enough to rebuild the model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

# Fixed by the design, not by a checkpoint: the audio front end and the model's clock.
AUDIO_SAMPLE_RATE = 16_000
MEL_BANDS = 80
MEL_HOP = 160  # samples: one mel frame every 10 ms
MEL_RATE = AUDIO_SAMPLE_RATE / MEL_HOP  # 100 mel frames per second
MODEL_FPS = 30.0  # the LSTMs and the prior were trained at 30 frames per second
AUDIO_KERNEL = 5
AUDIO_DILATIONS = (2, 4, 6, 2, 4, 6)
# Mel frames one audio code sees: the first conv plus the dilated ones = 101 (1 s).
AUDIO_RECEPTIVE_FIELD = 1 + (AUDIO_KERNEL - 1) * (1 + sum(AUDIO_DILATIONS))
LEAKY_SLOPE = 0.2
AUDIO_NORMALISATIONS = ("none", "utterance")
VERTEX_SPACES = ("absolute", "offsets")


@dataclass(frozen=True)
class MeshTalkConfig:
    num_vertices: int
    num_heads: int = 16
    num_classes: int = 128
    audio_channels: int = 128  # width of the audio encoder and size of the audio code
    expression_widths: tuple[int, int] = (256, 128)  # the expression encoder's MLP
    expression_code: int = 128  # LSTM width and expression code size
    fusion_width: int = 256
    decoder_widths: tuple[int, int, int] = (512, 256, 128)  # template encoder, outermost first
    decoder_lstm_layers: int = 2
    prior_channels: int = 64  # per head
    prior_dilations: tuple[int, ...] = (1, 2, 4, 8)
    # "none": log-mel as the original; "utterance": each clip's log-mel is normalised by its
    # own statistics (audio.MelStatistics), so that models trained on synthetic voices
    # carry over to real recordings (../shared/docs/synthetic-to-real.md).
    audio_normalisation: str = "none"
    # "absolute": the encoders see and the decoder outputs vertex positions normalised by
    # per-vertex statistics of the data, as the original. "offsets": they see and output
    # offsets from the sequence's own identity template, normalised by the offsets'
    # statistics. With many identities (the bundled corpus) the absolute statistics are
    # dominated by identity: upper-face motion was 1/6 of the std the encoder divided by.
    vertex_space: str = "absolute"

    def __post_init__(self):
        if self.audio_normalisation not in AUDIO_NORMALISATIONS:
            raise ValueError(f"audio_normalisation must be one of {AUDIO_NORMALISATIONS}")
        if self.vertex_space not in VERTEX_SPACES:
            raise ValueError(f"vertex_space must be one of {VERTEX_SPACES}")

    @staticmethod
    def original() -> "MeshTalkConfig":
        """The sizes of the original release (H=16, C=128, V=6172)."""
        return MeshTalkConfig(num_vertices=6172)

    @property
    def latent_size(self) -> int:
        return self.num_heads * self.num_classes

    @property
    def prior_lookback(self) -> int:
        """How many past frames the prior's output at frame t depends on (19 by default)."""
        return sum(dilation + 1 for dilation in self.prior_dilations)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @staticmethod
    def from_dict(values: dict) -> "MeshTalkConfig":
        known = {f.name for f in fields(MeshTalkConfig)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return MeshTalkConfig(**converted)
