"""register() / unregister() of everything the add-on adds to Blender."""

from __future__ import annotations

import atexit

import bpy

from . import batch, cache_files, job_runner, panel, preferences, properties
from .operators import CLASSES as OPERATOR_CLASSES

CLASSES = (*properties.CLASSES, preferences.MeshTalkPreferences, *OPERATOR_CLASSES, panel.MESHTALK_UL_takes,
           panel.MESHTALK_PT_panel)
_cli_handle = None


@bpy.app.handlers.persistent
def _before_load(*_args) -> None:
    job_runner.cancel_running()  # its object belongs to the file being closed
    cache_files.delete_unreachable()  # the file's undo history ends here


@bpy.app.handlers.persistent
def _after_load_or_save(*_args) -> None:
    cache_files.remember_saved_uses()


HANDLERS = ((bpy.app.handlers.load_pre, _before_load), (bpy.app.handlers.load_post, _after_load_or_save),
            (bpy.app.handlers.save_post, _after_load_or_save))


def register() -> None:
    global _cli_handle
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    properties.register_properties()
    for handlers, handler in HANDLERS:
        handlers.append(handler)
    # Quitting Blender ends the undo history too (unregister() covers a quit that
    # disables add-ons first, atexit one that does not).
    atexit.register(cache_files.delete_unreachable)
    if hasattr(bpy.utils, "register_cli_command"):
        _cli_handle = bpy.utils.register_cli_command("meshtalk", batch.cli_command)


def unregister() -> None:
    global _cli_handle
    job_runner.cancel_running()
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    for handlers, handler in HANDLERS:
        if handler in handlers:
            handlers.remove(handler)
    atexit.unregister(cache_files.delete_unreachable)
    cache_files.delete_unreachable()
    properties.unregister_properties()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
