"""Registering the bundled head onto a user's face.

1. A similarity (scale, rotation, translation; Umeyama) from six landmarks of the
   template to the same six found on the user's mesh (landmarks.py): nose tip, eye
   centres, mouth corners, chin. Everything below runs in the template's model space
   (the user's points are brought there by the inverse similarity), so distances and
   thresholds are those of the bundled head.
2. Optimal-step non-rigid ICP (Amberg, Romdhani and Vetter, CVPR 2007): an affine
   transform per template vertex, tied to its neighbours by a stiffness term that is
   lowered step by step, pulled toward the closest points of the user's skin (pairs
   further than a few millimetres, or whose normals disagree, are dropped), with the lip
   line and eyelids held by landmark terms. Each step is one sparse least-squares solve
   (4 V unknowns; V = 3,656 on the bundled head).

The result is the template's vertices lying on the user's face, in model space, plus the
similarity back to the user's space.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import cg, splu

from ..errors import MeshTalkError
from ..retarget import Similarity, fit_similarity
from .landmarks import Landmarks, detect
from .mesh import TriangleSurface, triangles_of, unique_edges, vertex_normals

# Stiffness schedule (alpha) and iterations per step.
STIFFNESS = (30.0, 10.0, 4.0, 2.0)
ITERATIONS = 2
LANDMARK_WEIGHT = 8.0


@dataclass
class TemplateFrame:
    """The bundled head as the fit sees it (model space)."""

    head: object  # HeadModel
    triangles: np.ndarray
    landmarks: Landmarks
    fit_weight: np.ndarray  # (V,) how much each vertex is pulled to the user's surface
    upper_lip: np.ndarray  # (V,) bool: mouth patch vertices of the upper half
    lower_lip: np.ndarray  # (V,) bool
    contour_upper: np.ndarray  # inner lip contour ids, upper half, right to left (with corners)
    contour_lower: np.ndarray
    contour_along: np.ndarray  # (V,) -1 (right corner) .. 1 (left corner) on the mouth patch
    lid_margins: tuple[np.ndarray, np.ndarray]  # margin ring ids of (left, right) eye


@lru_cache(maxsize=4)
def template_frame(identity=None) -> TemplateFrame:
    from ..face import NEUTRAL_IDENTITY, build_head
    from ..face.layout import EYE_TUCK, MOUTH_BAG

    head = build_head(identity or NEUTRAL_IDENTITY)
    triangles = triangles_of(head.faces)
    # The template's own landmarks, found the same way as the user's (with its eyeballs
    # as islands), so the detector's habits cancel out.
    vertices = [head.vertices.astype(np.float64)]
    faces = [triangles]
    offset = len(head.vertices)
    for eye in head.eyes:
        faces.append(triangles_of(eye.faces) + offset)
        vertices.append(eye.vertices.astype(np.float64))
        offset += len(eye.vertices)
    landmarks = detect(np.concatenate(vertices), np.concatenate(faces), name="The MeshTalk head")
    region = head.layout.region
    inside = np.isin(region, (EYE_TUCK, MOUTH_BAG))
    x, y, z = head.vertices.T
    front = np.clip((0.07 - y) / 0.05, 0.0, 1.0)  # the face; the back of the head barely
    weight = np.where(inside, 0.0, 0.25 + 0.75 * front).astype(np.float64)
    in_mouth, ring, along, upper = head.layout.patch_coordinates("mouth")
    mouth = head.layout.patches["mouth"]
    contour = mouth.rings[len(mouth.steps) - 1]
    count = len(contour)
    lower_half = contour[: count // 2 + 1]  # corner (right), lower lip ..., corner (left)
    upper_half = np.concatenate([contour[count // 2:], contour[:1]])[::-1]  # right corner, upper ..., left
    if head.vertices[lower_half[0], 0] > head.vertices[lower_half[-1], 0]:
        lower_half = lower_half[::-1]
    if head.vertices[upper_half[0], 0] > head.vertices[upper_half[-1], 0]:
        upper_half = upper_half[::-1]
    margins = []
    for name in ("eye_left", "eye_right"):
        patch = head.layout.patches[name]
        margins.append(np.asarray(patch.rings[len(patch.steps) - 1]))
    # The lips proper (the red lip and the mouth bag): their halves are told apart by
    # topology; the skin around them moves as one field.
    lips = in_mouth & (ring >= 3) & (np.abs(along) < 0.999)
    return TemplateFrame(head, triangles, landmarks, weight, lips & upper, lips & ~upper, upper_half, lower_half,
                         np.where(in_mouth, along, 0.0), (margins[0], margins[1]))


def landmark_similarity(template: Landmarks, user: Landmarks) -> Similarity:
    """Template model space -> the user's space."""
    return fit_similarity(template.as_array(), user.as_array())


