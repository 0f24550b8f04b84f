"""The 52 ARKit shapes on the user's own vertices.

1. The rig is rebuilt on the fitted template (``core.face.arkit_deltas`` of a head whose
   vertices lie on the user's face, with the user's eyeball centres and a jaw hinge moved
   with the fit), so every shape is made for the user's proportions: the blink brings the
   fitted upper lid exactly onto the fitted lower lid, the jaw turns about the user's
   hinge, the lips part along the user's lip line.
2. Each user skin vertex is bound to its closest point on the fitted template (triangle
   and barycentric weights) and takes the interpolated deltas there. Near the mouth the
   side of the user's own lip line decides which lip a vertex belongs to: a vertex above
   the line only looks at the template's upper lip, one below at the lower lip, so the
   lips part even where they touch. Deltas fade to zero with the distance to the fitted
   face (ears, hair, the back of the head, the neck and body get none).
3. Functional fixes measured on the user's geometry: lids are kept outside the user's
   eyeball at every blink weight sampled; one-sided keys are cut off at the midline.
4. Separate parts: eyeball islands turn about their own centres in the eyeLook keys;
   teeth and tongue islands below the lip line move rigidly with the jaw keys.

The binding (``VertexBinding``) is a sparse (V_user, V_template) matrix: it also carries
any per-vertex animation of the template (a point cache) to the user's mesh.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import sparse

from .fit import FitResult
from .landmarks import Part
from .mesh import TriangleSurface

NEAR, FAR = 0.003, 0.012  # model-space metres from the fitted face: full deltas, none
MARGIN_SNAP = 0.0008  # model-space metres: vertices this close to a fitted eyelid margin move with it
MOUTH_ZONE = 0.018
DIRECTIONAL = {"jawLeft", "jawRight", "mouthLeft", "mouthRight"}  # how far above/below the lip line a vertex is assigned to a lip


def _smoothstep(edge0, edge1, x):
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass
class VertexBinding:
    """user vertex i = sum_j matrix[i, j] * template displacement j (model space), then
    through the similarity to the user's space. ``weight`` is the falloff (in matrix)."""

    matrix: sparse.csr_matrix  # (V_user, V_template)
    weight: np.ndarray  # (V_user,)
    distance: np.ndarray  # (V_user,) model-space distance to the fitted face
    rotation: np.ndarray  # (3, 3) model -> user
    scale: float

    def displacements(self, template_offsets: np.ndarray) -> np.ndarray:
        """(..., V_template, 3) model-space offsets -> (..., V_user, 3) user-space offsets."""
        offsets = np.asarray(template_offsets, dtype=np.float64)
        flat = offsets.reshape(-1, offsets.shape[-2], 3)
        out = np.stack([self.matrix @ frame for frame in flat])
        out = self.scale * out @ self.rotation.T
        return out.reshape(offsets.shape[:-2] + (self.matrix.shape[0], 3)).astype(np.float32)


def fitted_head(fit: FitResult):
    """A HeadModel whose vertices are the fitted template (model space)."""
    head = fit.template.head
    template = head.vertices.astype(np.float64)
    moved = fit.fitted - template
    near_hinge = np.linalg.norm(template - head.jaw_hinge, axis=1) < 0.04
    hinge = head.jaw_hinge + (moved[near_hinge].mean(axis=0) if near_hinge.any() else 0.0)
    return dataclasses.replace(head, vertices=fit.fitted.astype(np.float32),
                               eye_centres=fit.eye_centres.astype(np.float32), eye_radius=float(fit.eye_radius),
                               jaw_hinge=np.asarray(hinge, dtype=np.float32))


