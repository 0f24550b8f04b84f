"""What the selected object is to MeshTalk, and its geometry as plain arrays.

Three modes:
- SAME_TOPOLOGY: the mesh has the model's vertex count and order, at any position, scale
  or axis convention. A similarity transform (core.retarget.align_to_template, fitted on
  vertices no expression moves) takes it into model space; the decoder animates this
  very identity; results go back through the inverse transform.
- ARKIT_KEYS: any other mesh with ARKit-named shape keys. The model animates its own
  template, and each frame is solved into those keys' weights on the bundled head's
  ARKit rig (which needs a model on the head's topology).
- UNSUPPORTED: anything else, with a message that says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from ..core.errors import MeshTalkError
from ..core.retarget import match_arkit_keys
from .model_source import ModelSummary, bundled_head_vertex_count

SAME_TOPOLOGY, ARKIT_KEYS, UNSUPPORTED = "SAME_TOPOLOGY", "ARKIT_KEYS", "UNSUPPORTED"
MIN_ARKIT_KEYS = 3


@dataclass(frozen=True)
class TargetInfo:
    mode: str
    message: str  # the panel's status line
    arkit_keys: dict[str, str] = field(default_factory=dict)  # ARKit name -> shape key name
    driven_keys: tuple[str, ...] = ()  # ARKit keys left alone because a driver sets them


def shape_key_names(obj: bpy.types.Object) -> list[str]:
    keys = obj.data.shape_keys if obj.type == "MESH" else None
    if keys is None:
        return []
    reference = keys.reference_key
    return [block.name for block in keys.key_blocks if block != reference]


def driven_key_names(obj: bpy.types.Object) -> set[str]:
    keys = obj.data.shape_keys
    if keys is None or keys.animation_data is None:
        return set()
    driven = set()
    for driver in keys.animation_data.drivers:
        path = driver.data_path
        if path.startswith('key_blocks["') and path.endswith('"].value'):
            driven.add(path[len('key_blocks["'):-len('"].value')].replace('\\"', '"'))
    return driven


def inspect(obj: bpy.types.Object | None, summary: ModelSummary) -> TargetInfo:
    if obj is None:
        return TargetInfo(UNSUPPORTED, "Select the face mesh to animate, or add the MeshTalk head.")
    if obj.type != "MESH":
        return TargetInfo(UNSUPPORTED, f"'{obj.name}' is a {obj.type.lower()}, not a mesh: select the face mesh, "
                                       "or add the MeshTalk head.")
    count = len(obj.data.vertices)
    # Keys that the user's drivers set are never solved for or keyed: the driver would
    # win on playback, and the other keys' solve would assume a shape that never shows.
    driven = driven_key_names(obj)
    matched_all = match_arkit_keys(shape_key_names(obj))
    matched = {arkit: key for arkit, key in matched_all.items() if key not in driven}
    left_alone = tuple(sorted(key for key in matched_all.values() if key in driven))
    extra = f" ({len(left_alone)} driven keys left alone)" if left_alone else ""
    if count == summary.num_vertices:
        return TargetInfo(SAME_TOPOLOGY, f"Same topology as the model ({count} vertices): the mesh is animated "
                                         f"directly{extra}", matched, left_alone)
    if len(matched) >= MIN_ARKIT_KEYS:
        if summary.num_vertices != bundled_head_vertex_count():
            return TargetInfo(UNSUPPORTED, f"'{obj.name}' has ARKit shape keys, but solving into them needs a model "
                                           "on the MeshTalk head's topology; switch the model in the preferences.")
        return TargetInfo(ARKIT_KEYS, f"{len(matched)} ARKit shape keys: the animation is solved into their "
                                      f"weights{extra}", matched, left_alone)
    return TargetInfo(UNSUPPORTED, f"'{obj.name}' ({count} vertices) has neither the model's topology "
                                   f"({summary.num_vertices} vertices) nor ARKit-named shape keys: Make ARKit Shape "
                                   "Keys gives its face the 52 (any topology), or add the MeshTalk head.")


def require_object_mode(obj: bpy.types.Object) -> None:
    """Also refuses data that cannot be edited here (linked from another .blend)."""
    if obj.library is not None or obj.data.library is not None:
        raise MeshTalkError(f"'{obj.name}' is linked from another .blend file; make it local (Object > Relations > "
                            "Make Local) or animate it in its own file.")
    if obj.mode != "OBJECT":
        raise MeshTalkError(f"'{obj.name}' is in {obj.mode.replace('_', ' ').title()} mode: switch to Object Mode first.")


def rest_positions(obj: bpy.types.Object) -> np.ndarray:
    """(V, 3) float32 local-space positions of the undeformed mesh (the reference key
    when there are shape keys)."""
    keys = obj.data.shape_keys
    source = keys.reference_key.data if keys is not None else obj.data.vertices
    flat = np.zeros(len(obj.data.vertices) * 3, dtype=np.float32)
    source.foreach_get("co", flat)
    return _finite(obj, flat.reshape(-1, 3), "vertices")


def key_offsets(obj: bpy.types.Object, key_names: list[str]) -> np.ndarray:
    """(K, V, 3) float32: each named shape key's offset from the reference key."""
    rest = rest_positions(obj)
    blocks = obj.data.shape_keys.key_blocks
    offsets = np.zeros((len(key_names),) + rest.shape, dtype=np.float32)
    flat = np.zeros(rest.size, dtype=np.float32)
    for i, name in enumerate(key_names):
        blocks[name].data.foreach_get("co", flat)
        offsets[i] = _finite(obj, flat.reshape(-1, 3), f"shape key '{name}'") - rest
    return offsets


def _finite(obj: bpy.types.Object, positions: np.ndarray, what: str) -> np.ndarray:
    """Positions pass through the solve and into the output: a NaN or infinite one would
    be keyed as NaN everywhere."""
    if not np.isfinite(positions).all():
        raise MeshTalkError(f"'{obj.name}' has {what} at invalid positions (NaN or infinite coordinates); fix the "
                            "mesh (e.g. delete or move those vertices) and animate again.")
    return positions
