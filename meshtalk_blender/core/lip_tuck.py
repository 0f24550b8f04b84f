"""The lip tuck of f and v: the lower lip rolled in under the upper lip, heard from the audio.

A small detector (the lip seal's network, ``model.lip_closure.EventDetector``) reads the
same normalised log-mel as the model and gives each 10 ms the probability of a
labiodental (``training.lip_tuck``). Its first output is that; the other four (the lip
closure and the tongue's three places) are learned beside it only so that it tells f and
v from the consonants nearest to them, and are not read here.

Where it fires, the pipeline tucks the lower lip with the lip seal's approach and release,
the seal winning where both are heard: it adds the teacher's full tuck on the MeshTalk
head's ARKit rig (the lower lip rolled in, mouthRollLower, and lifted, mouthShrugLower,
so that its inner edge goes under the upper lip's) and takes away TUCK_CLOSING of the
mouth's opening. On the closed rest that is the teacher's tuck: a 2.1 mm gap, the lower
lip 1.6 mm up and 1.9 mm behind the upper (training.metrics counts a tuck from 0.8 mm up
and 1 mm behind, within 3 mm). The upper incisors sit 5 mm further back behind the
upper lip, which this head's lips cover at rest: the lip does not reach them.

The tuck only finishes a mouth that is already nearly closed: its weight fades out as the
model's own inner-lip gap opens from TUCK_OPEN_FROM_MM to TUCK_OPEN_TO_MM. On real voices
the detector also fires on some vowels, and a tuck there pulled the open mouth shut (an
earlier version, blending the whole mouth to the tuck pose wherever it fired: r of the
lip gap 0.60 -> 0.50 on the real-speech report's English; see the model card).

Measured on that report's English clean clips (its held-out speakers; /work/probe/
tuck_thresholds.py): how much of the opening a tuck takes away trades tucks for lip sync:
none (the roll and lift added alone) tucked 25 % of f/v, half 34 %, all (the tuck pose)
41 %, with r 0.594 / 0.591 / 0.587 (0.595 without a tuck) and the lips within 1.5 mm on
27.6 / 29.1 / 31.8 % of the speech frames away from p/b/m (28.5 % without; the tuck's
own contact counts there). Models of another topology have no rig, and no tuck.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .model.lip_closure import EventDetector, load_detector

TUCK_FILE = "lip_tuck.safetensors"
# Output 0: f and v; then, learned beside it, p/b/m and the tongue's three places.
TUCK_OUTPUTS = 5
TUCK_ROLL = 0.6  # mouthRollLower at a full tuck: the lower lip rolls in ...
TUCK_SHRUG = 0.4  # ... and mouthShrugLower lifts it to the upper lip's edge
TUCK_CLOSING = 0.5  # share of the mouth's opening (from the closed rest) a full tuck takes away
# Probabilities -> weights, as the seal's SEAL_FROM / SEAL_FULL. On the real-speech
# report's English clips the shipped detector passes 0.66 on 67 % of the f/v and on 4 %
# of the speech frames more than 60 ms from any, 0.36 on 81 % and 8 %
# (/work/probe/fv_real.py); 0.5 / 0.8 tucked 33 % of them instead of 41 % (the tuck pose).
TUCK_FROM = 0.3
TUCK_FULL = 0.6
# The model's inner-lip gap (mm) under which the tuck is whole, and over which there is none.
TUCK_OPEN_FROM_MM = 3.0
TUCK_OPEN_TO_MM = 5.0


class LipTuckDetector(EventDetector):
    """(B, 80, M) normalised log-mel -> (B, M) lip-tuck logits (its first output)."""

    def __init__(self, width: int = 128, dilations: tuple[int, ...] = (2, 4, 8, 16), dropout: float = 0.1,
                 outputs: int = TUCK_OUTPUTS):
        super().__init__(width, dilations, dropout, outputs)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        return self.event_logits(log_mel)[:, 0]


def load_tuck_detector(path: str | Path) -> LipTuckDetector:
    return load_detector(path, LipTuckDetector, TUCK_OUTPUTS, "lip-tuck detector")


def tuck_weights(probabilities: np.ndarray) -> np.ndarray:
    """(T,) tuck probabilities -> (T,) blend weights in [0, 1], frame by frame."""
    return np.clip((probabilities - TUCK_FROM) / (TUCK_FULL - TUCK_FROM), 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class TuckRig:
    offsets: np.ndarray  # (V, 3) the full tuck's offsets from the closed rest
    upper_lip: np.ndarray  # (P,) inner-lip vertex pairs, upper and lower
    lower_lip: np.ndarray

    def tuck(self, frames: np.ndarray, template: np.ndarray, mouth: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """(n, V, 3) frames with the lower lip tucked by (n,) weights in [0, 1], within the
        (V,) mouth mask and as far as the frames' lips are nearly closed; ``template`` is
        the closed rest."""
        if not weights.any():  # most frames of speech: nothing heard, nothing to compute
            return frames
        amount = (weights * (1.0 - self.openness(frames)))[:, None, None] * mouth[None, :, None]
        moved = frames + amount * (TUCK_CLOSING * (template[None] - frames) + self.offsets[None])
        return moved.astype(frames.dtype, copy=False)

    def openness(self, frames: np.ndarray) -> np.ndarray:
        """(n,) in [0, 1] for (n, V, 3) frames in metres: 0 where the lips are at most
        TUCK_OPEN_FROM_MM apart (a tuck finishes them), 1 from TUCK_OPEN_TO_MM."""
        gap_mm = np.linalg.norm(frames[:, self.upper_lip] - frames[:, self.lower_lip], axis=-1).mean(axis=1) * 1000.0
        return np.clip((gap_mm - TUCK_OPEN_FROM_MM) / (TUCK_OPEN_TO_MM - TUCK_OPEN_FROM_MM), 0.0, 1.0)


@functools.lru_cache(maxsize=2)
def tuck_rig(num_vertices: int) -> TuckRig | None:
    """The tuck for models of the MeshTalk head's topology; None for any other."""
    from .face import ARKIT_INDEX, arkit_deltas, load_bundled_head

    head = load_bundled_head()
    if head.vertex_count != num_vertices:
        return None
    deltas = arkit_deltas(head)
    offsets = TUCK_ROLL * deltas[ARKIT_INDEX["mouthRollLower"]] + TUCK_SHRUG * deltas[ARKIT_INDEX["mouthShrugLower"]]
    offsets.setflags(write=False)
    sets = head.index_sets
    return TuckRig(offsets, np.asarray(sets["upper_inner_lip"]), np.asarray(sets["lower_inner_lip"]))
