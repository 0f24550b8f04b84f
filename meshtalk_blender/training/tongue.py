"""Training the tongue detector (core.tongue) on the corpus's phoneme timings.

    OMP_NUM_THREADS=1 .venv/bin/python -m meshtalk_blender.training.tongue --corpus /work/corpus \
        [--real-corpus /work/corpus_real] --out meshtalk_blender/assets/model/tongue.safetensors

The lip-closure detector's recipe (``training.lip_closure``: random 2 s crops, per-frame
binary cross entropy plus each event's highest logit within 30 ms) with one target row
per place of articulation in ``core.tongue.TONGUE_KEYS`` order. Held-out voices measure
it, per place, as the lip seal's detector is measured.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from ..core.tongue import TONGUE_KEYS, TongueDetector
from .dataset import Sequence
from .lip_closure import EVENT_SETTINGS, ClosureTrainSettings, detector_command, segment_targets, train_and_save_events
from .speech import ipa

# The manners in which the tongue makes a contact or a narrow gap at its place (an
# approximant such as English r or j only comes near it).
CONTACT_MANNERS = {"stop", "nasal", "lateral", "tap", "trill", "fricative", "affricate"}
PLACES = {
    "tongueTipUp": {"alveolar", "retroflex"},
    "tongueDental": {"dental"},
    "tongueBackUp": {"velar", "uvular"},
}


def tongue_segments(phonemes: list[tuple[str, float, float]], key: str) -> list[tuple[float, float]]:
    """The (start_s, end_s) of the phonemes that put the tongue where ``key`` says."""
    places = PLACES[key]
    found = []
    for symbol, start, end in phonemes:
        if not ipa.is_known(symbol):
            continue
        features = ipa.features(symbol)
        if features.manner in CONTACT_MANNERS and features.place in places:
            found.append((start, end))
    return found


def tongue_targets(sequence: Sequence, count: int) -> torch.Tensor:
    """(3, count) 1.0 on the mel frames of each place's phonemes (TONGUE_KEYS order)."""
    phonemes = sequence.metadata["phonemes"]
    return torch.stack([segment_targets(tongue_segments(phonemes, key), count) for key in TONGUE_KEYS])


def train_and_save(train: list[Sequence], validation: list[Sequence], out: Path,
                   settings: ClosureTrainSettings = EVENT_SETTINGS, device: str = "auto", log=print) -> dict:
    """Trains on the training voices, writes ``out`` and returns, per key, the report on the
    held-out ones (``lip_closure.detection_report``)."""
    return train_and_save_events(train, validation, out, settings, device, log, TongueDetector, tongue_targets,
                                 "tongue", TONGUE_KEYS)


def main(argv: list[str] | None = None) -> int:
    return detector_command(argv, "meshtalk_blender.training.tongue", __doc__.splitlines()[0], train_and_save,
                            EVENT_SETTINGS)


if __name__ == "__main__":
    sys.exit(main())
