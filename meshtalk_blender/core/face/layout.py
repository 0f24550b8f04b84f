"""The head's topology: which vertices exist, how they connect, and what each one is.

The skin is a latitude/longitude grid seen from a point inside the head (rows are
elevations, columns are azimuths, azimuth 0 looks toward -Y and grows toward +X, the
face's own left). Three rectangles of that grid are cut out and refilled with
concentric rings, so that edge loops circle the mouth and each eye:

    ring 0 is the rectangle's border (shared with the grid), the last skin ring is the
    inner lip contour or the eyelid margin; behind it the mouth continues into a closed
    mouth bag, and each eyelid margin tucks in toward the eyeball (an open border,
    hidden behind the eye).

Below the grid a few neck rows end in an open border; above it a quad cap closes the
skull. Every face is a quad except the two corner triangles at the back of the mouth
bag. Nothing here knows where the vertices go: `head.py` places them.

Loop convention: each ring is listed counter-clockwise as seen from outside, starting at
the rectangle's left-edge middle (the right mouth corner, or the inner corner of the
left eye / outer corner of the right eye). Index P/2 is the opposite corner; indices
1..P/2-1 are the lower half, P/2+1..P-1 the upper half.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Region codes stored per vertex in `HeadLayout.region`.
SKIN_GRID, NECK, CAP, EYE_RING, EYE_TUCK, MOUTH_RING, MOUTH_BAG = range(7)

# Ring positions inside a patch, 0 = rectangle border, 1 = inner contour. Dense near the
# contour, where the lips and eyelids need their shape.
EYE_RING_STEPS = (0.0, 0.26, 0.48, 0.66, 0.8, 0.9, 0.96, 1.0)
MOUTH_RING_STEPS = (0.0, 0.28, 0.5, 0.66, 0.78, 0.87, 0.94, 1.0)
MOUTH_BAG_RINGS = 4


@dataclass
class RingPatch:
    """Concentric rings replacing a grid rectangle. `rings[k]` holds vertex ids (P,)."""

    name: str
    columns: tuple[int, int]  # unwrapped column range (may be negative for the mouth)
    rows: tuple[int, int]
    border_cells: list[tuple[int, int]]  # (row, unwrapped column) of each ring-0 vertex
    rings: list[np.ndarray] = field(default_factory=list)
    steps: tuple[float, ...] = ()

    @property
    def loop_length(self) -> int:
        return len(self.border_cells)

    def contour_parameter(self) -> tuple[np.ndarray, np.ndarray]:
        """Where each loop index sits on the inner contour.

        Returns (along, upper): along in [-1, 1] from the left-edge corner (-1) to the
        right-edge corner (+1), spaced like a cosine so corners are dense; upper is True
        on the upper half. Both corners count as upper (they are shared anyway).
        """
        width = self.columns[1] - self.columns[0]
        height = self.rows[1] - self.rows[0]
        half = width + height  # path length from one corner to the other
        count = self.loop_length
        index = np.arange(count)
        # Lower half runs from corner 0 forward to P/2; upper from P back to P/2.
        distance = np.where(index <= count // 2, index, count - index).astype(np.float64)
        along = -np.cos(np.pi * distance / half)
        upper = (index == 0) | (index >= count // 2)
        return along, upper


@dataclass
class HeadLayout:
    column_angles: np.ndarray  # (N,) radians, azimuth of each grid column
    row_angles: np.ndarray  # (R,) radians, elevation of each head row (neck rows excluded)
    neck_rows: int
    grid: np.ndarray  # (neck_rows + R, N) vertex id or -1 inside a patch
    cap: np.ndarray  # (A + 1, B + 1) vertex ids, border = top grid row
    patches: dict[str, RingPatch]
    faces: list[list[int]]
    region: np.ndarray  # (V,) region code
    mirror_map: np.ndarray  # (V,) index of the mirror-image vertex

    def patch_coordinates(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-vertex coordinates inside one ring patch, for all V vertices.

        Returns (in_patch (V,) bool, ring (V,) int ring index or -1, along (V,) in
        [-1, 1], upper (V,) bool); `along` and `upper` come from the vertex's loop index
        (see RingPatch.contour_parameter), so a spoke shares them from border to bag.
        """
        patch = self.patches[name]
        along_loop, upper_loop = patch.contour_parameter()
        in_patch = np.zeros(self.vertex_count, dtype=bool)
        ring = -np.ones(self.vertex_count, dtype=np.int64)
        along = np.zeros(self.vertex_count)
        upper = np.zeros(self.vertex_count, dtype=bool)
        for k, ids in enumerate(patch.rings):
            in_patch[ids] = True
            ring[ids] = k
            along[ids] = along_loop
            upper[ids] = upper_loop
        return in_patch, ring, along, upper

    @property
    def vertex_count(self) -> int:
        return len(self.region)


