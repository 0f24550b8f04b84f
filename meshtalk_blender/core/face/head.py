"""The MeshTalk head: the neutral template and its identities, as plain arrays.

`build_head(identity)` returns a `HeadModel`; `load_bundled_head()` is the neutral one
(the topology every model of this project is trained on). Both are built from code and
cached. The slow part, sculpting the neutral by casting rays at the head's surfaces
(3 s here, 23 s measured in a freshly started Blender on a busy machine), ships as
`assets/head/meshtalk_head_neutral.npz`, so "Add MeshTalk Head" does not wait for it;
`export.py` writes that file with the OBJ and semantics files, and a test checks it
still equals what the code sculpts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import sculpt
from .eyes import EyeMesh, eyeball
from .identity import NEUTRAL_IDENTITY, IdentityParams, identity_points, identity_vertices
from .layout import CAP, EYE_TUCK, MOUTH_BAG, HeadLayout, build_layout
from .placement import place_neutral
from .semantics import build_index_sets, build_masks

SKIN_MATERIAL, MOUTH_MATERIAL = 0, 1


@dataclass
class HeadModel:
    vertices: np.ndarray  # (V, 3) float32, metres, Z up, face toward -Y
    faces: list[list[int]]  # 0-based vertex ids, counter-clockwise seen from outside
    uvs: np.ndarray  # (U, 2) float32
    face_uvs: list[list[int]]  # 0-based uv ids per face corner
    face_materials: np.ndarray  # (F,) SKIN_MATERIAL or MOUTH_MATERIAL
    mirror_map: np.ndarray  # (V,) int64, vertex -> its mirror image across x = 0
    masks: dict[str, np.ndarray]  # name -> (V,) float32 in [0, 1], see semantics.py
    index_sets: dict[str, np.ndarray]  # name -> int64 vertex ids, see semantics.py
    eyes: tuple[EyeMesh, EyeMesh]  # (left eye at +x, right eye at -x)
    eye_centres: np.ndarray  # (2, 3) float32, same order
    eye_radius: float
    jaw_hinge: np.ndarray  # (3,) float32, a point on the jaw's rotation axis (along x)
    identity: IdentityParams
    layout: HeadLayout = field(repr=False)

    @property
    def vertex_count(self) -> int:
        return len(self.vertices)


def vertex_normals(vertices: np.ndarray, faces: list[list[int]]) -> np.ndarray:
    """(V, 3) unit normals, area-weighted over the faces around each vertex."""
    normals = np.zeros_like(vertices, dtype=np.float64)
    for size in {len(f) for f in faces}:
        polygon = np.array([f for f in faces if len(f) == size])
        corners = vertices[polygon]
        # Sum of corner cross products = twice the area vector of a planar polygon.
        area = np.zeros((len(polygon), 3))
        for i in range(size):
            area += np.cross(corners[:, i], corners[:, (i + 1) % size])
        for i in range(size):
            np.add.at(normals, polygon[:, i], area)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


NEUTRAL_FILE = Path(__file__).resolve().parents[2] / "assets" / "head" / "meshtalk_head_neutral.npz"


def layout_fingerprint(layout: HeadLayout) -> str:
    """Identifies the topology the shipped neutral was sculpted for."""
    digest = hashlib.sha256(np.int64(layout.vertex_count).tobytes())
    for face in layout.faces:
        digest.update(np.asarray(face, dtype=np.int64).tobytes())
    return digest.hexdigest()


def sculpted_neutral(layout: HeadLayout) -> tuple[np.ndarray, np.ndarray]:
    """(neutral, lip bulge) as ``place_neutral`` makes them: read from the shipped file
    when it was made for this layout, else sculpted."""
    try:
        with np.load(NEUTRAL_FILE) as shipped:
            if str(shipped["layout"]) == layout_fingerprint(layout):
                return shipped["neutral"].astype(np.float64), shipped["lip_bulge"].astype(np.float64)
    except (OSError, KeyError, ValueError):
        pass  # missing or damaged: sculpt it
    return place_neutral(layout)


def write_sculpted_neutral(path: Path = NEUTRAL_FILE) -> Path:
    layout = build_layout()
    neutral, lip_bulge = place_neutral(layout)
    np.savez_compressed(path, neutral=neutral, lip_bulge=lip_bulge, layout=np.array(layout_fingerprint(layout)))
    return path


@lru_cache(maxsize=1)
def _neutral_parts():
    layout = build_layout()
    neutral, lip_bulge = sculpted_neutral(layout)
    normals = vertex_normals(neutral, layout.faces)
    masks = build_masks(layout, neutral)
    index_sets = build_index_sets(layout, neutral)
    uvs, face_uvs = _uv_layout(layout, neutral)
    materials = _face_materials(layout)
    return layout, neutral, lip_bulge, normals, masks, index_sets, uvs, face_uvs, materials


def build_head(identity: IdentityParams = NEUTRAL_IDENTITY) -> HeadModel:
    """The head of one identity: same topology, masks and index sets as the neutral."""
    layout, neutral, lip_bulge, normals, masks, index_sets, uvs, face_uvs, materials = _neutral_parts()
    vertices = identity_vertices(neutral, normals, lip_bulge, identity)
    landmarks = np.array(
        [[sculpt.EYE_CENTRE_X, 0.0, 0.0], [-sculpt.EYE_CENTRE_X, 0.0, 0.0], list(sculpt.JAW_HINGE)]
    )
    left_eye, right_eye, hinge = identity_points(landmarks, identity)
    scale = 1.0 + identity.head_scale * 0.05
    radius = sculpt.EYEBALL_RADIUS * scale
    eyes = (
        eyeball(left_eye, radius, sculpt.CORNEA_HEIGHT * scale),
        eyeball(right_eye, radius, sculpt.CORNEA_HEIGHT * scale),
    )
    return HeadModel(
        vertices=vertices.astype(np.float32),
        faces=layout.faces,
        uvs=uvs,
        face_uvs=face_uvs,
        face_materials=materials,
        mirror_map=layout.mirror_map,
        masks=masks,
        index_sets=index_sets,
        eyes=eyes,
        eye_centres=np.array([left_eye, right_eye], dtype=np.float32),
        eye_radius=float(radius),
        jaw_hinge=hinge.astype(np.float32),
        identity=identity,
        layout=layout,
    )


@lru_cache(maxsize=1)
def load_bundled_head() -> HeadModel:
    """The neutral MeshTalk head (cached: do not modify its arrays in place)."""
    return build_head(NEUTRAL_IDENTITY)


def _face_materials(layout: HeadLayout) -> np.ndarray:
    inside = np.isin(layout.region, (MOUTH_BAG,))
    return np.array([MOUTH_MATERIAL if inside[f].any() else SKIN_MATERIAL for f in layout.faces], dtype=np.int64)


def _uv_layout(layout: HeadLayout, vertices: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """UV islands: the skin unrolled around the vertical axis (seam at the back of the
    head) in v 0..0.7; the skull cap seen from above; the mouth bag and each eyelid tuck
    as rings in small discs."""
    relative = vertices - sculpt.RAY_ORIGIN
    azimuth = np.arctan2(relative[:, 0], -relative[:, 1])
    elevation = np.arctan2(relative[:, 2], np.linalg.norm(relative[:, :2], axis=1))
    low, high = elevation.min(), np.radians(60.0)
    skin_v = 0.7 * (elevation - low) / (high - low)
    cap_vertex = layout.region == CAP
    cap_x, cap_y = vertices[cap_vertex, 0], vertices[cap_vertex, 1]
    cap_uv = np.stack(
        [
            0.5 + 0.25 * vertices[:, 0] / np.abs(cap_x).max(),
            0.73 + 0.25 * (vertices[:, 1] - cap_y.min()) / np.ptp(cap_y),
        ],
        axis=1,
    )

    disc_uv = np.zeros((len(vertices), 2))
    discs = {"mouth": (0.85, 0.85, 0.12), "eye_left": (0.12, 0.9, 0.08), "eye_right": (0.12, 0.78, 0.05)}
    for name, (cu, cv, size) in discs.items():
        patch = layout.patches[name]
        first = len(patch.steps) - 1  # contour ring: outer circle of the disc
        for k in range(first, len(patch.rings)):
            radius = size * (1.0 - 0.8 * (k - first) / max(len(patch.rings) - first, 1))
            angle = 2.0 * np.pi * np.arange(len(patch.rings[k])) / len(patch.rings[k])
            disc_uv[patch.rings[k]] = np.stack([cu + radius * np.cos(angle), cv + radius * np.sin(angle)], axis=1)

    inner = np.isin(layout.region, (MOUTH_BAG, EYE_TUCK))
    keys: dict[tuple[float, float], int] = {}
    face_uvs = []
    for face in layout.faces:
        face = np.asarray(face)
        if inner[face].any():
            corners = disc_uv[face]
        elif cap_vertex[face].any():
            corners = cap_uv[face]
        else:
            angles = azimuth[face].copy()
            if np.ptp(angles) > np.pi:  # touches the seam (x = 0 at the back): pick a side
                if (vertices[face, 0] < 0.0).any():
                    angles[angles > 0] -= 2.0 * np.pi
                else:
                    angles[angles < 0] += 2.0 * np.pi
            corners = np.stack([angles / (2.0 * np.pi) + 0.5, skin_v[face]], axis=1)
        ids = []
        for u, v in np.round(corners, 6):
            ids.append(keys.setdefault((float(u), float(v)), len(keys)))
        face_uvs.append(ids)
    uvs = np.array(list(keys), dtype=np.float32)
    return uvs, face_uvs
