"""The lip tuck of f and v: the pose the mouth is blended to where the lip-tuck detector
hears a labiodental (core.model.lip_closure), as it is blended to the closed rest on p, b
and m.

The pose is the teacher's full tuck on the MeshTalk head's ARKit rig: the jaw closed, the
lower lip rolled in (mouthRollLower) and lifted (mouthShrugLower) so that its inner edge
sits under the upper lip's, against the upper teeth. Measured on the bundled head: a
2.1 mm gap, the lower lip 1.6 mm up and 1.9 mm behind the upper (training.metrics counts
a tuck from 0.8 mm up and 1 mm behind, within 3 mm). Models of another topology have no
rig to make it from, and no tuck.
"""

from __future__ import annotations

import functools

import numpy as np

TUCK_ROLL = 0.6  # mouthRollLower at a full tuck: the lower lip rolls in ...
TUCK_SHRUG = 0.4  # ... and mouthShrugLower lifts it to the upper lip's edge


@functools.lru_cache(maxsize=2)
def _tuck_offsets(num_vertices: int) -> np.ndarray | None:
    from .face import ARKIT_INDEX, arkit_deltas, load_bundled_head

    head = load_bundled_head()
    if head.vertex_count != num_vertices:
        return None
    deltas = arkit_deltas(head)
    offsets = TUCK_ROLL * deltas[ARKIT_INDEX["mouthRollLower"]] + TUCK_SHRUG * deltas[ARKIT_INDEX["mouthShrugLower"]]
    offsets.setflags(write=False)
    return offsets


def tuck_pose(template: np.ndarray) -> np.ndarray | None:
    """(V, 3) float32: ``template`` (an identity of the MeshTalk head's topology, its
    closed rest) with the lower lip tucked; None for another topology."""
    offsets = _tuck_offsets(len(template))
    return None if offsets is None else (template + offsets).astype(np.float32)