def _angles(start: float, stop: float, spacing, even: bool = False) -> np.ndarray:
    """Angles (degrees) from start to stop whose steps follow spacing(angle), stretched
    slightly so that the last one lands exactly on stop."""
    steps, angle = [], start
    while angle < stop:
        steps.append(spacing(angle))
        angle += steps[-1]
    if len(steps) > 1 and angle - stop > stop - (angle - steps[-1]):
        steps.pop()
    if even and len(steps) % 2:
        steps.append(spacing(stop))
    cumulative = np.concatenate([[0.0], np.cumsum(steps)])
    return start + cumulative * (stop - start) / cumulative[-1]


def _column_spacing(angle: float) -> float:
    if angle < 12.0:
        return 3.0
    if angle < 60.0:
        return 4.3
    if angle < 100.0:
        return 5.5
    return 5.5 + 8.0 * (angle - 100.0) / 80.0


def _row_spacing(angle: float) -> float:
    if angle < -50.0:
        return 5.5
    if angle < 38.0:
        return 3.2
    return 5.0


def _nearest(values: np.ndarray, target_degrees: float) -> int:
    return int(np.argmin(np.abs(np.degrees(values) - target_degrees)))


def build_layout(
    eye_block_degrees=((9.0, 50.0), (3.0, 33.0)),
    mouth_block_degrees=(27.0, (-47.0, -24.0)),
    lowest_row_degrees: float = -68.0,
    top_row_degrees: float = 58.0,
    neck_rows: int = 4,
) -> HeadLayout:
    """Builds the fixed topology. The arguments only place the patches in the chart."""
    half_columns = np.radians(_angles(0.0, 180.0, _column_spacing, even=True))
    half = len(half_columns) - 1  # column index of azimuth 180 degrees
    column_angles = np.concatenate([half_columns, -half_columns[1:-1][::-1]])
    count = len(column_angles)  # = 2 * half, divisible by 4
    row_angles = np.radians(_angles(lowest_row_degrees, top_row_degrees, _row_spacing))

    def rows_between(low: float, high: float) -> tuple[int, int]:
        r0 = _nearest(row_angles, low)
        r1 = _nearest(row_angles, high)
        if (r1 - r0) % 2:  # even height puts the corners on a grid row
            r1 += 1
        return r0 + neck_rows, r1 + neck_rows

    (eye_theta, eye_phi), (mouth_theta, mouth_phi) = eye_block_degrees, mouth_block_degrees
    eye_columns = (_nearest(half_columns, eye_theta[0]), _nearest(half_columns, eye_theta[1]))
    eye_rows = rows_between(*eye_phi)
    mouth_half = _nearest(half_columns, mouth_theta)
    mouth_rows = rows_between(*mouth_phi)
    blocks = {
        "mouth": ((-mouth_half, mouth_half), mouth_rows),
        "eye_left": (eye_columns, eye_rows),
        "eye_right": ((-eye_columns[1], -eye_columns[0]), eye_rows),
    }

    total_rows = neck_rows + len(row_angles)
    inside = np.zeros((total_rows, count), dtype=bool)
    for (c0, c1), (r0, r1) in blocks.values():
        for column in range(c0 + 1, c1):
            inside[r0 + 1 : r1, column % count] = True

    grid = -np.ones((total_rows, count), dtype=np.int64)
    region: list[int] = []
    for row in range(total_rows):
        for column in range(count):
            if not inside[row, column]:
                grid[row, column] = len(region)
                region.append(NECK if row < neck_rows else SKIN_GRID)

    faces: list[list[int]] = []
    for row in range(total_rows - 1):
        for column in range(count):
            nxt = (column + 1) % count
            corners = [grid[row, column], grid[row, nxt], grid[row + 1, nxt], grid[row + 1, column]]
            if _cell_inside_block(row, column, blocks, count):
                continue
            faces.append([int(c) for c in corners])

    patches: dict[str, RingPatch] = {}
    for name, ((c0, c1), (r0, r1)) in blocks.items():
        border = _border_loop(c0, c1, r0, r1)
        is_eye = name.startswith("eye")
        steps = EYE_RING_STEPS if is_eye else MOUTH_RING_STEPS
        patch = RingPatch(name, (c0, c1), (r0, r1), border, steps=steps)
        patch.rings.append(np.array([grid[r, c % count] for r, c in border], dtype=np.int64))
        extra = 1 if is_eye else MOUTH_BAG_RINGS  # eyelid tuck ring, or the mouth bag
        for k in range(1, len(steps) + extra):
            skin = k < len(steps)
            code = (EYE_RING if skin else EYE_TUCK) if is_eye else (MOUTH_RING if skin else MOUTH_BAG)
            ids = np.arange(len(region), len(region) + len(border))
            region.extend([code] * len(border))
            patch.rings.append(ids)
        for outer, inner in zip(patch.rings[:-1], patch.rings[1:]):
            size = len(outer)
            for m in range(size):
                n = (m + 1) % size
                faces.append([int(outer[m]), int(outer[n]), int(inner[n]), int(inner[m])])
        if not is_eye:
            faces.extend(_zip_closed(patch.rings[-1]))
        patches[name] = patch

    cap = _cap_grid(grid[-1], half, region)
    for a in range(cap.shape[0] - 1):
        for b in range(cap.shape[1] - 1):
            faces.append([int(cap[a, b]), int(cap[a + 1, b]), int(cap[a + 1, b + 1]), int(cap[a, b + 1])])

    region_array = np.array(region, dtype=np.int64)
    layout = HeadLayout(
        column_angles=column_angles,
        row_angles=row_angles,
        neck_rows=neck_rows,
        grid=grid,
        cap=cap,
        patches=patches,
        faces=faces,
        region=region_array,
        mirror_map=np.zeros(len(region), dtype=np.int64),
    )
    layout.mirror_map = _mirror_map(layout)
    return layout


