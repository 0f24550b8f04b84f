"""Writing takes into Blender, and removing them again (main thread only).

Everything MeshTalk creates is recorded on the object (``object.meshtalk``) and tagged:
actions carry ``meshtalk_take``, basis shape keys are listed in their take, the NLA
tracks and the lines' Mesh Cache modifiers are named in the object's state (which take
plays where: ``playback``). Removing a take removes exactly those, and the values the
user's own shape keys had before MeshTalk animated them are put back.
"""

from __future__ import annotations

import json
from pathlib import Path

import bpy
import numpy as np

from ..core.keyframes import ReducedCurve
from ..core.retarget import SHARED_WEIGHT_LIMIT
from . import actions, playback
from .targets import rest_positions

BASIS_KEY_PREFIX = "MeshTalk"


def key_value_path(key_name: str) -> str:
    return f'key_blocks["{bpy.utils.escape_identifier(key_name)}"].value'


def take_frames(start_frame: int, count: int) -> np.ndarray:
    return start_frame + np.arange(count, dtype=np.float64)


# ---------------------------------------------------------------- writing


def remember_key_values(obj: bpy.types.Object, key_names: list[str]) -> None:
    """Keeps the user's values of keys MeshTalk is about to animate (first time only)."""
    state = obj.meshtalk
    saved = json.loads(state.original_key_values or "{}")
    blocks = obj.data.shape_keys.key_blocks
    for name in key_names:
        if name not in saved and name in blocks:
            saved[name] = blocks[name].value
    state.original_key_values = json.dumps(saved)


def write_weight_action(obj: bpy.types.Object, name: str, key_names: list[str], weights: np.ndarray,
                        start_frame: int, curves: list[ReducedCurve | None] | None = None) -> bpy.types.Action:
    """An action on the object's shape keys with one curve per key: (T, K) weights, keyed
    at every frame, or as ``curves`` (the fewest keys; None for a key that stays near
    zero: it gets no curve)."""
    key = obj.data.shape_keys
    remember_key_values(obj, key_names)
    action = actions.new_action(name, key)
    frames = take_frames(start_frame, len(weights))
    for column, key_name in enumerate(key_names):
        if curves is None:
            actions.write_curve(action, key_value_path(key_name), frames, weights[:, column])
        elif curves[column] is not None:
            actions.write_reduced_curve(action, key_value_path(key_name), start_frame, curves[column])
    # The take's own frame range, whatever keys an animator adds later: its NLA strip maps
    # the action's range onto the line's frames (playback.py).
    action.use_frame_range = True
    action.frame_start, action.frame_end = start_frame, start_frame + max(1, len(weights) - 1)
    action.use_fake_user = True  # takes that are not playing must survive saving
    return action


def write_basis_keys(obj: bpy.types.Object, components: np.ndarray, prefix: str) -> list[str]:
    """Adds one shape key per (k, V, 3) basis component (value 0; the sliders reach as
    far as another take's weights on a shared key may go) to the object's shared basis;
    returns their names."""
    state = obj.meshtalk
    if obj.data.shape_keys is None:
        obj.shape_key_add(name="Basis", from_mix=False)
        state.created_reference_key = True
    rest = rest_positions(obj)
    names = []
    for index, component in enumerate(components):
        block = obj.shape_key_add(name=f"{prefix}.{index:02d}", from_mix=False)
        block.data.foreach_set("co", (rest + component).astype(np.float32).ravel())
        block.slider_min, block.slider_max = -SHARED_WEIGHT_LIMIT, SHARED_WEIGHT_LIMIT
        block.value = 0.0
        names.append(block.name)
    state.basis_keys = json.dumps(shared_basis_keys(obj) + names)
    return names


