"""Teeth, gums and tongue for a MeshTalk head, as separate meshes inside its mouth.

They are not part of the face mesh (whose vertex order is the model's topology), but
objects parented to it, like the eyes: the upper teeth stay with the skull, the lower
teeth follow the jaw exactly as the chin's skin does (`rig.jaw_key_offsets`, weight
1), and the tongue rests on the mouth's floor, follows the jaw,
comes out between the lips with tongueOut and articulates with the head's tongue
controls (core.tongue.TONGUE_KEYS: the tip to the ridge, between the teeth, the back
up). Each moving part carries one delta per key that moves it (`PartMesh.key_deltas`),
which Blender plays as shape keys driven by the face's keys of the same names.

Placement is measured on the head itself (the inner lip line, the mouth bag's front and
the mouth corners), so every identity gets teeth that sit behind its own lips. Sizes
are those of adult teeth (crown widths along the arch, labio-lingual depths, crown
heights, in millimetres); the arches are narrowed or widened with the mouth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .head import HeadModel
from .rig import jaw_key_offsets

TOOTH, GUM, TONGUE = 0, 1, 2
NEUTRAL_MOUTH_HALF_WIDTH = 0.0244  # the bundled head's, where the arch sizes below fit

# (width along the arch, labio-lingual depth, crown height) in mm, midline to back.
UPPER_TEETH_MM = ((8.5, 7.0, 10.5), (6.5, 6.0, 9.0), (7.5, 8.0, 10.0), (7.0, 9.0, 8.5), (6.5, 9.0, 8.0),
                  (10.0, 11.0, 7.5), (9.0, 11.0, 7.0))
LOWER_TEETH_MM = ((5.3, 6.0, 9.0), (5.9, 6.0, 9.0), (7.0, 7.5, 10.0), (7.0, 7.5, 8.5), (7.0, 8.0, 8.0),
                  (11.0, 10.5, 7.5), (10.5, 10.0, 7.0))
INCISOR_BEHIND_BAG_FRONT = 0.005  # the upper incisors' front, behind the lips' inner edge
UPPER_EDGE_BELOW_LIP_LINE = 0.003
OVERBITE = 0.0022  # the lower incisors' edges rise this far behind the upper ones
OVERJET = 0.0028  # and sit this far behind the upper incisors' front
ARCH_HALF_WIDTH = 0.029  # the arch's lateral reach at the molars, at the neutral mouth
ARCH_DEPTH = 0.033  # how far behind the incisors the arch's last molar ends
ARCH_POWER = 2.4  # the arch's shape: depth grows as (|x| / half width) ** power
TONGUE_OUT_REACH = 0.034  # how far the tip comes forward at tongueOut = 1


@dataclass
class PartMesh:
    name: str  # "Teeth Upper", "Teeth Lower", "Tongue"
    vertices: np.ndarray  # (n, 3) float32, model space
    faces: list[list[int]]
    face_materials: np.ndarray  # (F,) TOOTH, GUM or TONGUE
    key_deltas: dict[str, np.ndarray] = field(default_factory=dict)  # ARKit or tongue key -> (n, 3) at weight 1


@dataclass(frozen=True)
class _MouthFrame:
    """Where the mouth is, measured on one head."""

    incisor_front: float  # y of the upper incisors' front
    lip_line: float  # z where the lips meet at the midline
    width_scale: float  # the arch's lateral scale for this mouth
    hinge: np.ndarray  # (3,)


def lip_line_z(vertices: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> float:
    """z where the lips meet at the midline, of (V, 3) closed-mouth vertices and their
    (P,) paired upper and lower inner-lip vertices: between the pair nearest the midline.
    The upper incisors' edges are UPPER_EDGE_BELOW_LIP_LINE under it."""
    vertices = np.asarray(vertices, dtype=np.float64)
    middle = np.argmin(np.abs(vertices[upper, 0]))
    return float(0.5 * (vertices[upper[middle], 2] + vertices[lower[middle], 2]))


def _measure(head: HeadModel) -> _MouthFrame:
    vertices = head.vertices.astype(np.float64)
    lip_line = lip_line_z(vertices, head.index_sets["upper_inner_lip"], head.index_sets["lower_inner_lip"])
    interior = vertices[head.index_sets["mouth_interior"]]
    midline = interior[np.abs(interior[:, 0]) < 0.004]
    bag_front = midline[:, 1].min()  # where the lips' inner faces end and the cavity begins
    corners = vertices[head.index_sets["mouth_corners"]]
    half_width = 0.5 * (corners[:, 0].max() - corners[:, 0].min())
    width_scale = float(np.clip(half_width / NEUTRAL_MOUTH_HALF_WIDTH, 0.85, 1.15))
    return _MouthFrame(bag_front + INCISOR_BEHIND_BAG_FRONT, lip_line, width_scale, head.jaw_hinge.astype(np.float64))


