"""The neutral head's shape, as a signed distance field sculpted from simple solids.

Frame: metres, Z up, the face looks toward -Y, +X is the face's own left. The origin is
the midpoint between the two eyeball centres. Measures follow adult averages: eyeball
diameter 23.6 mm, interpupillary distance 63 mm, eye fissure 28 x 9.5 mm, mouth 49 mm
wide, nose 53 mm from nasion to subnasale, head 235 mm from vertex to chin and 190 mm
from brow to back, neck circumference about 36 cm.

The lips are not part of the field: the field gives the smooth muzzle under them and
`head.py` adds the lips as a bulge along the ring patch, so that the mouth slit never
has to be found by ray casting. The eyelids are the shell of a slightly larger
ellipsoid around each eyeball.
"""

from __future__ import annotations

import numpy as np

from . import sdf

EYE_CENTRE_X = 0.0315
EYEBALL_RADIUS = 0.0118
CORNEA_HEIGHT = 0.0005  # how far the cornea rises above the eyeball sphere
LID_SHELL_RADII = (0.0150, 0.0136, 0.0138)  # eyelids ride on this ellipsoid around the eye
EYE_FISSURE_HALF_WIDTH = 0.0140
EYE_FISSURE_SHIFT = 0.0  # fissure centre relative to the eyeball centre, along x
UPPER_LID_HEIGHT = 0.0054  # margin above the canthal line at its highest
LOWER_LID_DEPTH = 0.0040
CANTHAL_TILT = 0.0016  # outer corner this much higher than the inner one

MOUTH_HALF_WIDTH = 0.0245
STOMION_Z = -0.0715  # height of the lip line at the middle
UPPER_LIP_HEIGHT = 0.0085  # red lip, from the lip line to the border, at the middle
LOWER_LIP_HEIGHT = 0.0100
LIP_FULLNESS = 1.0

JAW_HINGE = (0.0, 0.068, -0.027)  # axis along x through this point (the condyles)
RAY_ORIGIN = np.array([0.0, 0.055, -0.02])  # the skin is star-shaped around this point
NECK_AXIS_Y = 0.074
NECK_BOTTOM_Z = -0.205


