"""A character's mesh animated vertex by vertex through its binding (no bpy).

Make ARKit Shape Keys fits the MeshTalk head onto the user's face and binds the user's
vertices to it (transfer.VertexBinding: a sparse (V_user, V_model) matrix of barycentric
weights, faded out away from the face). The same binding carries any per-vertex motion
of the model's topology to the mesh: a point cache of the model's own frames, not
limited to what 52 keys can express. The Blender layer stores the binding on the mesh
(``to_arrays``) and the job maps each chunk of frames (``apply``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ..errors import MeshTalkError


@dataclass
class BoundMesh:
    matrix: sparse.csr_matrix  # (V_user, V_model): user offset = sum of weights x model offsets
    to_output: np.ndarray  # (3, 3) a model-space offset -> an offset in the mesh's own space (scale included)
    rest: np.ndarray  # (V_user, 3) the mesh's rest positions, its own space
    neutral: np.ndarray  # (V_model, 3) the model's neutral face, model space

    def apply(self, frames: np.ndarray) -> np.ndarray:
        """(T, V_model, 3) model frames -> (T, V_user, 3) float32 positions of the mesh."""
        offsets = np.asarray(frames, dtype=np.float64) - self.neutral
        moved = np.stack([self.matrix @ frame for frame in offsets]) @ self.to_output.T
        return (self.rest[None] + moved).astype(np.float32)

    def carry_mask(self, mask: np.ndarray) -> np.ndarray:
        """(V_model,) weights in [0, 1] (e.g. the mouth region) -> (V_user,)."""
        total = np.asarray(self.matrix.sum(axis=1)).ravel()
        carried = self.matrix @ np.asarray(mask, dtype=np.float64)
        return np.clip(np.where(total > 1e-9, carried / np.maximum(total, 1e-9), 0.0), 0.0, 1.0).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """What is stored with the mesh (the rest and the neutral are read again)."""
        matrix = self.matrix.tocsr()
        return {"shape": np.array(matrix.shape, dtype=np.int64), "indptr": matrix.indptr.astype(np.int64),
                "indices": matrix.indices.astype(np.int64), "data": matrix.data.astype(np.float64),
                "to_output": self.to_output.astype(np.float64).ravel()}

    @staticmethod
    def from_arrays(arrays: dict, rest: np.ndarray, neutral: np.ndarray, name: str = "The mesh") -> "BoundMesh":
        """Checks what was stored against the mesh and the model now."""
        try:
            shape = tuple(int(n) for n in arrays["shape"])
            matrix = sparse.csr_matrix((np.asarray(arrays["data"], dtype=np.float64),
                                        np.asarray(arrays["indices"], dtype=np.int64),
                                        np.asarray(arrays["indptr"], dtype=np.int64)), shape=shape)
            to_output = np.asarray(arrays["to_output"], dtype=np.float64).reshape(3, 3)
        except (KeyError, ValueError, TypeError) as error:
            raise MeshTalkError(f"{name}'s stored fit is damaged ({error}); make its ARKit shape keys again.") from None
        if shape != (len(rest), len(neutral)):
            raise MeshTalkError(f"{name} changed since its ARKit shape keys were made ({shape[0]} vertices then, "
                                f"{len(rest)} now), or the model is not on the MeshTalk head's topology: make the "
                                "keys again, or use the ARKit weights output.")
        if not (np.isfinite(matrix.data).all() and np.isfinite(to_output).all()):
            raise MeshTalkError(f"{name}'s stored fit holds invalid numbers; make its ARKit shape keys again.")
        return BoundMesh(matrix, to_output, np.asarray(rest, dtype=np.float64), np.asarray(neutral, dtype=np.float64))
