"""Eyeball meshes: a sphere with a slight corneal bulge, looking toward -Y.

Faces carry a material index (0 sclera, 1 iris, 2 pupil) so a viewer can colour them.
The eyes are separate objects: the eyelids of the face mesh close over them, and the
eyeLook shapes turn them (see `rig.eye_rotations`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCLERA, IRIS, PUPIL = 0, 1, 2
PUPIL_ANGLE = np.radians(9.0)  # half-angle seen from the eye centre
LIMBUS_ANGLE = np.radians(31.0)  # edge of the iris / cornea
_LATITUDES = np.radians([0.0, 4.5, 9.0, 16.0, 24.0, 31.0, 40.0, 55.0, 75.0, 100.0, 130.0, 160.0])
_SEGMENTS = 24


@dataclass
class EyeMesh:
    vertices: np.ndarray  # (n, 3) float32, model space
    faces: list[list[int]]
    face_materials: np.ndarray  # (F,) int: SCLERA, IRIS or PUPIL
    centre: np.ndarray  # (3,) float32, the point the eye turns about


def eyeball(centre: np.ndarray, radius: float, cornea_height: float) -> EyeMesh:
    """One eye at `centre` (3,), looking toward -Y."""
    polar = _LATITUDES[1:]
    azimuth = np.linspace(0.0, 2.0 * np.pi, _SEGMENTS, endpoint=False)
    bulge = np.where(polar < LIMBUS_ANGLE, np.cos(0.5 * np.pi * polar / LIMBUS_ANGLE) ** 2, 0.0) * cornea_height
    ring_radius = radius + bulge
    ring_points = np.stack(
        [
            np.outer(ring_radius * np.sin(polar), np.cos(azimuth)),
            -np.outer(ring_radius * np.cos(polar), np.ones_like(azimuth)),
            np.outer(ring_radius * np.sin(polar), np.sin(azimuth)),
        ],
        axis=-1,
    ).reshape(-1, 3)
    front = np.array([[0.0, -(radius + cornea_height), 0.0]])
    back = np.array([[0.0, radius, 0.0]])
    vertices = np.concatenate([front, ring_points, back]) + centre
    faces, materials = [], []
    ring = lambda band, segment: 1 + band * _SEGMENTS + segment % _SEGMENTS  # noqa: E731
    for segment in range(_SEGMENTS):  # front cap: the pupil's centre
        faces.append([0, ring(0, segment + 1), ring(0, segment)])
        materials.append(PUPIL)
    for band in range(len(polar) - 1):
        edge = polar[band + 1]
        material = PUPIL if edge <= PUPIL_ANGLE + 1e-6 else IRIS if edge <= LIMBUS_ANGLE + 1e-6 else SCLERA
        for segment in range(_SEGMENTS):
            faces.append([ring(band, segment), ring(band, segment + 1), ring(band + 1, segment + 1), ring(band + 1, segment)])
            materials.append(material)
    last, tip = len(polar) - 1, len(vertices) - 1
    for segment in range(_SEGMENTS):
        faces.append([ring(last, segment), ring(last, segment + 1), tip])
        materials.append(SCLERA)
    faces = [face[::-1] for face in faces]  # listed inside-out above; outward normals
    return EyeMesh(vertices.astype(np.float32), faces, np.array(materials), np.asarray(centre, dtype=np.float32))
