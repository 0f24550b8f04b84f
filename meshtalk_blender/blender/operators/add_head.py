"""Add MeshTalk Head: the bundled head (eyes, 52 ARKit shape keys) at the 3D cursor."""

import bpy

from ..head_builder import build_head_objects


class MESHTALK_OT_add_head(bpy.types.Operator):
    """Add the MeshTalk head: a face with the model's topology, eyes and the 52 ARKit shape keys"""

    bl_idname = "meshtalk.add_head"
    bl_label = "Add MeshTalk Head"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        if context.mode != "OBJECT":
            self.report({"ERROR"}, "Switch to Object Mode first, then add the MeshTalk head.")
            return {"CANCELLED"}
        face, eyes = build_head_objects(collection=context.collection)
        face.location = context.scene.cursor.location
        for obj in context.view_layer.objects:
            obj.select_set(False)
        face.select_set(True)
        context.view_layer.objects.active = face
        self.report({"INFO"}, f"MeshTalk: added '{face.name}' ({len(face.data.vertices)} vertices, 52 ARKit keys).")
        return {"FINISHED"}
