"""Strength sliders, as Audio2Face offers them: how much of the mouth, the blinks, the
brows and the rest of the upper face (gaze, squints, wide eyes) an object's ARKit-weight
takes play, and how much head motion any take plays, each from 0 to 2, without running
the model again (the head motion is recomputed from its raw angles: head_actions.py).

A take's keys are scaled in place (a key's value and both handles' values: the curve
between keys scales exactly), and the factor each group of a take carries is kept with
the take, so moving a slider again rescales from there, a new take starts at the
sliders' values, and resampling reads the take's own (unscaled) weights. Weights past a
shape key's range clip there, as Blender's sliders do. Point-cache and compact-basis
takes mix the regions in every key, so the sliders leave them as they are.
"""

from __future__ import annotations

import json

import bpy
import numpy as np

from ..core.face.arkit_names import TONGUE_KEYS
from ..core.retarget import arkit_name_of, is_mouth_key
from . import actions, writers

GROUPS = ("mouth", "blinks", "brows", "upper_face", "head")
# A slider at 0 scales by this instead (invisible), so that moving it back restores the
# curve: scaled by 0 it would be lost.
LEAST_FACTOR = 1e-4


def group_of(key_name: str) -> str | None:
    """The slider a shape key follows (None: not an ARKit shape or a tongue control)."""
    if key_name in TONGUE_KEYS:
        return "mouth"
    arkit = arkit_name_of(key_name)
    if arkit is None:
        return None
    if is_mouth_key(arkit):
        return "mouth"
    if arkit.startswith("eyeBlink"):
        return "blinks"
    if arkit.startswith("brow"):
        return "brows"
    return "upper_face"


def wanted(obj: bpy.types.Object) -> dict[str, float]:
    state = obj.meshtalk
    return {group: max(LEAST_FACTOR, float(getattr(state, f"strength_{group}"))) for group in GROUPS}


def applied(take) -> dict[str, float]:
    return {group: 1.0 for group in GROUPS} | json.loads(take.strengths or "{}")


def apply_to_take(obj: bpy.types.Object, take) -> None:
    """Rescales an ARKit-weight take's curves from the factors it carries to the
    object's sliders, and redraws its head motion at the Head slider's."""
    now, target = applied(take), wanted(obj)
    if take.head_action is not None and now["head"] != target["head"]:
        from . import head_actions

        head_actions.rewrite(obj, take, target["head"])
        record_head(take, target["head"])
    if take.output != "ARKIT" or take.action is None:
        return
    for key_name in json.loads(take.key_names or "[]"):
        group = group_of(key_name)
        if group is None or now[group] == target[group]:
            continue
        curve = actions.find_curve(take.action, writers.key_value_path(key_name))
        if curve is not None:  # (a reduced take has no curve for a key near zero)
            _scale(curve, target[group] / now[group])
    take.strengths = json.dumps(target)


def record_head(take, factor: float) -> None:
    take.strengths = json.dumps(applied(take) | {"head": factor})


def apply_to_object(obj: bpy.types.Object) -> None:
    for take in obj.meshtalk.takes:
        apply_to_take(obj, take)


def raw_weights(take, key_names: tuple[str, ...], played: np.ndarray) -> np.ndarray:
    """(T, K) the take's own weights from what it plays (its groups' factors undone)."""
    factors = applied(take)
    scale = np.array([factors.get(group_of(name) or "", 1.0) for name in key_names], dtype=np.float32)
    return played / scale[None, :] if len(key_names) else played


def _scale(curve, factor: float) -> None:
    points = curve.keyframe_points
    for attribute in ("co", "handle_left", "handle_right"):
        values = np.zeros(len(points) * 2, dtype=np.float32)
        points.foreach_get(attribute, values)
        values[1::2] *= factor
        points.foreach_set(attribute, values)
    curve.update()
