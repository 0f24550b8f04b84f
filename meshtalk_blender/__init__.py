"""MeshTalk for Blender: audio-driven facial animation.

This file only registers the add-on with Blender. Everything else lives in
``core`` (plain numpy/torch, no Blender), ``training`` and ``blender`` (the thin bpy
layer). Importing this package must work without bpy, so bpy is imported lazily.
"""


def register():
    from .blender import registration

    registration.register()


def unregister():
    from .blender import registration

    registration.unregister()
