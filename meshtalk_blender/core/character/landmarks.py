"""Finding the head and the face on a mesh of any topology (no hand-placed points).

The mesh is expected in Blender's front view: Z up, the face toward -Y (a character that
faces another way is told to turn). Steps, each on plain arrays:

1. Parts: the mesh's islands; small sphere-like islands in symmetric pairs are eyeballs
   (as are eyeball objects the Blender layer passes in); other small islands inside the
   head (teeth, tongue) are remembered for the jaw.
2. Head: scanning the body's width from the top down, the neck is the narrowest level
   between the head's widest level and the shoulders (a head alone: its lowest level).
3. Facing: the head's mid-sagittal plane (mirror symmetry) must be across X, and the nose
   (the sharpest forward bump near that plane) must point to -Y, not +Y.
4. A depth image of the head seen from the front: the nose tip (most forward point near
   the midline), the eyes (eyeball islands, else the eye sockets: the deepest pits
   beside the nose bridge), the lip line (the sharpest horizontal crease between the nose
   and the chin along the midline, followed sideways to the mouth corners) and the chin.

``detect(mesh) -> Landmarks`` raises MeshTalkError with what to do when it finds no face.

Placed points: for a stylised or odd face the automatic steps may miss (no nose to
speak of, a mouth drawn as a shallow groove), the user places six points (the add-on
shows them as empties to drag in the front view): the nose tip, both pupils, both mouth
corners and the chin. ``detect(..., placed=...)`` then takes them instead of searching
(only their x and z count: each is put on the surface seen from the front), skips the
facing checks, and follows the lip crease between the placed corners.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ..errors import MeshTalkError
from .depth import DepthImage, front_depth
from .mesh import island_labels, triangle_areas

# Proportions of the bundled head (model space, metres), used as priors for where to
# look; every distance below is relative to the head's measured size.
TEMPLATE_EYE_SPACING = 0.063
TEMPLATE_EYE_TO_NOSE = 0.035  # eye centres' height above the nose tip
TEMPLATE_NOSE_TO_LIPS = 0.0365
TEMPLATE_EYE_RADIUS = 0.0118
# The points a user can place, in this order (their x and z are used).
PLACED_NAMES = ("nose_tip", "eye_left", "eye_right", "mouth_right", "mouth_left", "chin")


@dataclass
class Part:
    """An island of the mesh (or a separate object) that is not skin."""

    kind: str  # "eye" or "mouth" (teeth, tongue: follow the jaw when below the lip line)
    vertices: np.ndarray  # int64 ids into the mesh, or into `source`'s own vertices
    centre: np.ndarray  # (3,)
    radius: float
    side: int = 0  # eyes: +1 the face's left (+x), -1 its right
    source: str = ""  # "" for an island of the mesh itself, else an object name


@dataclass
class Landmarks:
    nose_tip: np.ndarray  # (3,)
    eye_centres: np.ndarray  # (2, 3) [left (+x), right (-x)]
    eye_radius: float
    mouth_corners: np.ndarray  # (2, 3) [right (-x), left (+x)]
    lip_centre: np.ndarray  # (3,) on the lip line at the midline
    chin: np.ndarray  # (3,)
    lip_line: np.ndarray  # (K, 3) points along the lip line, right corner to left
    midline_x: float
    head_top: float
    neck_z: float
    head_width: float
    skin: np.ndarray  # (V,) bool: vertices of the skin (not eyes, teeth, tongue, ...)
    parts: list[Part] = field(default_factory=list)
    eyes_from: str = "sockets"  # "islands", "objects" or "sockets"
    notes: list[str] = field(default_factory=list)

    def as_array(self) -> np.ndarray:
        """(6, 3): nose tip, left eye, right eye, right mouth corner, left mouth corner, chin."""
        return np.concatenate([self.nose_tip[None], self.eye_centres, self.mouth_corners, self.chin[None]])


def fit_sphere(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Least-squares sphere: (centre, radius, rms residual)."""
    points = np.asarray(points, dtype=np.float64)
    mean = points.mean(axis=0)
    points = points - mean  # far from the origin the algebraic fit loses its digits
    a = np.concatenate([2.0 * points, np.ones((len(points), 1))], axis=1)
    b = (points**2).sum(axis=1)
    solution, *_ = np.linalg.lstsq(a, b, rcond=None)
    centre = solution[:3]
    radius = float(np.sqrt(max(solution[3] + centre @ centre, 1e-18)))
    residual = float(np.sqrt(np.mean((np.linalg.norm(points - centre, axis=1) - radius) ** 2)))
    return centre + mean, radius, residual


