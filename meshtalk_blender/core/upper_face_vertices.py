"""Blinks that close and brows that rise in outputs that are vertices (point caches, the
compact basis), as the ARKit-weight outputs have them.

The model's blinks stop half way and its brows barely move (core/blinks.py,
core/brows.py). Where the output is the head's vertices, the frames are solved into the
bundled rig's 52 ARKit weights as they stream (``add``), the whole take's blink and brow
weights are then completed as the ARKit output completes them, and the difference, in
the rig's blink and brow shapes, is added back to the frames (``offsets``): only the lids
and brows move, by exactly what the ARKit output would show. The eyes' gaze is not here:
the eyeballs are separate objects turned by the eyeLook keys.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from .blinks import complete_blinks
from .brows import BROW_NAMES, add_brows
from .retarget import BlendshapeSolver, SolveSettings

BLINK_NAMES = ("eyeBlinkLeft", "eyeBlinkRight")
SMALLEST_CHANGE = 1e-5  # weights: frames whose completion changes less are left as they are


class UpperFaceOnVertices:
    def __init__(self, deltas: np.ndarray, names: Sequence[str], neutral: np.ndarray):
        """(K, V, 3) the rig's shapes and (V, 3) its rest, in the output's space."""
        self.names = list(names)
        self.neutral = np.asarray(neutral, dtype=np.float32)
        # No smoothing over time: the change is added to the frames as they are, so the
        # weights must say what the frames show, not lag behind a fast blink.
        self.solver = BlendshapeSolver(deltas, self.names, replace(SolveSettings(), temporal_lower=0.0,
                                                                   temporal_upper=0.0))
        self.columns = [i for i, name in enumerate(self.names) if name in BLINK_NAMES or name in BROW_NAMES]
        self.shapes = np.asarray(deltas, dtype=np.float32)[self.columns]
        self.chunks: list[np.ndarray] = []
        self.change: np.ndarray | None = None  # (T, len(columns)) once completed

    def add(self, frames: np.ndarray) -> None:
        """(n, V, 3) the next frames of the take, in order."""
        self.chunks.append(self.solver.solve(np.asarray(frames, dtype=np.float32) - self.neutral))

    def complete(self, fps: float, drawn_brows: np.ndarray | None, redrawn: np.ndarray | None = None) -> None:
        """Completes the take's blinks, joins `drawn_brows` (T, K) to its brows, and keeps
        the change; `redrawn` (T,) in [0, 1]: how much of each frame is new (a resample
        leaves the rest as it was)."""
        weights = np.concatenate(self.chunks) if self.chunks else np.zeros((0, len(self.names)), np.float32)
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