def bind(fit: FitResult, user_model: np.ndarray, user_ids: np.ndarray, user_normals: np.ndarray) -> VertexBinding:
    """Binds the user's vertices ``user_ids`` ((N,) ids of (V, 3) ``user_model``, model
    space) to the fitted template."""
    template = fit.template
    triangles = template.triangles
    fitted = fit.fitted
    points = user_model[user_ids]
    upper, lower = template.upper_lip, template.lower_lip
    touches_lower = lower[triangles].any(axis=1)
    touches_upper = upper[triangles].any(axis=1)
    everything = TriangleSurface(fitted, triangles)
    found = everything.closest(points)
    triangle_ids, bary, distance = found.triangle, found.barycentric, found.distance
    # The user's own lip line decides the side near the mouth.
    line = fit.lip_line[np.argsort(fit.lip_line[:, 0])]
    line_z = np.interp(points[:, 0], line[:, 0], line[:, 2])
    half_width = 0.5 * (line[-1, 0] - line[0, 0])
    centre_x = 0.5 * (line[-1, 0] + line[0, 0])
    near_mouth = ((np.abs(points[:, 0] - centre_x) < half_width + 0.008) & (np.abs(points[:, 2] - line_z) < MOUTH_ZONE)
                  & (points[:, 1] > line[:, 1].min() - 0.01))
    # Right at the lip line (where the lips touch, and inside the mouth) height says
    # little: a vertex whose normal points down faces the lower lip, so it is on the
    # upper one, and the other way round.
    normal_z = user_normals[user_ids, 2]
    above_line = points[:, 2] >= line_z
    by_normal = (np.abs(points[:, 2] - line_z) < 0.003) & (np.abs(normal_z) > 0.25)
    above_line[by_normal] = normal_z[by_normal] < 0
    # At the mouth corners both lips meet: vertices there take both sides, half each.
    corners = line[[0, -1]]
    to_corner = np.min(np.linalg.norm(points[:, None, [0, 2]] - corners[None, :, [0, 2]], axis=2), axis=1)
    upper_share = np.where(above_line, 1.0, 0.0)
    blend = _smoothstep(0.0, 0.0012, to_corner)
    upper_share = 0.5 + (upper_share - 0.5) * blend
    sides = {}
    for above, forbidden in ((True, touches_lower), (False, touches_upper)):
        chosen = near_mouth & ((upper_share > 0) if above else (upper_share < 1))
        if chosen.any():
            allowed = np.flatnonzero(~forbidden)
            sides[above] = (chosen, TriangleSurface(fitted, triangles[allowed]).closest(points[chosen]), allowed)
    # Rows of the binding: (vertex, template vertex, weight) triples.
    rows, cols, values = [], [], []
    distance = np.where(near_mouth, 0.0, distance)
    plain = ~near_mouth
    rows.append(np.repeat(np.flatnonzero(plain), 3))
    cols.append(triangles[triangle_ids[plain]].ravel())
    values.append(bary[plain].ravel())
    for above, (chosen, side, allowed) in sides.items():
        share = upper_share[chosen] if above else 1.0 - upper_share[chosen]
        rows.append(np.repeat(np.flatnonzero(chosen), 3))
        cols.append(triangles[allowed[side.triangle]].ravel())
        values.append((side.barycentric * share[:, None]).ravel())
        distance[chosen] += share * side.distance
    weight = _smoothstep(FAR, NEAR, distance)
    rows = np.concatenate(rows)
    values = np.concatenate(values) * weight[rows]
    matrix = sparse.coo_matrix((values, (user_ids[rows], np.concatenate(cols))),
                               shape=(len(user_model), len(fitted))).tocsr()
    matrix = _on_lid_margins(matrix, fit, user_model, user_ids)
    full_weight = np.zeros(len(user_model))
    full_weight[user_ids] = weight
    full_distance = np.full(len(user_model), np.inf)
    full_distance[user_ids] = distance
    return VertexBinding(matrix, full_weight, full_distance, fit.to_user.rotation, fit.to_user.scale)