def skin_distance(points: np.ndarray) -> np.ndarray:
    """(N, 3) points -> (N,) signed distance to the skin (lips excluded)."""
    p = points
    pm = sdf.mirrored(points)

    skull = sdf.ellipsoid(p, (0.0, 0.074, 0.026), (0.071, 0.096, 0.091))
    forehead = sdf.ellipsoid(p, (0.0, 0.040, 0.046), (0.060, 0.060, 0.062))
    skull = sdf.smooth_union(skull, forehead, 0.02)
    brow_middle = sdf.capsule(p, (-0.016, -0.0115, 0.0185), (0.016, -0.0115, 0.0185), 0.0085)
    brow_side = sdf.capsule(pm, (0.016, -0.0115, 0.0185), (0.036, -0.0085, 0.0215), 0.0085, 0.0072)
    brow_end = sdf.capsule(pm, (0.036, -0.0085, 0.0215), (0.052, 0.006, 0.015), 0.0072, 0.0055)
    brow = sdf.smooth_union(sdf.smooth_union(brow_middle, brow_side, 0.01), brow_end, 0.01)
    skull = sdf.smooth_union(skull, brow, 0.014)

    midface = sdf.ellipsoid(p, (0.0, 0.028, -0.036), (0.046, 0.046, 0.040))
    cheekbone = sdf.ellipsoid(pm, (0.048, 0.024, -0.024), (0.018, 0.022, 0.015))
    cheek = sdf.ellipsoid(pm, (0.033, 0.030, -0.054), (0.021, 0.034, 0.024))
    muzzle = sdf.ellipsoid(p, (0.0, 0.028, -0.071), (0.033, 0.050, 0.029))
    lower_face = sdf.ellipsoid(p, (0.0, 0.050, -0.066), (0.050, 0.056, 0.038))
    jaw_line = sdf.capsule(pm, (0.051, 0.064, -0.088), (0.016, 0.004, -0.112), 0.010, 0.009)
    ramus = sdf.capsule(pm, (0.057, 0.074, -0.036), (0.051, 0.064, -0.088), 0.012, 0.011)
    chin = sdf.ellipsoid(p, (0.0, 0.0, -0.106), (0.019, 0.016, 0.018))
    face = sdf.smooth_union(midface, cheekbone, 0.02)
    face = sdf.smooth_union(face, cheek, 0.02)
    face = sdf.smooth_union(face, muzzle, 0.014)
    face = sdf.smooth_union(face, lower_face, 0.018)
    face = sdf.smooth_union(face, sdf.smooth_union(jaw_line, ramus, 0.012), 0.022)
    face = sdf.smooth_union(face, chin, 0.012)
    head = sdf.smooth_union(skull, face, 0.016)

    neck = sdf.capsule(p, (0.0, NECK_AXIS_Y - 0.006, -0.40), (0.0, NECK_AXIS_Y + 0.006, -0.05), 0.072, 0.057)
    head = sdf.smooth_union(head, neck, 0.03)
    ear = sdf.ellipsoid(pm, (0.071, 0.086, -0.014), (0.011, 0.017, 0.030))
    head = sdf.smooth_union(head, ear, 0.006)

    socket = sdf.ellipsoid(pm, (EYE_CENTRE_X, -0.019, -0.001), (0.021, 0.0135, 0.0125))
    head = sdf.smooth_subtract(head, socket, 0.011)
    lids = sdf.ellipsoid(pm, (EYE_CENTRE_X, 0.0, 0.0), LID_SHELL_RADII)
    head = sdf.smooth_union(head, lids, 0.0035)

    bridge = sdf.capsule(p, (0.0, -0.0085, 0.006), (0.0, -0.0335, -0.030), 0.0055, 0.0075)
    tip = sdf.sphere(p, (0.0, -0.0335, -0.0335), 0.0095)
    wing = sdf.sphere(pm, (0.0118, -0.0195, -0.0425), 0.0076)
    columella = sdf.capsule(p, (0.0, -0.031, -0.042), (0.0, -0.017, -0.0495), 0.0045)
    nose = sdf.smooth_union(bridge, tip, 0.006)
    nose = sdf.smooth_union(nose, wing, 0.005)
    nose = sdf.smooth_union(nose, columella, 0.004)
    head = sdf.smooth_union(head, nose, 0.006)
    nostril = sdf.ellipsoid(pm, (0.0068, -0.0265, -0.0482), (0.003, 0.005, 0.002))
    return sdf.smooth_subtract(head, nostril, 0.0015)


def cast_rays(
    origins: np.ndarray, directions: np.ndarray, reach=0.35, steps: int = 220, first_exit: bool = False
) -> np.ndarray:
    """Where each ray crosses the skin: (N, 3) origins and unit directions -> (N, 3).

    By default the outermost crossing (sampling from far outside inward), which ignores
    small folds such as a nostril. With `first_exit`, the first crossing going out from
    an origin inside the head: used from behind an eye, where the nose would otherwise
    be the outermost surface along some rays. `reach` (scalar or (N,)) bounds each ray.
    Rays that never cross keep their end.
    """
    fractions = np.linspace(0.0, 1.0, steps) if first_exit else np.linspace(1.0, 0.0, steps)
    ts = fractions[:, None] * np.broadcast_to(np.asarray(reach, dtype=np.float64), (len(origins),))[None, :]
    samples = origins[None, :, :] + ts[:, :, None] * directions[None, :, :]
    inside = skin_distance(samples.reshape(-1, 3)).reshape(steps, -1) < 0.0
    changed = inside[1:] != inside[:-1]
    crossing = np.argmax(changed, axis=0)  # first sample pair whose sign differs
    crossing = np.where(changed.any(axis=0), crossing, steps - 2)
    rays = np.arange(len(crossing))
    near, far = ts[crossing, rays], ts[crossing + 1, rays]  # near side is the one marched from
    near_inside = inside[crossing, rays]
    for _ in range(24):
        middle = 0.5 * (near + far)
        same = (skin_distance(origins + middle[:, None] * directions) < 0.0) == near_inside
        near = np.where(same, middle, near)
        far = np.where(same, far, middle)
    return origins + (0.5 * (near + far))[:, None] * directions
