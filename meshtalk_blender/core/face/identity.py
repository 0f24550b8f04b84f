"""Identity parameters: smooth, bounded deformations of the neutral head.

Every identity has the same topology: an identity is the neutral head moved by a sum of
smooth displacement fields, one per parameter. Each parameter is a number in [-1, 1]
(0 is the neutral head) scaled to a span that stays within adult human variation. The
eyeball centres and the jaw hinge move with the field at their position, so the rig
built on an identity stays consistent with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

# Span of each parameter at +-1 (metres, or a relative scale where noted).
SPANS = {
    "head_scale": 0.05,  # relative, whole head
    "skull_width": 0.05,  # relative, cranium breadth
    "face_length": 0.07,  # relative, face below the eyes
    "jaw_width": 0.09,  # relative, lower face breadth
    "cheek_fullness": 0.003,  # outward along the skin normal
    "brow_ridge": 0.0025,  # forward
    "eye_spacing": 0.0025,  # each eye sideways
    "nose_length": 0.10,  # relative, along the nose
    "nose_width": 0.14,  # relative, nostril wings
    "nose_projection": 0.003,  # tip forward
    "mouth_width": 0.08,  # relative
    "lip_thickness": 0.30,  # relative, the lips' bulge
    "chin_projection": 0.003,  # forward
}


@dataclass(frozen=True)
class IdentityParams:
    """Each field is in [-1, 1]; 0 everywhere is the bundled neutral head."""

    head_scale: float = 0.0
    skull_width: float = 0.0
    face_length: float = 0.0
    jaw_width: float = 0.0
    cheek_fullness: float = 0.0
    brow_ridge: float = 0.0
    eye_spacing: float = 0.0
    nose_length: float = 0.0
    nose_width: float = 0.0
    nose_projection: float = 0.0
    mouth_width: float = 0.0
    lip_thickness: float = 0.0
    chin_projection: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def as_vector(self) -> np.ndarray:
        """(P,) float32 in field order: a compact identity code."""
        return np.array([getattr(self, f.name) for f in fields(self)], dtype=np.float32)


NEUTRAL_IDENTITY = IdentityParams()


def sample_identity(rng: np.random.Generator, spread: float = 0.45) -> IdentityParams:
    """A random identity: each parameter normal with std `spread`, clipped to [-1, 1]."""
    values = np.clip(rng.normal(0.0, spread, len(SPANS)), -1.0, 1.0)
    return IdentityParams(**{name: float(v) for name, v in zip(SPANS, values)})


def _smoothstep(edge0, edge1, x):
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _bump(points: np.ndarray, centre, radii) -> np.ndarray:
    """1 at centre, smoothly 0 at the ellipsoid `radii` around it."""
    distance = np.linalg.norm((points - np.asarray(centre)) / np.asarray(radii), axis=1)
    return _smoothstep(1.0, 0.0, distance)


def spatial_displacement(points: np.ndarray, identity: IdentityParams) -> np.ndarray:
    """(N, 3) -> (N, 3) displacement of the parameters that depend on position only.

    Used for vertices and for the rig's landmarks alike. Fields are evaluated on the
    neutral positions and summed (they are small, so their order does not matter).
    """
    x, y, z = points.T
    span = {name: getattr(identity, name) * scale for name, scale in SPANS.items()}
    out = np.zeros_like(points)
    front = _smoothstep(0.10, 0.06, y)  # fades out behind the ears

    lower = np.clip(z, -0.13, 0.0) * front + np.clip(z, -0.13, 0.0) * (1 - front) * 0.6
    out[:, 2] += span["face_length"] * lower

    jaw_zone = _smoothstep(-0.02, -0.08, z) * _smoothstep(-0.175, -0.125, z) * _smoothstep(0.12, 0.07, y)
    out[:, 0] += span["jaw_width"] * x * jaw_zone

    skull_zone = _smoothstep(-0.01, 0.04, z) * (1.0 - 0.6 * _smoothstep(0.0, -0.03, y))
    out[:, 0] += span["skull_width"] * x * skull_zone

    brow = _smoothstep(0.0, 0.012, z) * _smoothstep(0.05, 0.025, z) * _smoothstep(0.01, -0.01, y) * _smoothstep(0.065, 0.04, np.abs(x))
    out[:, 1] -= span["brow_ridge"] * brow

    for side in (1.0, -1.0):
        eye_zone = _bump(points, (side * 0.0315, -0.005, 0.0), (0.024, 0.03, 0.022))
        out[:, 0] += side * span["eye_spacing"] * eye_zone

    nose_zone = _bump(points, (0.0, -0.028, -0.022), (0.024, 0.028, 0.036))
    nasion = np.array([0.0, -0.012, 0.008])
    axis = np.array([0.0, -0.45, -0.89])  # down the bridge toward the tip
    along = (points - nasion) @ axis
    out += (span["nose_length"] * np.clip(along, 0.0, None) * nose_zone)[:, None] * axis
    wings = _bump(points, (0.0, -0.022, -0.043), (0.03, 0.02, 0.014))
    out[:, 0] += span["nose_width"] * x * wings
    tip = _bump(points, (0.0, -0.04, -0.035), (0.014, 0.02, 0.016))
    out[:, 1] -= span["nose_projection"] * tip

    mouth_zone = _bump(points, (0.0, -0.02, -0.072), (0.05, 0.05, 0.03))
    out[:, 0] += span["mouth_width"] * x * mouth_zone

    chin = _bump(points, (0.0, -0.02, -0.108), (0.035, 0.04, 0.03))
    out[:, 1] -= span["chin_projection"] * chin
    return out


def cheek_direction_field(points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """(N, 3) outward push per unit of cheek fullness: the normal, on the cheeks only."""
    weight = np.zeros(len(points))
    for side in (1.0, -1.0):
        weight += _bump(points, (side * 0.042, 0.01, -0.05), (0.028, 0.04, 0.035))
    return weight[:, None] * normals


def identity_vertices(
    neutral: np.ndarray, normals: np.ndarray, lip_bulge: np.ndarray, identity: IdentityParams
) -> np.ndarray:
    """(V, 3) neutral, normals and lip bulge -> (V, 3) vertices of `identity`."""
    moved = neutral + spatial_displacement(neutral, identity)
    moved += identity.lip_thickness * SPANS["lip_thickness"] * lip_bulge
    moved += identity.cheek_fullness * SPANS["cheek_fullness"] * cheek_direction_field(neutral, normals)
    return moved * (1.0 + identity.head_scale * SPANS["head_scale"])


def identity_points(points: np.ndarray, identity: IdentityParams) -> np.ndarray:
    """(N, 3) landmarks (eye centres, jaw hinge) -> (N, 3) for `identity`."""
    moved = points + spatial_displacement(points, identity)
    return moved * (1.0 + identity.head_scale * SPANS["head_scale"])
