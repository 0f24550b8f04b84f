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
    """Reads vertices, polygons and (if present) UVs; normals and groups are ignored.
    Every number must be finite in float32 (what the model computes in), and every face
    must name existing vertices; anything else is refused with the line's number."""
    path = Path(path)
    if path.is_dir():
        raise MeshTalkError(f"Template OBJ {path} is a folder; give the path of an .obj file.")
    if not path.is_file():
        raise MeshTalkError(f"Template OBJ not found: {path}. Give the path of an existing .obj file.")
    vertices, uvs, faces, face_uvs = [], [], [], []
    number = 0
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                parts = line.split()
                if not parts:
                    continue
                if parts[0] == "v":
                    vertices.append(_numbers(parts[1:4], 3, "a vertex needs x, y and z"))
                elif parts[0] == "vt":
                    uvs.append(_numbers((parts[1:3] + ["0"])[:2], 2, "a texture coordinate needs u"))
                elif parts[0] == "f":
                    corners = [corner.split("/") for corner in parts[1:]]
                    faces.append([_resolve_index(c[0], len(vertices)) for c in corners])
                    if all(len(c) > 1 and c[1] for c in corners):
                        face_uvs.append([_resolve_index(c[1], len(uvs)) for c in corners])
    except ValueError as error:
        raise MeshTalkError(f"Template OBJ {path.name}, line {number}: {error}. Fix or re-export the file.") from None
    except OSError as error:
        raise MeshTalkError(f"Cannot read template OBJ {path} ({error.strerror or error}); check the file.") from None
    if not vertices:
        raise MeshTalkError(f"Template OBJ {path} has no vertices; give an OBJ with the model's mesh.")
    for polygons, count, what in ((faces, len(vertices), "vertex"), (face_uvs, len(uvs), "texture coordinate")):
        if any(not 0 <= i < count for polygon in polygons for i in polygon):
            raise MeshTalkError(f"Template OBJ {path.name} has a face naming a {what} it does not have; "
                                "fix or re-export the file.")
    has_uvs = bool(uvs) and len(face_uvs) == len(faces)
    return ObjMesh(
        vertices=np.asarray(vertices, dtype=np.float64),
        faces=faces,
        uvs=np.asarray(uvs, dtype=np.float64) if has_uvs else None,
        face_uvs=face_uvs if has_uvs else None,
    )


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _numbers(values: list[str], count: int, need: str) -> list[float]:
    if len(values) < count:
        raise ValueError(f"{need} ({len(values)} numbers given)")
    numbers = [float(value) for value in values]
    # NaN, infinity and values beyond float32 (1e39 becomes infinity in the model) are damage.
    if not all(abs(x) <= FLOAT32_MAX for x in numbers):
        raise ValueError(f"{' '.join(values)} is not a finite coordinate")
    return numbers


def _resolve_index(text: str, count: int) -> int:
    # OBJ indices are 1-based; negative ones count back from the last element read; 0 is none.
    index = int(text)
    if index == 0:
        raise ValueError("index 0 does not exist (OBJ counts from 1)")
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
