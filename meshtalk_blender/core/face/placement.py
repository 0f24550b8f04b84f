"""Puts the layout's vertices on the sculpted skin: the neutral head's geometry.

Grid, cap and patch vertices are found by casting a ray from `sculpt.RAY_ORIGIN`; the
eyelid margins, the inner lip contour, the mouth bag, the eyelid tucks and the neck rows
are placed explicitly. The lips are added last as a bulge over the muzzle.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

from . import sculpt
from .layout import HeadLayout, RingPatch


def direction(azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """Unit vectors (..., 3): azimuth 0 looks toward -Y and grows toward +X."""
    return np.stack(
        [np.cos(elevation) * np.sin(azimuth), -np.cos(elevation) * np.cos(azimuth), np.sin(elevation)], axis=-1
    )


def eye_margin(patch: RingPatch, side: float) -> np.ndarray:
    """(P, 3) eyelid margin of the eye on `side` (+1 the face's left, -1 its right)."""
    along, upper = patch.contour_parameter()
    lateral = along * side  # -1 at the inner corner, +1 at the outer one
    x = side * (sculpt.EYE_CENTRE_X + sculpt.EYE_FISSURE_SHIFT) + along * sculpt.EYE_FISSURE_HALF_WIDTH
    canthal = 0.5 * sculpt.CANTHAL_TILT * lateral
    opening = np.clip(1.0 - lateral**2, 0.0, None)
    lid_up = sculpt.UPPER_LID_HEIGHT * opening**0.72 * (1.0 - 0.2 * lateral) / 1.02
    lid_down = sculpt.LOWER_LID_DEPTH * opening**0.9 * (1.0 + 0.18 * lateral)
    z = canthal + np.where(upper, lid_up, -lid_down)
    # The margin is the lid shell's rim, rounded 0.3 mm in toward the eye.
    radii = np.asarray(sculpt.LID_SHELL_RADII) - 0.0003
    dx = x - side * sculpt.EYE_CENTRE_X
    depth = np.sqrt(np.clip(1.0 - (dx / radii[0]) ** 2 - (z / radii[2]) ** 2, 0.0, None))
    return np.stack([x, -radii[1] * depth, z], axis=1)


def eye_tuck(margin: np.ndarray, side: float) -> np.ndarray:
    """(P, 3) the lid's inner edge: the margin pulled in toward the eyeball, staying
    clear of the cornea (and of the eyeball along a blink's straight path)."""
    centre = np.array([side * sculpt.EYE_CENTRE_X, 0.0, 0.0])
    offset = margin - centre
    offset /= np.linalg.norm(offset, axis=1, keepdims=True)
    return centre + offset * (sculpt.EYEBALL_RADIUS + sculpt.CORNEA_HEIGHT + 0.0006)


def lip_line(along: np.ndarray) -> np.ndarray:
    """(P,) height of the lip line (stomion line) along the mouth."""
    return sculpt.STOMION_Z + 0.0010 * along**2


def mouth_contour(patch: RingPatch) -> np.ndarray:
    """(P, 3) inner lip contour: upper and lower halves meet along the lip line."""
    along, upper = patch.contour_parameter()
    x = along * sculpt.MOUTH_HALF_WIDTH
    z = lip_line(along) + np.where(upper, 0.00015, -0.00015) * (1.0 - along**2)
    origins = np.stack([x, np.full_like(x, 0.02), z], axis=1)
    surface = sculpt.cast_rays(origins, np.tile([0.0, -1.0, 0.0], (len(x), 1)), reach=0.08)
    # The lips meet a little inside the muzzle surface; the bulge then rises around them.
    return surface + np.array([0.0, 0.0012, 0.0])


def mouth_bag(contour: np.ndarray, patch: RingPatch) -> list[np.ndarray]:
    """The closed mouth cavity behind the lips: MOUTH_BAG_RINGS rings of (P, 3)."""
    along, upper = patch.contour_parameter()
    sign = np.where(upper, 1.0, -1.0)
    round_profile = np.sqrt(np.clip(1.0 - along**2, 0.0, None))
    x, y, z = contour.T
    base_z = lip_line(along)
    rings = []
    # (x scale, depth behind the lip line, half-height of the cavity, drop of the floor)
    for x_scale, depth, half_height in ((0.96, 0.004, 0.0022), (0.88, 0.012, 0.008), (0.74, 0.025, 0.010), (0.5, 0.037, 0.003)):
        ring_z = (z if depth < 0.005 else base_z) + sign * half_height * round_profile
        ring_y = y + depth
        rings.append(np.stack([x * x_scale, ring_y, ring_z], axis=1))
    return rings


# Outward lip bulge (metres) against height above the lip line in units of the red
# lip's height: 0 is the lip line, 1 the vermilion border.
_UPPER_LIP = PchipInterpolator(
    [0.0, 0.15, 0.45, 0.8, 1.0, 1.25, 1.8, 2.6, 10.0],
    [-0.0006, 0.0021, 0.0040, 0.0036, 0.0028, 0.0012, 0.0003, 0.0, 0.0],
)
_LOWER_LIP = PchipInterpolator(
    [0.0, 0.15, 0.5, 0.85, 1.0, 1.3, 1.8, 2.6, 3.6, 10.0],
    [-0.0006, 0.0024, 0.0046, 0.0037, 0.0026, 0.0006, -0.0012, -0.0005, 0.0, 0.0],
)


def lip_bulge(points: np.ndarray, upper: np.ndarray, fullness: float = 1.0) -> np.ndarray:
    """(N, 3) displacement that raises the lips from the smooth muzzle.

    `upper` (N,) says which lip a vertex belongs to (from the ring patch, since the two
    lips touch along the lip line and position alone cannot tell).
    """
    x, y, z = points.T
    along = np.clip(x / sculpt.MOUTH_HALF_WIDTH, -1.0, 1.0)
    taper = np.sqrt(np.clip(1.0 - (x / (sculpt.MOUTH_HALF_WIDTH * 1.04)) ** 2, 0.0, None))
    height_above = z - lip_line(along)
    cupid = 1.0 + 0.16 * np.exp(-(((np.abs(x) - 0.0055) / 0.004) ** 2)) - 0.1 * np.exp(-((x / 0.003) ** 2))
    upper_height = sculpt.UPPER_LIP_HEIGHT * fullness * cupid * taper**0.6 + 1e-4
    lower_height = sculpt.LOWER_LIP_HEIGHT * fullness * taper**0.6 + 1e-4
    u_upper = np.clip(height_above, 0.0, None) / upper_height
    u_lower = np.clip(-height_above, 0.0, None) / lower_height
    amount = np.where(upper, _UPPER_LIP(np.minimum(u_upper, 10.0)), _LOWER_LIP(np.minimum(u_lower, 10.0)))
    amount *= fullness * taper
    outward = np.stack([x, y - 0.05, np.zeros_like(x)], axis=1)
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    return amount[:, None] * outward


def place_neutral(layout: HeadLayout) -> tuple[np.ndarray, np.ndarray]:
    """Neutral vertex positions (V, 3) float64, and the part of them that is the lips'
    bulge (V, 3) (zero elsewhere; identities scale it for fuller or thinner lips)."""
    positions = np.full((layout.vertex_count, 3), np.nan)
    bulge = np.zeros((layout.vertex_count, 3))
    origin = sculpt.RAY_ORIGIN
    neck = layout.neck_rows
    rows, columns = np.meshgrid(layout.row_angles, layout.column_angles, indexing="ij")
    grid_dirs = direction(columns, rows)  # (R, N, 3) for the head rows
    head_ids = layout.grid[neck:]
    valid = head_ids >= 0
    positions[head_ids[valid]] = sculpt.cast_rays(np.tile(origin, (valid.sum(), 1)), grid_dirs[valid])

    _place_cap(layout, positions, grid_dirs[-1])
    for name, patch in layout.patches.items():
        _place_patch(patch, positions, bulge)
    _place_neck(layout, positions)
    # The sculpt is symmetric; averaging with the mirror image removes rounding noise.
    flip = np.array([-1.0, 1.0, 1.0])
    return 0.5 * (positions + positions[layout.mirror_map] * flip), 0.5 * (bulge + bulge[layout.mirror_map] * flip)


def _place_cap(layout: HeadLayout, positions: np.ndarray, top_dirs: np.ndarray) -> None:
    cap = layout.cap
    width, depth = cap.shape[0] - 1, cap.shape[1] - 1
    border = np.zeros(cap.shape + (3,))
    id_to_column = {int(v): j for j, v in enumerate(layout.grid[-1])}
    for a in range(width + 1):
        for b in range(depth + 1):
            if a in (0, width) or b in (0, depth):
                border[a, b] = top_dirs[id_to_column[int(cap[a, b])]]
    # Coons patch over the directions of the border, then projected onto the skin.
    s = np.linspace(0.0, 1.0, width + 1)[:, None, None]
    t = np.linspace(0.0, 1.0, depth + 1)[None, :, None]
    coons = (
        (1 - t) * border[:, :1] + t * border[:, -1:] + (1 - s) * border[:1, :] + s * border[-1:, :]
        - ((1 - s) * (1 - t) * border[0, 0] + s * (1 - t) * border[-1, 0] + (1 - s) * t * border[0, -1] + s * t * border[-1, -1])
    )
    inner = coons[1:-1, 1:-1].reshape(-1, 3)
    inner /= np.linalg.norm(inner, axis=1, keepdims=True)
    ids = cap[1:-1, 1:-1].ravel()
    positions[ids] = sculpt.cast_rays(np.tile(sculpt.RAY_ORIGIN, (len(ids), 1)), inner)


def _place_patch(patch: RingPatch, positions: np.ndarray, bulge: np.ndarray) -> None:
    is_eye = patch.name.startswith("eye")
    if is_eye:
        side = 1.0 if patch.name == "eye_left" else -1.0
        contour = eye_margin(patch, side)
    else:
        contour = mouth_contour(patch)
    # Each spoke (one loop index, from the border to the contour) is sampled densely and
    # the rings are spread along it by arc length, so steep places such as the underside
    # of the brow get their share of rings. Rays stop at the first crossing and no
    # farther than a little beyond the spoke, so the nose never counts.
    origin = sculpt.RAY_ORIGIN
    border = positions[patch.rings[0]]
    last_skin = len(patch.steps) - 1
    samples = np.linspace(0.0, 1.0, 41)
    spoke_points = border[None] + samples[:, None, None] * (contour - border)[None]  # (S, P, 3)
    dirs = spoke_points - origin
    reach = 1.25 * np.linalg.norm(dirs, axis=2).reshape(-1) + 0.003
    dirs /= np.linalg.norm(dirs, axis=2, keepdims=True)
    flat = sculpt.cast_rays(np.tile(origin, (dirs.size // 3, 1)), dirs.reshape(-1, 3), reach=reach, steps=160, first_exit=True)
    spoke = flat.reshape(dirs.shape)
    spoke[0], spoke[-1] = border, contour
    lengths = np.concatenate([np.zeros((1, len(border))), np.cumsum(np.linalg.norm(np.diff(spoke, axis=0), axis=2), axis=0)])
    fractions = lengths / lengths[-1]
    for k in range(1, last_skin):
        for m, ids in enumerate(patch.rings[k]):
            positions[ids] = [np.interp(patch.steps[k], fractions[:, m], spoke[:, m, axis]) for axis in range(3)]
    positions[patch.rings[last_skin]] = contour
    if is_eye:
        positions[patch.rings[last_skin + 1]] = eye_tuck(contour, side)
    else:
        _, upper = patch.contour_parameter()
        for k in range(1, last_skin + 1):
            ids = patch.rings[k]
            bulge[ids] = lip_bulge(positions[ids], upper, sculpt.LIP_FULLNESS)
            positions[ids] += bulge[ids]
        for k, ring in enumerate(mouth_bag(positions[patch.rings[last_skin]], patch)):
            positions[patch.rings[last_skin + 1 + k]] = ring


def _place_neck(layout: HeadLayout, positions: np.ndarray) -> None:
    neck = layout.neck_rows
    first_head = positions[layout.grid[neck]]  # (N, 3), no patch touches this row
    axis = np.array([0.0, sculpt.NECK_AXIS_Y, 0.0])
    outward = first_head - axis
    outward[:, 2] = 0.0
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    for k in range(neck):
        fraction = (neck - k) / neck  # row 0 is the bottom
        z = first_head[:, 2] + (sculpt.NECK_BOTTOM_Z - first_head[:, 2]) * fraction
        origins = np.stack([np.zeros_like(z), np.full_like(z, sculpt.NECK_AXIS_Y), z], axis=1)
        positions[layout.grid[k]] = sculpt.cast_rays(origins, outward, reach=0.12, steps=60)
