"""Which takes play: one per line of dialogue, every line at once (main thread only).

A line is a sound strip: every take made from it belongs to it, and one of them plays.
A character with several lines plays all of them, each at its strip's frame.

- Shape-key takes (ARKit weights, compact basis) play as NLA strips of one MeshTalk
  track on the object's shape keys, one strip per line. The active action is never
  used: it stays free for the user's own, which plays on top and overrides the keys it
  animates (an animator's polish layer). An NLA strip is also where an animator edits a
  take (Tab in the NLA editor).
- A take's head motion (blender/head_actions.py) plays the same way, on the object's own
  NLA track "MeshTalk Head Motion".
- Point-cache takes play through one Mesh Cache modifier per line, first in the stack.
  A modifier alone would hold its first or last frame over the other lines, so a
  driver (a simple expression: no Python needed) turns its influence on from its line's
  start until the next line starts, which is how the NLA strips hold too.

``refresh(obj)`` rebuilds all of that from the takes, so every change (a new take, a
removed one, a click in the list) goes through one place, and one Undo step reverts it.
"""

from __future__ import annotations

import contextlib
import json

import bpy

from . import actions

# Set while MeshTalk itself moves the list's selection (adding or removing takes): the
# selection's update callback then must not change which take plays.
quiet = False

CACHE_MODIFIER_NAME = "MeshTalk Cache"
TRACK_NAME = "MeshTalk"
HEAD_TRACK_NAME = "MeshTalk Head Motion"


@contextlib.contextmanager
def selecting_quietly():
    global quiet
    quiet = True
    try:
        yield
    finally:
        quiet = False


def line_of(take) -> str:
    return take.strip_name


def play(obj: bpy.types.Object, take) -> None:
    """Makes ``take`` the one that plays for its line."""
    for other in obj.meshtalk.takes:
        if line_of(other) == line_of(take):
            other.playing = other == take
    refresh(obj)


def playing_takes(obj: bpy.types.Object) -> dict[str, object]:
    """{line: the take that plays it}: the one marked playing, else the line's newest
    (a file from before lines existed, or after the playing take was removed)."""
    chosen: dict[str, object] = {}
    for take in obj.meshtalk.takes:
        line = line_of(take)
        if take.playing or line not in chosen or not chosen[line].playing:
            chosen[line] = take
    return chosen


def refresh(obj: bpy.types.Object) -> None:
    """Rebuilds the MeshTalk NLA track and cache modifiers from the playing takes."""
    playing = playing_takes(obj)
    for take in playing.values():
        take.playing = True
    _drop_the_single_take_setup(obj)
    # Shape-key takes, and point-cache takes that key the eyes' gaze (session._look_keys).
    _refresh_track(obj, [t for t in playing.values() if t.action is not None])
    _refresh_head_track(obj, list(playing.values()))
    _refresh_cache_modifiers(obj, {line: t for line, t in playing.items() if t.output == "MESH_CACHE"})
    _silence_idle_basis_keys(obj, playing.values())


def clear(obj: bpy.types.Object) -> None:
    """Removes the track and the modifiers (the takes themselves stay)."""
    _drop_the_single_take_setup(obj)
    _refresh_track(obj, [])
    _refresh_head_track(obj, [])
    _refresh_cache_modifiers(obj, {})


def end_frame(obj: bpy.types.Object) -> int | None:
    """The last scene frame any playing take covers (None: nothing plays)."""
    ends = [take.start_frame + take.frames - 1 for take in playing_takes(obj).values()]
    return max(ends) if ends else None


# ---------------------------------------------------------------- the NLA tracks


def tracks(obj: bpy.types.Object) -> list:
    """MeshTalk's NLA tracks on the shape keys, bottom first."""
    key = obj.data.shape_keys
    if key is None or key.animation_data is None:
        return []
    names = json.loads(obj.meshtalk.track_names or "[]")
    return [track for track in key.animation_data.nla_tracks if track.name in names]


def _refresh_track(obj: bpy.types.Object, takes: list) -> None:
    """The shape-key takes' actions on the shape keys' MeshTalk track(s)."""
    names = _rebuild_tracks(obj.data.shape_keys, [(take, take.action) for take in takes], TRACK_NAME, tracks(obj))
    obj.meshtalk.track_names = json.dumps(names)


def head_tracks(obj: bpy.types.Object) -> list:
    """MeshTalk's NLA tracks of the object's head motion on its owner (the object, or
    its armature), bottom first."""
    from .head_actions import owner_of

    owner = owner_of(obj)
    if owner.animation_data is None:
        return []
    names = json.loads(obj.meshtalk.head_track_names or "[]")
    return [track for track in owner.animation_data.nla_tracks if track.name in names]


def _refresh_head_track(obj: bpy.types.Object, takes: list) -> None:
    """The playing takes' head motion on the "MeshTalk Head Motion" track(s) of the
    object, or of its armature (named after the object there: one armature may carry
    several meshes)."""
    from .head_actions import owner_of

    owner = owner_of(obj)
    name = HEAD_TRACK_NAME if owner == obj else f"{HEAD_TRACK_NAME} ({obj.name})"
    names = _rebuild_tracks(owner, [(take, take.head_action) for take in takes], name, head_tracks(obj))
    obj.meshtalk.head_track_names = json.dumps(names)