def shared_basis_keys(obj: bpy.types.Object) -> list[str]:
    """The compact-basis shape keys the object's takes share, oldest first (keys the
    user deleted are left out)."""
    key = obj.data.shape_keys
    names = json.loads(obj.meshtalk.basis_keys or "[]")
    if not names:  # a file from before sharing: each take listed its own keys
        names = list(dict.fromkeys(name for take in obj.meshtalk.takes for name in json.loads(take.basis_keys or "[]")))
    return [name for name in names if key is not None and name in key.key_blocks]


def users_key_action(obj: bpy.types.Object) -> bpy.types.Action | None:
    """The user's own action playing on the object's shape keys, if any (not MeshTalk's)."""
    key = obj.data.shape_keys
    action = key.animation_data.action if key is not None and key.animation_data is not None else None
    return action if action is not None and not actions.is_meshtalk_action(action) else None


def cache_file_path(obj: bpy.types.Object, take) -> Path:
    """The take's point cache on disk. Blender remaps the modifiers' paths when the .blend
    is saved elsewhere, but not the take's copy: then the file is looked for next to the
    ones the modifiers play (caches live in one folder)."""
    path = Path(bpy.path.abspath(take.cache_file))
    if not path.is_file():
        for name in list(playback.line_modifiers(obj).values()) + [obj.meshtalk.modifier_name]:
            modifier = obj.modifiers.get(name) if name else None
            if modifier is not None and modifier.type == "MESH_CACHE" and modifier.filepath:
                beside = Path(bpy.path.abspath(modifier.filepath)).parent / path.name
                if beside.is_file():
                    return beside
    return path


# ---------------------------------------------------------------- removing


def remove_take(obj: bpy.types.Object, index: int, refresh: bool = True) -> None:
    """Removes one take and what it created (its actions, its basis keys); if it played,
    its line's newest other take plays. Its point cache stays on disk: Undo may bring
    the take back (blender/cache_files.py deletes it when nothing can)."""
    state = obj.meshtalk
    take = state.takes[index]
    key = obj.data.shape_keys
    take_had_head = take.head_action is not None
    for action in (take.action, take.head_action):
        if actions.is_meshtalk_action(action):
            bpy.data.actions.remove(action)  # its NLA strip goes with it
    if key is not None:  # its basis keys that no other take uses
        others = {name for i, other in enumerate(state.takes) if i != index
                  for name in json.loads(other.basis_keys or "[]")}
        for name in json.loads(take.basis_keys or "[]"):
            block = key.key_blocks.get(name)
            if block is not None and name not in others:
                obj.shape_key_remove(block)
        state.basis_keys = json.dumps([name for name in shared_basis_keys(obj) if name in key.key_blocks])
    with playback.selecting_quietly():
        state.takes.remove(index)
        state.active_take = min(state.active_take - (state.active_take > index), max(0, len(state.takes) - 1))
    if refresh:
        playback.refresh(obj)
    if take_had_head and not any(other.head_action is not None for other in state.takes):
        from . import head_actions

        head_actions.forget(obj)  # after the refresh: the head track has gone


def remove_all_takes(obj: bpy.types.Object) -> None:
    """Removes every take and leaves the object as it was before MeshTalk touched it."""
    state = obj.meshtalk
    playback.clear(obj)
    while len(state.takes):
        remove_take(obj, len(state.takes) - 1, refresh=False)
    state.line_modifiers = state.basis_keys = ""
    restore_key_values(obj)


def restore_key_values(obj: bpy.types.Object) -> None:
    state = obj.meshtalk
    key = obj.data.shape_keys
    saved = json.loads(state.original_key_values or "{}")
    if key is not None:
        for name, value in saved.items():
            if name in key.key_blocks:
                key.key_blocks[name].value = value
        if state.created_reference_key and len(key.key_blocks) == 1:
            obj.shape_key_remove(key.key_blocks[0])
            state.created_reference_key = False
        elif key.animation_data is not None and _is_empty(key.animation_data):
            key.animation_data_clear()
    state.original_key_values = ""


def _is_empty(animation) -> bool:
    return animation.action is None and not len(animation.drivers) and not len(animation.nla_tracks)