def _on_lid_margins(matrix: sparse.csr_matrix, fit: FitResult, user_model: np.ndarray,
                    user_ids: np.ndarray) -> sparse.csr_matrix:
    """Rebinds the user's vertices on an eyelid margin to the fitted margin line itself.

    Bound to a triangle, a margin vertex also takes a share of a vertex further up the
    lid (or down the cheek), which a blink moves less: the lids stopped 0.6-1.5 mm short
    of each other. Bound to the two nearest points of the margin line (linear along it),
    it moves exactly as the rig's margin does, and the rig's closed margins meet."""
    sets = fit.template.head.index_sets
    fitted = fit.fitted
    points = user_model[user_ids]
    best_distance = np.full(len(user_ids), MARGIN_SNAP)
    choice = np.full((len(user_ids), 3), -1.0)  # (first vertex, second vertex, share of the second)
    for name in ("upper_eyelid", "lower_eyelid"):
        line_ids = np.asarray(sets[name])
        for line in (line_ids[:len(line_ids) // 2], line_ids[len(line_ids) // 2:]):  # left eye, right eye
            start, end = fitted[line[:-1]], fitted[line[1:]]
            low, high = np.minimum(start, end).min(axis=0) - MARGIN_SNAP, np.maximum(start, end).max(axis=0) + MARGIN_SNAP
            near = np.flatnonzero(((points >= low) & (points <= high)).all(axis=1))
            if not len(near):
                continue
            along = end - start  # (S, 3)
            share = np.clip(np.einsum("nsc,sc->ns", points[near, None] - start[None], along)
                            / np.maximum((along * along).sum(axis=1), 1e-18), 0.0, 1.0)
            closest = start[None] + share[..., None] * along[None]
            distance = np.linalg.norm(points[near, None] - closest, axis=2)  # (n, S)
            segment = distance.argmin(axis=1)
            nearest = distance[np.arange(len(near)), segment]
            better = nearest < best_distance[near]
            rows = near[better]
            best_distance[rows] = nearest[better]
            choice[rows] = np.stack([line[:-1][segment[better]], line[1:][segment[better]],
                                     share[np.arange(len(near)), segment][better]], axis=1)
    snapped = np.flatnonzero(choice[:, 0] >= 0)
    if not len(snapped):
        return matrix
    users = user_ids[snapped]
    weight = np.asarray(matrix[users].sum(axis=1)).ravel()  # the falloff the row had
    keep = matrix.tolil()
    for user, (first, second, share), row_weight in zip(users, choice[snapped], weight):
        keep.rows[user], keep.data[user] = [], []
        keep[user, int(first)] = row_weight * (1.0 - share)
        keep[user, int(second)] = keep[user, int(second)] + row_weight * share
    return keep.tocsr()


@dataclass
class CharacterRig:
    deltas: np.ndarray  # (52, V, 3) float32, user space (as the vertices were given)
    binding: VertexBinding
    fit: FitResult
    head_deltas: np.ndarray  # (52, V_template, 3) model space, the fitted template's rig
    eye_parts: list[Part]
    jaw_parts: list[Part]


def transfer(fit: FitResult, user_vertices: np.ndarray, user_triangles: np.ndarray, check_cancel: Callable[[], None] | None = None) -> CharacterRig:
    from ..face import ARKIT_INDEX, ARKIT_NAMES, arkit_deltas, eye_rotations
    from ..face.rig import jaw_key_offsets

    landmarks = fit.user_landmarks
    to_model = fit.to_user.inverse()
    user_model = to_model.apply(user_vertices).astype(np.float64)
    head = fitted_head(fit)
    head_deltas = arkit_deltas(head).astype(np.float64)
    if check_cancel is not None:
        check_cancel()
    skin_ids = np.flatnonzero(landmarks.skin & (user_vertices[:, 2] > landmarks.neck_z - 0.6 * landmarks.head_width))
    from .mesh import vertex_normals

    binding = bind(fit, user_model, skin_ids, vertex_normals(user_model, user_triangles))
    deltas = binding.displacements(head_deltas).astype(np.float64)  # (52, V, 3) user space
    if check_cancel is not None:
        check_cancel()

    # One-sided keys: nothing crosses to the other side of the user's midline.
    x_model = user_model[:, 0]
    for index, name in enumerate(ARKIT_NAMES):
        if name in DIRECTIONAL:
            continue  # these move the whole mouth or jaw toward one side
        if name.endswith("Left"):
            deltas[index] *= _smoothstep(-0.004, 0.002, x_model)[:, None]
        elif name.endswith("Right"):
            deltas[index] *= _smoothstep(0.004, -0.002, x_model)[:, None]

    _keep_lids_off_eyes(deltas, user_model, fit, head)

    rotation, scale = fit.to_user.rotation, fit.to_user.scale
    eye_parts = [part for part in landmarks.parts if part.kind == "eye" and not part.source]
    for part in eye_parts:
        suffix = "Left" if part.side > 0 else "Right"
        slot = 0 if part.side > 0 else 1
        for look in ("eyeLookUp", "eyeLookDown", "eyeLookIn", "eyeLookOut"):
            weights = np.zeros(len(ARKIT_NAMES))
            weights[ARKIT_INDEX[look + suffix]] = 1.0
            turn_model = eye_rotations(weights)[slot]
            turn = rotation @ turn_model @ rotation.T
            relative = user_vertices[part.vertices] - part.centre
            deltas[ARKIT_INDEX[look + suffix], part.vertices] = relative @ turn.T - relative
    jaw_parts = lower_mouth_parts([part for part in landmarks.parts if part.kind == "mouth" and not part.source],
                                  landmarks.lip_centre[2])
    if jaw_parts:
        ids = np.concatenate([part.vertices for part in jaw_parts])
        for name, move in jaw_key_offsets(user_model[ids], head.jaw_hinge).items():
            deltas[ARKIT_INDEX[name], ids] = scale * move @ rotation.T
    return CharacterRig(deltas.astype(np.float32), binding, fit, head_deltas.astype(np.float32), eye_parts, jaw_parts)


def lower_mouth_parts(parts: list, lip_z: float) -> list:
    """The mouth parts that follow the jaw: with two or more (upper teeth, lower teeth,
    tongue) all but the highest; a single one when it sits below the lip line."""
    if len(parts) >= 2:
        highest = max(parts, key=lambda part: part.centre[2])
        return [part for part in parts if part is not highest]
    return [part for part in parts if part.centre[2] < lip_z]


def _keep_lids_off_eyes(deltas: np.ndarray, user_model: np.ndarray, fit: FitResult, head) -> None:
    """Lid vertices that a lid key would push into the eyeball (model-space sphere of the
    user's eye, sampled at weights 0.25 .. 1) are moved out along the radius at weight 1,
    which keeps them out at the sampled weights for the lids' small angles."""
    from ..face import ARKIT_INDEX

    scale, rotation = fit.to_user.scale, fit.to_user.rotation
    for slot, suffix in ((0, "Left"), (1, "Right")):
        centre, radius = fit.eye_centres[slot], fit.eye_radius * 1.03
        relative = user_model - centre
        rest_distance = np.linalg.norm(relative, axis=1)
        outside = rest_distance >= radius  # vertices inside at rest (eye sockets) are left alone
        near = outside & (rest_distance < 2.0 * radius)
        if not near.any():
            continue
        for name in ("eyeBlink", "eyeSquint", "eyeLookDown", "eyeLookUp", "eyeWide", "cheekSquint"):
            index = ARKIT_INDEX[name + suffix]
            delta_model = deltas[index][near] @ rotation / scale
            worst = np.zeros(near.sum())
            for weight in (0.25, 0.5, 0.75, 1.0):
                position = relative[near] + weight * delta_model
                depth = radius - np.linalg.norm(position, axis=1)
                worst = np.maximum(worst, depth / weight)
            fix = worst > 0
            if fix.any():
                moved = relative[near][fix] + delta_model[fix]
                direction = moved / np.maximum(np.linalg.norm(moved, axis=1, keepdims=True), 1e-12)
                delta_model[fix] += direction * worst[fix, None]
                rows = np.flatnonzero(near)[fix]
                deltas[index][rows] = scale * delta_model[fix] @ rotation.T