def _rebuild_tracks(owner, placed: list, base_name: str, old_tracks: list) -> list[str]:
    """Rebuilds `owner`'s tracks from (take, action) pairs; returns the new tracks'
    names. One track holds the lines one after another (the first strip holds its ends,
    the others hold forward, so every frame has a value). Strips of a track may not
    overlap: a line that overlaps another goes on a track above, which plays only on
    its frames."""
    # What an animator set on a strip (muted, its influence, how it blends) stays with
    # its take's action across rebuilds.
    kept = {strip.action: (strip.mute, strip.influence, strip.blend_type)
            for old in old_tracks for strip in old.strips if strip.action is not None}
    for old in old_tracks:
        owner.animation_data.nla_tracks.remove(old)
    layers: list[list] = []  # per track: its (take, action) pairs, in time order
    for take, action in sorted(((t, a) for t, a in placed if a is not None), key=lambda pair: pair[0].start_frame):
        for layer in layers:
            if layer[-1][0].start_frame + layer[-1][0].frames <= take.start_frame:
                layer.append((take, action))
                break
        else:
            layers.append([(take, action)])
    names = []
    for depth, layer in enumerate(layers):
        track = owner.animation_data_create().nla_tracks.new()
        track.name = base_name if depth == 0 else f"{base_name} (overlapping lines)"
        names.append(track.name)
        for index, (take, action) in enumerate(layer):
            strip = track.strips.new(line_of(take) or take.name, take.start_frame, action)
            strip.mute, strip.influence, strip.blend_type = kept.get(action, (False, 1.0, "REPLACE"))
            strip.extrapolation = "NOTHING" if depth else ("HOLD" if index == 0 else "HOLD_FORWARD")
    return names


def _drop_the_single_take_setup(obj: bpy.types.Object) -> None:
    """Files from before lines: a take played as the shape keys' active action and
    through one Mesh Cache modifier. Both are replaced by the per-line setup."""
    key = obj.data.shape_keys
    if key is not None and key.animation_data is not None and actions.is_meshtalk_action(key.animation_data.action):
        actions.assign(key, None)
    state = obj.meshtalk
    legacy = obj.modifiers.get(state.modifier_name) if state.modifier_name else None
    if legacy is not None and legacy.type == "MESH_CACHE":
        obj.modifiers.remove(legacy)
    state.modifier_name = ""


def _silence_idle_basis_keys(obj: bpy.types.Object, playing) -> None:
    """The basis keys of takes that do not play rest at 0 (nothing animates them)."""
    key = obj.data.shape_keys
    if key is None:
        return
    playing_names = {name for take in playing for name in json.loads(take.basis_keys or "[]")}
    for take in obj.meshtalk.takes:
        for name in json.loads(take.basis_keys or "[]"):
            block = key.key_blocks.get(name)
            if block is not None and name not in playing_names:
                block.value = 0.0


# ---------------------------------------------------------------- the cache modifiers


def line_modifiers(obj: bpy.types.Object) -> dict[str, str]:
    """{line: name of its Mesh Cache modifier}."""
    return json.loads(obj.meshtalk.line_modifiers or "{}")


def line_modifier(obj: bpy.types.Object, line: str):
    name = line_modifiers(obj).get(line)
    modifier = obj.modifiers.get(name) if name else None
    return modifier if modifier is not None and modifier.type == "MESH_CACHE" else None


def _refresh_cache_modifiers(obj: bpy.types.Object, playing: dict[str, object]) -> None:
    from .writers import cache_file_path

    names = line_modifiers(obj)
    for line in [line for line in names if line not in playing]:
        _remove_modifier(obj, names.pop(line))
    in_order = sorted(playing.items(), key=lambda item: item[1].start_frame)
    for index, (line, take) in enumerate(in_order):
        modifier = line_modifier(obj, line)
        if modifier is None:
            modifier = _new_cache_modifier(obj)
            names[line] = modifier.name
        path = cache_file_path(obj, take)
        modifier.filepath = bpy.path.relpath(str(path)) if take.cache_file.startswith("//") else str(path)
        modifier.frame_start = float(take.start_frame)
        # As the NLA strips hold: each line from its start until the next line starts
        # (the modifier clamps to its last frame in between), the first also before.
        conditions = [f"frame >= {take.start_frame}"] if index else []
        if index + 1 < len(in_order):
            conditions.append(f"frame < {in_order[index + 1][1].start_frame}")
        driver = (obj.animation_data.drivers.find(_factor_path(modifier)) if obj.animation_data else None)
        driver = driver or modifier.driver_add("factor")
        driver.driver.type = "SCRIPTED"
        driver.driver.expression = f"1.0 if {' and '.join(conditions)} else 0.0" if conditions else "1.0"
    obj.meshtalk.line_modifiers = json.dumps(names)


def _new_cache_modifier(obj: bpy.types.Object):
    modifier = obj.modifiers.new(CACHE_MODIFIER_NAME, "MESH_CACHE")
    modifier.cache_format = "PC2"
    modifier.time_mode = "FRAME"
    modifier.play_mode = "SCENE"
    modifier.frame_scale = 1.0
    if len(obj.modifiers) > 1:  # first: it reads the undeformed mesh, the user's modifiers act on its result
        _move_modifier_first(obj, modifier)
    return modifier


def _factor_path(modifier) -> str:
    return f'modifiers["{bpy.utils.escape_identifier(modifier.name)}"].factor'


def _remove_modifier(obj: bpy.types.Object, name: str) -> None:
    modifier = obj.modifiers.get(name)
    if modifier is None:
        return
    if obj.animation_data is not None:
        driver = obj.animation_data.drivers.find(_factor_path(modifier))
        if driver is not None:
            obj.animation_data.drivers.remove(driver)
    obj.modifiers.remove(modifier)


def _move_modifier_first(obj: bpy.types.Object, modifier) -> None:
    index = list(obj.modifiers).index(modifier)
    if hasattr(obj.modifiers, "move"):  # Blender 4.3+
        obj.modifiers.move(index, 0)
        return
    with bpy.context.temp_override(object=obj, active_object=obj):
        bpy.ops.object.modifier_move_to_index(modifier=modifier.name, index=0)