def _head_span(points: np.ndarray) -> tuple[float, float, float, float]:
    """(top z, neck z, head width, head centre x) from the width profile along Z."""
    z = points[:, 2]
    top, bottom = float(z.max()), float(z.min())
    height = top - bottom
    bins = 120
    edges = np.linspace(bottom, top, bins + 1)
    which = np.clip(np.searchsorted(edges, z, side="right") - 1, 0, bins - 1)
    width = np.zeros(bins)
    centre = np.zeros(bins)
    for b in range(bins):
        xs = points[which == b, 0]
        if len(xs) >= 3:
            low, high = np.percentile(xs, [2, 98])
            width[b], centre[b] = high - low, 0.5 * (low + high)
    # From the top down: the head's widest level, then the narrowest level before the
    # width grows past 1.35 x the head's (shoulders), which is the neck.
    order = np.arange(bins - 1, -1, -1)
    filled = [b for b in order if width[b] > 0]
    if not filled:
        raise MeshTalkError("The mesh is flat or empty; select a character's head or body.")
    head_width, neck = 0.0, None
    widest_bin = filled[0]
    for b in filled:
        if (top - edges[b]) > 0.45 * max(head_width, 1e-9) * 2.6 and width[b] > 1.35 * head_width and head_width > 0:
            break  # shoulders
        if (top - edges[b + 1]) < 1.6 * max(head_width, 1e-9) or head_width == 0:
            if width[b] > head_width:
                head_width, widest_bin = width[b], b
        if neck is None or width[b] < width[neck]:
            if b < widest_bin:
                neck = b
    if neck is None:
        neck = filled[-1]
    # A head alone (bust, no shoulders): its lowest level.
    neck_z = float(edges[neck]) if width[neck] < 0.95 * head_width else bottom
    if top - neck_z > 2.2 * head_width:  # no neck found: keep about a head's height
        neck_z = top - 1.6 * head_width
    head_centre = float(centre[widest_bin])
    return top, neck_z, float(head_width), head_centre


def _symmetry_x(points: np.ndarray, guess: float, width: float) -> tuple[float, float]:
    """The x of the mirror plane (x = c) of the head's points and its rms error."""
    tree = cKDTree(points)
    best = (guess, np.inf)
    for step in (0.04 * width, 0.01 * width, 0.0025 * width):
        centre = best[0]
        for c in centre + step * np.arange(-4, 5):
            mirrored = points.copy()
            mirrored[:, 0] = 2.0 * c - mirrored[:, 0]
            error = float(np.sqrt(np.mean(tree.query(mirrored)[0] ** 2)))
            if error < best[1]:
                best = (float(c), error)
    return best


def _sideways_symmetry(points: np.ndarray, width: float) -> tuple[float, float]:
    """Mirror error of the head across X (facing +-Y) and across Y (facing +-X)."""
    across_x = _symmetry_x(points, float(np.median(points[:, 0])), width)[1]
    swapped = points[:, [1, 0, 2]]
    across_y = _symmetry_x(swapped, float(np.median(swapped[:, 0])), width)[1]
    return across_x, across_y


def _nose_score(vertices: np.ndarray, triangles: np.ndarray, bounds, midline_x: float, width: float,
                toward: float) -> float:
    """How sharply something stands out near the midline of the head seen from -Y
    (``toward`` -1) or +Y (+1), against the head's broad shape, relative to its width: a
    nose scores about 0.1, the back of a skull or a sphere nearly 0."""
    if toward > 0:  # seen from behind: turn the head 180 degrees about Z
        vertices = vertices * np.array([-1.0, -1.0, 1.0])
        midline_x = -midline_x
        bounds = (-bounds[1], -bounds[0], bounds[2], bounds[3])
    pixel = width / 100.0
    depth = front_depth(vertices, triangles, bounds, pixel)
    fine = depth.smooth(1.0)
    broad = depth.smooth(0.12 * width / pixel)
    lift = fine - broad
    x = depth.x_of(np.arange(lift.shape[1]))
    z = depth.z_of(np.arange(lift.shape[0]))
    height = bounds[3] - bounds[2]
    rows = (z > bounds[2] + 0.2 * height) & (z < bounds[3] - 0.15 * height)  # not the neck's cut, not the crown
    band = (np.abs(x - midline_x) < 0.06 * width)[None, :] & rows[:, None]
    values = np.where(band, lift, np.nan)
    return float(np.nanmax(values) / width) if np.isfinite(values).any() else 0.0


