"""register() / unregister() of everything the add-on adds to Blender."""

from __future__ import annotations

import bpy

from . import batch, job_runner, panel, preferences, properties
from .operators import CLASSES as OPERATOR_CLASSES

CLASSES = (*properties.CLASSES, preferences.MeshTalkPreferences, *OPERATOR_CLASSES, panel.MESHTALK_UL_takes,
           panel.MESHTALK_PT_panel)
_cli_handle = None


@bpy.app.handlers.persistent
def _cancel_job_on_load(*_args) -> None:
    job_runner.cancel_running()  # its object belongs to the file being closed


def register() -> None:
    global _cli_handle
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    properties.register_properties()
    bpy.app.handlers.load_pre.append(_cancel_job_on_load)
    if hasattr(bpy.utils, "register_cli_command"):
        _cli_handle = bpy.utils.register_cli_command("meshtalk", batch.cli_command)


def unregister() -> None:
    global _cli_handle
    job_runner.cancel_running()
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    if _cancel_job_on_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_cancel_job_on_load)
    properties.unregister_properties()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
