"""Make ARKit Shape Keys: the bpy side of core.character (read the mesh, write the keys).

``plan(context, obj)`` gathers everything on the main thread (world-space rest vertices,
triangles, separate eyeball / teeth objects) and checks what can be checked at once;
``run(plan, progress, check_cancel)`` is the heavy part (no bpy: a worker thread may run
it); ``apply(plan, rig)`` writes the keys the mesh does not have yet (the user's keys are
never touched), drives eyeball and lower-teeth objects from them, and records what was
found on the object (shown in the panel). With face landmarks placed (face_landmarks.py)
the fit takes them, and the keys an earlier Make ARKit Shape Keys made are made again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import bpy
import numpy as np

from ..core.errors import MeshTalkError
from ..core.retarget import match_arkit_keys
from . import bindings, face_landmarks, targets

FOUND_PROPERTY = "meshtalk_character"  # JSON: what the last Make ARKit Shape Keys found
PART_KEY_PREFIX = "MeshTalk"
EYE_WORDS = ("eye",)
NOT_EYE_WORDS = ("lash", "brow", "lid", "shadow", "socket", "target", "wet", "occlusion")
MOUTH_WORDS = ("teeth", "tooth", "tongue", "jaw", "gum")


@dataclass
class PartObject:
    name: str
    world: np.ndarray  # (n, 3) world-space rest vertices
    kind: str  # "eye" or "mouth"


@dataclass
class RigPlan:
    object_name: str
    vertex_count: int
    world: np.ndarray  # (V, 3) world-space rest positions
    triangles: np.ndarray  # (T, 3)
    to_local: np.ndarray  # (3, 3) world offsets -> the object's local offsets
    missing: list[str]  # ARKit names to add (or to make again)
    existing: dict[str, str]  # ARKit name -> the user's key that has it (left alone)
    parts: list[PartObject] = field(default_factory=list)
    placed: dict[str, np.ndarray] | None = None  # the user's face landmarks (world), if placed
    remake: dict[str, str] = field(default_factory=dict)  # ARKit name -> a key MeshTalk made, made again
    made_before: list[str] = field(default_factory=list)  # keys earlier runs made


def _world(obj: bpy.types.Object, local: np.ndarray) -> np.ndarray:
    matrix = np.array(obj.matrix_world, dtype=np.float64)
    return local.astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]


def world_rest(obj: bpy.types.Object) -> np.ndarray:
    """(V, 3) the mesh's rest positions in world space (the frame the fit works in)."""
    return _world(obj, targets.rest_positions(obj))


def _mesh_arrays(obj: bpy.types.Object) -> tuple[np.ndarray, np.ndarray]:
    from ..core.character.mesh import fan_triangles

    mesh = obj.data
    local = targets.rest_positions(obj)
    sizes = np.zeros(len(mesh.polygons), dtype=np.int64)
    mesh.polygons.foreach_get("loop_total", sizes)
    corners = np.zeros(len(mesh.loops), dtype=np.int64)
    mesh.loops.foreach_get("vertex_index", corners)
    return local, fan_triangles(sizes, corners)


def _part_objects(obj: bpy.types.Object) -> list[PartObject]:
    """Eyeball and teeth/tongue objects that belong to the character: children of it (or
    of its parent, e.g. an armature), named so."""
    owners = {obj}
    if obj.parent is not None:
        owners.add(obj.parent)
    found = []
    for other in bpy.context.scene.objects:
        if other == obj or other.type != "MESH" or other.parent not in owners:
            continue
        name = other.name.lower()
        kind = ("eye" if any(w in name for w in EYE_WORDS) and not any(w in name for w in NOT_EYE_WORDS) else
                "mouth" if any(w in name for w in MOUTH_WORDS) else None)
        if kind is None or len(other.data.vertices) < 8 or len(other.data.vertices) > 200_000:
            continue
        found.append(PartObject(other.name, _world(other, targets.rest_positions(other)), kind))
    return found