# ---------------------------------------------------------------- the dental arch


class _Arch:
    """A curve in the horizontal plane from the midline back to the last molar:
    y = front + depth * (|x| / half width) ** power, walked by arc length."""

    def __init__(self, front: float, half_width: float, depth: float, inset: float = 0.0):
        x = half_width * np.linspace(0.0, 1.0, 2001) ** 0.5  # denser where the arch turns back
        y = front + depth * (x / half_width) ** ARCH_POWER
        tangent = np.gradient(np.stack([x, y], axis=1), axis=0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        outward = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)  # toward the lips and cheeks
        points = np.stack([x, y], axis=1) - inset * outward
        self.points = points
        self.outward = outward
        self.length = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])

    def at(self, arc_length: float) -> tuple[np.ndarray, np.ndarray]:
        """(point (2,), outward unit normal (2,)) on the right-hand half (x >= 0)."""
        s = np.clip(arc_length, 0.0, self.length[-1])
        point = np.array([np.interp(s, self.length, self.points[:, i]) for i in range(2)])
        normal = np.array([np.interp(s, self.length, self.outward[:, i]) for i in range(2)])
        return point, normal / np.linalg.norm(normal)


    def inner_edge(self, sizes_mm) -> np.ndarray:
        """(n, 2) the line along the inside of this arch's teeth and gum (x >= 0 half)."""
        widths = np.array([size[0] for size in sizes_mm]) * 1e-3
        centres = np.cumsum(widths) - widths / 2
        depths = np.array([size[1] for size in sizes_mm]) * 1e-3 + 0.001  # the gum is 1 mm proud of the crowns
        depth = np.interp(self.length, centres, depths)
        inner = self.points - depth[:, None] * self.outward
        return inner[np.maximum.accumulate(inner[:, 1]) == inner[:, 1]]  # increasing y, for interpolation


def _superellipsoid(rings: int, segments: int, exponent: float) -> tuple[np.ndarray, list[list[int]]]:
    """A unit superellipsoid (|x|^e-ish, boxy for small exponents) with poles on z:
    (vertices (n, 3), quads and pole triangles, outward)."""
    polar = np.linspace(0.0, np.pi, rings + 1)[1:-1]
    azimuth = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    signed_power = lambda value: np.sign(value) * np.abs(value) ** exponent  # noqa: E731
    sin_p, cos_p = signed_power(np.sin(polar)), signed_power(np.cos(polar))
    sin_a, cos_a = signed_power(np.sin(azimuth)), signed_power(np.cos(azimuth))
    ring_points = np.stack(
        [np.outer(sin_p, cos_a), np.outer(sin_p, sin_a), np.outer(cos_p, np.ones_like(azimuth))], axis=-1
    ).reshape(-1, 3)
    vertices = np.concatenate([[[0.0, 0.0, 1.0]], ring_points, [[0.0, 0.0, -1.0]]])
    ring = lambda band, segment: 1 + band * segments + segment % segments  # noqa: E731
    faces = [[0, ring(0, s), ring(0, s + 1)] for s in range(segments)]
    for band in range(len(polar) - 1):
        faces += [[ring(band, s), ring(band + 1, s), ring(band + 1, s + 1), ring(band, s + 1)] for s in range(segments)]
    bottom = len(vertices) - 1
    faces += [[ring(len(polar) - 1, s), bottom, ring(len(polar) - 1, s + 1)] for s in range(segments)]
    return vertices, faces


