"""Load Audio File: a new sound strip at the current frame, chosen for MeshTalk."""

import bpy
from bpy.props import StringProperty

from ...core.errors import MeshTalkError
from .. import audio_source


class MESHTALK_OT_load_audio(bpy.types.Operator):
    """Add an audio file as a sound strip at the current frame and animate from it"""

    bl_idname = "meshtalk.load_audio"
    bl_label = "Load Audio File"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(subtype="FILE_PATH")
    filter_glob: StringProperty(default="*.wav;*.flac;*.ogg;*.mp3;*.aif;*.aiff", options={"HIDDEN"})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        scene = context.scene
        try:
            strip = audio_source.add_sound_strip(scene, self.filepath, scene.frame_current)
        except MeshTalkError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        scene.meshtalk.audio_strip = strip.name
        self.report({"INFO"}, f"MeshTalk: added the sound strip '{strip.name}' at frame {strip.frame_final_start}.")
        return {"FINISHED"}