def plan(context, obj: bpy.types.Object | None) -> RigPlan:
    from ..core.character import check_size

    if obj is None:
        raise MeshTalkError("Select the character's face or body mesh first.")
    if obj.type != "MESH":
        raise MeshTalkError(f"'{obj.name}' is a {obj.type.lower()}, not a mesh: select the character's face or body "
                            "mesh (the one with the skin).")
    targets.require_object_mode(obj)
    check_size(len(obj.data.vertices), f"'{obj.name}'")
    existing = match_arkit_keys(targets.shape_key_names(obj))
    from ..core.face.arkit_names import ARKIT_NAMES

    made_before = found_on(obj).get("made", [])
    placed = face_landmarks.placed_points(obj)
    # Landmarks placed: the keys MeshTalk made before are made again from them.
    remake = {name: key for name, key in existing.items() if key in made_before} if placed else {}
    existing = {name: key for name, key in existing.items() if name not in remake}
    missing = [name for name in ARKIT_NAMES if name not in existing]
    if not missing:
        again = (" To make the keys MeshTalk made again, use Place Face Landmarks." if made_before else "")
        raise MeshTalkError(f"'{obj.name}' already has all 52 ARKit shape keys; nothing to add. Animate from Audio "
                            f"uses them.{again}")
    matrix = np.array(obj.matrix_world, dtype=np.float64)[:3, :3]
    if abs(np.linalg.det(matrix)) < 1e-12:
        raise MeshTalkError(f"'{obj.name}' has a zero scale; give it a scale and try again.")
    local, triangles = _mesh_arrays(obj)
    if len(triangles) == 0:
        raise MeshTalkError(f"'{obj.name}' has no faces (only vertices or edges); select the character's skin mesh.")
    return RigPlan(obj.name, len(local), _world(obj, local), triangles, np.linalg.inv(matrix), missing, existing,
                   _part_objects(obj), placed, remake, list(made_before))


