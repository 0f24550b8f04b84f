"""Any character: the 52 ARKit shape keys for a face mesh of any topology (no bpy).

    make_rig(vertices, triangles, eye_objects=(), name=..., progress=None, check_cancel=None,
             placed=None) -> CharacterRig

``vertices`` (V, 3) in a frame where the character stands Z up and looks toward -Y
(Blender's world space of the object), ``triangles`` (T, 3) (``mesh.fan_triangles`` of
its polygons); ``placed``: the user's six landmark points, if they placed them
(landmarks.PLACED_NAMES). Steps: ``landmarks.detect`` (head, face, eyes, lip line, parts),
``fit.fit_template`` (similarity from landmarks, then non-rigid ICP of the bundled head),
``transfer.transfer`` (the rig rebuilt on the fitted head, bound to the user's vertices,
with the functional fixes). The result's ``deltas`` (52, V, 3) are in the same frame as
``vertices``, in ARKIT_NAMES order; ``binding`` carries any per-vertex animation of the
template to the mesh. User errors raise MeshTalkError with what to do.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import MeshTalkError
from .transfer import CharacterRig, VertexBinding

MIN_VERTICES = 200
MAX_VERTICES = 1_500_000

__all__ = ["CharacterRig", "VertexBinding", "make_rig", "MIN_VERTICES", "MAX_VERTICES"]


def check_size(vertex_count: int, name: str = "The mesh") -> None:
    if vertex_count < MIN_VERTICES:
        raise MeshTalkError(f"{name} has only {vertex_count} vertices: too few to hold a face with eyes and lips "
                            f"(at least {MIN_VERTICES}); subdivide it or select the character's face mesh.")
    if vertex_count > MAX_VERTICES:
        raise MeshTalkError(f"{name} has {vertex_count:,} vertices, more than {MAX_VERTICES:,}: decimate it (or make "
                            "the keys on a lower-resolution copy and transfer them), or separate the head into its "
                            "own mesh.")


def make_rig(vertices: np.ndarray, triangles: np.ndarray, eye_objects=(), name: str = "The mesh",
             progress: Callable[[str, float], None] | None = None,
             check_cancel: Callable[[], None] | None = None,
             placed: dict[str, np.ndarray] | None = None) -> CharacterRig:
    from .fit import fit_template
    from .landmarks import detect
    from .transfer import transfer

    vertices = np.asarray(vertices, dtype=np.float64)
    check_size(len(vertices), name)
    if not np.isfinite(vertices).all():
        raise MeshTalkError(f"{name} has vertices at invalid positions (NaN or infinite); fix the mesh first.")
    if len(triangles) < MIN_VERTICES // 2:
        raise MeshTalkError(f"{name} has only {len(triangles)} faces: too few to hold a face.")

    def report(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, fraction)
        if check_cancel is not None:
            check_cancel()

    report("Finding the face", 0.0)
    landmarks = detect(vertices, triangles, eye_objects, name, placed)
    report("Fitting the MeshTalk head", 0.15)
    fit = fit_template(vertices, triangles, landmarks, lambda f: report("Fitting the MeshTalk head", 0.15 + 0.6 * f),
                       check_cancel)
    report("Transferring the 52 shapes", 0.75)
    rig = transfer(fit, vertices, np.asarray(triangles), check_cancel)
    report("Done", 1.0)
    return rig
