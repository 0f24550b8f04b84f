"""Blinks that close and brows that rise in outputs that are vertices (point caches, the
compact basis), as the ARKit-weight outputs have them.

The model's blinks stop half way and its brows barely move (core/blinks.py,
core/brows.py). Where the output is the head's vertices, the blink and brow weights are
read from the frames as they stream (``add``: least squares on the lids' and brows'
vertices against the rig's shapes that move them), the whole take's are then completed
as the ARKit output completes them, and the difference, in the rig's blink and brow
shapes, is added back to the frames (``offsets``): only the lids and brows move, by what
the ARKit output would show. The eyes' gaze is not here:
the eyeballs are separate objects turned by the eyeLook keys.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from .atomic_files import write_failed
from .blinks import complete_blinks
from .brows import BROW_NAMES, add_brows

BLINK_NAMES = ("eyeBlinkLeft", "eyeBlinkRight")
SMALLEST_CHANGE = 1e-5  # weights: frames whose completion changes less are left as they are
RIDGE = 1e-4  # relative to a shape's mean squared norm: keeps the least squares stable
ALONE_TRAVEL, OTHERS_STILL = 1e-3, 2e-4  # metres at weight 1 (KeyReader's ``alone``)


class KeyReader:
    """Reads the weights of some of a rig's shapes from frames of its mesh, as they
    stream: plain least squares, over the vertices those shapes move, against every
    shape that moves them there (for the lids: squints, wide eyes, looks, sneers too).
    Exact for what the frames show (no smoothing over time, which would under-read a
    fast blink), and fast."""

    def __init__(self, deltas: np.ndarray, names: Sequence[str], neutral: np.ndarray, wanted: Sequence[str],
                 alone: bool = False):
        """(K, V, 3) the rig's shapes named ``names`` and (V, 3) its rest, in the output's
        space; ``wanted``: the shapes whose region is read. ``alone``: read them only where
        they move the mesh (over 1 mm at weight 1) and no other shape does (under 0.2 mm),
        e.g. the jaw's keys on the chin below the lips, where no mouth shape can stand in
        for them (over the whole lower face, least squares gave the mouth's keys the jaw's
        opening: jawOpen under 0.01 on the sample line)."""
        deltas = np.asarray(deltas, dtype=np.float64)
        self.names = list(names)
        self.neutral = np.asarray(neutral, dtype=np.float32)
        self.columns = [i for i, name in enumerate(self.names) if name in wanted]
        travel = np.abs(deltas).max(axis=2)  # (K, V)
        if alone:
            others = [k for k in range(len(deltas)) if k not in self.columns]
            self.region = np.flatnonzero((travel[self.columns].max(axis=0) > ALONE_TRAVEL)
                                         & (travel[others].max(axis=0) < OTHERS_STILL))
            self.keys = list(self.columns)
        else:
            self.region = np.flatnonzero(travel[self.columns].max(axis=0) > 1e-7)
            self.keys = [k for k in range(len(deltas)) if travel[k][self.region].max() > 1e-6]
        basis = deltas[self.keys][:, self.region].reshape(len(self.keys), -1)  # (K_r, 3 V_r)
        gram = basis @ basis.T
        ridge = RIDGE * float(np.trace(gram)) / len(self.keys)
        self.projection = np.linalg.solve(gram + ridge * np.eye(len(self.keys)), basis).astype(np.float32)
        self.chunks: list[np.ndarray] = []

    def reset(self) -> None:
        """Forgets the frames read so far (a take that is read again from its start)."""
        self.chunks = []

    def add(self, frames: np.ndarray) -> None:
        """(n, V, 3) the next frames of the take, in order."""
        moved = (np.asarray(frames, dtype=np.float32)[:, self.region] - self.neutral[self.region])
        self.chunks.append(moved.reshape(len(moved), -1) @ self.projection.T)

    def weights(self) -> np.ndarray:
        """(T, K) every shape's weight read so far, in [0, 1] (0 for shapes that do not
        move the region)."""
        read = np.concatenate(self.chunks) if self.chunks else np.zeros((0, len(self.keys)), np.float32)
        weights = np.zeros((len(read), len(self.names)), np.float32)
        weights[:, self.keys] = np.clip(read, 0.0, 1.0)
        return weights


class UpperFaceOnVertices(KeyReader):
    def __init__(self, deltas: np.ndarray, names: Sequence[str], neutral: np.ndarray):
        """(K, V, 3) the rig's shapes and (V, 3) its rest, in the output's space."""
        super().__init__(deltas, names, neutral, BLINK_NAMES + BROW_NAMES)
        self.shapes = np.asarray(deltas, dtype=np.float32)[self.columns]
        self.change: np.ndarray | None = None  # (T, len(columns)) once completed

    def reset(self) -> None:
        super().reset()
        self.change = None

    def complete(self, fps: float, drawn_brows: np.ndarray | None, redrawn: np.ndarray | None = None) -> None:
        """Completes the take's blinks, joins `drawn_brows` (T, K) to its brows, and keeps
        the change; `redrawn` (T,) in [0, 1]: how much of each frame is new (a resample
        leaves the rest as it was)."""
        weights = self.weights()
        completed = weights if drawn_brows is None else add_brows(weights, self.names, drawn_brows)
        completed = complete_blinks(completed, self.names, fps)
        change = (completed - weights)[:, self.columns]
        if redrawn is not None:
            change = change * np.asarray(redrawn, dtype=np.float32)[:, None]
        self.change = change.astype(np.float32)

    def offsets(self, first: int, count: int) -> np.ndarray | None:
        """(count, V, 3) what to add to frames [first, first + count), or None where
        nothing changes."""
        change = self.change[first:first + count]
        if not len(change) or np.abs(change).max() < SMALLEST_CHANGE:
            return None
        return np.einsum("tk,kvc->tvc", change, self.shapes)


def completed_frames(chunks: Iterable[np.ndarray], upper: UpperFaceOnVertices, complete: Callable[[int], None],
                     output: Path, block: int = 256) -> Iterator[np.ndarray]:
    """The frames of ``chunks`` ((n, V, 3) each) with the take's blinks and brows
    completed, in blocks of ``block`` frames, for the file ``output``.

    A blink needs its frames on both sides, so the whole take is read before the first
    frame can be given: the frames wait in an unnamed scratch file beside ``output``
    (memory stays flat for any length; the file disappears when closed, even on a crash)
    while ``upper`` reads them; ``complete(frame_count)`` then calls ``upper.complete``.
    For outputs that cannot be rewritten in place (an .npz's zip entry); a point cache
    is changed where it lies (``cache_io.CacheWriter.adjust``)."""
    upper.reset()  # a take run again (on the CPU after a GPU failed) is read afresh
    with tempfile.TemporaryFile(dir=Path(output).resolve().parent, prefix=".meshtalk-frames-") as scratch:
        count, shape = 0, None
        for frames in chunks:
            frames = np.ascontiguousarray(frames, dtype=np.float32)
            upper.add(frames)
            try:
                scratch.write(frames.tobytes())
            except OSError as error:  # a full disk: the user's message, as the output's own writes give
                raise write_failed(output, error) from None
            count, shape = count + len(frames), frames.shape[1:]
        complete(count)
        scratch.seek(0)
        for first in range(0, count, block):
            size = min(block, count - first)
            frames = np.frombuffer(scratch.read(size * 4 * int(np.prod(shape))), dtype=np.float32)
            frames = frames.reshape(size, *shape)
            offsets = upper.offsets(first, size)
            yield frames if offsets is None else frames + offsets


def for_bundled_head(neutral: np.ndarray) -> UpperFaceOnVertices:
    """For frames of the MeshTalk head's topology around ``neutral`` (V, 3) (any
    identity; the rig's shapes are the neutral head's)."""
    from .face import ARKIT_NAMES, arkit_deltas, load_bundled_head

    return UpperFaceOnVertices(arkit_deltas(load_bundled_head()), ARKIT_NAMES, neutral)