def _islands(vertices, triangles):
    labels = island_labels(len(vertices), triangles)
    counts = np.bincount(labels)
    return labels, counts


def classify_parts(vertices: np.ndarray, triangles: np.ndarray, labels: np.ndarray, head_box, midline_x: float,
                   head_width: float) -> list[Part]:
    """Small islands inside the head: eyeballs (sphere-like, in a mirrored pair beside
    the nose bridge) and other small ones (teeth, tongue, lashes...)."""
    top, neck_z = head_box
    parts = []
    candidates = []
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(labels.max() + 2))
    for island in range(labels.max() + 1):
        ids = order[bounds[island]:bounds[island + 1]]
        if len(ids) < 8:
            continue
        points = vertices[ids]
        size = float(np.linalg.norm(np.ptp(points, axis=0)))
        if size > 0.8 * head_width:
            continue
        centre_box = 0.5 * (points.min(0) + points.max(0))
        if not (neck_z < centre_box[2] < top and abs(centre_box[0] - midline_x) < 0.6 * head_width):
            continue
        centre, radius, residual = fit_sphere(points)
        candidates.append((ids, centre, radius, residual, size))
    eyes = []
    for ids, centre, radius, residual, size in candidates:
        spherical = residual < 0.12 * radius and 0.04 * head_width < radius < 0.2 * head_width
        offset = centre[0] - midline_x
        if spherical and 0.1 * head_width < abs(offset) < 0.45 * head_width:
            eyes.append((ids, centre, radius))
    pair = None
    for i in range(len(eyes)):
        for j in range(len(eyes)):
            a, b = eyes[i], eyes[j]
            if a[1][0] - midline_x <= 0 or b[1][0] - midline_x >= 0:
                continue
            # At one height, about an eye apart, either side of the midline (their own
            # midpoint may be off the estimated one when the head is turned a little).
            apart = a[1][0] - b[1][0]
            centred = abs(0.5 * (a[1][0] + b[1][0]) - midline_x) < 0.08 * head_width
            level = abs(a[1][2] - b[1][2]) < 0.6 * a[2]
            if centred and level and 0.25 * head_width < apart < 0.9 * head_width and abs(a[2] - b[2]) < 0.25 * a[2]:
                # Several shells per eye (cornea, sclera): keep the largest pair.
                if pair is None or a[2] + b[2] > pair[0][2] + pair[1][2]:
                    pair = (a, b)
    used = set()
    if pair is not None:
        left, right = pair
        for side, (ids, centre, radius) in ((1, left), (-1, right)):
            parts.append(Part("eye", ids, centre, radius, side))
        # Other shells of the same eyes (a cornea inside the sclera) turn with them.
        for ids, centre, radius, residual, size in candidates:
            for eye in parts[:2]:
                if np.linalg.norm(centre - eye.centre) < 0.5 * eye.radius and ids is not eye.vertices:
                    if not np.array_equal(ids, eye.vertices):
                        parts.append(Part("eye", ids, eye.centre, eye.radius, eye.side))
                        used.add(id(ids))
        used.update(id(left[0]) for _ in (0,))
        used.update(id(right[0]) for _ in (0,))
    for ids, centre, radius, residual, size in candidates:
        if id(ids) in used:
            continue
        parts.append(Part("small", ids, np.asarray(centre), radius))
    return parts


