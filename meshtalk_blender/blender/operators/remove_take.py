"""Remove Take and Keep Playing Takes: prune the takes list (they accumulate)."""

import bpy

from .. import playback, writers


def _has_takes(context) -> bool:
    obj = context.active_object
    return obj is not None and obj.type == "MESH" and len(obj.meshtalk.takes) > 0


class MESHTALK_OT_remove_take(bpy.types.Operator):
    """Remove the selected take (its action or basis keys); if it was playing, its line plays its newest other take"""

    bl_idname = "meshtalk.remove_take"
    bl_label = "Remove Take"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return _has_takes(context)

    def execute(self, context):
        obj = context.active_object
        state = obj.meshtalk
        name = state.takes[state.active_take].name
        writers.remove_take(obj, state.active_take)
        if not len(state.takes):
            writers.remove_all_takes(obj)  # the last one: the object as it was before MeshTalk
        self.report({"INFO"}, f"MeshTalk: removed '{name}' from '{obj.name}'.")
        return {"FINISHED"}


class MESHTALK_OT_keep_playing_takes(bpy.types.Operator):
    """Remove every take that does not play (keep one take per line: the playing one)"""

    bl_idname = "meshtalk.keep_playing_takes"
    bl_label = "Keep Playing Takes Only"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return _has_takes(context)

    def execute(self, context):
        obj = context.active_object
        state = obj.meshtalk
        keep_names = {take.name for take in playback.playing_takes(obj).values()}
        removed = 0
        for index in reversed(range(len(state.takes))):
            if state.takes[index].name not in keep_names:
                writers.remove_take(obj, index, refresh=False)
                removed += 1
        playback.refresh(obj)
        self.report({"INFO"}, f"MeshTalk: removed {removed} take{'s' if removed != 1 else ''} that did not play.")
        return {"FINISHED"}