def _tooth(centre_xy: np.ndarray, outward: np.ndarray, edge_z: float, size_mm, upper: bool, side: float):
    """One crown standing on the arch: its edge at `edge_z`, growing up (upper teeth) or
    down (lower) by its crown height; thinner toward the biting edge, as incisors are."""
    width, depth, height = np.asarray(size_mm) * 1e-3
    unit, faces = _superellipsoid(6, 12, 0.45)
    toward_root = 0.5 * (1.0 - unit[:, 2])  # 0 at the biting edge (z = 1 of the unit shape), 1 at the root
    taper = 0.45 + 0.55 * np.sqrt(toward_root)
    along = np.array([-outward[1], outward[0]])  # the arch's tangent
    x_local = 0.5 * width * unit[:, 0]
    y_local = 0.5 * depth * unit[:, 1] * taper
    z_local = height * toward_root
    xy = centre_xy + np.outer(x_local, along) + np.outer(y_local, outward)
    z = edge_z + z_local if upper else edge_z - z_local
    vertices = np.stack([side * xy[:, 0], xy[:, 1], z], axis=1)
    if not upper:  # the unit shape's edge pole points down once mirrored in z
        faces = [face[::-1] for face in faces]
    if side < 0:  # mirrored in x: the winding flips
        faces = [face[::-1] for face in faces]
    return vertices, faces


def _gum(arch: _Arch, sizes_mm, edge_z: float, upper: bool) -> tuple[np.ndarray, list[list[int]]]:
    """A band around the roots of one arch, both sides: a rounded cross-section swept
    along the arch, its lower (upper jaw) or upper (lower jaw) border just over the
    crowns' necks, closed at both ends."""
    widths = np.array([s[0] for s in sizes_mm]) * 1e-3
    ends = np.cumsum(widths)
    centres = ends - widths / 2
    crowns = np.array([s[2] for s in sizes_mm]) * 1e-3
    depths = np.array([s[1] for s in sizes_mm]) * 1e-3
    length = ends[-1]
    stations = np.concatenate([-np.linspace(length, 0.0, 24, endpoint=False), np.linspace(0.0, length, 25)])
    # The cross-section in (outward, vertical) units: a rounded slab 9 mm tall.
    angle = np.linspace(0.0, 2.0 * np.pi, 12, endpoint=False)
    section = np.stack([np.sign(np.cos(angle)) * np.abs(np.cos(angle)) ** 0.5,
                        np.sign(np.sin(angle)) * np.abs(np.sin(angle)) ** 0.5], axis=1)
    rings = []
    for station in stations:
        point, outward = arch.at(abs(station))
        side = -1.0 if station < 0 else 1.0
        crown = np.interp(abs(station), centres, crowns)
        depth = np.interp(abs(station), centres, depths)
        neck = crown - 0.0018  # the gum covers the crowns' necks
        middle = neck + 0.0045
        vertical = middle + 0.0045 * section[:, 1]
        offset = 0.5 * (depth + 0.002) * section[:, 0] - 0.5 * depth  # centred on the crowns, 1 mm proud of them
        xy = point[None, :] + offset[:, None] * outward[None, :]
        z = edge_z + vertical if upper else edge_z - vertical
        rings.append(np.stack([side * xy[:, 0], xy[:, 1], z], axis=1))
    vertices = np.concatenate(rings)
    count = len(section)
    faces = []
    for r in range(len(rings) - 1):
        for k in range(count):
            a, b = r * count + k, r * count + (k + 1) % count
            faces.append([a, b, b + count, a + count])
    faces.append(list(range(count))[::-1])
    last = (len(rings) - 1) * count
    faces.append(list(range(last, last + count)))
    return vertices, _outward(vertices, faces)


def _outward(vertices: np.ndarray, faces: list[list[int]]) -> list[list[int]]:
    """Flips every face of a closed mesh if its signed volume is negative."""
    volume = 0.0
    for face in faces:
        for i in range(1, len(face) - 1):
            volume += np.dot(vertices[face[0]], np.cross(vertices[face[i]], vertices[face[i + 1]]))
    return faces if volume > 0 else [face[::-1] for face in faces]


def _arch_teeth(arch: _Arch, sizes_mm, edge_z: float, upper: bool):
    """All the crowns of one arch, and its gum, as (vertices, faces, materials)."""
    vertex_blocks, faces, materials, start = [], [], [], 0
    distance = 0.0
    for size in sizes_mm:
        centre, outward = arch.at(distance + 0.5 * size[0] * 1e-3)
        distance += size[0] * 1e-3
        inward_shift = 0.5 * size[1] * 1e-3  # the arch is the teeth's front face
        for side in (1.0, -1.0):
            vertices, tooth_faces = _tooth(centre - inward_shift * outward, outward, edge_z, size, upper, side)
            vertex_blocks.append(vertices)
            faces += [[start + i for i in face] for face in tooth_faces]
            materials += [TOOTH] * len(tooth_faces)
            start += len(vertices)
    gum_vertices, gum_faces = _gum(arch, sizes_mm, edge_z, upper)
    vertex_blocks.append(gum_vertices)
    faces += [[start + i for i in face] for face in gum_faces]
    materials += [GUM] * len(gum_faces)
    return np.concatenate(vertex_blocks), faces, np.array(materials)