def detect(vertices: np.ndarray, triangles: np.ndarray, eye_objects: list[tuple[str, np.ndarray]] = (),
           name: str = "The mesh", placed: dict[str, np.ndarray] | None = None) -> Landmarks:
    """Landmarks of the face on (V, 3) vertices (Z up, face toward -Y) with (T, 3)
    triangles. ``eye_objects``: (object name, (n, 3) world vertices) of separate
    eyeball objects, if the Blender layer found any. ``placed``: the user's points
    (PLACED_NAMES -> (3,)), used instead of the search."""
    if placed is not None:
        missing = [key for key in PLACED_NAMES if key not in placed]
        if missing:
            raise MeshTalkError(f"The face's landmarks lack {', '.join(missing)}: show the landmarks again.")
        placed = {key: np.asarray(placed[key], dtype=np.float64) for key in PLACED_NAMES}
    vertices = np.asarray(vertices, dtype=np.float64)
    labels, counts = _islands(vertices, triangles)
    areas = triangle_areas(vertices, triangles)
    island_area = np.bincount(labels[triangles[:, 0]], weights=areas, minlength=len(counts))
    big = island_area >= 0.02 * island_area.max()
    body = big[labels]
    if body.sum() < 50:
        raise MeshTalkError(f"{name} is too small to hold a face ({int(body.sum())} vertices in its largest part); "
                            "select the character's head or body mesh.")
    top, neck_z, head_width, head_centre = _head_span(vertices[body])
    head = body & (vertices[:, 2] > neck_z) & (np.abs(vertices[:, 0] - head_centre) < 0.9 * head_width)
    head_points = vertices[head]
    if len(head_points) < 40:
        raise MeshTalkError(f"{name} has too few vertices in its head ({len(head_points)}) to find a face; "
                            "a head needs a few hundred at least.")
    # Facing: the head must be mirror-symmetric across X with its nose toward -Y. A few
    # thousand points measure symmetry as well as all of them.
    if placed is not None:  # the user says where the face is
        _check_placed(placed, (top, neck_z), head_centre, head_width, name)
        midline_x = float(np.mean([placed[key][0] for key in PLACED_NAMES]))
        return _finish(vertices, triangles, labels, eye_objects, name, top, neck_z, head_width, head, midline_x,
                       placed)
    sample = head_points[np.random.default_rng(0).permutation(len(head_points))[:4000]]
    across_x, across_y = _sideways_symmetry(sample, head_width)
    midline_x, symmetry_error = _symmetry_x(sample, head_centre, head_width)
    if across_y < 0.6 * across_x:
        raise MeshTalkError(f"{name} seems to face sideways (+X or -X): rotate it about Z so that its face looks "
                            "toward -Y (Blender's Front view, Numpad 1), then make the keys again.")
    head_triangles = triangles[head[triangles].all(axis=1)]
    bounds = (midline_x - 0.75 * head_width, midline_x + 0.75 * head_width, neck_z, top)
    front = _nose_score(vertices, head_triangles, bounds, midline_x, head_width, -1.0)
    back = _nose_score(vertices, head_triangles, bounds, midline_x, head_width, 1.0)
    if back > 1.5 * front and back > 0.06:
        raise MeshTalkError(f"{name} seems to face away from the front view (+Y): rotate it 180 degrees about Z so "
                            "that its face looks toward -Y (Blender's Front view, Numpad 1), then make the keys again.")
    if front < 0.06:
        raise MeshTalkError(f"No face found on {name}: nothing stands out like a nose on the front (-Y) of its "
                            "head. If it faces -Y (Front view, Numpad 1), show the face's landmarks, drag them "
                            "onto the nose, pupils, mouth corners and chin, and make the keys again.")
    return _finish(vertices, triangles, labels, eye_objects, name, top, neck_z, head_width, head, midline_x, None)


def placeable_points(landmarks: Landmarks) -> dict[str, np.ndarray]:
    """The six points a user can place (PLACED_NAMES -> (3,)), where `landmarks` has
    them: the pupils in front of the eye centres."""
    pupils = landmarks.eye_centres - np.array([0.0, landmarks.eye_radius, 0.0])
    return {"nose_tip": landmarks.nose_tip, "eye_left": pupils[0], "eye_right": pupils[1],
            "mouth_right": landmarks.mouth_corners[0], "mouth_left": landmarks.mouth_corners[1],
            "chin": landmarks.chin}


