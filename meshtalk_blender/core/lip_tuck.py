"""The lip tuck of f and v: the lower lip rolled in, the upper teeth over it, heard from the audio.

A small detector (the lip seal's network, ``model.lip_closure.EventDetector``) reads the
same normalised log-mel as the model and gives each 10 ms the probability of a
labiodental (``training.lip_tuck``). Its first output is that; the other four (the lip
closure and the tongue's three places) are learned beside it so that it tells f and v
from the consonants nearest to them, and only the second (p/b/m) is read, for the lift
of the upper lip below.

Where it fires, the pipeline tucks the lower lip with the lip seal's approach and release,
the seal winning where both are heard: it adds the teacher's full tuck on the MeshTalk
head's ARKit rig (the lower lip rolled in, mouthRollLower, and lifted, mouthShrugLower,
so that its inner edge goes under the upper lip's; the upper lip lifted, mouthUpperUp)
and takes away TUCK_CLOSING of the mouth's opening. On the closed rest that is the
teacher's tuck: a 2.7 mm gap, the lower lip 1.6 mm up and behind the upper, and 2 mm of
the upper teeth showing between the lips, their edges hidden 5.8 mm down behind the
lower lip, as an f looks from the front (training.metrics.teeth_over_lip_frames). Seen
from the side the lip stays in front of the teeth: this head's lips are thick, their
inner edge 8 mm in front of the upper incisors, and ARKit's keys do not take the lip
that far back. Without the lift (before 2026-12-07) the upper lip covered the teeth and
the mouth read as closed. The lift needs the f/v heard more than a p/b/m by the same
detector (LIFT_FROM, LIFT_FULL), and gives way to the seal where the p/b/m detector hears
one (the pipeline's ``_tuck_weights``): teeth showing where the lips should meet read
worse than a closed f.

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

Since the speech-encoder detector, the lips kept apart in speech (core.lip_parting) and
the mouth's light smoothing (2026-12-07; /work/probe/s32/sweep2.py on the same English
clean clips), a tuck that takes more of the opening, on a mouth open wider, from a lower
probability, shows the teeth over the lip on more f/v: TUCK_CLOSING 0.5 -> 0.7, open from
3 / 5 mm -> 5 / 9 mm, heard from 0.3 / 0.6 -> 0.2 / 0.5 gave 59 -> 75 % of f/v with the
teeth over the lip, r 0.680 -> 0.679, false closures 9.4 -> 9.6 %, pops 2.0 -> 2.6 a
minute (over all English conditions 51 -> 67 %, r 0.660 -> 0.655; the other languages
31 -> 43 %, r 0.577 -> 0.560). 0.7 with 4 / 7 mm alone: 68 %; 1.0 with 4 / 7 mm: 70 %
and 2.8 pops.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .lip_parting import inner_lip_gap_mm
from .model.lip_closure import EventDetector, frame_maxima, load_detector

TUCK_FILE = "lip_tuck.safetensors"
# Output 0: f and v; then, learned beside it, p/b/m (read by tuck_scores) and the tongue's three places.
TUCK_OUTPUTS = 5
TUCK_ROLL = 0.6  # mouthRollLower at a full tuck: the lower lip rolls in ...
TUCK_SHRUG = 0.4  # ... and mouthShrugLower lifts it to the upper lip's edge,
TUCK_UPPER_UP = 0.7  # ... while mouthUpperUp lifts the upper lip off the teeth, which then show over it
# The full tuck as ARKit weights, the lower lip's and the upper lip's lift apart (the
# pipeline weighs the lift on its own); the teacher keys the same pose.
TUCK_LOWER_LIP = {"mouthRollLower": TUCK_ROLL, "mouthShrugLower": TUCK_SHRUG}
TUCK_UPPER_LIP = {"mouthUpperUpLeft": TUCK_UPPER_UP, "mouthUpperUpRight": TUCK_UPPER_UP}
TUCK_CLOSING = 0.7  # share of the mouth's opening (from the closed rest) a full tuck takes away
# Probabilities -> weights, as the seal's SEAL_FROM / SEAL_FULL. On the real-speech
# report's English clips the shipped detector passes 0.66 on 67 % of the f/v and on 4 %
# of the speech frames more than 60 ms from any, 0.36 on 81 % and 8 %
# (/work/probe/fv_real.py); 0.5 / 0.8 tucked 33 % of them instead of 41 % (the tuck pose).
# The speech-encoder detector since: 0.2 / 0.5 (see above).
TUCK_FROM = 0.2
TUCK_FULL = 0.5
# The model's inner-lip gap (mm) under which the tuck is whole, and over which there is none.
TUCK_OPEN_FROM_MM = 5.0
TUCK_OPEN_TO_MM = 9.0
# The upper lip lifts where f/v is heard more than p/b/m (the detector's second output),
# fully from LIFT_FULL more. The two are heard together on most real labials: on the
# real-speech report's English clean clips the f/v output passes 0.47 on 80 % of the f/v
# and on 51 % of the p/b/m, the f/v output less the p/b/m output passes 0.01 on 80 % of
# the f/v and 34 % of the p/b/m (/work/probe/s29/fv_vs_pbm.py). A lift on a p/b/m shows
# the teeth where the lips should meet.
LIFT_FROM = 0.0
LIFT_FULL = 0.3


class LipTuckDetector(EventDetector):
    """(B, 80, M) normalised log-mel -> (B, M) lip-tuck logits (its first output)."""

    def __init__(self, width: int = 128, dilations: tuple[int, ...] = (2, 4, 8, 16), dropout: float = 0.1,
                 outputs: int = TUCK_OUTPUTS, **inputs):
        super().__init__(width, dilations, dropout, outputs, **inputs)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        return self.event_logits(log_mel)[:, 0]


def load_tuck_detector(path: str | Path) -> LipTuckDetector:
    return load_detector(path, LipTuckDetector, TUCK_OUTPUTS, "lip-tuck detector")


def tuck_scores(detector: LipTuckDetector, window, frame_times: np.ndarray) -> np.ndarray:
    """(T, 2) for the model frames at ``frame_times`` (s), from their log-mel ``window``
    (``meshtalk.log_mel_window``): the f/v probability, and the f/v probability less the
    p/b/m one, each the highest within half a frame (``frame_maxima``)."""
    logits = detector.event_logits(window.log_mel.to(detector.output.weight.dtype))
    return scores_of_probabilities(torch.sigmoid(logits)[0].float().cpu().numpy(), window.first_mel, frame_times)


def scores_of_probabilities(probabilities: np.ndarray, first_mel: int, frame_times: np.ndarray) -> np.ndarray:
    """(T, 2) ``tuck_scores`` from the detector's (5, M) probabilities of mel frames from
    ``first_mel`` on."""
    scores = np.stack([probabilities[0], probabilities[0] - probabilities[1]])
    return frame_maxima(scores, first_mel, frame_times)


def tuck_weights(scores: np.ndarray) -> np.ndarray:
    """(T, 2) ``tuck_scores`` -> (T, 2) blend weights in [0, 1], frame by frame: of the
    tuck, and of its lift of the upper lip (never more than the tuck's)."""
    tuck = np.clip((scores[:, 0] - TUCK_FROM) / (TUCK_FULL - TUCK_FROM), 0.0, 1.0)
    lift = np.clip((scores[:, 1] - LIFT_FROM) / (LIFT_FULL - LIFT_FROM), 0.0, 1.0)
    return np.stack([tuck, np.minimum(tuck, lift)], axis=1).astype(np.float32)


@dataclass(frozen=True)
class TuckRig:
    offsets: np.ndarray  # (V, 3) the full tuck's offsets from the closed rest, the upper lip's lift aside
    lift: np.ndarray  # (V, 3) the full tuck's lift of the upper lip
    upper_lip: np.ndarray  # (P,) inner-lip vertex pairs, upper and lower
    lower_lip: np.ndarray

    def tuck(self, frames: np.ndarray, template: np.ndarray, mouth: np.ndarray, weights: np.ndarray,
             lift_weights: np.ndarray | None = None) -> np.ndarray:
        """(n, V, 3) frames with the lower lip tucked by (n,) weights in [0, 1], within the
        (V,) mouth mask and as far as the frames' lips are nearly closed; ``template`` is
        the closed rest. The upper lip lifts by ``lift_weights`` (by default ``weights``)."""
        if not weights.any():  # most frames of speech: nothing heard, nothing to compute
            return frames
        lift_weights = weights if lift_weights is None else lift_weights
        near = (1.0 - self.openness(frames))[:, None, None] * mouth[None, :, None]
        amount = weights[:, None, None] * near
        moved = (frames + amount * (TUCK_CLOSING * (template[None] - frames) + self.offsets[None])
                 + (lift_weights[:, None, None] * near) * self.lift[None])
        return moved.astype(frames.dtype, copy=False)

    def openness(self, frames: np.ndarray) -> np.ndarray:
        """(n,) in [0, 1] for (n, V, 3) frames in metres: 0 where the lips are at most
        TUCK_OPEN_FROM_MM apart (a tuck finishes them), 1 from TUCK_OPEN_TO_MM."""
        gap_mm = inner_lip_gap_mm(frames, self.upper_lip, self.lower_lip)
        return np.clip((gap_mm - TUCK_OPEN_FROM_MM) / (TUCK_OPEN_TO_MM - TUCK_OPEN_FROM_MM), 0.0, 1.0)


@functools.lru_cache(maxsize=2)
def tuck_rig(num_vertices: int) -> TuckRig | None:
    """The tuck for models of the MeshTalk head's topology; None for any other."""
    from .face import ARKIT_INDEX, arkit_deltas, load_bundled_head

    head = load_bundled_head()
    if head.vertex_count != num_vertices:
        return None
    deltas = arkit_deltas(head)
    offsets, lift = (sum(weight * deltas[ARKIT_INDEX[name]] for name, weight in pose.items())
                     for pose in (TUCK_LOWER_LIP, TUCK_UPPER_LIP))
    for array in (offsets, lift):
        array.setflags(write=False)
    sets = head.index_sets
    return TuckRig(offsets, lift, np.asarray(sets["upper_inner_lip"]), np.asarray(sets["lower_inner_lip"]))