# ---------------------------------------------------------------- tongue


def _tongue(front_y: float, top_z: float, lower_arch: _Arch) -> tuple[np.ndarray, list[list[int]]]:
    """A long rounded body whose tip rests behind the lower incisors and whose back
    rises toward the soft palate and goes down into the throat (hidden in the head),
    with a shallow groove along its middle. It is as wide as the lower arch leaves room
    for, less a millimetre, at every depth."""
    half_width, half_length, half_height = 0.02, 0.031, 0.0085
    unit, faces = _superellipsoid(10, 16, 0.75)
    # The unit shape's poles are on z; lay it along y (tip at -y).
    x, y, z = half_width * unit[:, 0], half_length * unit[:, 2], half_height * unit[:, 1]
    y = front_y + half_length - y  # tip (unit z = +1) at front_y
    lingual = lower_arch.inner_edge(LOWER_TEETH_MM)
    room = np.interp(y, lingual[:, 1], lingual[:, 0], left=0.0) - 0.001
    x = x * np.clip(room / half_width, 0.1, 1.0)
    back = np.clip((y - front_y) / (2.0 * half_length), 0.0, 1.0)
    top = z > 0
    z = z + top_z - half_height + 0.0035 * np.sin(np.pi * np.clip(back * 1.4, 0.0, 1.0))  # the dorsum arches up
    z = z - 0.0012 * np.exp(-((x / 0.004) ** 2)) * top  # the median groove
    z = z - 0.02 * np.clip(back - 0.75, 0.0, None) * 4.0  # the root turns down into the throat
    vertices = np.stack([x, y, z], axis=1)
    return vertices, _outward(vertices, faces)


def _tongue_out(vertices: np.ndarray, front_y: float, lip_line: float) -> np.ndarray:
    """tongueOut at 1: the front half slides out between the lips, tip first, rising to
    the lip line and thinning to pass between them; the root stays."""
    reach = np.clip(1.0 - (vertices[:, 1] - front_y) / 0.04, 0.0, 1.0) ** 1.5
    tip = reach > 0.8
    centre = 0.5 * (vertices[tip, 2].max() + vertices[tip, 2].min())
    delta = np.zeros_like(vertices)
    delta[:, 1] = -TONGUE_OUT_REACH * reach
    delta[:, 0] = -0.15 * vertices[:, 0] * reach
    delta[:, 2] = reach * (lip_line - 0.0025 - centre) - 0.5 * reach * (vertices[:, 2] - centre)
    return delta


# ---------------------------------------------------------------- articulation
# The places the tongue goes in speech (core.tongue's keys). Measured from the upper
# incisors: their crowns are 7 mm deep at the midline, their gum 1 mm more, and the
# alveolar ridge, where t, d, n, l touch, sits about a centimetre above their edges.
RIDGE_ABOVE_EDGE = 0.0085
RIDGE_BEHIND_FRONT = 0.0095
BLADE_LENGTH = 0.03  # how much of the front bends with the tip
BACK_RISE = 0.006  # the dorsum toward the soft palate for k, g, ng


def _front_reach(vertices: np.ndarray, front_y: float, power: float) -> np.ndarray:
    """(n,) 1 at the tip, falling to 0 a BLADE_LENGTH behind it."""
    return np.clip(1.0 - (vertices[:, 1] - front_y) / BLADE_LENGTH, 0.0, 1.0) ** power


def _tip_to(vertices: np.ndarray, front_y: float, target_y: float, target_z: float, thinning: float) -> np.ndarray:
    """The blade bent so that the tip's centre reaches (target_y, target_z), thinned by
    ``thinning`` at the tip (a tongue's blade narrows as it reaches)."""
    reach = _front_reach(vertices, front_y, 2.0)
    tip = reach > 0.8
    centre = 0.5 * (vertices[tip, 2].max() + vertices[tip, 2].min())
    delta = np.zeros_like(vertices)
    delta[:, 1] = reach * (target_y - front_y)
    delta[:, 2] = reach * (target_z - centre) - thinning * reach * (vertices[:, 2] - centre)
    delta[:, 0] = -0.2 * vertices[:, 0] * reach
    return delta


