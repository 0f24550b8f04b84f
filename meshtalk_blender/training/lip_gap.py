"""Training the lip-gap regressor (core.lip_gap) on the teacher's faces.

    OMP_NUM_THREADS=1 .venv/bin/python -m meshtalk_blender.training.lip_gap --corpus /work/corpus \
        --real-corpus /work/corpus_real --speech-encoder meshtalk_blender/assets/model/speech_encoder.safetensors \
        --out meshtalk_blender/assets/model/lip_gap.safetensors

The detectors' recipe (``training.lip_closure``: their network on the speech encoder's
features, random 2 s crops, 16 per batch, Adam, here x0.1 for the last 900 steps) with one target row: the teacher's
inner-lip gap at every mel frame (linear between its 30 fps frames), in units of
``core.lip_gap.GAP_SCALE_MM``, learned by mean squared error. The faces are the corpus's own
labels, so the regressor hears what the teacher would draw for the words, where the model
draws from its log-mel encoder. Held-out voices measure it: the correlation of its gaps
with the teacher's, and their error in mm.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..core.face import load_bundled_head
from ..core.lip_gap import GAP_SCALE_MM, LipGapRegressor
from ..core.lip_parting import inner_lip_gap_mm
from ..core.model.config import MEL_RATE, MODEL_FPS
from ..core.model.lip_closure import save_detector
from ..core.model.speech_encoder import SpeechEncoder
from .dataset import Sequence
from .lip_closure import SPEECH_SETTINGS, ClosureTrainSettings, detector_command, examples, train_detector

# The learning rate x0.1 for the last 900 of its 6,000 steps: a probe of the recipe
# (/work/probe/s33/gap_reg.py) went from a training loss of 0.025 to 0.020 there.
SETTINGS = replace(SPEECH_SETTINGS, regression=True, peak_weight=0.0, decay_after=5100)
FRAMES_AT_ONCE = 500  # meshes rebuilt at a time (a lazy corpus makes them from its ARKit weights)


def teacher_gaps_mm(sequence: Sequence) -> np.ndarray:
    """(T,) the inner-lip gap (mm) of the sequence's faces at 30 fps."""
    sets = load_bundled_head().index_sets
    upper, lower = np.asarray(sets["upper_inner_lip"]), np.asarray(sets["lower_inner_lip"])
    return np.concatenate([inner_lip_gap_mm(sequence.frames(first, min(first + FRAMES_AT_ONCE, sequence.num_frames)),
                                            upper, lower)
                           for first in range(0, sequence.num_frames, FRAMES_AT_ONCE)] or [np.zeros(0)])


def gap_targets(sequence: Sequence, count: int) -> torch.Tensor:
    """(1, count) the teacher's inner-lip gap / GAP_SCALE_MM at the first ``count`` mel frames."""
    gaps = teacher_gaps_mm(sequence)
    at_mel = np.interp(np.arange(count) / MEL_RATE, np.arange(len(gaps)) / MODEL_FPS, gaps)
    return torch.from_numpy((at_mel / GAP_SCALE_MM).astype(np.float32))[None]


def gap_report(regressor: LipGapRegressor, sequences: list[Sequence], encoder: SpeechEncoder) -> dict:
    """On held-out voices: the correlation of the heard gaps with the teacher's (all frames
    pooled) and their root mean square error in mm."""
    heard, teacher = [], []
    with torch.no_grad():
        for inputs, target in examples(sequences, gap_targets, encoder):
            heard.append(regressor.scores(regressor.event_logits(inputs[None].float()))[0, 0].numpy())
            teacher.append(target[0].numpy() * GAP_SCALE_MM)
    heard, teacher = np.concatenate(heard), np.concatenate(teacher)
    return {"frames": len(heard), "gap_r": float(np.corrcoef(heard, teacher)[0, 1]),
            "rms_error_mm": float(np.sqrt(np.mean((heard - teacher) ** 2)))}


def train_and_save(train: list[Sequence], validation: list[Sequence], out: Path,
                   settings: ClosureTrainSettings = SETTINGS, device: str = "auto", log=print,
                   encoder: SpeechEncoder | None = None) -> dict:
    """Trains on the training voices, writes ``out`` and returns the report on the held-out ones."""
    if encoder is None:
        raise ValueError("the lip-gap regressor reads the speech encoder's features: give the encoder")
    regressor = train_detector(train, settings, device, log, LipGapRegressor, gap_targets, "lip gap", encoder)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_detector(regressor, out)
    report = gap_report(regressor, validation, encoder)
    log(f"lip gap on held-out voices: {report}")
    return report


def main(argv: list[str] | None = None) -> int:
    return detector_command(argv, "meshtalk_blender.training.lip_gap", __doc__.splitlines()[0], train_and_save,
                            SETTINGS, speech_inputs=True, speech_defaults=SETTINGS)


if __name__ == "__main__":
    sys.exit(main())
