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
# Bounds on what a config may ask for, checked before anything is built (a damaged
# config.json once asked for 6.7 GB before failing). Each is far above the original
# release (6172 vertices, 16 heads x 128 classes, widths <= 2048, 52 million numbers).
MAX_VERTICES = 1_000_000
MAX_HEADS = 256
MAX_CLASSES = 4096
MAX_WIDTH = 16384
MAX_LSTM_LAYERS = 16
MAX_DILATION, MAX_DILATIONS = 4096, 32
MAX_MODEL_VALUES = 500_000_000  # weights and buffers: 2 GB in float32, ~10x the original release


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
        for name, upper in (("num_vertices", MAX_VERTICES), ("num_heads", MAX_HEADS), ("num_classes", MAX_CLASSES),
                            ("audio_channels", MAX_WIDTH), ("expression_code", MAX_WIDTH),
                            ("fusion_width", MAX_WIDTH), ("decoder_lstm_layers", MAX_LSTM_LAYERS),
                            ("prior_channels", MAX_WIDTH)):
            _check_size(name, getattr(self, name), upper)
        for name, count in (("expression_widths", 2), ("decoder_widths", 3), ("prior_dilations", None)):
            values = getattr(self, name)
            if not isinstance(values, tuple) or (count is not None and len(values) != count):
                raise ValueError(f"{name} must be a list of {count or 'some'} sizes (got {values!r})")
            for value in values:
                _check_size(name, value, MAX_DILATION if name == "prior_dilations" else MAX_WIDTH)
        if not 1 <= len(self.prior_dilations) <= MAX_DILATIONS:
            raise ValueError(f"prior_dilations must have 1 to {MAX_DILATIONS} entries")
        if self.audio_normalisation not in AUDIO_NORMALISATIONS:
            raise ValueError(f"audio_normalisation must be one of {AUDIO_NORMALISATIONS}")
        if self.vertex_space not in VERTEX_SPACES:
            raise ValueError(f"vertex_space must be one of {VERTEX_SPACES}")
        if self.num_values() > MAX_MODEL_VALUES:
            raise ValueError(f"these sizes make a model of {self.num_values() / 1e6:,.0f} million numbers "
                             f"({self.num_values() * 4 / 1e9:,.1f} GB); at most {MAX_MODEL_VALUES / 1e6:,.0f} million "
                             "are supported (the original release has 52 million)")

    def num_values(self) -> int:
        """Numbers in the model's weights and buffers (its state dict), from the sizes
        alone, so that a config can be refused before anything is allocated."""
        vertex_values, latent = 3 * self.num_vertices, self.latent_size
        audio, code, fusion, width = self.audio_channels, self.expression_code, self.fusion_width, self.prior_channels

        def linear(n_in, n_out, kernel=1):
            return n_in * n_out * kernel + n_out

        def lstm(n_in, hidden, layers=1):
            return sum(4 * hidden * ((n_in if i == 0 else hidden) + hidden) + 8 * hidden for i in range(layers))

        front_end = 800 + 1025 * MEL_BANDS
        audio_encoder = front_end + linear(MEL_BANDS, audio, AUDIO_KERNEL) + len(AUDIO_DILATIONS) * linear(
            audio, audio, AUDIO_KERNEL) + linear(audio, audio)
        first, second = self.expression_widths
        expression = 2 * vertex_values + linear(vertex_values, first) + linear(first, second) + lstm(
            second, code) + linear(code, code)
        fusion_mlp = linear(code + audio, fusion) + linear(fusion, fusion) + linear(fusion, latent)
        widths = list(self.decoder_widths)
        statistics = (4 if self.vertex_space == "offsets" else 2) * vertex_values
        encoder = sum(linear(a, b) for a, b in zip([vertex_values] + widths[:-1], widths))
        decoder_layers = sum(linear(a, b) for a, b in zip(reversed(widths), list(reversed(widths[:-1])) + [vertex_values]))
        decoder = statistics + encoder + linear(widths[-1] + latent, widths[-1]) + lstm(
            widths[-1], widths[-1], self.decoder_lstm_layers) + decoder_layers + vertex_values
        channels = self.num_heads * width
        masked = 2 * latent * channels + channels  # embedding: weight, its mask, bias
        context = len(self.prior_dilations) * (2 * channels * channels + channels  # masked weight, mask, bias
                                               + linear(audio, channels) + linear(channels, channels, 2))
        logits = 2 * channels * latent + latent
        return audio_encoder + expression + fusion_mlp + decoder + masked + context + logits

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
        if not isinstance(values, dict):
            raise ValueError(f"the config must be a JSON object (got {type(values).__name__})")
        known = {f.name for f in fields(MeshTalkConfig)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return MeshTalkConfig(**converted)


def _check_size(name: str, value, upper: int) -> None:
    # bool is an int in Python, and JSON gives floats (16.0, 1e9) where a size was meant.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number (got {value!r})")
    if not 1 <= value <= upper:
        raise ValueError(f"{name} must be between 1 and {upper} (got {value})")
