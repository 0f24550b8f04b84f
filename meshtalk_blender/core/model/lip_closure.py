"""Lip-closure detector: at which moments of speech the lips must meet (p, b, m).

The prior draws the mouth from audio and often leaves a bilabial ajar by 1-3 mm: the
bundled model alone sealed 58 % of the p/b/m of held-out synthetic voices and 83 % of
real ones, and a face that does not close on "b" looks wrong at once. This small dilated
CNN reads the same normalised log-mel as the audio encoder (100 Hz) and gives each frame
the probability of a bilabial closure; it is trained on the corpus's phoneme timings
(``training.lip_closure``). The pipeline blends the mouth to the template's closed rest
where it fires, as it does in pauses. It ships beside a bundle's weights, optionally:
the original release has none.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from ..errors import MeshTalkError
from ..tensor_checks import check_values
from .config import LEAKY_SLOPE, MEL_BANDS, MEL_RATE, MODEL_FPS
from .meshtalk import CODE_MARGIN, LogMelWindow
from .speech_encoder import FEATURE_RATE

CLOSURE_FILE = "lip_closure.safetensors"
# Probabilities -> blend weights: nothing below SEAL_FROM, fully closed from SEAL_FULL.
# Chosen on held-out voices and real speech with an earlier detector (see the model
# card): 0.3/0.6 sealed 78 % of held-out synthetic and 94 % of real p/b/m with the real
# lip-gap correlation unchanged. Kept for the detector trained with the peak term and
# read at the half frame: 90.2 % and 94 %, real r 0.829 -> 0.821.
SEAL_FROM, SEAL_FULL = 0.3, 0.6
INPUT_KERNEL = 5
MAX_WIDTH = 4096  # far above the shipped detector's 128; bounds what a damaged file can allocate
INPUT_STEPS = {"mel": 1, "speech": round(MEL_RATE / FEATURE_RATE)}  # mel frames per input frame
SPEECH_BLOCK_FRAMES = 3000  # speech-encoder frames (60 s) scored at a time


class EventDetector(nn.Module):
    """A dilated 1D CNN that gives each mel frame (100 Hz) one logit per kind of event it
    was trained on (a lip closure; the tongue's places, ``core.tongue``). It reads either
    the normalised log-mel (``inputs`` "mel") or the speech encoder's 50 Hz features
    (``inputs`` "speech", ``core.model.speech_encoder``), each repeated to the mel rate."""

    def __init__(self, width: int = 128, dilations: tuple[int, ...] = (2, 4, 8, 16), dropout: float = 0.1,
                 outputs: int = 1, inputs: str = "mel", input_channels: int = MEL_BANDS):
        super().__init__()
        if inputs not in INPUT_STEPS:
            raise ValueError(f"inputs {inputs!r}: not one of {sorted(INPUT_STEPS)}")
        self.width, self.dilations, self.dropout, self.outputs = width, tuple(dilations), dropout, outputs
        self.inputs, self.input_channels = inputs, input_channels
        self.input = nn.Conv1d(input_channels, width, INPUT_KERNEL, padding=INPUT_KERNEL // 2)
        self.convs = nn.ModuleList(nn.Conv1d(width, width, 3, padding=d, dilation=d) for d in self.dilations)
        self.output = nn.Conv1d(width, outputs, 1)

    @property
    def margin(self) -> int:
        """Mel frames it sees on each side of the frame it scores."""
        return INPUT_KERNEL // 2 + sum(self.dilations)

    @property
    def input_step(self) -> int:
        """Mel frames per input frame: 1 for the log-mel, 2 for the speech encoder's."""
        return INPUT_STEPS[self.inputs]

    def event_logits(self, features: torch.Tensor) -> torch.Tensor:
        """(B, C, N) inputs -> (B, E, N x ``input_step``) logits, E = ``outputs``, one per mel
        frame (zero-padded at the edges: frames within ``margin`` of an edge see less)."""
        x = features.repeat_interleave(self.input_step, dim=-1) if self.input_step > 1 else features
        x = F.leaky_relu(self.input(x), LEAKY_SLOPE)
        for conv in self.convs:
            x = F.dropout(F.leaky_relu(conv(x), LEAKY_SLOPE), self.dropout, self.training)
        return self.output(x)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.event_logits(features)

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """What the pipeline reads of its logits: each event's probability (a regressor, its value)."""
        return torch.sigmoid(logits)

    def settings(self) -> dict:
        return {"width": self.width, "dilations": list(self.dilations), "outputs": self.outputs,
                "inputs": self.inputs, "input_channels": self.input_channels}


class LipClosureDetector(EventDetector):
    # Probabilities -> seal weights: nothing below the first, fully closed from the second.
    # A detector trained since the recipe calibrates them (training.lip_closure
    # .calibrated_thresholds) carries its own in its file: two seeds of one recipe put
    # their probabilities in different places (at 0.3 / 0.6 one sealed 33 % of real
    # speech frames away from p/b/m, the other 45 %), and fire alike at equal false-alarm
    # rates. Older files use SEAL_FROM / SEAL_FULL.
    thresholds: tuple[float, float] = (SEAL_FROM, SEAL_FULL)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, 80, M) normalised log-mel -> (B, M) closure logits."""
        return self.event_logits(log_mel)[:, 0]

    def settings(self) -> dict:
        return {**super().settings(), "thresholds": list(self.thresholds)}


def frame_maxima(probabilities: np.ndarray, first_mel: int, frame_times: np.ndarray,
                 fps: float = MODEL_FPS) -> np.ndarray:
    """(..., M) per-mel-frame probabilities from 100 Hz grid index ``first_mel`` on ->
    (T, ...) float32: for each frame at ``frame_times`` (seconds) of a ``fps`` animation,
    the highest within half a frame of its time.

    A model frame stands for 1/30 s of speech, about 3 mel frames, and an event heard on
    any of them is shown: read at the frame's time alone, a closure of 20-30 ms that
    falls between two frames was lost (18 of the 159 held-out p/b/m the bundled model
    left open had been heard at over 0.6 this way)."""
    count = probabilities.shape[-1]
    positions = frame_times * MEL_RATE - first_mel
    half = 0.5 * MEL_RATE / fps
    reach = int(np.ceil(half))
    candidates = np.round(positions)[:, None].astype(np.int64) + np.arange(-reach, reach + 1)  # (T, 2 reach + 1)
    inside = (np.abs(candidates - positions[:, None]) <= half) & (candidates >= 0) & (candidates < count)
    picked = probabilities[..., np.clip(candidates, 0, count - 1)]  # (..., T, 2 reach + 1)
    return np.moveaxis(np.where(inside, picked, 0.0).max(axis=-1), -1, 0).astype(np.float32)


def closure_probabilities(detector: LipClosureDetector, window: LogMelWindow, frame_times: np.ndarray) -> np.ndarray:
    """(T,) float32 closure probability of the model frames at ``frame_times`` (seconds),
    from the log-mel window of those times (``meshtalk.log_mel_window``, which has
    ``CODE_MARGIN`` >= ``detector.margin`` frames of context on each side): the highest
    within half a frame of each frame's time (``frame_maxima``)."""
    probabilities = torch.sigmoid(detector(window.log_mel.to(detector.output.weight.dtype)))[0].float().cpu().numpy()
    return frame_maxima(probabilities, window.first_mel, frame_times)


