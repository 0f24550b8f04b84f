"""Load a corpus split as training ``Sequence`` objects."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core.audio import normalise_waveform
from ...core.face import IdentityParams, arkit_deltas, build_head
from ...core.face.rig import blend_rows
from ..dataset import Sequence
from .manifest import SPLITS, read_manifest
from .storage import read_sequence


class RigOffsets:
    """(T, V, 3) offsets of one sequence made on demand from its ARKit weights (T, 52) and
    its identity's shape deltas (52, V, 3) kept in float16: 1.1 MB per sequence instead of
    0.66 MB per second of float16 offsets, so hours of real and synthetic speech fit in
    memory together. Rounding the deltas to float16 moves a vertex by at most ~10 um
    (the stored float16 offsets: ~5 um). Indexing the first axis gives float32 arrays."""

    def __init__(self, arkit: np.ndarray, deltas: np.ndarray):
        self._arkit = np.ascontiguousarray(arkit, dtype=np.float32)
        self._deltas = np.ascontiguousarray(deltas.reshape(len(deltas), -1), dtype=np.float16)
        self.shape = (len(arkit), deltas.shape[1], 3)
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        weights = self._arkit[index]
        products = blend_rows(weights.reshape(-1, len(self._deltas)), self._deltas.astype(np.float32))
        return products.reshape(*weights.shape[:-1], *self.shape[1:])

    def astype(self, dtype, copy: bool = True) -> np.ndarray:
        return self[:].astype(dtype, copy=False)


def load_corpus(folder: Path, split: str = "train", audio: str = "heard",
                vertex_dtype=np.float16, limit: int | None = None, lazy: bool = False) -> list[Sequence]:
    """The sequences of ``split`` ('train' or 'validation'), in manifest order.

    ``audio``: 'heard' is what the corpus made the model hear (augmented for some
    sequences), 'clean' the clean speech with the same timing. The waveform is
    loudness-normalised as the model expects (core.audio.normalise_waveform).
    Meshes come as offsets from the template (T, V, 3) in ``vertex_dtype`` (float16
    halves the memory of hours of meshes; the training batcher converts to float32),
    rebuilt exactly from the stored ARKit weights and identity: the stored float16
    positions are exact only to ~0.03 mm. metadata holds voice_id,
    language, text, phonemes [(ipa, start_s, end_s)], arkit (T, 52), identity, seed,
    split, augmented, style and events. ``lazy``: offsets as ``RigOffsets`` (made from the
    ARKit weights when read; for training on more speech than the memory holds as meshes).
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
            offsets=rig_offsets(stored, record["file"]) if lazy
            else exact_offsets(stored, record["file"]).astype(vertex_dtype, copy=False),
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


# The stored float16 positions round by up to half a step: 0.06 mm at 0.25 m from the origin.
STORED_PRECISION = 1e-4  # metres
# Rig refinements since a corpus was made may move a few vertices (measured: two lid
# vertices by 0.3 mm after a lid-gap refactor); the rebuilt meshes follow today's rig,
# which is what users animate. More than this share of vertices off means another rig.
CHANGED_VERTEX_SHARE = 0.01


def exact_offsets(stored, name: str) -> np.ndarray:
    """(T, V, 3) float32 offsets from the template: the sequence's ARKit weights through
    its identity's rig, checked against the stored meshes so that a different head or
    rig is caught rather than trained on."""
    return _checked(stored, name)[0]


def rig_offsets(stored, name: str) -> RigOffsets:
    """The same offsets as ``exact_offsets`` (checked the same way), made when read."""
    return RigOffsets(stored.arkit, _checked(stored, name)[1])


def _checked(stored, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(offsets (T, V, 3), the identity's deltas (52, V, 3)), both float32, after the check."""
    head = build_head(IdentityParams(*(float(v) for v in stored.identity)))
    deltas = arkit_deltas(head)
    offsets = (stored.arkit @ deltas.reshape(len(deltas), -1)).reshape(stored.vertices.shape)
    stored_offsets = stored.vertices.astype(np.float32) - stored.template
    changed = (np.abs(offsets - stored_offsets).max(axis=(0, 2)) > STORED_PRECISION).mean()
    if not np.allclose(head.vertices, stored.template, atol=1e-6) or changed > CHANGED_VERTEX_SHARE:
        raise ValueError(f"{name}: the head rig no longer reproduces this corpus's meshes; "
                         "regenerate the corpus with this version (training.corpus)")
    return offsets, deltas
