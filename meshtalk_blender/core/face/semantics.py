"""Named regions of the head: weighted masks and vertex index sets.

Masks are (V,) float32 weights in [0, 1]:
  mouth       lips, mouth bag and the lower face around them (cross-modality loss)
  upper_face  eyes, brows, forehead and upper cheeks (cross-modality loss, FDD metric)
  forehead    above the brows (temporal smoothing of the release's post-processing)
  neck        below the jaw (same)
  eyelids     both eyelids, 1 at the margins fading out toward the brow and cheek

Index sets are int64 arrays of vertex ids; pairs are in matching order:
  upper_inner_lip / lower_inner_lip   inner lip contour without the corners, by x
  mouth_corners                       [right (-x), left (+x)]
  lip_keypoints                       the red lips and the inner contour
  upper_eyelid / lower_eyelid         eyelid margins without the corners: left eye then
                                      right eye, each by x
  eyelid_keypoints                    upper_eyelid followed by lower_eyelid
  left_eye_corners / right_eye_corners  [inner, outer] corner of each eye
  mouth_interior                      the mouth bag behind the inner lip contour
  stable                              skull cap, upper forehead and nose bridge: moved
                                      by no expression, good for rigid alignment
"""

from __future__ import annotations

import numpy as np

from .layout import CAP, EYE_RING, EYE_TUCK, MOUTH_BAG, HeadLayout

MASK_NAMES = ("mouth", "upper_face", "forehead", "neck", "eyelids")


def _smoothstep(edge0, edge1, x):
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def build_masks(layout: HeadLayout, vertices: np.ndarray) -> dict[str, np.ndarray]:
    """(V, 3) neutral vertices -> mask name -> (V,) float32 weights."""
    x, y, z = vertices.T
    front = _smoothstep(0.075, 0.045, y)

    lower_face = np.sqrt((x / 0.06) ** 2 + ((z + 0.082) / 0.052) ** 2)
    mouth = _smoothstep(1.0, 0.45, lower_face) * front
    mouth[layout.region == MOUTH_BAG] = 1.0

    upper_face = _smoothstep(-0.045, -0.025, z) * _smoothstep(0.06, 0.03, y)
    forehead = _smoothstep(0.022, 0.04, z) * _smoothstep(0.11, 0.085, z) * _smoothstep(0.04, 0.015, y)
    neck = _smoothstep(-0.12, -0.15, z) * (1.0 - _smoothstep(0.02, -0.01, y) * _smoothstep(-0.13, -0.11, z))

    eyelids = np.zeros(len(vertices))
    for name in ("eye_left", "eye_right"):
        patch = layout.patches[name]
        for k, ids in enumerate(patch.rings):
            eyelids[ids] = _smoothstep(0.2, 0.75, patch.steps[k] if k < len(patch.steps) else 1.0)
    masks = {"mouth": mouth, "upper_face": upper_face, "forehead": forehead, "neck": neck, "eyelids": eyelids}
    return {name: np.clip(values, 0.0, 1.0).astype(np.float32) for name, values in masks.items()}


def _pairs_by_x(layout: HeadLayout, name: str, ring: int, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower halves of one ring without the corners, paired, ordered by x."""
    patch = layout.patches[name]
    ids = patch.rings[ring]
    count = len(ids)
    lower = ids[1 : count // 2]
    upper = ids[count - 1 : count // 2 : -1]  # partner of lower index m is count - m
    order = np.argsort(vertices[lower, 0])
    return upper[order], lower[order]


def build_index_sets(layout: HeadLayout, vertices: np.ndarray) -> dict[str, np.ndarray]:
    """(V, 3) neutral vertices -> set name -> int64 vertex ids."""
    mouth = layout.patches["mouth"]
    contour_ring = len(mouth.steps) - 1
    upper_lip, lower_lip = _pairs_by_x(layout, "mouth", contour_ring, vertices)
    contour = mouth.rings[contour_ring]
    corners = np.array([contour[0], contour[len(contour) // 2]])
    corners = corners[np.argsort(vertices[corners, 0])]
    red_lip_rings = [k for k, step in enumerate(mouth.steps) if step >= 0.66]
    lip_keypoints = np.concatenate([mouth.rings[k] for k in red_lip_rings])

    sets = {
        "upper_inner_lip": upper_lip,
        "lower_inner_lip": lower_lip,
        "mouth_corners": corners,
        "lip_keypoints": np.sort(lip_keypoints),
    }
    upper_lids, lower_lids = [], []
    for name, label in (("eye_left", "left_eye_corners"), ("eye_right", "right_eye_corners")):
        patch = layout.patches[name]
        margin_ring = len(patch.steps) - 1
        upper, lower = _pairs_by_x(layout, name, margin_ring, vertices)
        upper_lids.append(upper)
        lower_lids.append(lower)
        margin = patch.rings[margin_ring]
        corner_ids = np.array([margin[0], margin[len(margin) // 2]])
        inner_first = np.argsort(np.abs(vertices[corner_ids, 0]))
        sets[label] = corner_ids[inner_first]
    sets["upper_eyelid"] = np.concatenate(upper_lids)
    sets["lower_eyelid"] = np.concatenate(lower_lids)
    sets["eyelid_keypoints"] = np.concatenate([sets["upper_eyelid"], sets["lower_eyelid"]])
    sets["mouth_interior"] = np.flatnonzero(layout.region == MOUTH_BAG)

    x, y, z = vertices.T
    skull = (layout.region == CAP) | ((z > 0.05) & (y > -0.005))
    bridge = (np.abs(x) < 0.008) & (z > -0.002) & (z < 0.014) & (y < -0.005)
    sets["stable"] = np.flatnonzero(skull | bridge)
    return {name: np.asarray(ids, dtype=np.int64) for name, ids in sets.items()}


def eyelid_rings(layout: HeadLayout) -> np.ndarray:
    """(V,) bool: vertices of the eye ring patches (used by tests and the rig)."""
    return np.isin(layout.region, (EYE_RING, EYE_TUCK))
