"""Training the lip-tuck detector (core.lip_tuck) on the corpus's phoneme timings.

    OMP_NUM_THREADS=1 .venv/bin/python -m meshtalk_blender.training.lip_tuck --corpus /work/corpus \
        --real-corpus /work/corpus_real --out meshtalk_blender/assets/model/lip_tuck.safetensors

The lip-closure detector's recipe (``training.lip_closure``) with five target rows: the
labiodental fricatives (f, v), which the pipeline reads, then the bilabials and the
tongue's three places (``training.tongue``), learned beside them. The neighbours are what
f and v are confused with; as classes of their own they taught the detector to tell them
apart on real voices: on the real-speech report's English f/v, heard at 4 % false alarms
57 % with f/v alone, 67-71 % with the four neighbours (all trained on the synthetic and
the real corpora; /work/probe/fv_real.py). Held-out voices measure it as the seal's
detector.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from ..core.lip_tuck import LipTuckDetector
from ..core.model.speech_encoder import SpeechEncoder
from .dataset import Sequence
from .lip_closure import (EVENT_SETTINGS, ClosureTrainSettings, closure_targets, detector_command, segment_targets,
                          train_and_save_events)
from .metrics import labiodentals
from .tongue import tongue_targets


def tuck_targets(sequence: Sequence, count: int) -> torch.Tensor:
    """(5, count): 1.0 on the mel frames of f/v, then of p/b/m, then of each tongue place."""
    return torch.cat([segment_targets(labiodentals(sequence.metadata["phonemes"]), count)[None],
                      closure_targets(sequence, count), tongue_targets(sequence, count)])


def train_and_save(train: list[Sequence], validation: list[Sequence], out: Path,
                   settings: ClosureTrainSettings = EVENT_SETTINGS, device: str = "auto", log=print,
                   encoder: SpeechEncoder | None = None) -> dict:
    """Trains on the training voices, writes ``out`` and returns the report of its f/v
    output on the held-out ones (``lip_closure.detection_report``). With an ``encoder``
    the detector reads its features instead of the log-mel."""
    return train_and_save_events(train, validation, out, settings, device, log, LipTuckDetector, tuck_targets,
                                 "lip tuck", ("f/v",), encoder=encoder)


def main(argv: list[str] | None = None) -> int:
    return detector_command(argv, "meshtalk_blender.training.lip_tuck", __doc__.splitlines()[0], train_and_save,
                            EVENT_SETTINGS, speech_inputs=True)


if __name__ == "__main__":
    sys.exit(main())
