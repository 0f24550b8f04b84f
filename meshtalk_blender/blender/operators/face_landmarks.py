"""Place Face Landmarks / Clear Face Landmarks: the six points a user drags when Make
ARKit Shape Keys cannot find (or misplaces) a stylised face (blender/face_landmarks.py)."""

from __future__ import annotations

import bpy
import numpy as np

from ...core.errors import MeshTalkError
from .. import character_rig, face_landmarks, targets


def _mesh_object(operator, context):
    obj = context.active_object
    if obj is None or obj.type != "MESH":
        operator.report({"ERROR"}, "Select the character's face or body mesh first.")
        return None
    return obj


class MESHTALK_OT_place_face_landmarks(bpy.types.Operator):
    """Show six points to drag onto the nose tip, pupils, mouth corners and chin (Front view), for Make ARKit Shape Keys to use instead of searching"""

    bl_idname = "meshtalk.place_face_landmarks"
    bl_label = "Place Face Landmarks"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj = _mesh_object(self, context)
        if obj is None:
            return {"CANCELLED"}
        try:
            targets.require_object_mode(obj)
        except MeshTalkError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        points = character_rig.found_on(obj).get("points")
        stored = {name: np.array(point) for name, point in points.items()} if isinstance(points, dict) else None
        world = character_rig.world_rest(obj)
        if not len(world):
            self.report({"ERROR"}, f"'{obj.name}' has no vertices.")
            return {"CANCELLED"}
        self.report({"INFO"}, face_landmarks.place(obj, world, stored))
        return {"FINISHED"}


class MESHTALK_OT_clear_face_landmarks(bpy.types.Operator):
    """Delete the face landmark points (Make ARKit Shape Keys searches for the face again)"""

    bl_idname = "meshtalk.clear_face_landmarks"
    bl_label = "Clear Face Landmarks"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj = _mesh_object(self, context)
        if obj is None:
            return {"CANCELLED"}
        count = face_landmarks.clear(obj)
        self.report({"INFO"}, f"MeshTalk: removed {count} face landmarks from '{obj.name}'.")
        return {"FINISHED"}
