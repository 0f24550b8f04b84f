"""The ARKit-52 rig: one displacement field (a delta blendshape) per ARKit name.

`arkit_deltas(head)` builds the (52, V, 3) deltas from the head's own geometry, so every
identity gets a rig that fits it; `apply_arkit` is the linear blend
`vertices + weights @ deltas`, cheap for thousands of frames.

How the shapes are made:
- jawOpen turns the lower face about the jaw hinge (an axis along x through the
  condyles) by 16 degrees and glides it 7 mm forward, as the condyles do;
  jawLeft/Right/Forward slide the same region.
- The lips are told apart by the mouth ring patch (upper or lower half), never by
  position, since they touch along the lip line. mouthClose is ARKit's "lips together
  while the jaw is open": added to jawOpen it brings each upper inner-lip vertex and its
  lower partner to the same point (alone it would press the lips through each other,
  as in ARKit, where it is only meaningful on top of jawOpen).
- Eyelids turn about the eyeball centre (so they slide over the eye); eyeBlink takes
  each upper margin vertex exactly onto its lower partner after the lower lid has risen
  a little. Eye look shapes turn the lids part of the way with the eye (the eyeballs
  themselves turn by `eye_rotations`).
- The other shapes are smooth local displacement fields around the mouth corners,
  lips, cheeks, nose and brows. Left shapes use the face's own left (+x); each Right
  shape is made by the same code with the side flipped, so twins mirror each other.
- The teeth and tongue are separate meshes (mouth_parts.py): tongueOut only parts the
  lips around the tongue here.
Known approximations: cheekPuff inflates the cheek skin along its
normal; the linear blend moves blinking lids along a chord, which dips up to about
0.8 mm under the lid shell at half-closure (it stays clear of the eyeball and cornea).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arkit_names import ARKIT_INDEX, ARKIT_NAMES
from .head import HeadModel

JAW_OPEN_ANGLE = np.radians(16.0)
JAW_GLIDE = 0.007  # forward slide of the jaw at jawOpen = 1
# The jaw's slides at weight 1 (metres), for everything that follows the jaw.
JAW_SLIDES = {"jawForward": (0.0, -0.007, 0.0), "jawLeft": (0.007, 0.0, 0.0), "jawRight": (-0.007, 0.0, 0.0)}
EYE_YAW = np.radians(28.0)  # eyeLookIn / eyeLookOut at 1
EYE_PITCH_UP = np.radians(22.0)
EYE_PITCH_DOWN = np.radians(28.0)


def _smoothstep(edge0, edge1, x):
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _bump(points: np.ndarray, centre: np.ndarray, radius) -> np.ndarray:
    """(N,) 1 at centre falling smoothly to 0 at `radius` (scalar or (3,) radii)."""
    distance = np.linalg.norm((points - centre) / np.asarray(radius), axis=1)
    return _smoothstep(1.0, 0.0, distance)


def _rotate_about_x(relative: np.ndarray, angle) -> np.ndarray:
    """Turns (N, 3) offsets about the x axis; positive angles move the front (-y) down."""
    cos, sin = np.cos(angle), np.sin(angle)
    y, z = relative[:, 1], relative[:, 2]
    return np.stack([relative[:, 0], y * cos - z * sin, z * cos + y * sin], axis=1)


def _rotate_about_z(relative: np.ndarray, angle) -> np.ndarray:
    """Turns (N, 3) offsets about the z axis; positive angles move the front (-y) toward +x."""
    cos, sin = np.cos(angle), np.sin(angle)
    x, y = relative[:, 0], relative[:, 1]
    return np.stack([x * cos - y * sin, y * cos + x * sin, relative[:, 2]], axis=1)


@dataclass
class _Patch:
    """Per-vertex coordinates inside a ring patch (all arrays (V,))."""

    inside: np.ndarray  # bool
    ring: np.ndarray  # ring index, -1 outside
    step: np.ndarray  # 0 at the border, 1 at the contour and beyond (bag, tuck)
    along: np.ndarray  # -1 .. 1 along the contour (x direction)
    upper: np.ndarray  # bool
    contour_ring: int
    rings: list  # vertex ids per ring


class _Frame:
    """What the shapes need to know about one head, measured on its vertices."""

    def __init__(self, head: HeadModel):
        layout = head.layout
        self.head = head
        self.points = head.vertices.astype(np.float64)
        self.count = len(self.points)
        self.patches = {name: self._patch(layout, name) for name in layout.patches}
        self.region = layout.region
        corners = self.points[head.index_sets["mouth_corners"]]  # [right, left]
        self.mouth_corners = corners
        self.mouth_centre = corners.mean(axis=0)
        upper, lower = head.index_sets["upper_inner_lip"], head.index_sets["lower_inner_lip"]
        middle = np.argmin(np.abs(self.points[upper, 0]))
        self.mouth_front = 0.5 * (self.points[upper[middle]] + self.points[lower[middle]])
        self.mouth_half_width = 0.5 * (corners[1, 0] - corners[0, 0])
        self.hinge = head.jaw_hinge.astype(np.float64)
        self.eye_centres = head.eye_centres.astype(np.float64)

    @staticmethod
    def _patch(layout, name) -> _Patch:
        inside, ring, along, upper = layout.patch_coordinates(name)
        patch = layout.patches[name]
        steps = np.array(list(patch.steps) + [1.0] * (len(patch.rings) - len(patch.steps)))
        step = np.where(ring >= 0, steps[np.maximum(ring, 0)], 0.0)
        return _Patch(inside, ring, step, along, upper, len(patch.steps) - 1, patch.rings)

    def corner(self, side: float) -> np.ndarray:
        return self.mouth_corners[1] if side > 0 else self.mouth_corners[0]

    def zero(self) -> np.ndarray:
        return np.zeros((self.count, 3))


# ---------------------------------------------------------------- jaw


def _jaw_weight(frame: _Frame) -> np.ndarray:
    """(V,) how much each vertex follows the lower jaw."""
    x, y, z = frame.points.T
    corners_y, corners_z = frame.mouth_corners[:, 1].mean(), frame.mouth_corners[:, 2].mean()
    hinge_y, hinge_z = frame.hinge[1], frame.hinge[2]
    toward_hinge = np.clip((y - corners_y) / (hinge_y - corners_y), 0.0, 1.0)
    split = corners_z + (hinge_z - corners_z) * toward_hinge
    below = _smoothstep(split + 0.006, split - 0.016, z)
    in_front = _smoothstep(hinge_y + 0.012, hinge_y - 0.012, y)
    # Below the jaw bone's lower border (chin bottom up to the jaw angle) the skin of
    # the throat stays behind: full weight at the border, none 4.5 cm under it.
    chin_bottom = frame.mouth_front[2] - 0.054  # about 12.5 cm below the eyes
    to_angle = np.clip((y - frame.mouth_front[1]) / (hinge_y - 0.008 - frame.mouth_front[1]), 0.0, 1.0)
    border = chin_bottom + (hinge_z - 0.06 - chin_bottom) * to_angle
    under = _smoothstep(border - 0.045, border - 0.004, z)
    field = below * in_front * under

    mouth = frame.patches["mouth"]
    lower = np.where(mouth.upper, 0.0, 1.0)
    lower[np.abs(mouth.along) > 0.999] = 0.5  # the two corners are shared by both lips
    blend = mouth.step**1.5
    weight = np.where(mouth.inside, blend * lower + (1.0 - blend) * field, field)
    return np.clip(weight, 0.0, 1.0)


def jaw_open_offsets(points: np.ndarray, hinge: np.ndarray) -> np.ndarray:
    """(N, 3) -> (N, 3): where jawOpen at 1 takes points that follow the jaw fully (the
    chin's skin, the lower teeth). A turn about the hinge, plus the condyles' forward
    glide (which keeps the angle of the jaw from swinging back into the neck)."""
    relative = np.asarray(points, dtype=np.float64) - hinge
    turned = _rotate_about_x(relative, JAW_OPEN_ANGLE)
    return turned - relative + np.array([0.0, -JAW_GLIDE, -0.002])


def jaw_key_offsets(points: np.ndarray, hinge: np.ndarray) -> dict[str, np.ndarray]:
    """{jawOpen, jawForward, jawLeft, jawRight: (N, 3)}: how each jaw key at 1 moves
    points that follow the jaw fully (lower teeth, tongue, a character's jaw parts)."""
    points = np.asarray(points, dtype=np.float64)
    offsets = {"jawOpen": jaw_open_offsets(points, hinge)}
    for name, slide in JAW_SLIDES.items():
        offsets[name] = np.broadcast_to(np.asarray(slide, dtype=np.float64), points.shape).copy()
    return offsets


def _jaw_open(frame: _Frame, jaw: np.ndarray) -> np.ndarray:
    return jaw[:, None] * jaw_open_offsets(frame.points, frame.hinge)


def _jaw_slide(frame: _Frame, jaw: np.ndarray, name: str) -> np.ndarray:
    return jaw[:, None] * np.asarray(JAW_SLIDES[name])[None, :]


# ---------------------------------------------------------------- lips


def _lip_follow(mouth: _Patch, bag_follow=(1.0, 0.6, 0.25, 0.05)) -> np.ndarray:
    """(V,) how much a vertex of the mouth patch moves with its inner-contour vertex."""
    follow = _smoothstep(0.3, 1.0, mouth.step) ** 1.3
    bag = mouth.ring - mouth.contour_ring  # 1.. for bag rings
    for k, value in enumerate(bag_follow, start=1):
        follow[bag == k] = value
    return np.where(mouth.inside, follow, 0.0)


def _spread_from_contour(frame: _Frame, contour_delta: np.ndarray, follow: np.ndarray) -> np.ndarray:
    """Moves each spoke of the mouth patch with its contour vertex: (P, 3) -> (V, 3)."""
    mouth = frame.patches["mouth"]
    out = frame.zero()
    for ids in mouth.rings:
        out[ids] = contour_delta * follow[ids, None]
    return out


def _contour_ids(frame: _Frame) -> np.ndarray:
    mouth = frame.patches["mouth"]
    return mouth.rings[mouth.contour_ring]


def _partner(count: int) -> np.ndarray:
    """Loop index -> the index across the lip line (same place along the mouth)."""
    return (count - np.arange(count)) % count


def _mouth_close(frame: _Frame, jaw_open_delta: np.ndarray) -> np.ndarray:
    contour = _contour_ids(frame)
    opened = frame.points[contour] + jaw_open_delta[contour]
    mouth = frame.patches["mouth"]
    upper = mouth.upper[contour]
    partner = _partner(len(contour))
    upper_pos = np.where(upper[:, None], opened, opened[partner])
    lower_pos = np.where(upper[:, None], opened[partner], opened)
    seal = upper_pos + 0.38 * (lower_pos - upper_pos)  # the lower lip travels farther
    delta = seal - opened
    return _spread_from_contour(frame, delta, _lip_follow(mouth, (1.0, 0.5, 0.15, 0.0)))


def _mouth_area(frame: _Frame) -> np.ndarray:
    """(V,) lips 1, falling off over the skin around the mouth, 0 above the nostrils."""
    relative = frame.points - frame.mouth_front
    reach = frame.mouth_half_width
    weight = _bump(relative, np.zeros(3), (2.1 * reach, 2.6 * reach, 1.7 * reach))
    weight *= _smoothstep(0.024, 0.012, relative[:, 2])
    mouth = frame.patches["mouth"]
    lips = _lip_follow(mouth)
    return np.maximum(weight, lips)


def _round_mouth(frame: _Frame, width_scale: float, open_height: float, protrusion: float) -> np.ndarray:
    """Contour pulled toward a rounded, pushed-out shape (funnel and pucker)."""
    contour = _contour_ids(frame)
    mouth = frame.patches["mouth"]
    points = frame.points[contour]
    along = mouth.along[contour]
    sign = np.where(mouth.upper[contour], 1.0, -1.0)
    sign[np.abs(along) > 0.999] = 0.0
    target = points.copy()
    target[:, 0] = frame.mouth_front[0] + along * frame.mouth_half_width * width_scale
    target[:, 2] = frame.mouth_front[2] + sign * open_height * np.sqrt(np.clip(1.0 - along**2, 0.0, None))
    target[:, 1] = frame.mouth_front[1] - protrusion * (1.0 - 0.35 * along**2)
    delta = target - points
    out = _spread_from_contour(frame, delta, _lip_follow(mouth, (1.0, 0.7, 0.3, 0.1)))
    # The skin around the lips is carried forward a little too.
    area = _mouth_area(frame)
    out[:, 1] -= 0.35 * protrusion * area * (1.0 - _lip_follow(mouth))
    return out


def _corner_shape(frame: _Frame, side: float, offset, radius: float = 0.036) -> np.ndarray:
    """The mouth corner on `side` moves by offset (x toward that side), with its surroundings.

    Both lips at the same place get the same weight, so the mouth stays closed.
    """
    corner = frame.corner(side)
    weight = _bump(frame.points, corner, radius)
    weight *= _smoothstep(frame.hinge[1], frame.hinge[1] - 0.03, frame.points[:, 1])
    offset = np.array([side * offset[0], offset[1], offset[2]])
    return weight[:, None] * offset[None, :]


def _lip_half(frame: _Frame, side: float | None, upper: bool) -> np.ndarray:
    """(V,) weight of one lip (upper or lower), optionally only its half on `side`."""
    mouth = frame.patches["mouth"]
    follow = _lip_follow(mouth, (1.0, 0.6, 0.2, 0.0))
    is_lip = mouth.upper == upper
    corner = np.abs(mouth.along) > 0.999
    weight = np.where(is_lip & ~corner, follow, np.where(corner, 0.5 * follow, 0.0))
    weight *= np.sqrt(np.clip(1.0 - mouth.along**2, 0.0, None)) * 0.6 + 0.4
    if side is not None:
        weight *= _smoothstep(-0.75, 0.55, mouth.along * side)
    return weight


def _press(frame: _Frame, side: float) -> np.ndarray:
    mouth = frame.patches["mouth"]
    lips = np.where(mouth.ring <= mouth.contour_ring, _lip_follow(mouth), 0.0)
    lips *= _smoothstep(-0.7, 0.5, mouth.along * side)
    height = frame.points[:, 2] - frame.mouth_front[2]
    out = frame.zero()
    out[:, 2] = -0.4 * height * lips  # both lips squeezed toward the lip line
    out[:, 1] = 0.0012 * lips
    out[:, 0] = side * 0.0015 * lips * np.abs(mouth.along)
    return out


def _roll(frame: _Frame, upper: bool) -> np.ndarray:
    mouth = frame.patches["mouth"]
    lip = np.where((mouth.upper == upper) & (np.abs(mouth.along) < 0.999), 1.0, 0.0)
    lip *= np.sqrt(np.clip(1.0 - mouth.along**2, 0.0, None)) ** 0.5
    red = _smoothstep(0.45, 0.85, mouth.step) * (mouth.ring <= mouth.contour_ring)
    bag = (mouth.ring == mouth.contour_ring + 1) * 0.6
    weight = lip * np.maximum(red, bag)
    towards_line = -1.0 if upper else 1.0
    out = frame.zero()
    out[:, 1] = 0.0045 * weight
    out[:, 2] = towards_line * 0.0025 * weight
    return out


def _shrug_lower(frame: _Frame) -> np.ndarray:
    chin = _bump(frame.points, frame.mouth_front + np.array([0.0, 0.0, -0.03]), (0.03, 0.05, 0.026))
    lower = _lip_half(frame, None, upper=False)
    upper = _lip_half(frame, None, upper=True)
    out = frame.zero()
    out[:, 2] = 0.0035 * np.maximum(chin, lower) + 0.0022 * upper
    out[:, 1] = -0.0015 * lower
    return out


def _shrug_upper(frame: _Frame) -> np.ndarray:
    upper = _lip_half(frame, None, upper=True)
    lower = _lip_half(frame, None, upper=False)
    out = frame.zero()
    out[:, 2] = 0.0028 * upper + 0.0012 * lower
    out[:, 1] = -0.0012 * upper
    return out


def _lip_vertical(frame: _Frame, side: float, upper: bool, amount: float) -> np.ndarray:
    weight = _lip_half(frame, side, upper)
    # The skin next to the lip on that side comes along a little.
    mouth = frame.patches["mouth"]
    skin = _bump(frame.points, frame.corner(side) * np.array([0.5, 1, 1]) + np.array([0, 0, 0.012 if upper else -0.012]), 0.02)
    skin *= ~mouth.inside | (mouth.upper == upper)
    weight = np.maximum(weight, 0.5 * skin)
    out = frame.zero()
    out[:, 2] = (amount if upper else -amount) * weight
    out[:, 1] = -0.0012 * weight
    return out


def _mouth_sideways(frame: _Frame, side: float) -> np.ndarray:
    out = frame.zero()
    out[:, 0] = side * 0.008 * _mouth_area(frame)
    return out


def _tongue_out(frame: _Frame) -> np.ndarray:
    """The tongue is its own mesh (mouth_parts.py), which comes out between the lips;
    on the face, the lips part around it: the lower lip, pressed down and forward, takes
    the front of the mouth's floor with it, and the upper lip lifts a little."""
    lower = _lip_half(frame, None, upper=False)
    upper = _lip_half(frame, None, upper=True)
    out = frame.zero()
    out[:, 2] = -0.0045 * lower + 0.001 * upper
    out[:, 1] = -0.002 * lower
    return out


# ---------------------------------------------------------------- eyelids


def _eye(frame: _Frame, side: float) -> tuple[_Patch, np.ndarray]:
    patch = frame.patches["eye_left" if side > 0 else "eye_right"]
    centre = frame.eye_centres[0 if side > 0 else 1]
    return patch, centre


def _elevation(relative: np.ndarray) -> np.ndarray:
    return np.arctan2(relative[:, 2], -relative[:, 1])


def _lid_turn(
    frame: _Frame, side: float, upper: bool, angle: np.ndarray, reach: float = 0.45, tuck_follow: float = 1.0
) -> np.ndarray:
    """Turns one eyelid about the eyeball centre by `angle` (V,) radians, downward
    positive, fading out from the margin (1) to the patch border (0). The hidden inner
    edge (tuck) turns by `tuck_follow` of the margin's angle."""
    patch, centre = _eye(frame, side)
    corner = np.abs(patch.along) > 0.999
    chosen = patch.inside & (patch.upper == upper) & ~corner
    falloff = _smoothstep(reach, 1.0, patch.step) * chosen
    falloff[patch.ring > patch.contour_ring] *= tuck_follow
    relative = frame.points - centre
    return _rotate_about_x(relative, angle * falloff) - relative


def _lid_gap_angle(frame: _Frame, side: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(V,) angle from each upper-lid spoke's margin down to its lower partner, with the
    margin ids of the upper and lower halves (paired)."""
    patch, centre = _eye(frame, side)
    margin = patch.rings[patch.contour_ring]
    count = len(margin)
    partner = _partner(count)
    elevations = _elevation(frame.points[margin] - centre)
    gap = np.zeros(frame.count)
    for ids in patch.rings:
        gap[ids] = np.where(patch.upper[ids], elevations - elevations[partner], 0.0)
    upper_ids = margin[count // 2 + 1 :]
    lower_ids = margin[partner[count // 2 + 1 :]]
    return gap, upper_ids, lower_ids


def _blink(frame: _Frame, side: float) -> np.ndarray:
    patch, centre = _eye(frame, side)
    gap, upper_ids, lower_ids = _lid_gap_angle(frame, side)
    lower_rise = np.zeros(frame.count)
    lower_rise[patch.inside] = -0.12  # the lower lid rises by 12 % of the gap
    partner_gap = np.zeros(frame.count)
    margin = patch.rings[patch.contour_ring]
    partner = _partner(len(margin))
    for ids in patch.rings:
        partner_gap[ids] = gap[ids[partner]]  # lower spokes see their upper partner's gap
    out = _lid_turn(frame, side, upper=False, angle=lower_rise * partner_gap)
    lower_target = frame.points[lower_ids] + out[lower_ids]
    # The hidden tuck turns only part of the way: a linear blend moves each vertex along
    # a chord, and the tuck's chord would dip into the cornea at half-closure.
    out += _lid_turn(frame, side, upper=True, angle=gap * 0.88, tuck_follow=0.55)
    # The upper margin lands exactly on the risen lower margin.
    out[upper_ids] = lower_target - frame.points[upper_ids]
    return out


def _lid_gaps(frame: _Frame, side: float) -> tuple[np.ndarray, np.ndarray]:
    """(V,) each: every eye-ring vertex's lid gap angle, and that of its partner on the
    opposite lid (the same ring, mirrored across the eye's corners)."""
    patch, _ = _eye(frame, side)
    gap, _, _ = _lid_gap_angle(frame, side)
    partner = _partner(len(patch.rings[0]))
    partner_gap = np.zeros(frame.count)
    for ids in patch.rings:
        partner_gap[ids] = gap[ids[partner]]
    return gap, partner_gap


def _squint(frame: _Frame, side: float) -> np.ndarray:
    gap, partner_gap = _lid_gaps(frame, side)
    out = _lid_turn(frame, side, upper=False, angle=-0.3 * partner_gap, reach=0.2)
    out += _lid_turn(frame, side, upper=True, angle=0.12 * gap)
    return out


def _wide(frame: _Frame, side: float) -> np.ndarray:
    gap, partner_gap = _lid_gaps(frame, side)
    out = _lid_turn(frame, side, upper=True, angle=-0.32 * gap, reach=0.3)
    out += _lid_turn(frame, side, upper=False, angle=0.06 * partner_gap)
    return out


def _look_vertical(frame: _Frame, side: float, up: bool) -> np.ndarray:
    patch, _ = _eye(frame, side)
    fade = np.sqrt(np.clip(1.0 - patch.along**2, 0.0, None))  # the corners stay put
    if up:
        upper, lower = -0.55 * EYE_PITCH_UP, -0.3 * EYE_PITCH_UP
    else:
        upper, lower = 0.55 * EYE_PITCH_DOWN, 0.35 * EYE_PITCH_DOWN
    out = _lid_turn(frame, side, upper=True, angle=upper * fade, reach=0.35)
    out += _lid_turn(frame, side, upper=False, angle=lower * fade, reach=0.35)
    return out


def _look_sideways(frame: _Frame, side: float, inward: bool) -> np.ndarray:
    """Lids follow the eye sideways a little (toward the nose for 'in')."""
    patch, centre = _eye(frame, side)
    direction = -side if inward else side  # +1 turns the front toward +x
    fade = np.sqrt(np.clip(1.0 - patch.along**2, 0.0, None))
    falloff = _smoothstep(0.35, 1.0, patch.step) * patch.inside * fade
    relative = frame.points - centre
    return _rotate_about_z(relative, direction * 0.22 * EYE_YAW * falloff) - relative


# ---------------------------------------------------------------- brows, cheeks, nose


def _brow_zone(frame: _Frame) -> np.ndarray:
    """(V,) the brows and forehead in front, not the eyelids below them."""
    z = frame.points[:, 2]
    eye_top = frame.eye_centres[0, 2] + 0.008
    return _smoothstep(eye_top, eye_top + 0.01, z) * _smoothstep(0.03, 0.0, frame.points[:, 1])


def _brow_inner_up(frame: _Frame) -> np.ndarray:
    out = frame.zero()
    zone = _brow_zone(frame)
    for side in (1.0, -1.0):
        inner = frame.eye_centres[0 if side > 0 else 1] * np.array([0.45, 1.0, 1.0]) + np.array([0.0, -0.015, 0.022])
        weight = _bump(frame.points, inner, (0.026, 0.04, 0.05)) * zone
        out[:, 2] += 0.009 * weight
        out[:, 0] += side * 0.001 * weight
    return out


def _brow_down(frame: _Frame, side: float) -> np.ndarray:
    centre = frame.eye_centres[0 if side > 0 else 1] * np.array([0.6, 1.0, 1.0]) + np.array([0.0, -0.015, 0.02])
    weight = _bump(frame.points, centre, (0.03, 0.04, 0.03)) * _brow_zone(frame)
    out = frame.zero()
    out[:, 2] = -0.0045 * weight
    out[:, 0] = -side * 0.0025 * weight
    out[:, 1] = -0.001 * weight
    return out


def _brow_outer_up(frame: _Frame, side: float) -> np.ndarray:
    centre = frame.eye_centres[0 if side > 0 else 1] * np.array([1.45, 1.0, 1.0]) + np.array([0.0, 0.0, 0.022])
    weight = _bump(frame.points, centre, (0.026, 0.04, 0.045)) * _brow_zone(frame)
    out = frame.zero()
    out[:, 2] = 0.007 * weight
    return out


def _cheek_puff(frame: _Frame, normals: np.ndarray) -> np.ndarray:
    weight = np.zeros(frame.count)
    for side in (1.0, -1.0):
        centre = frame.corner(side) + np.array([side * 0.016, 0.018, 0.006])
        weight += _bump(frame.points, centre, (0.026, 0.04, 0.03))
    weight *= _smoothstep(frame.hinge[1], frame.hinge[1] - 0.03, frame.points[:, 1])
    lips = _lip_follow(frame.patches["mouth"], (0.5, 0.2, 0.0, 0.0))
    out = 0.007 * weight[:, None] * normals
    out[:, 1] -= 0.0015 * lips
    return out


def _cheek_squint(frame: _Frame, side: float) -> np.ndarray:
    eye = frame.eye_centres[0 if side > 0 else 1]
    centre = eye + np.array([side * 0.006, -0.012, -0.024])
    weight = _bump(frame.points, centre, (0.028, 0.04, 0.02))
    weight *= ~frame.patches["eye_left" if side > 0 else "eye_right"].upper | ~frame.patches["eye_left" if side > 0 else "eye_right"].inside
    out = frame.zero()
    out[:, 2] = 0.0032 * weight
    out[:, 1] = -0.0012 * weight
    patch, _ = _eye(frame, side)
    gap, _, _ = _lid_gap_angle(frame, side)
    partner = _partner(len(patch.rings[0]))
    partner_gap = np.zeros(frame.count)
    for ids in patch.rings:
        partner_gap[ids] = gap[ids[partner]]
    return out + _lid_turn(frame, side, upper=False, angle=-0.14 * partner_gap, reach=0.2)


def _nose_sneer(frame: _Frame, side: float) -> np.ndarray:
    above_lips = _smoothstep(frame.mouth_front[2] + 0.004, frame.mouth_front[2] + 0.012, frame.points[:, 2])
    wing = np.array([side * 0.012, -0.021, frame.mouth_front[2] + 0.03])
    nose_side = np.array([side * 0.009, -0.02, frame.mouth_front[2] + 0.05])
    wing_weight = _bump(frame.points, wing, (0.016, 0.025, 0.018)) * above_lips
    side_weight = _bump(frame.points, nose_side, (0.012, 0.03, 0.02))
    out = frame.zero()
    out[:, 2] = 0.0035 * wing_weight + 0.002 * side_weight
    out[:, 0] = side * 0.0008 * wing_weight
    out[:, 1] = -0.0008 * side_weight
    return out


# ---------------------------------------------------------------- assembly


def arkit_deltas(head: HeadModel) -> np.ndarray:
    """(52, V, 3) float32 delta of each ARKit shape at weight 1, in ARKIT_NAMES order."""
    from .head import vertex_normals

    frame = _Frame(head)
    jaw = _jaw_weight(frame)
    jaw_open = _jaw_open(frame, jaw)
    normals = vertex_normals(frame.points, head.faces)
    shapes: dict[str, np.ndarray] = {
        "jawOpen": jaw_open,
        "jawForward": _jaw_slide(frame, jaw, "jawForward"),
        "mouthClose": _mouth_close(frame, jaw_open),
        "mouthFunnel": _round_mouth(frame, width_scale=0.42, open_height=0.0055, protrusion=0.009),
        "mouthPucker": _round_mouth(frame, width_scale=0.5, open_height=0.0, protrusion=0.011),
        "mouthRollLower": _roll(frame, upper=False),
        "mouthRollUpper": _roll(frame, upper=True),
        "mouthShrugLower": _shrug_lower(frame),
        "mouthShrugUpper": _shrug_upper(frame),
        "browInnerUp": _brow_inner_up(frame),
        "cheekPuff": _cheek_puff(frame, normals),
        "tongueOut": _tongue_out(frame),
    }
    for side, suffix in ((1.0, "Left"), (-1.0, "Right")):
        shapes["eyeBlink" + suffix] = _blink(frame, side)
        shapes["eyeSquint" + suffix] = _squint(frame, side)
        shapes["eyeWide" + suffix] = _wide(frame, side)
        shapes["eyeLookUp" + suffix] = _look_vertical(frame, side, up=True)
        shapes["eyeLookDown" + suffix] = _look_vertical(frame, side, up=False)
        shapes["eyeLookIn" + suffix] = _look_sideways(frame, side, inward=True)
        shapes["eyeLookOut" + suffix] = _look_sideways(frame, side, inward=False)
        shapes["jaw" + suffix] = _jaw_slide(frame, jaw, "jaw" + suffix)
        shapes["mouth" + suffix] = _mouth_sideways(frame, side)
        shapes["mouthSmile" + suffix] = _corner_shape(frame, side, (0.006, 0.0045, 0.008)) + _corner_shape(
            frame, side, (0.0, -0.0015, 0.0025), radius=0.03
        ) * (frame.points[:, 2] > frame.corner(side)[2])[:, None]
        shapes["mouthFrown" + suffix] = _corner_shape(frame, side, (0.0015, 0.0005, -0.0055))
        shapes["mouthDimple" + suffix] = _corner_shape(frame, side, (0.002, 0.0055, 0.0005), radius=0.03)
        shapes["mouthStretch" + suffix] = _corner_shape(frame, side, (0.006, 0.002, -0.003), radius=0.04)
        shapes["mouthPress" + suffix] = _press(frame, side)
        shapes["mouthLowerDown" + suffix] = _lip_vertical(frame, side, upper=False, amount=0.005)
        shapes["mouthUpperUp" + suffix] = _lip_vertical(frame, side, upper=True, amount=0.0045)
        shapes["browDown" + suffix] = _brow_down(frame, side)
        shapes["browOuterUp" + suffix] = _brow_outer_up(frame, side)
        shapes["cheekSquint" + suffix] = _cheek_squint(frame, side)
        shapes["noseSneer" + suffix] = _nose_sneer(frame, side)
    return np.stack([shapes[name] for name in ARKIT_NAMES]).astype(np.float32)


def blend_rows(weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(T, K) weights x (K, N) rows -> (T, N) float32, the same bits on every machine.

    Summed in numpy's own loop, not BLAS: OpenBLAS's float32 sums change in the last bit
    with the number of threads it uses (0.2-0.4 % of a head's values between one and two
    threads; that number is process-wide state, which other threads change), with the
    CPU's kernel and with how many rows one call takes, so the training corpus's vertices
    differed from run to run. 5x BLAS's time, about 15 ms for 10 s of the bundled head."""
    return np.einsum("tk,kn->tn", weights, rows, optimize=False)


def apply_arkit(head: HeadModel, weights: np.ndarray, deltas: np.ndarray | None = None) -> np.ndarray:
    """Vertices for ARKit weights: (52,) -> (V, 3) or (T, 52) -> (T, V, 3) float32.

    Pass `deltas` from `arkit_deltas(head)` when calling repeatedly for one head.
    """
    deltas = arkit_deltas(head) if deltas is None else deltas
    weights = np.asarray(weights, dtype=np.float32)
    flat = deltas.reshape(len(ARKIT_NAMES), -1)
    moved = head.vertices.reshape(1, -1) + blend_rows(weights.reshape(-1, len(ARKIT_NAMES)), flat)
    return moved.reshape(weights.shape[:-1] + head.vertices.shape)


def eye_rotations(weights: np.ndarray) -> np.ndarray:
    """ARKit weights (..., 52) -> (..., 2, 3, 3) rotation of (left, right) eyeball about
    its centre, in model space (apply as centre + R @ (p - centre))."""
    weights = np.asarray(weights, dtype=np.float64)
    out = []
    for suffix, side in (("Left", 1.0), ("Right", -1.0)):
        w = lambda name: weights[..., ARKIT_INDEX[name + suffix]]  # noqa: E731
        pitch = w("eyeLookUp") * EYE_PITCH_UP - w("eyeLookDown") * EYE_PITCH_DOWN  # up positive
        yaw = (w("eyeLookOut") - w("eyeLookIn")) * EYE_YAW * side  # toward +x positive
        cp, sp, cy, sy = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
        one, zero = np.ones_like(pitch), np.zeros_like(pitch)
        # Pitch about x (front goes up for positive), then yaw about z (front toward +x).
        pitch_matrix = np.stack([one, zero, zero, zero, cp, sp, zero, -sp, cp], axis=-1).reshape(pitch.shape + (3, 3))
        yaw_matrix = np.stack([cy, -sy, zero, sy, cy, zero, zero, zero, one], axis=-1).reshape(yaw.shape + (3, 3))
        out.append(yaw_matrix @ pitch_matrix)
    return np.stack(out, axis=-3)
