"""Actions through the layered API (slots, layers, channelbags), which Blender 4.4+ uses
and 5.0 requires (``Action.fcurves`` is gone there). Blender 4.2 and 4.3 have no slots:
there the action's own F-curve list is the only API and is used instead.

Each action made here has one slot, one layer and one keyframe strip, and is assigned
together with its slot: assigning an action without its slot animates nothing.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core.keyframes import ReducedCurve

# Raw enum values for foreach_set: keyframe interpolation and handle types.
LINEAR, BEZIER = 1, 2
ALIGNED = 3

# What MeshTalk writes on the actions it creates, so it never removes anyone else's.
OWNER_TAG = "meshtalk_take"


def layered_actions_available() -> bool:
    # RNA properties are not Python class attributes: ask the RNA definition.
    return "slots" in bpy.types.Action.bl_rna.properties


def new_action(name: str, target_id: bpy.types.ID) -> bpy.types.Action:
    """An empty MeshTalk action for ``target_id`` (e.g. a shape-key datablock)."""
    action = bpy.data.actions.new(name)
    action[OWNER_TAG] = True
    if layered_actions_available():
        slot = action.slots.new(id_type=target_id.id_type, name=target_id.name)
        action.layers.new("MeshTalk").strips.new(type="KEYFRAME").channelbag(slot, ensure=True)
    else:
        action.id_root = target_id.id_type
    return action


def is_meshtalk_action(action: bpy.types.Action | None) -> bool:
    return action is not None and bool(action.get(OWNER_TAG))


def _slot(action: bpy.types.Action):
    return action.slots[0] if layered_actions_available() and len(action.slots) else None


def _fcurves(action: bpy.types.Action):
    if not layered_actions_available():
        return action.fcurves
    channelbag = action.layers[0].strips[0].channelbag(_slot(action), ensure=True)
    return channelbag.fcurves


def write_curve(action: bpy.types.Action, data_path: str, frames: np.ndarray, values: np.ndarray,
                index: int = 0) -> None:
    """One F-curve with a linear key at each (frame, value): the samples are already
    at every frame, so Bezier handles would only overshoot. ``index``: the element of
    an array property."""
    curves = _fcurves(action)
    existing = curves.find(data_path, index=index)
    if existing is not None:
        curves.remove(existing)
    curve = curves.new(data_path, index=index)
    points = np.empty((len(frames), 2), dtype=np.float32)
    points[:, 0], points[:, 1] = frames, values
    curve.keyframe_points.add(len(frames))
    curve.keyframe_points.foreach_set("co", points.ravel())
    curve.keyframe_points.foreach_set("interpolation", np.full(len(frames), LINEAR, dtype=np.int32))
    curve.update()


def write_reduced_curve(action: bpy.types.Action, data_path: str, start_frame: int, curve: ReducedCurve) -> None:
    """One F-curve with Bezier keys (aligned handles on the curve's slopes) at
    ``start_frame`` + the curve's frames (core.keyframes)."""
    curves = _fcurves(action)
    existing = curves.find(data_path)
    if existing is not None:
        curves.remove(existing)
    fcurve = curves.new(data_path)
    count = len(curve.frames)
    points = fcurve.keyframe_points
    points.add(count)
    left, right = curve.handles()
    offset = np.array([start_frame, 0.0])
    points.foreach_set("co", np.stack([curve.frames + start_frame, curve.values], 1).astype(np.float32).ravel())
    points.foreach_set("handle_left", (left + offset).astype(np.float32).ravel())
    points.foreach_set("handle_right", (right + offset).astype(np.float32).ravel())
    for name, value in (("interpolation", BEZIER), ("handle_left_type", ALIGNED), ("handle_right_type", ALIGNED)):
        points.foreach_set(name, np.full(count, value, dtype=np.int32))
    fcurve.update()


def sample_curve(action: bpy.types.Action, data_path: str, start_frame: int, count: int,
                 index: int = 0) -> np.ndarray | None:
    """(count,) what the F-curve plays at frames start_frame.. (None if the action lacks
    it): evaluated by Blender, so reduced keys and an animator's edits count."""
    fcurve = _fcurves(action).find(data_path, index=index)
    if fcurve is None:
        return None
    return np.array([fcurve.evaluate(start_frame + n) for n in range(count)], dtype=np.float32)


def find_curve(action: bpy.types.Action, data_path: str):
    """The action's F-curve for ``data_path`` (None if it has none)."""
    return _fcurves(action).find(data_path)


def read_curve(action: bpy.types.Action, data_path: str) -> np.ndarray | None:
    """The keyed values of one F-curve, in key order (None if the action lacks it)."""
    curve = _fcurves(action).find(data_path)
    if curve is None:
        return None
    points = np.zeros(len(curve.keyframe_points) * 2, dtype=np.float32)
    curve.keyframe_points.foreach_get("co", points)
    return points[1::2].copy()


def curve_paths(action: bpy.types.Action) -> list[str]:
    return [curve.data_path for curve in _fcurves(action)]


def assign(target_id: bpy.types.ID, action: bpy.types.Action | None) -> None:
    """Makes ``action`` (with its slot) the active action of ``target_id``; None unassigns."""
    animation = target_id.animation_data or target_id.animation_data_create()
    animation.action = action
    if action is not None and layered_actions_available():
        animation.action_slot = _slot(action)