def _lip_targets(template: TemplateFrame, user_line: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids of the template's inner lip contour and where each should land on the user's
    lip line (model space). A contour vertex keeps its place relative to the lip line the
    detector finds on the template itself (which ends a little inside the true corners),
    so the detector's habits cancel out; past the ends the user's line is extended."""
    ids = np.concatenate([template.contour_upper, template.contour_lower])
    detected = template.landmarks.mouth_corners  # [right, left] on the template
    x = points[ids, 0]
    fraction = (x - detected[0, 0]) / max(detected[1, 0] - detected[0, 0], 1e-9)
    steps = np.linalg.norm(np.diff(user_line, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    arc /= max(arc[-1], 1e-12)
    targets = np.stack([np.interp(np.clip(fraction, 0, 1), arc, user_line[:, k]) for k in range(3)], axis=1)
    # Beyond the ends: along the line's end direction, by the same fraction of its length.
    length = max(float(steps.sum()), 1e-9)
    for end, beyond in ((0, fraction < 0), (-1, fraction > 1)):
        if beyond.any():
            direction = user_line[end] - user_line[1 if end == 0 else -2]
            direction /= max(np.linalg.norm(direction), 1e-12)
            overshoot = np.where(fraction < 0, -fraction, fraction - 1)[beyond] * length
            targets[beyond] = user_line[end] + overshoot[:, None] * direction
    return ids, targets


def nonrigid_icp(template: TemplateFrame, target: TriangleSurface, target_normals: np.ndarray,
                 start: np.ndarray, landmark_ids: np.ndarray, landmark_targets: np.ndarray,
                 landmark_weights: np.ndarray, free_depth: np.ndarray, progress: Callable[[float], None] | None = None,
                 check_cancel: Callable[[], None] | None = None) -> np.ndarray:
    """(V, 3) template vertices moved onto the target surface (all in model space)."""
    points = np.asarray(start, dtype=np.float64)
    landmark_targets = np.array(landmark_targets, dtype=np.float64)
    count = len(points)
    edges = unique_edges(template.triangles)
    gamma = 1.0
    rows = np.repeat(np.arange(len(edges)), 2)
    cols = edges.ravel()
    values = np.tile([1.0, -1.0], len(edges))
    incidence = sparse.coo_matrix((values, (rows, cols)), shape=(len(edges), count)).tocsr()
    stiffness_base = sparse.kron(incidence, sparse.diags([1.0, 1.0, 1.0, gamma])).tocsr()
    homogeneous = np.concatenate([points, np.ones((count, 1))], axis=1)

    def block_rows(ids, coords):
        """Rows selecting vertices ``ids`` as (len, 4 V): D with homogeneous coordinates."""
        r = np.repeat(np.arange(len(ids)), 4)
        c = (4 * np.asarray(ids)[:, None] + np.arange(4)[None, :]).ravel()
        return sparse.coo_matrix((coords.ravel(), (r, c)), shape=(len(ids), 4 * count)).tocsr()

    data_matrix = block_rows(np.arange(count), homogeneous)
    landmark_matrix = block_rows(landmark_ids, homogeneous[landmark_ids])
    transforms = np.tile(np.vstack([np.eye(3), np.zeros((1, 3))]), (count, 1))  # (4 V, 3)
    total = len(STIFFNESS) * ITERATIONS
    done = 0
    template_normals_fn = lambda p: vertex_normals(p, template.triangles)  # noqa: E731
    for step, alpha in enumerate(STIFFNESS):
        reach = 0.012 if step < 1 else 0.008 if step < 3 else 0.005
        for _ in range(ITERATIONS):
            if check_cancel is not None:
                check_cancel()
            current = data_matrix @ transforms
            # Depth along -Y is left to the surface: only x and z of y-free landmarks hold.
            landmark_targets[free_depth, 1] = current[landmark_ids[free_depth], 1]
            found = target.closest(current)
            normals = template_normals_fn(current)
            their = (target_normals[target.triangles[found.triangle]] * found.barycentric[:, :, None]).sum(axis=1)
            their /= np.maximum(np.linalg.norm(their, axis=1, keepdims=True), 1e-12)
            agree = (normals * their).sum(axis=1) > 0.5
            weight = template.fit_weight * agree * (found.distance < reach)
            w = sparse.diags(weight)
            system = sparse.vstack([alpha * stiffness_base, w @ data_matrix,
                                    sparse.diags(landmark_weights) @ landmark_matrix]).tocsc()
            rhs = np.vstack([np.zeros((stiffness_base.shape[0], 3)), weight[:, None] * found.points,
                             landmark_weights[:, None] * landmark_targets])
            normal_matrix = (system.T @ system).tocsr()
            right = np.asarray(system.T @ rhs)
            transforms = splu((normal_matrix + sparse.identity(normal_matrix.shape[0]) * 1e-9).tocsc()).solve(right)
            done += 1
            if progress is not None:
                progress(done / total)
    return data_matrix @ transforms


def _solve(matrix: sparse.csr_matrix, right: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The symmetric positive system by conjugate gradients from the previous step's
    solution (a Jacobi preconditioner); a direct solve if that does not converge."""
    diagonal = matrix.diagonal()
    preconditioner = sparse.diags(1.0 / np.maximum(diagonal, 1e-12))
    out = np.empty_like(start)
    for k in range(right.shape[1]):
        solution, info = cg(matrix, right[:, k], x0=start[:, k], M=preconditioner, rtol=1e-7, maxiter=600)
        if info != 0:
            solution = splu((matrix + sparse.identity(matrix.shape[0]) * 1e-9).tocsc()).solve(right[:, k])
        out[:, k] = solution
    return out


@dataclass
class FitResult:
    fitted: np.ndarray  # (V, 3) template vertices on the user's face, model space
    to_user: Similarity  # model space -> the user's space
    template: TemplateFrame
    user_landmarks: Landmarks
    eye_centres: np.ndarray  # (2, 3) model space
    eye_radius: float
    lip_line: np.ndarray  # (K, 3) model space


def fit_template(vertices: np.ndarray, triangles: np.ndarray, landmarks: Landmarks,
                 progress: Callable[[float], None] | None = None,
                 check_cancel: Callable[[], None] | None = None) -> FitResult:
    template = template_frame()
    to_user = landmark_similarity(template.landmarks, landmarks)
    to_model = to_user.inverse()
    user_model = to_model.apply(vertices).astype(np.float64)
    skin = landmarks.skin
    head = vertices[:, 2] > landmarks.neck_z - 0.5 * landmarks.head_width
    keep = triangles[(skin & head)[triangles].all(axis=1)]
    if len(keep) < 20:
        raise MeshTalkError("The head has too few faces to fit the MeshTalk head onto it.")
    surface = TriangleSurface(user_model, keep)
    corners = user_model[keep]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-20)
    per_vertex = np.zeros_like(user_model)
    for k in range(3):
        np.add.at(per_vertex, keep[:, k], normals)
    per_vertex /= np.maximum(np.linalg.norm(per_vertex, axis=1, keepdims=True), 1e-20)
    start = to_model.apply(to_user.apply(template.head.vertices)).astype(np.float64)  # = template

    lip_line = to_model.apply(landmarks.lip_line).astype(np.float64)
    lip_ids, lip_targets = _lip_targets(template, lip_line, start)
    eye_centres = to_model.apply(landmarks.eye_centres).astype(np.float64)
    lid_ids, lid_targets = [], []
    for k, margin in enumerate(template.lid_margins):
        shift = eye_centres[k] - template.head.eye_centres[k]
        lid_ids.append(margin)
        lid_targets.append(start[margin] + shift)
    nose_id = int(np.argmin(np.linalg.norm(start - template.landmarks.nose_tip, axis=1)))
    ids = np.concatenate([lip_ids, *lid_ids, [nose_id]])
    targets = np.concatenate([lip_targets, *lid_targets, to_model.apply(landmarks.nose_tip)[None]])
    weights = np.concatenate([np.full(len(lip_ids), LANDMARK_WEIGHT), np.full(sum(map(len, lid_ids)), 0.3 * LANDMARK_WEIGHT),
                              [LANDMARK_WEIGHT]])
    free_depth = np.zeros(len(ids), dtype=bool)
    free_depth[:len(lip_ids)] = True
    fitted = nonrigid_icp(template, surface, per_vertex, start, ids, targets, weights, free_depth, progress,
                          check_cancel)
    return FitResult(fitted, to_user, template, landmarks, eye_centres,
                     landmarks.eye_radius / to_user.scale, lip_line)
