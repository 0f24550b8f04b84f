"""Add-on preferences: where torch runs and which model animates."""

import bpy
from bpy.props import EnumProperty, StringProperty

from ..core.errors import MeshTalkError
from . import ADDON_ID, model_source

DEVICE_ITEMS = [
    ("AUTO", "Auto", "The GPU when there is one (CUDA, then Apple MPS), else the CPU"),
    ("CUDA", "CUDA", "An NVIDIA GPU"),
    ("MPS", "Apple MPS", "The GPU of an Apple Silicon Mac"),
    ("CPU", "CPU", "The processor (always available)"),
]
MODEL_ITEMS = [
    ("BUNDLED", "Bundled", "The model shipped with the add-on (an untrained stand-in when none is installed)"),
    ("FOLDER", "Folder", "A model folder: ours (model.safetensors + config.json), or the original MeshTalk release's "
                         "checkpoints with its face_template.obj"),
]


def draw_model_summary(layout, choice: model_source.ModelChoice) -> None:
    """The model line, its warning and licence (used by the preferences and the panel)."""
    try:
        summary = model_source.summarise(choice)
    except MeshTalkError as error:
        layout.label(text=str(error), icon="ERROR")
        return
    layout.label(text=summary.label, icon="OUTLINER_OB_ARMATURE" if not summary.warning else "ERROR")
    if summary.warning:
        row = layout.row()
        row.alert = True
        row.label(text=summary.warning)
    layout.label(text=f"Licence: {summary.licence}")


class MeshTalkPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    device: EnumProperty(name="Device", items=DEVICE_ITEMS, default="AUTO",
                         description="Where the model runs (the sampler always runs on the CPU)")
    model_source: EnumProperty(name="Model", items=MODEL_ITEMS, default="BUNDLED")
    model_folder: StringProperty(name="Model Folder", subtype="DIR_PATH")
    template_obj: StringProperty(name="Template OBJ", subtype="FILE_PATH",
                                 description="The original release's face_template.obj (only for its .pkl files)")
    # JSON list of absolute cache folders the user chose (blender/cache_files.py): kept
    # here, never in a .blend, so a file cannot send writes to a folder of its choosing.
    approved_cache_folders: StringProperty(options={"HIDDEN"})

    def draw(self, context):
        from .addon import model_choice, version

        layout = self.layout
        layout.prop(self, "device")
        layout.prop(self, "model_source", expand=True)
        if self.model_source == "FOLDER":
            layout.prop(self, "model_folder")
            layout.prop(self, "template_obj")
        draw_model_summary(layout.box(), model_choice())
        layout.label(text=f"MeshTalk for Blender {version()} (code: GPL-3.0-or-later)")
