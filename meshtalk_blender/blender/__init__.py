"""The thin bpy layer of the extension: preferences, properties, the sidebar panel, one
operator per file (``operators/``), the writers that turn arrays into shape keys, actions
and Mesh Cache modifiers, and the ``meshtalk`` batch command.

Modules without bpy (``model_source``, ``take_data``) hold the logic that needs no
Blender; everything that touches bpy data runs on Blender's main thread only.
"""

# The add-on's module name as Blender knows it: "bl_ext.<repo>.meshtalk_blender" when
# installed as an extension, "meshtalk_blender" when imported from a checkout.
ADDON_ID = __package__.rpartition(".")[0]