def guessed_points(vertices: np.ndarray) -> dict[str, np.ndarray]:
    """Where the six points start when no face is found: the bundled head's proportions
    on the front of the mesh's head, for the user to drag into place."""
    vertices = np.asarray(vertices, dtype=np.float64)
    top, neck_z, width, centre = _head_span(vertices)
    scale = width / 0.163
    front = float(vertices[vertices[:, 2] > neck_z, 1].min())
    nose_z = top - 0.6 * (top - neck_z)
    eye_z = nose_z + TEMPLATE_EYE_TO_NOSE * scale
    mouth_z = nose_z - TEMPLATE_NOSE_TO_LIPS * scale
    half_eyes, half_mouth = 0.5 * TEMPLATE_EYE_SPACING * scale, 0.024 * scale
    return {"nose_tip": np.array([centre, front, nose_z]),
            "eye_left": np.array([centre + half_eyes, front, eye_z]),
            "eye_right": np.array([centre - half_eyes, front, eye_z]),
            "mouth_right": np.array([centre - half_mouth, front, mouth_z]),
            "mouth_left": np.array([centre + half_mouth, front, mouth_z]),
            "chin": np.array([centre, front, max(mouth_z - 0.04 * scale, neck_z + 0.01 * scale)])}


def _check_placed(placed: dict[str, np.ndarray], span: tuple[float, float], head_centre: float, head_width: float,
                  name: str) -> None:
    """Refuses placed points that cannot be a face: off the head, or out of order."""
    top, neck_z = span
    for key in PLACED_NAMES:
        x, _, z = placed[key]
        if not (neck_z <= z <= top) or abs(x - head_centre) > head_width:
            raise MeshTalkError(f"The landmark '{key.replace('_', ' ')}' is not on the head of {name}: drag it onto "
                                "the face (Front view, Numpad 1), then make the keys again.")
    if not placed["eye_left"][0] > placed["eye_right"][0] or not placed["mouth_left"][0] > placed["mouth_right"][0]:
        raise MeshTalkError("The face's left landmarks must be on its left (+X, your right in the Front view): "
                            "swap the left and right points.")
    eye_level = 0.5 * (placed["eye_left"][2] + placed["eye_right"][2])
    mouth_level = 0.5 * (placed["mouth_left"][2] + placed["mouth_right"][2])
    if not eye_level > placed["nose_tip"][2] > mouth_level > placed["chin"][2]:
        raise MeshTalkError("The face's landmarks are out of order: from the top, the pupils, then the nose tip, "
                            "the mouth corners and the chin. Drag them into place and make the keys again.")


def _on_surface(depth: DepthImage, rim: np.ndarray, point: np.ndarray, key: str, name: str) -> np.ndarray:
    """(3,) the surface seen from the front at a placed point's x and z."""
    row, col = int(depth.row_of(point[2])), int(depth.col_of(point[0]))
    inside = 0 <= row < rim.shape[0] and 0 <= col < rim.shape[1]
    if not inside or not np.isfinite(rim[row, col]):
        raise MeshTalkError(f"The landmark '{key.replace('_', ' ')}' is not in front of the face of {name}: drag it "
                            "onto the face (Front view, Numpad 1), then make the keys again.")
    return np.array([point[0], -rim[row, col], point[2]])


