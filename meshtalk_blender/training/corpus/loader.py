"""Load a corpus split as training ``Sequence`` objects."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core.audio import normalise_waveform
from ..dataset import Sequence
from .manifest import SPLITS, read_manifest
from .storage import read_sequence


def load_corpus(folder: Path, split: str = "train", audio: str = "heard",
                vertex_dtype=np.float16, limit: int | None = None) -> list[Sequence]:
    """The sequences of ``split`` ('train' or 'validation'), in manifest order.

    ``audio``: 'heard' is what the corpus made the model hear (augmented for some
    sequences), 'clean' the clean speech with the same timing. The waveform is
    loudness-normalised as the model expects (core.audio.normalise_waveform).
    Vertices (T, V, 3) come as ``vertex_dtype`` (float16 halves the memory of hours of
    meshes; the training batcher converts to float32). metadata holds voice_id,
    language, text, phonemes [(ipa, start_s, end_s)], arkit (T, 52), identity, seed,
    split, augmented, style and events.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    if audio not in ("heard", "clean"):
        raise ValueError("audio must be 'heard' or 'clean'")
    folder = Path(folder)
    manifest = read_manifest(folder)
    records = [r for r in manifest["sequences"] if r["split"] == split][:limit]
    sequences = []
    for record in records:
        stored = read_sequence(folder / record["file"])
        waveform = stored.audio_clean if audio == "clean" and stored.audio_clean is not None else stored.audio
        info = stored.info
        sequences.append(Sequence(
            waveform=normalise_waveform(waveform),
            vertices=stored.vertices.astype(vertex_dtype, copy=False),
            template=stored.template.astype(np.float32),
            name=record["name"],
            metadata={
                "voice_id": info["voice_id"],
                "engine": info["engine"],
                "language": info["language"],
                "text": info["text"],
                "phonemes": stored.phonemes,
                "arkit": stored.arkit,
                "identity": info["identity"],
                "seed": info["seed"],
                "split": info["split"],
                "augmented": info["augmented"],
                "augmentation": info["augmentation"],
                "style": info["style"],
                "events": info["events"],
            },
        ))
    return sequences
