"""Clean Unused Caches: delete the point caches no take of this file uses."""

import bpy

from .. import cache_files


class MESHTALK_OT_clean_caches(bpy.types.Operator):
    """Delete the MeshTalk point caches in the cache folder that no take of this file uses (other .blend files sharing the folder may still use them; this cannot be undone)"""

    bl_idname = "meshtalk.clean_caches"
    bl_label = "Clean Unused Caches"
    bl_options = {"REGISTER"}  # deleting files is not undoable: no UNDO step that would pretend it is

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(self, event)

    def execute(self, context):
        cache_files.forget_scans()
        deletable, kept = cache_files.unused_caches(context.scene.meshtalk.cache_folder)
        size = cache_files.total_bytes(deletable)
        failed = []
        for path in deletable:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as error:
                failed.append(f"{path.name} ({error.strerror})")
        cache_files.forget_scans()
        kept_note = f" {len(kept)} of this session kept for Undo until the file is closed." if kept else ""
        if failed:
            self.report({"WARNING"}, f"MeshTalk: could not delete {', '.join(failed[:3])}.{kept_note}")
        else:
            self.report({"INFO"}, f"MeshTalk: deleted {len(deletable)} unused caches "
                                  f"({cache_files.describe_size(size)}).{kept_note}")
        return {"FINISHED"}