def _finish(vertices, triangles, labels, eye_objects, name, top, neck_z, head_width, head, midline_x,
            placed) -> Landmarks:
    """The face's landmarks once the head and its midline are known: searched for, or
    the user's `placed` points put on the surface."""
    parts = classify_parts(vertices, triangles, labels, (top, neck_z), midline_x, head_width)
    eyes = [p for p in parts if p.kind == "eye"]
    for object_name, points in eye_objects:
        centre, radius, residual = fit_sphere(points)
        side = 1 if centre[0] > midline_x else -1
        eyes.append(Part("eye", np.arange(len(points)), centre, radius, side, object_name))
    part_vertices = np.zeros(len(vertices), dtype=bool)
    for part in parts:
        part_vertices[part.vertices] = True
    skin = ~part_vertices
    skin_head = head & skin
    skin_triangles = triangles[skin[triangles].all(axis=1) & head[triangles].any(axis=1)]

    pixel = head_width / 220.0
    height = top - neck_z
    bounds = (midline_x - 0.75 * head_width, midline_x + 0.75 * head_width, neck_z, top)
    depth = front_depth(vertices, skin_triangles, bounds, pixel)
    forward = depth.smooth(1.0)

    # Nose tip: the most forward point near the midline, below the upper fifth.
    band_cols = np.abs(depth.x_of(np.arange(forward.shape[1])) - midline_x) < 0.07 * head_width
    rows_z = depth.z_of(np.arange(forward.shape[0]))
    band_rows = (rows_z > neck_z + 0.15 * height) & (rows_z < top - 0.3 * height)
    scale = head_width / 0.163  # the bundled head's width at its cheeks
    if placed is not None:
        rim = _front_only(depth, 0.004 * scale)  # across an eye hole, the lids' level
        on_face = {key: _on_surface(depth, rim, placed[key], key, name) for key in PLACED_NAMES}
        nose = on_face["nose_tip"]
    else:
        window = np.where(band_rows[:, None] & band_cols[None, :], forward, np.nan)
        if not np.isfinite(window).any():
            raise MeshTalkError(f"No face found on {name}: its head has no surface seen from the front (-Y).")
        row, col = np.unravel_index(np.nanargmax(window), window.shape)
        nose = np.array([depth.x_of(col), -forward[row, col], depth.z_of(row)])

    # Eyes.
    eyes_from = "sockets"
    left = [e for e in eyes if e.side > 0]
    right = [e for e in eyes if e.side < 0]
    if placed is not None and left and right:  # eyeballs count only where the user put the pupils
        def near_pupil(eye: Part) -> bool:
            pupil = on_face["eye_left" if eye.side > 0 else "eye_right"]
            return float(np.linalg.norm((eye.centre - pupil)[[0, 2]])) < 1.5 * eye.radius

        left, right = [e for e in left if near_pupil(e)], [e for e in right if near_pupil(e)]
    if left and right:
        left_eye = max(left, key=lambda e: e.radius)
        right_eye = max(right, key=lambda e: e.radius)
        eye_centres = np.array([left_eye.centre, right_eye.centre])
        eye_radius = float(0.5 * (left_eye.radius + right_eye.radius))
        eyes_from = "objects" if left_eye.source else "islands"
    elif placed is not None:  # an eyeball's centre is behind the pupil
        eye_radius = TEMPLATE_EYE_RADIUS * scale
        eye_centres = np.array([on_face["eye_left"], on_face["eye_right"]]) + np.array([0.0, eye_radius, 0.0])
        eyes_from = "placed"
    else:
        eye_centres, eye_radius = _socket_eyes(depth, forward, nose, midline_x, scale)
    eye_level = float(eye_centres[:, 2].mean())
    if not (nose[2] < eye_level < top):
        raise MeshTalkError(f"No face found on {name}: the eyes it found are not above the nose. Make sure the "
                            "character looks toward -Y and is upright (Z up).")

    if placed is not None:
        lip_line = _lip_line_between(depth, rim, on_face["mouth_right"], on_face["mouth_left"], scale)
        chin = on_face["chin"]
    else:
        lip_line, chin = _lip_line(depth, forward, nose, eye_level, midline_x, scale, neck_z)
    corners = lip_line[[0, -1]]
    centre_index = int(np.argmin(np.abs(lip_line[:, 0] - midline_x)))
    landmarks = Landmarks(
        nose_tip=nose, eye_centres=eye_centres, eye_radius=eye_radius, mouth_corners=corners,
        lip_centre=lip_line[centre_index], chin=chin, lip_line=lip_line, midline_x=float(midline_x), head_top=top,
        neck_z=neck_z, head_width=head_width, skin=skin, parts=[p for p in parts if p.kind != "eye"] + eyes,
        eyes_from=eyes_from)
    # Teeth and tongue: small islands behind the lips, around the mouth's height.
    for part in landmarks.parts:
        if part.kind == "small":
            behind = part.centre[1] > landmarks.lip_centre[1] - 0.002 * scale
            near = (abs(part.centre[0] - midline_x) < 0.5 * abs(corners[1, 0] - corners[0, 0]) + 0.01 * scale
                    and abs(part.centre[2] - landmarks.lip_centre[2]) < 0.03 * scale)
            if behind and near:
                part.kind = "mouth"
    return landmarks


