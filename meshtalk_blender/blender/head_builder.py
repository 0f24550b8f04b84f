"""Builds the MeshTalk head as Blender objects: the face mesh with its 52 ARKit shape
keys and three tongue controls (core.tongue.TONGUE_KEYS: on the face itself only
tongueDental moves, parting the lips a little); two eyeballs parented to it that turn
with the eyeLook keys; and the mouth's upper teeth, lower teeth and tongue, parented to
it too, whose shape keys
(jawOpen, jawForward, jawLeft, jawRight, tongueOut and the tongue controls) follow the
face's keys of the same names. All of that motion is drivers, so it plays whatever sets
the face's keys.

Used by the "Add MeshTalk Head" button and by scripts/render_head.py. The face mesh's
vertex order is the model's topology, so animation written to it lines up.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core.face.arkit_names import ARKIT_INDEX, ARKIT_NAMES, TONGUE_KEYS
from ..core.face.eyes import IRIS, PUPIL, SCLERA
from ..core.face.head import MOUTH_MATERIAL, SKIN_MATERIAL, HeadModel, load_bundled_head
from ..core.face.mouth_parts import DENTAL_LIP_PART, GUM, TONGUE, TOOTH, PartMesh, build_mouth_parts
from ..core.face.rig import EYE_PITCH_DOWN, EYE_PITCH_UP, EYE_YAW, arkit_deltas

FACE_COLOURS = {SKIN_MATERIAL: ("MeshTalk Skin", (0.80, 0.60, 0.50, 1.0)), MOUTH_MATERIAL: ("MeshTalk Mouth", (0.25, 0.06, 0.07, 1.0))}
PART_COLOURS = {TOOTH: ("MeshTalk Teeth", (0.90, 0.87, 0.78, 1.0)), GUM: ("MeshTalk Gums", (0.72, 0.33, 0.35, 1.0)),
                TONGUE: ("MeshTalk Tongue", (0.70, 0.30, 0.32, 1.0))}
EYE_COLOURS = {SCLERA: ("MeshTalk Sclera", (0.92, 0.92, 0.90, 1.0)), IRIS: ("MeshTalk Iris", (0.20, 0.33, 0.45, 1.0)), PUPIL: ("MeshTalk Pupil", (0.02, 0.02, 0.02, 1.0))}


def build_head_objects(
    head: HeadModel | None = None,
    name: str = "MeshTalk Head",
    collection: bpy.types.Collection | None = None,
    shape_keys: bool = True,
) -> tuple[bpy.types.Object, list[bpy.types.Object]]:
    """Creates (face object, [left eye, right eye]) in `collection` (default: the
    scene's), and the mouth's parts (the face's other children, see `mouth_parts`).
    The face has a Basis key, one key per ARKIT name in ARKIT_NAMES order, then the
    tongue controls in TONGUE_KEYS order."""
    head = load_bundled_head() if head is None else head
    collection = bpy.context.scene.collection if collection is None else collection

    mesh = _mesh(name, head.vertices, head.faces)
    uv_layer = mesh.uv_layers.new(name="UVMap")
    corner_uvs = head.uvs[np.concatenate([np.asarray(f) for f in head.face_uvs])]
    uv_layer.data.foreach_set("uv", corner_uvs.astype(np.float32).ravel())
    for index in (SKIN_MATERIAL, MOUTH_MATERIAL):
        mesh.materials.append(_material(*FACE_COLOURS[index]))
    mesh.polygons.foreach_set("material_index", head.face_materials.astype(np.int32))
    face = bpy.data.objects.new(name, mesh)
    collection.objects.link(face)

    if shape_keys:
        face.shape_key_add(name="Basis", from_mix=False)
        deltas = arkit_deltas(head)
        for key_name, delta in zip(ARKIT_NAMES, deltas):
            key = face.shape_key_add(name=key_name, from_mix=False)
            key.data.foreach_set("co", (head.vertices + delta).astype(np.float32).ravel())
            key.slider_min, key.slider_max = 0.0, 1.0
            key.value = 0.0  # Blender 5.0 starts new keys at 1.0
        for key_name in TONGUE_KEYS:  # controls: the tongue's own keys follow them
            key = face.shape_key_add(name=key_name, from_mix=False)
            if key_name == "tongueDental":  # the lips part a little around the tip
                parted = head.vertices + DENTAL_LIP_PART * deltas[ARKIT_INDEX["tongueOut"]]
                key.data.foreach_set("co", parted.astype(np.float32).ravel())
            key.slider_min, key.slider_max = 0.0, 1.0
            key.value = 0.0

    eyes = []
    for label, eye in zip(("Left", "Right"), head.eyes):
        eye_mesh = _mesh(f"{name} Eye {label}", eye.vertices - eye.centre, eye.faces)
        for index in (SCLERA, IRIS, PUPIL):
            eye_mesh.materials.append(_material(*EYE_COLOURS[index]))
        eye_mesh.polygons.foreach_set("material_index", eye.face_materials.astype(np.int32))
        eye_object = bpy.data.objects.new(f"{name} Eye {label}", eye_mesh)
        eye_object.location = eye.centre.tolist()
        eye_object.parent = face
        collection.objects.link(eye_object)
        if shape_keys:
            _drive_eye(eye_object, face, label)
        eyes.append(eye_object)
    for part in build_mouth_parts(head):
        _add_part(part, face, f"{name} {part.name}", collection, shape_keys)
    return face, eyes


def mouth_parts(face: bpy.types.Object) -> list[bpy.types.Object]:
    """The teeth and tongue objects built for `face` (by the name they were built with)."""
    names = {f"{face.name} {part}" for part in ("Teeth Upper", "Teeth Lower", "Tongue")}
    return [child for child in face.children if child.name in names]


def _add_part(part: PartMesh, face: bpy.types.Object, name: str, collection: bpy.types.Collection,
              shape_keys: bool) -> bpy.types.Object:
    mesh = _mesh(name, part.vertices, part.faces)
    used = sorted(set(part.face_materials.tolist()))
    for index in used:
        mesh.materials.append(_material(*PART_COLOURS[index]))
    slots = np.searchsorted(used, part.face_materials)
    mesh.polygons.foreach_set("material_index", slots.astype(np.int32))
    obj = bpy.data.objects.new(name, mesh)
    obj.parent = face
    collection.objects.link(obj)
    if shape_keys and part.key_deltas:
        obj.shape_key_add(name="Basis", from_mix=False)
        for key_name, delta in part.key_deltas.items():
            key = obj.shape_key_add(name=key_name, from_mix=False)
            key.data.foreach_set("co", (part.vertices + delta).astype(np.float32).ravel())
            key.value = 0.0
            _follow_key(key, face, key_name)
    return obj


def _follow_key(key: bpy.types.ShapeKey, face: bpy.types.Object, key_name: str) -> None:
    """The part's key takes the value of the face's key of the same name."""
    driver = key.driver_add("value").driver
    driver.type = "AVERAGE"  # one variable: its value, no Python expression to evaluate
    variable = driver.variables.new()
    variable.name = "value"
    variable.type = "SINGLE_PROP"
    variable.targets[0].id_type = "KEY"
    variable.targets[0].id = face.data.shape_keys
    variable.targets[0].data_path = f'key_blocks["{key_name}"].value'


def _mesh(name: str, vertices: np.ndarray, faces: list[list[int]]) -> bpy.types.Mesh:
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(np.asarray(vertices, dtype=np.float64).tolist(), [], [list(map(int, f)) for f in faces])
    mesh.update()
    mesh.polygons.foreach_set("use_smooth", [True] * len(mesh.polygons))
    return mesh


def _material(name: str, colour) -> bpy.types.Material:
    material = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    material.diffuse_color = colour  # the viewport and Workbench colour
    if bpy.app.version < (5, 0, 0):  # 5.0 materials always have nodes (the switch is deprecated)
        material.use_nodes = True
    principled = material.node_tree.nodes.get("Principled BSDF")
    if principled is not None:
        principled.inputs["Base Color"].default_value = colour
        principled.inputs["Roughness"].default_value = 0.55 if "Skin" in name or "Gums" in name else 0.25
    return material


def _drive_eye(eye: bpy.types.Object, face: bpy.types.Object, label: str) -> None:
    """Eye rotation from the face's eyeLook keys (same angles as core.face.rig)."""
    side = 1.0 if label == "Left" else -1.0
    keys = face.data.shape_keys
    # Blender's X rotation turns the front (-Y) down for positive angles.
    pitch = f"down * {EYE_PITCH_DOWN:.6f} - up * {EYE_PITCH_UP:.6f}"
    yaw = f"(out - inward) * {EYE_YAW * side:.6f}"
    for axis, expression, names in (
        (0, pitch, {"up": "eyeLookUp", "down": "eyeLookDown"}),
        (2, yaw, {"out": "eyeLookOut", "inward": "eyeLookIn"}),
    ):
        driver = eye.driver_add("rotation_euler", axis).driver
        driver.type = "SCRIPTED"
        for variable_name, key_name in names.items():
            variable = driver.variables.new()
            variable.name = variable_name
            variable.type = "SINGLE_PROP"
            variable.targets[0].id_type = "KEY"
            variable.targets[0].id = keys
            variable.targets[0].data_path = f'key_blocks["{key_name}{label}"].value'
        driver.expression = expression