def _cell_inside_block(row: int, column: int, blocks, count: int) -> bool:
    for (c0, c1), (r0, r1) in blocks.values():
        unwrapped = column if c0 >= 0 or column <= c1 else column - count
        if r0 <= row < r1 and c0 <= unwrapped < c1:
            return True
    return False


def _border_loop(c0: int, c1: int, r0: int, r1: int) -> list[tuple[int, int]]:
    """Rectangle border, counter-clockwise from outside, starting at the left-edge middle."""
    loop = [(r0, c) for c in range(c0, c1)]
    loop += [(r, c1) for r in range(r0, r1)]
    loop += [(r1, c) for c in range(c1, c0, -1)]
    loop += [(r, c0) for r in range(r1, r0, -1)]
    start = loop.index(((r0 + r1) // 2, c0))
    return loop[start:] + loop[:start]


def _zip_closed(ring: np.ndarray) -> list[list[int]]:
    """Closes the last mouth-bag ring by stitching its lower half to its upper half."""
    size = len(ring)
    faces = []
    for m in range(size // 2):
        corners = [ring[m], ring[m + 1], ring[(size - m - 1) % size], ring[(size - m) % size]]
        unique = list(dict.fromkeys(int(c) for c in corners))  # the two ends are triangles
        faces.append(unique)
    return faces


def _cap_grid(top_row: np.ndarray, half: int, region: list[int]) -> np.ndarray:
    """A quad grid closing the top ring. The ring's four sides (front, left, back,
    right) become the grid's four borders; the interior gets new vertices."""
    count = len(top_row)
    alpha = max(1, round(half / 4))
    width, depth = 2 * alpha, half - 2 * alpha
    cap = -np.ones((width + 1, depth + 1), dtype=np.int64)
    for j in range(-alpha, alpha + 1):  # front side, +x with the column index
        cap[j + alpha, 0] = top_row[j % count]
    for j in range(alpha, half - alpha + 1):  # left side, going back
        cap[width, j - alpha] = top_row[j]
    for j in range(half - alpha, half + alpha + 1):  # back side, toward -x
        cap[width - (j - (half - alpha)), depth] = top_row[j % count]
    for j in range(half + alpha, 2 * half - alpha + 1):  # right side, coming forward
        cap[0, depth - (j - (half + alpha))] = top_row[j % count]
    for a in range(1, width):
        for b in range(1, depth):
            cap[a, b] = len(region)
            region.append(CAP)
    return cap


def _mirror_map(layout: HeadLayout) -> np.ndarray:
    """Vertex -> its mirror image across x = 0, from the topology alone."""
    count = len(layout.column_angles)
    mirror = -np.ones(layout.vertex_count, dtype=np.int64)
    grid = layout.grid
    for row in range(grid.shape[0]):
        for column in range(count):
            if grid[row, column] >= 0:
                mirror[grid[row, column]] = grid[row, (-column) % count]
    cap = layout.cap
    mirror[cap.ravel()] = cap[::-1, :].ravel()
    pairs = [("mouth", "mouth"), ("eye_left", "eye_right"), ("eye_right", "eye_left")]
    for name, other in pairs:
        source, target = layout.patches[name], layout.patches[other]
        lookup = {cell: m for m, cell in enumerate(target.border_cells)}
        order = np.array([lookup[(row, -column)] for row, column in source.border_cells])
        for ring_source, ring_target in zip(source.rings, target.rings):
            mirror[ring_source] = ring_target[order]
    assert (mirror >= 0).all()
    return mirror