def _tongue_tip_up(vertices: np.ndarray, front_y: float, incisor_front: float, upper_edge: float) -> np.ndarray:
    """tongueTipUp at 1: the tip on the ridge behind the upper incisors (t, d, n, l)."""
    return _tip_to(vertices, front_y, incisor_front + RIDGE_BEHIND_FRONT, upper_edge + RIDGE_ABOVE_EDGE - 0.002, 0.5)


def _tongue_dental(vertices: np.ndarray, front_y: float, incisor_front: float, upper_edge: float) -> np.ndarray:
    """tongueDental at 1: the tip just under the upper incisors' edges and a little in
    front of them, where it shows between the teeth (th), still behind the lips."""
    return _tip_to(vertices, front_y, incisor_front - 0.0025, upper_edge - 0.002, 0.8)


def _tongue_back_up(vertices: np.ndarray, front_y: float) -> np.ndarray:
    """tongueBackUp at 1: the back of the tongue raised toward the soft palate (k, g)."""
    length = vertices[:, 1].max() - front_y
    along = np.clip((vertices[:, 1] - front_y) / length, 0.0, 1.0)
    delta = np.zeros_like(vertices)
    delta[:, 2] = BACK_RISE * np.sin(np.pi * np.clip((along - 0.2) / 0.55, 0.0, 1.0))
    return delta


# ---------------------------------------------------------------- assembly

# The lower teeth drop a little with tongueOut so the tongue can pass over them (a
# tongue cannot come out between closed incisors); the lower lip hides the drop.
TONGUE_OUT_JAW_DROP = 0.3
DENTAL_JAW_DROP = 0.5  # and so they do for a "th", whose tip rests on their edges
# On the face, a "th" parts the lips around the tip as tongueOut does, this much of it:
# the face's tongueDental key (the other tongue controls move nothing on the face).
DENTAL_LIP_PART = 0.6


def _jaw_key_deltas(vertices: np.ndarray, hinge: np.ndarray) -> dict[str, np.ndarray]:
    return {name: offsets.astype(np.float32) for name, offsets in jaw_key_offsets(vertices, hinge).items()}


def build_mouth_parts(head: HeadModel) -> tuple[PartMesh, PartMesh, PartMesh]:
    """(upper teeth, lower teeth, tongue) for `head`, in its model space."""
    frame = _measure(head)
    half_width = ARCH_HALF_WIDTH * frame.width_scale
    upper_arch = _Arch(frame.incisor_front, half_width, ARCH_DEPTH)
    lower_arch = _Arch(frame.incisor_front + OVERJET, half_width - OVERJET, ARCH_DEPTH - OVERJET)
    upper_edge = frame.lip_line - UPPER_EDGE_BELOW_LIP_LINE
    lower_edge = upper_edge + OVERBITE

    vertices, faces, materials = _arch_teeth(upper_arch, UPPER_TEETH_MM, upper_edge, upper=True)
    upper = PartMesh("Teeth Upper", vertices.astype(np.float32), faces, materials)

    vertices, faces, materials = _arch_teeth(lower_arch, LOWER_TEETH_MM, lower_edge, upper=False)
    lower_deltas = _jaw_key_deltas(vertices, frame.hinge)
    lower_deltas["tongueOut"] = TONGUE_OUT_JAW_DROP * lower_deltas["jawOpen"]
    lower_deltas["tongueDental"] = DENTAL_JAW_DROP * lower_deltas["jawOpen"]
    lower = PartMesh("Teeth Lower", vertices.astype(np.float32), faces, materials, lower_deltas)

    tip_y = frame.incisor_front + OVERJET + 0.0085  # just behind the lower incisors and their gum
    vertices, faces = _tongue(tip_y, lower_edge - 0.0025, lower_arch)
    tongue_deltas = _jaw_key_deltas(vertices, frame.hinge)
    tongue_deltas["tongueOut"] = _tongue_out(vertices, tip_y, frame.lip_line).astype(np.float32)
    tongue_deltas["tongueTipUp"] = _tongue_tip_up(vertices, tip_y, frame.incisor_front, upper_edge).astype(np.float32)
    tongue_deltas["tongueDental"] = _tongue_dental(vertices, tip_y, frame.incisor_front, upper_edge).astype(np.float32)
    tongue_deltas["tongueBackUp"] = _tongue_back_up(vertices, tip_y).astype(np.float32)
    tongue = PartMesh("Tongue", vertices.astype(np.float32), faces, np.full(len(faces), TONGUE), tongue_deltas)
    return upper, lower, tongue