def found_on(obj: bpy.types.Object) -> dict:
    """What the last Make ARKit Shape Keys recorded on the object ({} if nothing)."""
    try:
        found = json.loads(obj.get(FOUND_PROPERTY, "{}"))
    except (TypeError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def run(rig_plan: RigPlan, progress=None, check_cancel=None):
    """The heavy part (no bpy)."""
    from ..core.character import make_rig

    eyes = [(part.name, part.world) for part in rig_plan.parts if part.kind == "eye"]
    return make_rig(rig_plan.world, rig_plan.triangles, eyes, f"'{rig_plan.object_name}'", progress, check_cancel,
                    rig_plan.placed)


def apply(rig_plan: RigPlan, rig) -> str:
    """Writes the missing keys (and part drivers); returns the report line."""
    from ..core.character.landmarks import placeable_points
    from ..core.face.arkit_names import ARKIT_INDEX

    obj = bpy.data.objects.get(rig_plan.object_name)
    if obj is None or obj.type != "MESH" or len(obj.data.vertices) != rig_plan.vertex_count:
        raise MeshTalkError(f"'{rig_plan.object_name}' was deleted or changed meanwhile; make the keys again.")
    rest = targets.rest_positions(obj).astype(np.float64)
    if obj.data.shape_keys is None:
        obj.shape_key_add(name="Basis", from_mix=False)
    local_deltas = rig.deltas.astype(np.float64) @ rig_plan.to_local.T  # world offsets -> local
    made = []
    for name in rig_plan.missing:
        key = obj.data.shape_keys.key_blocks.get(rig_plan.remake.get(name, ""))
        if key is None:
            key = obj.shape_key_add(name=name, from_mix=False)
            key.slider_min, key.slider_max = 0.0, 1.0
            key.value = 0.0  # Blender 5.0 starts new keys at 1.0
        key.data.foreach_set("co", (rest + local_deltas[ARKIT_INDEX[name]]).astype(np.float32).ravel())
        made.append(key.name)
    driven = _drive_parts(obj, rig_plan, rig)
    bindings.store(obj, rig.binding, rig_plan.to_local)  # for point caches of this mesh
    landmarks = rig.fit.user_landmarks
    eye_islands = sum(1 for part in rig.eye_parts)
    found = {
        "eyes": landmarks.eyes_from,
        "eye_islands": eye_islands,
        "jaw_islands": len(rig.jaw_parts),
        "part_objects": driven,
        "added": len(rig_plan.missing) - len(rig_plan.remake),
        "remade": len(rig_plan.remake),
        "placed": rig_plan.placed is not None,
        "kept": sorted(rig_plan.existing.values()),
        "made": sorted(set(rig_plan.made_before) | set(made)),
        # Where the face's points were (world): where Place Face Landmarks starts.
        "points": {name: [float(v) for v in point] for name, point in placeable_points(landmarks).items()},
    }
    obj[FOUND_PROPERTY] = json.dumps(found)
    return f"MeshTalk: '{obj.name}': {describe(found)}"


def describe(found: dict) -> str:
    eyes = {"islands": f"eyes: {found.get('eye_islands', 0)} eyeball islands",
            "objects": "eyes: eyeball objects", "sockets": "eyes: from the sockets (no eyeballs found)",
            "placed": "eyes: behind the placed pupils (no eyeballs found there)"}
    parts = [f"{found.get('added', 0)} ARKit keys added"]
    if found.get("remade"):
        parts.append(f"{found['remade']} made again")
    if found.get("placed"):
        parts.append("from your face landmarks")
    if found.get("kept"):
        parts.append(f"{len(found['kept'])} of yours kept")
    parts.append(eyes.get(found.get("eyes"), "eyes: ?"))
    if found.get("jaw_islands"):
        parts.append(f"{found['jaw_islands']} teeth/tongue islands follow the jaw")
    for name, kind in found.get("part_objects", []):
        parts.append(f"'{name}' {'turns with eyeLook' if kind == 'eye' else 'follows the jaw'}")
    return "; ".join(parts) + "."


def _drive_parts(obj, rig_plan: RigPlan, rig) -> list[tuple[str, str]]:
    """Eyeball objects turn with the eyeLook keys, lower teeth / tongue objects with the
    jaw keys: shape keys on the part (its own geometry, any origin) driven by the face's
    keys. Returns [(object name, kind)]."""
    from ..core.face import ARKIT_INDEX, eye_rotations
    from ..core.face.rig import jaw_key_offsets

    keys = obj.data.shape_keys
    names = {**rig_plan.existing, **{name: name for name in rig_plan.missing}}
    landmarks = rig.fit.user_landmarks
    rotation, scale = rig.fit.to_user.rotation, rig.fit.to_user.scale
    eye_centres = {part.source: part for part in landmarks.parts if part.kind == "eye" and part.source}
    done = []
    for part in rig_plan.parts:
        other = bpy.data.objects.get(part.name)
        if other is None or other.data.library is not None or other.data.users > 1:
            continue
        moves: dict[str, np.ndarray] = {}
        if part.kind == "eye" and part.name in eye_centres:
            found = eye_centres[part.name]
            suffix, slot = ("Left", 0) if found.side > 0 else ("Right", 1)
            for look in ("eyeLookUp", "eyeLookDown", "eyeLookIn", "eyeLookOut"):
                weights = np.zeros(52)
                weights[ARKIT_INDEX[look + suffix]] = 1.0
                turn = rotation @ eye_rotations(weights)[slot] @ rotation.T
                relative = part.world - found.centre
                moves[look + suffix] = relative @ turn.T - relative
        elif part.kind == "mouth" and part.world[:, 2].mean() < landmarks.lip_centre[2]:
            to_model = rig.fit.to_user.inverse()
            hinge = rig.fit.template.head.jaw_hinge
            model_moves = jaw_key_offsets(to_model.apply(part.world), hinge)
            moves = {name: scale * move @ rotation.T for name, move in model_moves.items()}
        if not moves:
            continue
        to_local = np.linalg.inv(np.array(other.matrix_world, dtype=np.float64)[:3, :3])
        rest = targets.rest_positions(other).astype(np.float64)
        if other.data.shape_keys is None:
            other.shape_key_add(name="Basis", from_mix=False)
        for arkit, world_move in moves.items():
            key_name = f"{PART_KEY_PREFIX} {arkit} (driven)"  # not an ARKit name: never solved for
            if other.data.shape_keys.key_blocks.get(key_name) is not None:
                continue  # made before: left as it is
            key = other.shape_key_add(name=key_name, from_mix=False)
            key.data.foreach_set("co", (rest + world_move @ to_local.T).astype(np.float32).ravel())
            key.slider_min, key.slider_max = 0.0, 1.0
            key.value = 0.0
            driver = key.driver_add("value").driver
            driver.type = "AVERAGE"
            variable = driver.variables.new()
            variable.name = "weight"
            variable.type = "SINGLE_PROP"
            variable.targets[0].id_type = "KEY"
            variable.targets[0].id = keys
            variable.targets[0].data_path = f'key_blocks["{names[arkit]}"].value'
        done.append((part.name, part.kind))
    return done
