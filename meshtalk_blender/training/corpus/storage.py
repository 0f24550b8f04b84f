"""One corpus sequence on disk: a compressed .npz and what it holds.

Arrays (shapes; T frames at 30 fps, N samples at 16 kHz, V = 3,656 face vertices):
    audio         (N,) float32   what the model hears (augmented when ``augmented``)
    audio_clean   (N,) float32   only when augmented: the clean speech, same timing
    vertices      (T, V, 3) float16  metres, the face mesh of the identity, animated
    template      (V, 3) float32  that identity's neutral face
    arkit         (T, 52) float32  the teacher's ARKit weights (ARKIT_NAMES order)
    identity      (13,) float32  IdentityParams in field order
    phoneme_symbols (P,) str, phoneme_times (P, 2) float64 s: IPA phonemes tiling the audio
    info          JSON string: seed, voice, language, split, text, style, events, ...
Absolute float16 vertices are exact to ~0.03 mm at head size and compress better than
offsets, because vertices that do not move repeat bit for bit from frame to frame.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class StoredSequence:
    audio: np.ndarray
    audio_clean: np.ndarray | None
    vertices: np.ndarray
    template: np.ndarray
    arkit: np.ndarray
    identity: np.ndarray
    phonemes: list[tuple[str, float, float]]
    info: dict


def write_sequence(path: Path, sequence: StoredSequence) -> int:
    """Write atomically (temporary file, then rename); returns the file size in bytes."""
    arrays = {
        "audio": sequence.audio.astype(np.float32),
        "vertices": sequence.vertices.astype(np.float16),
        "template": sequence.template.astype(np.float32),
        "arkit": sequence.arkit.astype(np.float32),
        "identity": sequence.identity.astype(np.float32),
        "phoneme_symbols": np.array([p[0] for p in sequence.phonemes], dtype=str),
        "phoneme_times": np.array([(p[1], p[2]) for p in sequence.phonemes], dtype=np.float64).reshape(-1, 2),
        "info": np.array(json.dumps(sequence.info, ensure_ascii=False)),
    }
    if sequence.audio_clean is not None:
        arrays["audio_clean"] = sequence.audio_clean.astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    os.replace(partial, path)
    return path.stat().st_size


def read_sequence(path: Path) -> StoredSequence:
    with np.load(path, allow_pickle=False) as data:
        symbols = [str(s) for s in data["phoneme_symbols"]]
        times = data["phoneme_times"]
        return StoredSequence(
            audio=data["audio"],
            audio_clean=data["audio_clean"] if "audio_clean" in data.files else None,
            vertices=data["vertices"],
            template=data["template"],
            arkit=data["arkit"],
            identity=data["identity"],
            phonemes=[(symbol, float(start), float(end)) for symbol, (start, end) in zip(symbols, times)],
            info=json.loads(str(data["info"])),
        )