def seal_weights(probabilities: np.ndarray, thresholds: tuple[float, float] = (SEAL_FROM, SEAL_FULL)) -> np.ndarray:
    """(T,) closure probabilities -> (T,) mouth blend weights in [0, 1], frame by frame,
    by a detector's ``thresholds`` (``closure_envelope`` then gives each closure its
    approach and release)."""
    start, full = thresholds
    return np.clip((probabilities - start) / (full - start), 0.0, 1.0).astype(np.float32)


# Real lips take 2-4 frames at 30 fps to meet and to part (the teacher: 60 ms approach,
# 35 ms release plus its coarticulation). Blended frame by frame, each seal was a snap
# from the model's open mouth to the closed rest and back: 12-14 mm in one frame on real
# speech, against the teacher's 4-5 mm. Each seal weight now reaches the frames within
# these times of it, eased (smoothstep): at 30 fps a frame one away gets 74 % of it, two
# away 26 %, so the lips travel over three frames.
CLOSURE_APPROACH_S = 0.1
CLOSURE_RELEASE_S = 0.1
ENVELOPE_REACH = int(np.ceil(max(CLOSURE_APPROACH_S, CLOSURE_RELEASE_S) * MODEL_FPS))  # model frames each side


def _ease(distance: np.ndarray, span: float) -> np.ndarray:
    x = np.clip(1.0 - distance / span, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def closure_envelope(weights: np.ndarray, first: int, stop: int, fps: float = MODEL_FPS,
                     approach_s: float = CLOSURE_APPROACH_S, release_s: float = CLOSURE_RELEASE_S) -> np.ndarray:
    """(stop - first,) the seal weights of frames [first, stop) with approaches and
    releases: the largest of each frame's neighbours' weights (within ENVELOPE_REACH
    frames at the model's rate, in ``weights`` (T,)), eased by their distance in time.
    Reads ``weights`` up to ``stop + ENVELOPE_REACH`` (fewer at the end)."""
    out = weights[first:stop].astype(np.float32).copy()
    for offset in range(1, int(np.ceil(max(approach_s, release_s) * fps)) + 1):
        seconds = offset / fps
        ahead, behind = _ease(seconds, approach_s), _ease(seconds, release_s)
        later = weights[first + offset:stop + offset]  # a closure after the frame: approaching it
        out[:len(later)] = np.maximum(out[:len(later)], ahead * later)
        start = max(first - offset, 0)
        earlier = weights[start:stop - offset]  # a closure before the frame: released from it
        out[len(out) - len(earlier):] = np.maximum(out[len(out) - len(earlier):], behind * earlier)
    return out


def save_detector(detector: EventDetector, path: str | Path, half_precision: bool = True) -> None:
    tensors = {k: v.detach().cpu().to(torch.float16 if half_precision else torch.float32).contiguous()
               for k, v in detector.state_dict().items()}
    save_file(tensors, str(path), metadata={"settings": json.dumps(detector.settings())})


def load_detector(path: str | Path, kind: type[EventDetector] = LipClosureDetector, outputs: int = 1,
                  what: str = "lip-closure detector") -> EventDetector:
    """Reads a detector written by ``save_detector`` as a ``kind`` with ``outputs`` events
    (files from before the setting existed have one), in float32 and eval mode."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            settings = json.loads(handle.metadata()["settings"])
        width, dilations = int(settings["width"]), tuple(int(d) for d in settings["dilations"])
        inputs, input_channels = str(settings.get("inputs", "mel")), int(settings.get("input_channels", MEL_BANDS))
        # Sizes are checked before anything is built: a damaged width must not allocate gigabytes.
        if not 1 <= width <= MAX_WIDTH or not 1 <= len(dilations) <= 16 or not all(d >= 1 for d in dilations):
            raise ValueError(f"width {width} and dilations {dilations} are not sizes it can have")
        if inputs not in INPUT_STEPS or not 1 <= input_channels <= MAX_WIDTH:
            raise ValueError(f"inputs {inputs!r} of {input_channels} channels are not inputs it can have")
        if int(settings.get("outputs", 1)) != outputs:
            raise ValueError(f"it gives {settings.get('outputs', 1)} kinds of event, not {outputs}")
        thresholds = settings.get("thresholds")
        if thresholds is not None:
            thresholds = tuple(float(t) for t in thresholds)
            if len(thresholds) != 2 or not 0.0 <= thresholds[0] < thresholds[1] <= 1.0:
                raise ValueError(f"thresholds {thresholds} are not two probabilities, the first below the second")
        margin = INPUT_KERNEL // 2 + sum(dilations)
        # A log-mel detector reads the pipeline's windows, which have CODE_MARGIN frames of
        # context; a speech detector reads the whole clip's features.
        fits = inputs != "mel" or margin <= CODE_MARGIN
        if fits:
            tensors = load_file(str(path))
            detector = kind(width, dilations, outputs=outputs, inputs=inputs, input_channels=input_channels)
            detector.load_state_dict({k: v.float() for k, v in tensors.items()})
            if thresholds is not None:
                detector.thresholds = thresholds
    except Exception as error:  # any damage: a clear message, never a half-loaded model
        raise MeshTalkError(f"Cannot read the {what} {path} ({error}); the file is damaged. "
                            f"Reinstall the add-on or delete the file to animate without it.") from None
    if not fits:
        raise MeshTalkError(f"The {what} {path} sees {margin} mel frames on each side; this "
                            f"version supports at most {CODE_MARGIN}. Delete the file to animate without it.")
    for key, tensor in tensors.items():
        check_values(Path(path).name, key, tensor, "Reinstall the add-on or delete the file to animate without it.")
    return detector.eval()


def speech_event_probabilities(detector: EventDetector, features: np.ndarray) -> np.ndarray:
    """(E, 2 F) float32 probabilities at the mel rate (100 Hz, from time 0) of a speech
    detector's events (``EventDetector.scores``: a regressor's values), from a whole clip's
    (F, C) speech-encoder features, scored SPEECH_BLOCK_FRAMES at a time with the
    detector's margin of context on each side."""
    context = -(-detector.margin // detector.input_step)
    step = detector.input_step
    parts = []
    with torch.inference_mode():
        for first in range(0, len(features), SPEECH_BLOCK_FRAMES):
            stop = min(len(features), first + SPEECH_BLOCK_FRAMES)
            low, high = max(0, first - context), min(len(features), stop + context)
            block = torch.from_numpy(np.ascontiguousarray(features[low:high].T, dtype=np.float32))[None]
            weight = detector.output.weight  # the detector's device and precision (a GPU run moves it)
            logits = detector.event_logits(block.to(device=weight.device, dtype=weight.dtype))[0]
            parts.append(detector.scores(logits[:, (first - low) * step:(stop - low) * step]).float().cpu().numpy())
    return np.concatenate(parts, axis=1) if parts else np.zeros((detector.outputs, 0), np.float32)
