"""Minimal Wavefront OBJ reading and writing that keeps the vertex order exactly.

Vertex order is the model's topology: the decoder's output vertex i is the OBJ's i-th
``v`` line, so nothing here may merge, split or reorder vertices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import MeshTalkError


@dataclass
class ObjMesh:
    vertices: np.ndarray  # (V, 3) float64
    faces: list[list[int]] = field(default_factory=list)  # 0-based vertex indices per polygon
    uvs: np.ndarray | None = None  # (U, 2) float64
    face_uvs: list[list[int]] | None = None  # 0-based uv indices per polygon


def read_obj(path: str | Path) -> ObjMesh:
    """Reads vertices, polygons and (if present) UVs; normals and groups are ignored."""
    path = Path(path)
    if not path.is_file():
        raise MeshTalkError(f"Template OBJ not found: {path}. Give the path of an existing .obj file.")
    vertices, uvs, faces, face_uvs = [], [], [], []
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                parts = line.split()
                if not parts:
                    continue
                if parts[0] == "v":
                    vertices.append([float(value) for value in parts[1:4]])
                elif parts[0] == "vt":
                    uvs.append([float(value) for value in parts[1:3]])
                elif parts[0] == "f":
                    corners = [corner.split("/") for corner in parts[1:]]
                    faces.append([_resolve_index(int(c[0]), len(vertices)) for c in corners])
                    if all(len(c) > 1 and c[1] for c in corners):
                        face_uvs.append([_resolve_index(int(c[1]), len(uvs)) for c in corners])
    except (ValueError, IndexError) as error:
        raise MeshTalkError(f"Template OBJ {path} is not a valid OBJ file ({error}).") from None
    if not vertices:
        raise MeshTalkError(f"Template OBJ {path} has no vertices.")
    has_uvs = bool(uvs) and len(face_uvs) == len(faces)
    return ObjMesh(
        vertices=np.asarray(vertices, dtype=np.float64),
        faces=faces,
        uvs=np.asarray(uvs, dtype=np.float64) if has_uvs else None,
        face_uvs=face_uvs if has_uvs else None,
    )


def _resolve_index(index: int, count: int) -> int:
    # OBJ indices are 1-based; negative ones count back from the last element read.
    return index - 1 if index > 0 else count + index


def write_obj(path: str | Path, mesh: ObjMesh, comment: str = "") -> None:
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.vertices]
    if mesh.uvs is not None and mesh.face_uvs is not None:
        lines += [f"vt {u:.6f} {v:.6f}" for u, v in mesh.uvs]
        for polygon, uv_polygon in zip(mesh.faces, mesh.face_uvs):
            lines.append("f " + " ".join(f"{v + 1}/{t + 1}" for v, t in zip(polygon, uv_polygon)))
    else:
        lines += ["f " + " ".join(str(v + 1) for v in polygon) for polygon in mesh.faces]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