def _creases(depth: DepthImage, scale: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(the lightly smoothed forwardness, the strength of horizontal creases, its cap):
    how much deeper a row is than the rows a lip's height above and below; a glimpse
    between the lips into the mouth counts as a strong crease, no more (the cap)."""
    filled = depth.smooth(0.6)
    reach = max(int(round(0.0035 * scale / depth.pixel)), 2)
    padded = np.pad(filled, ((reach, reach), (0, 0)), mode="edge")
    above, below = padded[2 * reach:], padded[:-2 * reach]
    cap = 0.004 * scale
    crease = np.minimum(np.nan_to_num(np.minimum(above, below) - filled, nan=0.0), cap)
    return filled, crease, cap


def _lip_line_between(depth: DepthImage, rim: np.ndarray, right: np.ndarray, left: np.ndarray,
                      scale: float) -> np.ndarray:
    """(K, 3) the lip line between two placed mouth corners: in each column between them
    the deepest horizontal crease (or the gap between parted lips) within a few
    millimetres of the straight line joining them, put on the surface."""
    _, crease, cap = _creases(depth, scale)
    crease[~np.isfinite(depth.forward)] = cap
    first, last = int(depth.col_of(right[0])), int(depth.col_of(left[0]))
    search = max(int(round(0.004 * scale / depth.pixel)), 1)
    points = [right]
    for col in range(first + 1, last):
        x = float(depth.x_of(col))
        along = (x - right[0]) / max(left[0] - right[0], 1e-12)
        row = int(depth.row_of(right[2] + along * (left[2] - right[2])))
        low, high = max(row - search, 0), min(row + search + 1, crease.shape[0])
        if not 0 <= col < crease.shape[1] or high <= low:
            continue
        best = low + int(np.argmax(crease[low:high, col]))
        forward = rim[best, col] if np.isfinite(rim[best, col]) else np.nanmedian(rim[low:high, col])
        if np.isfinite(forward):
            points.append(np.array([x, -forward, float(depth.z_of(best))]))
    points.append(left)
    return np.array(points)


def _socket_eyes(depth: DepthImage, forward: np.ndarray, nose: np.ndarray, midline_x: float,
                 scale: float) -> tuple[np.ndarray, float]:
    """Eye centres from the eye sockets: the deepest pit (against the face's broad shape)
    on each side above the nose tip, and an eyeball behind it."""
    fine = depth.smooth(2.0)
    broad = depth.smooth(0.02 * scale / depth.pixel)
    pit = fine - broad
    lids = _front_only(depth, 0.006 * scale)
    x = depth.x_of(np.arange(forward.shape[1]))
    z = depth.z_of(np.arange(forward.shape[0]))
    centres = []
    for side in (1.0, -1.0):
        offset = side * (x - midline_x)
        cols = (offset > 0.016 * scale) & (offset < 0.05 * scale)
        rows = (z > nose[2] + 0.015 * scale) & (z < nose[2] + 0.06 * scale)
        window = np.where(rows[:, None] & cols[None, :], pit, np.nan)
        if not np.isfinite(window).any():
            raise MeshTalkError("No eyes found: there is no surface beside the nose bridge. Make sure the character "
                                "looks toward -Y (Front view) and is upright (Z up).")
        # The socket's middle: the pit's deepest region, weighted.
        threshold = np.nanmin(window) * 0.6
        mask = np.isfinite(window) & (window <= threshold)
        labels, count = ndimage.label(mask)
        deepest = labels[np.unravel_index(np.nanargmin(window), window.shape)]
        rr, cc = np.nonzero(labels == deepest)
        weights = -window[rr, cc]
        row = float((rr * weights).sum() / weights.sum())
        col = float((cc * weights).sum() / weights.sum())
        # The lids' surface around the opening (an eye hole shows what is behind it).
        surface = lids[int(round(row)), int(round(col))]
        radius = 0.0118 * scale
        centres.append([depth.x_of(col), -(surface - 1.0 * radius), depth.z_of(row)])
    centres = np.array(centres)
    # Both eyes at one height and mirrored about the midline (the average of the two).
    height = centres[:, 2].mean()
    spread = 0.5 * (centres[0, 0] - centres[1, 0])
    back = centres[:, 1].mean()
    centres = np.array([[midline_x + spread, back, height], [midline_x - spread, back, height]])
    return centres, 0.0118 * scale


def _front_only(depth: DepthImage, radius: float) -> np.ndarray:
    """Forwardness with holes (and what shows through them) replaced by the largest
    forwardness within ``radius``: the rim around an opening."""
    size = max(int(round(radius / depth.pixel)), 1) * 2 + 1
    rim = ndimage.maximum_filter(np.nan_to_num(depth.forward, nan=-np.inf), size=size)
    return np.where(np.isfinite(rim), rim, np.nan)


def _lip_line(depth: DepthImage, forward: np.ndarray, nose: np.ndarray, eye_level: float, midline_x: float,
              scale: float, neck_z: float) -> tuple[np.ndarray, np.ndarray]:
    """(K, 3) lip line from the right mouth corner to the left one, and the chin."""
    pixel = depth.pixel
    x = depth.x_of(np.arange(forward.shape[1]))
    z = depth.z_of(np.arange(forward.shape[0]))
    unit = max(eye_level - nose[2], 0.5 * TEMPLATE_EYE_TO_NOSE * scale)  # eye-to-nose height
    filled, crease, cap = _creases(depth, scale)
    hole = ~np.isfinite(depth.forward)
    cols = np.abs(x - midline_x) < 0.006 * scale
    expected = nose[2] - unit * TEMPLATE_NOSE_TO_LIPS / TEMPLATE_EYE_TO_NOSE
    rows = (z < nose[2] - 0.35 * unit) & (z > max(expected - 1.0 * unit, neck_z))
    profile = np.where(rows, crease[:, cols].mean(axis=1), -np.inf)
    # A gap between the lips (an open mouth, a hole) is a crease too.
    profile = np.where(rows & hole[:, cols].mean(axis=1).astype(bool), cap, profile)
    prior = np.exp(-0.5 * ((z - expected) / (0.6 * unit)) ** 2)
    score = profile * prior
    if not np.isfinite(score).any() or score.max() <= 0:
        raise MeshTalkError("No face found: there is no lip line between the nose and the chin. Make sure the "
                            "character looks toward -Y (Front view, Numpad 1) and is upright (Z up).")
    centre_row = int(np.argmax(score))
    centre_col = int(np.argmin(np.abs(x - midline_x)))
    search = max(int(round(0.0025 * scale / pixel)), 1)
    limit = int(round(0.045 * scale / pixel))
    gap_value = cap

    def track(direction: int) -> tuple[list[tuple[float, float]], list[float]]:
        row = centre_row
        points, values = [], []
        for step in range(1, limit):
            col = centre_col + direction * step
            if not 0 <= col < forward.shape[1]:
                break
            low, high = max(row - search, 0), min(row + search + 1, forward.shape[0])
            column = crease[low:high, col].copy()
            column[hole[low:high, col]] = gap_value  # the lips parted here
            best = low + int(np.argmax(column))
            row = best
            points.append((x[col], z[row]))
            values.append(float(column[best - low]))
        return points, values

    def follow(direction: int) -> list[tuple[float, float]]:
        points, values = track(direction)
        values = np.array(values)
        # The crease's typical strength over the middle of the mouth (about 8 mm each side);
        # the corner is where it fades below a quarter of that.
        near = int(round(0.008 * scale / pixel))
        strength = max(float(np.median(values[:max(near, 1)])) if len(values) else 0.0, 1e-6)
        first = int(round(0.01 * scale / pixel))
        end = len(values)
        for k in range(first, len(values)):
            if values[k] < 0.25 * strength:
                end = k
                break
        return points[:end]

    right = follow(-1)[::-1]
    left = follow(1)
    line2d = np.array(right + [(x[centre_col], z[centre_row])] + left)
    # Back-project onto the surface (the front-most point, or the lips' level in a gap).
    cols2 = depth.col_of(line2d[:, 0])
    rows2 = depth.row_of(line2d[:, 1])
    rim = _front_only(depth, 0.0015 * scale)
    f = rim[np.clip(rows2, 0, forward.shape[0] - 1), np.clip(cols2, 0, forward.shape[1] - 1)]
    f = np.where(np.isfinite(f), f, np.nanmedian(rim[centre_row]))
    lip_line = np.stack([line2d[:, 0], -f, line2d[:, 1]], axis=1)
    # Chin: the most forward point of the midline below the lower lip's bulge.
    lip_z = z[centre_row]
    chin_rows = (z < lip_z - 0.6 * unit) & (z > lip_z - 2.2 * unit) & (z > neck_z)
    column = np.where(chin_rows, filled[:, centre_col], -np.inf)
    if not np.isfinite(column).any() or column.max() == -np.inf:
        chin = np.array([midline_x, lip_line[len(right), 1] + 0.01 * scale, lip_z - 1.3 * unit])
    else:
        row = int(np.argmax(column))
        chin = np.array([midline_x, -filled[row, centre_col], z[row]])
    return lip_line, chin
