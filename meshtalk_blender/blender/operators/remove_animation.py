"""Remove MeshTalk Animation: takes the object back to how it was before MeshTalk."""

import bpy

from .. import writers


class MESHTALK_OT_remove_animation(bpy.types.Operator):
    """Remove every MeshTalk take from the active object (its actions, basis shape keys and Mesh Cache modifier); your own data stays"""

    bl_idname = "meshtalk.remove_animation"
    bl_label = "Remove MeshTalk Animation"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return obj is not None and obj.type == "MESH" and len(obj.meshtalk.takes) > 0

    def execute(self, context):
        obj = context.active_object
        count = len(obj.meshtalk.takes)
        writers.remove_all_takes(obj)
        self.report({"INFO"}, f"MeshTalk: removed {count} take{'s' if count != 1 else ''} from '{obj.name}'.")
        return {"FINISHED"}
