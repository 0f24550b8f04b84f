"""The fit Make ARKit Shape Keys made, kept on the mesh: its binding to the MeshTalk
head lets the Mesh Cache output animate the character vertex by vertex
(core/character/bound.py), not only through the 52 keys.

Stored as a custom property of the mesh data (``meshtalk_binding``: the sparse matrix's
arrays and the model-to-mesh rotation), so it is saved with the .blend, copied with the
mesh, and checked against the mesh's vertex count when used.
"""

from __future__ import annotations

import bpy
import numpy as np

PROPERTY = "meshtalk_binding"


def store(obj: bpy.types.Object, binding, to_local: np.ndarray) -> None:
    """`binding`: core.character's VertexBinding (model -> world offsets); `to_local`
    (3, 3) world offsets -> the object's own."""
    from ..core.character.bound import BoundMesh

    to_output = np.asarray(to_local, dtype=np.float64) @ (binding.scale * np.asarray(binding.rotation))
    arrays = BoundMesh(binding.matrix, to_output, np.zeros((0, 3)), np.zeros((0, 3))).to_arrays()
    obj.data[PROPERTY] = {name: values.tolist() for name, values in arrays.items()}


def has(obj: bpy.types.Object) -> bool:
    return obj.type == "MESH" and PROPERTY in obj.data


def stored_arrays(obj: bpy.types.Object) -> dict[str, np.ndarray] | None:
    """The stored binding's arrays (core.character.bound.BoundMesh.from_arrays checks
    them against the mesh and the model), or None if the mesh has none."""
    if not has(obj):
        return None
    stored = obj.data[PROPERTY]
    return {name: np.array(stored[name].to_list() if hasattr(stored[name], "to_list") else stored[name])
            for name in stored.keys()}
