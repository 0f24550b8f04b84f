"""How far apart the lips are, heard through the speech encoder, and the jaw that follows it.

The model draws its mouth from its own log-mel encoder, trained mostly on synthetic voices;
on real voices its inner-lip gap follows the spoken openness at r 0.68 (the real-speech
report's English clean clips), where the speech encoder (``model.speech_encoder``, learned
from 680,000 hours of real speech) lets a small network hear it better. This regressor (the
event detectors' network, ``model.lip_closure.EventDetector``, one output) reads the
encoder's features and gives every 10 ms the teacher's inner-lip gap in millimetres
(``training.lip_gap``: trained on the teacher's faces of the synthetic and real corpora).

Where it is there, the pipeline moves the jaw (the MeshTalk head's jawOpen, as the lips'
parting does, ``lip_parting.PartingRig.follow``) so that the model's inner-lip gap goes
FOLLOW_OPENING of the way to a wider heard one (smoothed over SMOOTHING_S), and
FOLLOW_CLOSING of the way to a narrower one; the lips' shape, the upper face and
everything else stay the model's. It closes the mouth no further than the
parting's 2 mm, and does not open it where the lip seal closes it. The lip contacts come
after it: the lips part, tuck and seal on top of the heard opening. It is part of the
Lip Contacts switch (off: the model's own mouth). Models of another topology have no rig
and are unchanged.

Measured on the real-speech report's held-out speakers (/work/probe/s33/follow_smooth.py;
the regressor alone, /work/probe/s33/gap_eval.py, follows English clean speech at r 0.772):
- Following 0.5 / 0.75 / 1 of the way, both ways (no smoothing, the seal not yet kept):
  English clean r of the gap 0.679 -> 0.753 / 0.759 / 0.752, false closures 9.6 -> 6.3 /
  5.7 / 5.5 %, p/b/m sealed 91.7 -> 90.2 % each, pops 2.6 -> 3.3 / 3.8 / 5.2 a minute.
- Smoothed over 20 / 40 / 60 ms at 0.75: pops 3.1 / 2.2 / 1.7, r 0.759 / 0.757 / 0.752.
- Not opening where the seal closes: p/b/m sealed 89.8 -> 90.6 %, r 0.755. Not opening
  wherever a p/b/m may be heard (the parting's allowance) sealed 91.3 % at r 0.737 and
  false closures 7.5 %.
- Closing by 1 / 0.5 / 0.25 of the opening's share: r 0.752 / 0.753 / 0.751, false
  closures 5.8 / 5.7 / 5.7 %, while on the bundled sample line the widest 1 % of the
  mouth's openings reach 7.7 / 8.7 mm (10.0 mm without the heard gap).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from .errors import MeshTalkError
from .model.config import MEL_RATE
from .model.lip_closure import EventDetector, load_detector

GAP_FILE = "lip_gap.safetensors"
# The network's output times this is the gap in mm: targets of about one keep its
# training's numbers well scaled (the teacher's speech gaps: 0-25 mm).
GAP_SCALE_MM = 10.0
# Shares of the difference between the model's inner-lip gap and the heard one that the
# jaw takes on every output frame, where the heard gap is wider and where it is narrower
# (see above): the regressor's gaps regress to the mean, and closing by half as much
# keeps more of the model's widest openings at the same lip sync.
FOLLOW_OPENING = 0.75
FOLLOW_CLOSING = 0.375
# The heard gaps are smoothed by a Gaussian of this sigma (s): the regressor's 10 ms
# steps made pops (frame-to-frame jumps larger than the teacher's on the same clip).
SMOOTHING_S = 0.04


class LipGapRegressor(EventDetector):
    """One output: the inner-lip gap / GAP_SCALE_MM at every mel frame."""

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        return logits * GAP_SCALE_MM


def load_lip_gap_regressor(path: str | Path) -> LipGapRegressor:
    regressor = load_detector(path, LipGapRegressor, 1, "lip-gap regressor")
    if regressor.inputs != "speech":  # the pipeline hears it over the whole clip, as the encoder does
        raise MeshTalkError(f"The lip-gap regressor {path} reads the log-mel; only one that reads the speech "
                            "encoder's features can be used. Delete the file to animate without it.")
    return regressor


def smoothed_gaps(gaps_mm: np.ndarray) -> np.ndarray:
    """(M,) heard gaps at the mel rate, smoothed over SMOOTHING_S."""
    if len(gaps_mm) == 0:
        return gaps_mm
    return gaussian_filter1d(gaps_mm.astype(np.float64), SMOOTHING_S * MEL_RATE, mode="nearest").astype(np.float32)


def gaps_at(gaps_mm: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(T,) float32 heard gaps (mm) at ``times`` (s), from (M,) gaps at the mel rate from time 0
    (linear between mel frames; the last one held past the end)."""
    if len(gaps_mm) == 0:
        return np.zeros(len(times), np.float32)
    return np.interp(times * MEL_RATE, np.arange(len(gaps_mm)), gaps_mm).astype(np.float32)
