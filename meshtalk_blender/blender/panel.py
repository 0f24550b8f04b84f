"""The sidebar panel in the 3D Viewport (tab "MeshTalk")."""

from __future__ import annotations

import textwrap

import bpy

from ..core.errors import MeshTalkError
from . import addon, audio_source, bindings, cache_files, job_runner, model_source, targets, writers
from .preferences import draw_model_summary


class MESHTALK_UL_takes(bpy.types.UIList):
    """One row per take: its line (sound strip), name, and whether it plays."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0, flt_flag=0):
        row = layout.row(align=True)
        row.label(text=f"{item.strip_name}: {item.name}", icon="ACTION" if item.output != "MESH_CACHE" else "MOD_MESHDEFORM")
        row.label(text="", icon="PLAY" if item.playing else "BLANK1")


class MESHTALK_PT_panel(bpy.types.Panel):
    bl_idname = "MESHTALK_PT_panel"
    bl_label = "MeshTalk"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "MeshTalk"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        settings = scene.meshtalk
        obj = context.active_object
        choice = addon.model_choice()
        if not bpy.app.background:
            model_source.warm_up(choice)  # the first Animate then starts at once
        problem = model_source.dependency_problem()
        if problem:
            column = layout.box().column(align=True)
            for index, line in enumerate(textwrap.wrap(problem, 48)):
                column.label(text=line, icon="ERROR" if index == 0 else "BLANK1")
        draw_model_summary(layout.column(align=True), choice)

        box = layout.box()
        box.label(text="Audio", icon="SOUND")
        editor = scene.sequence_editor
        collection = "strips_all" if editor is not None and hasattr(editor, "strips_all") else "sequences_all"
        if editor is not None:
            box.prop_search(settings, "audio_strip", editor, collection, text="Strip")
        try:
            strip = audio_source.chosen_strip(scene, settings.audio_strip)
            box.label(text=f"'{strip.name}': frames {strip.frame_final_start}-{strip.frame_final_end - 1}",
                      icon="CHECKMARK")
        except MeshTalkError as error:
            box.label(text=str(error), icon="ERROR")
        box.operator("meshtalk.load_audio", icon="FILEBROWSER")

        box = layout.box()
        box.label(text="Target", icon="MESH_DATA")
        info = None
        try:
            info = targets.inspect(obj, model_source.summarise(choice))
            _wrapped(box, info.message, "CHECKMARK" if info.mode != targets.UNSUPPORTED else "ERROR")
        except MeshTalkError as error:
            _wrapped(box, str(error), "ERROR")
        # A character with a stored fit can have a point cache of its own vertices too.
        bound = info is not None and info.mode == targets.ARKIT_KEYS and bindings.has(obj)
        caching = settings.output == "MESH_CACHE" and (bound or (info is not None and
                                                                 info.mode == targets.SAME_TOPOLOGY))
        if info is not None and (info.mode == targets.SAME_TOPOLOGY or bound):
            box.prop(settings, "output", text="")
            if bound and settings.output == "BASIS":
                _wrapped(box, "The compact basis needs the model's topology: this character gets ARKit weights.",
                         "INFO")
            if caching:
                box.prop(settings, "cache_folder")
                _draw_cache_folder(box, settings.cache_folder)
        elif info is not None and info.mode == targets.ARKIT_KEYS:
            box.label(text="Output: ARKit shape-key weights")
        if info is not None and info.mode != targets.UNSUPPORTED and not caching:
            row = box.row(align=True)
            row.prop(settings, "keys", text="")
            if settings.keys == "REDUCED":
                row.prop(settings, "key_tolerance")
        if obj is not None and obj.type == "MESH" and info is not None and info.mode != targets.SAME_TOPOLOGY:
            _draw_character(box, obj, info)
        box.operator("meshtalk.add_head", icon="USER")
        layout.prop(settings, "rest_in_pauses")
        layout.prop(settings, "seal_lips")
        layout.prop(settings, "head_motion")

        job = job_runner.running()
        if job is not None:
            column = layout.column()
            if hasattr(column, "progress"):
                column.progress(factor=job.progress, type="BAR", text=f"{job.stage} {job.progress * 100:.0f} %")
            else:
                column.label(text=f"{job.stage} {job.progress * 100:.0f} %")
            column.label(text="Esc cancels", icon="CANCEL")
        else:
            row = layout.row()
            row.scale_y = 1.6
            row.operator("meshtalk.animate_from_audio", icon="PLAY_SOUND")

        box = layout.box()
        box.label(text="Upper Face", icon="HIDE_OFF")
        box.prop(settings, "seed")
        row = box.row(align=True)
        row.prop(settings, "use_model_temperature", text="Model's")
        own = row.row(align=True)
        own.active = not settings.use_model_temperature
        own.prop(settings, "temperature")
        has_take = obj is not None and obj.type == "MESH" and len(obj.meshtalk.takes) > 0
        column = box.column(align=True)
        column.enabled = has_take and job is None
        column.operator("meshtalk.resample_upper_face", icon="FILE_REFRESH")
        row = column.row(align=True)
        row.prop(settings, "resample_start")
        row.prop(settings, "resample_end")
        column.operator("meshtalk.resample_frames", icon="SEQ_STRIP_DUPLICATE")
        row = column.row(align=True)
        row.prop(settings, "variant_count")
        row.operator("meshtalk.make_variants", icon="DUPLICATE")

        weighted = has_take and any(take.output == "ARKIT" for take in obj.meshtalk.takes)
        nodding = has_take and any(take.head_action is not None for take in obj.meshtalk.takes)
        if weighted or nodding:
            box = layout.box()
            box.label(text="Strength", icon="MODIFIER")
            column = box.column(align=True)
            for name in ("mouth", "blinks", "brows", "upper_face") if weighted else ():
                column.prop(obj.meshtalk, f"strength_{name}", slider=True)
            if nodding:
                column.prop(obj.meshtalk, "strength_head", slider=True)

        if has_take:
            box = layout.box()
            box.label(text="Takes", icon="ACTION")
            box.template_list("MESHTALK_UL_takes", "", obj.meshtalk, "takes", obj.meshtalk, "active_take", rows=3)
            active = obj.meshtalk.takes[obj.meshtalk.active_take] if obj.meshtalk.active_take < len(
                obj.meshtalk.takes) else None
            if active is not None and active.output == "MESH_CACHE" and not writers.cache_file_path(obj, active).is_file():
                _wrapped(box, "This take's point cache file is missing (deleted or moved): animate again.", "ERROR")
            users_action = writers.users_key_action(obj)
            if users_action is not None and any(take.output != "MESH_CACHE" for take in obj.meshtalk.takes):
                _wrapped(box, f"Your action '{users_action.name}' plays on top of the takes (NLA) and overrides the "
                              "keys it animates.", "INFO")
            row = box.row(align=True)
            row.operator("meshtalk.remove_take", icon="REMOVE")
            row.operator("meshtalk.keep_playing_takes", text="Keep Playing Only", icon="PLAY")
            box.operator("meshtalk.remove_animation", icon="TRASH")


def _draw_character(layout, obj, info) -> None:
    """Make ARKit Shape Keys for a mesh with none or only some of the 52, and what the
    last run found on it."""
    from . import character_rig

    from . import face_landmarks

    placed = len(face_landmarks.landmark_objects(obj)) > 0
    made_before = bool(character_rig.found_on(obj).get("made"))
    if len(info.arkit_keys) < 52 or (placed and made_before):
        text = ("Make ARKit Shape Keys" if not info.arkit_keys else
                "Make the Keys Again from the Landmarks" if len(info.arkit_keys) == 52 else
                f"Add the {52 - len(info.arkit_keys)} Missing ARKit Keys")
        layout.operator("meshtalk.make_arkit_keys", text=text, icon="SHAPEKEY_DATA")
    if len(info.arkit_keys) < 52 or made_before:
        row = layout.row(align=True)
        row.operator("meshtalk.place_face_landmarks", icon="EMPTY_AXIS")
        if placed:
            row.operator("meshtalk.clear_face_landmarks", text="Clear", icon="X")
    if placed:
        _wrapped(layout, "Face landmarks: drag them onto the nose tip, pupils, mouth corners and chin in the Front "
                         "view (Numpad 1); Make ARKit Shape Keys uses them.", "INFO")
    found = obj.get(character_rig.FOUND_PROPERTY)
    if isinstance(found, str):
        try:
            import json

            _wrapped(layout, "Found: " + character_rig.describe(json.loads(found)), "INFO")
        except ValueError:
            pass


def _draw_cache_folder(layout, folder: str) -> None:
    """Where the caches will go, and how much disk unused ones hold (with Clean)."""
    try:
        _wrapped(layout, f"Caches go to {cache_files.cache_directory(folder)}", "FILE_FOLDER")
    except MeshTalkError as error:
        _wrapped(layout, str(error), "ERROR")
    deletable, kept = cache_files.unused_caches(folder)
    if deletable:
        row = layout.row()
        row.label(text=f"{len(deletable)} unused caches: "
                       f"{cache_files.describe_size(cache_files.total_bytes(deletable))}", icon="INFO")
        row.operator("meshtalk.clean_caches", text="Clean", icon="TRASH")
    if kept:
        layout.label(text=f"{len(kept)} replaced caches ({cache_files.describe_size(cache_files.total_bytes(kept))}) "
                          "kept for Undo until the file closes", icon="LOOP_BACK")


def _wrapped(layout, text: str, icon: str, width: int = 44) -> None:
    """A long status message on several lines (panel labels do not wrap)."""
    words, line, lines = text.split(), "", []
    for word in words:
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    column = layout.column(align=True)
    for index, part in enumerate(lines):
        column.label(text=part, icon=icon if index == 0 else "BLANK1")
