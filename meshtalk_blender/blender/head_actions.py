"""The head's motion (core.head_motion) as an action on the object's delta transforms.

Each take with head motion has its own action ("head action") on the object: the
object's Delta Transform (Object properties > Transform > Delta Transform) rotates the
head about the top of its spine, so the user's own location, rotation and their keys
are never touched, and the actions play as strips of one NLA track, "MeshTalk Head
Motion", which the user can mute (playback.py builds it). The motion is in the head's
own frame: a head the user turned or placed anywhere nods about its own axes.

How Blender composes delta transforms (BKE_object_to_mat4): the rotation is
R_delta @ R (the delta in the parent's frame, after the object's own), the location
L + L_delta. For a turn Q in the head's frame about its pivot P (object space, uniform
scale s): R_delta = F Q R^-1 and L_delta = L_delta0 + F s (I - Q) P, with F = R_delta0 R
the object's rotation including any delta the user set (kept inside the action: an
animated channel replaces its static value).

A character animated through its ARKit keys (any topology) nods with its armature's
head bone instead, where it has one (the Armature modifier's object, a bone named
"head" with any rig's prefix: mixamorig:, DEF-, CC_Base_, J_Bip_C_): the action goes on
the armature, keys the bone's pose rotation (its static pose kept inside it) and plays
on the armature's own NLA track; the turn is about the bone's head, in world axes (the
character faces -Y, Z up, as Make ARKit Shape Keys asks), expressed in the bone's rest
frame: P = C^T Q C P_static with C the bone's rest orientation in the world.

The raw angles (pitch, yaw, roll before the strength slider) are keyed too, on the
owner's custom property ``meshtalk_head_motion``, so the strength can be changed and a
take resampled without running anything again.
"""

from __future__ import annotations

import json

import bpy
import numpy as np
from mathutils import Euler, Matrix, Quaternion

from ..core.head_motion import rotation_matrices
from . import actions, writers

ANGLES_PROPERTY = "meshtalk_head_motion"
ANGLES_PATH = f'["{ANGLES_PROPERTY}"]'
# The object's own delta transforms before the first head action animated them: what
# every take's motion is added to, and what the object gets back when the last goes.
REST_PROPERTY = "meshtalk_head_rest"
DELTAS = ("delta_location", "delta_rotation_euler", "delta_rotation_quaternion")
EULER_MODES = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


def head_bone(armature: bpy.types.Object) -> str | None:
    """The armature's head bone (the one nearest the root if several), or None."""
    def plain(name: str) -> str:
        return "".join(c for c in name.lower() if c.isalnum())

    heads = [bone for bone in armature.data.bones
             if plain(bone.name).endswith("head") and not plain(bone.name).endswith(("forehead", "tophead"))]
    if not heads:
        return None
    return min(heads, key=lambda bone: len(bone.parent_recursive)).name


def owner_for(obj: bpy.types.Object, same_topology: bool) -> tuple[bpy.types.Object, str] | None:
    """(the object the head motion is written on, its head bone or ""), or None: the
    MeshTalk head turns itself; a character turns its armature's head bone."""
    if same_topology:
        return (obj, "") if supported(obj) is None else None
    armature = obj.find_armature()
    if armature is None or armature.library is not None:
        return None
    bone = head_bone(armature)
    if bone is None or armature.pose.bones[bone].rotation_mode == "AXIS_ANGLE":
        return None
    return armature, bone


def owner_of(obj: bpy.types.Object) -> bpy.types.Object:
    """Where the object's head motion lives (itself, or its armature)."""
    return bpy.data.objects.get(obj.meshtalk.head_owner) or obj


def supported(obj: bpy.types.Object) -> str | None:
    """None, or why head motion cannot be written on this object."""
    if obj.rotation_mode == "AXIS_ANGLE":
        return (f"'{obj.name}' rotates by axis and angle, which has no delta rotation: head motion was left out "
                "(set its rotation mode to XYZ Euler or Quaternion for it)")
    return None


def write_action(owner: bpy.types.Object, bone: str, name: str, angles: np.ndarray, start_frame: int,
                 pivot: np.ndarray, axes: np.ndarray, strength: float) -> bpy.types.Action:
    """A new head action on `owner` (the head object, or the armature whose `bone`
    turns): (T, 3) radians `angles` (core.head_motion, model axes); for the object, the
    turn about `pivot` (3,) in object space, `axes` (3, 3) model -> object directions."""
    if ANGLES_PROPERTY not in owner:
        if bone:
            pose = owner.pose.bones[bone]
            rest = {"bone": bone, "rotation_quaternion": list(pose.rotation_quaternion),
                    "rotation_euler": list(pose.rotation_euler)}
        else:
            rest = {name: list(getattr(owner, name)) for name in DELTAS}
        owner[REST_PROPERTY] = json.dumps(rest)
        owner[ANGLES_PROPERTY] = [0.0, 0.0, 0.0]
        owner.id_properties_ui(ANGLES_PROPERTY).update(
            description="MeshTalk: the head motion's pitch, yaw and roll (radians, before the Head strength)")
    action = actions.new_action(name, owner)
    frames = writers.take_frames(start_frame, len(angles))
    for axis in range(3):
        actions.write_curve(action, ANGLES_PATH, frames, angles[:, axis], index=axis)
    _write_turns(owner, bone, action, frames, angles, pivot, axes, strength)
    action.use_frame_range = True
    action.frame_start, action.frame_end = start_frame, start_frame + max(1, len(angles) - 1)
    action.use_fake_user = True  # takes that are not playing must survive saving
    return action


def forget(obj: bpy.types.Object) -> None:
    """After the last head action of `obj` went: the owner's delta transforms (or its
    head bone's pose) as they were before (a removed action leaves its last values
    behind) and no MeshTalk properties."""
    owner = owner_of(obj)
    rest = json.loads(owner.get(REST_PROPERTY, "{}"))
    bone = rest.pop("bone", "")
    target = owner.pose.bones.get(bone) if bone else owner  # a deleted bone has nothing to give back
    if target is not None:
        for name, value in rest.items():
            setattr(target, name, value)
    owner.pop(REST_PROPERTY, None)
    owner.pop(ANGLES_PROPERTY, None)
    if owner.animation_data is not None and owner.animation_data.action is None and not len(
            owner.animation_data.nla_tracks) and not len(owner.animation_data.drivers):
        owner.animation_data_clear()
    obj.meshtalk.head_owner = ""


def frame_of(take) -> tuple[np.ndarray, np.ndarray]:
    """(pivot (3,), axes (3, 3)) a take's head motion was written with."""
    stored = json.loads(take.head_frame)
    return np.array(stored["pivot"]), np.array(stored["axes"])


def raw_angles(take) -> np.ndarray | None:
    """(T, 3) the take's head motion before strength, as it plays (None: it has none)."""
    if take.head_action is None:
        return None
    columns = [actions.sample_curve(take.head_action, ANGLES_PATH, take.start_frame, take.frames, index=axis)
               for axis in range(3)]
    return None if any(c is None for c in columns) else np.stack(columns, axis=1)


def rewrite(obj: bpy.types.Object, take, strength: float) -> None:
    """The take's turn curves again, from its raw angles at `strength`."""
    angles = raw_angles(take)
    if angles is None:
        return
    pivot, axes = frame_of(take)
    _write_turns(owner_of(obj), json.loads(take.head_frame).get("bone", ""), take.head_action,
                 writers.take_frames(take.start_frame, len(angles)), angles, pivot, axes, strength)


def _write_turns(owner, bone: str, action, frames: np.ndarray, angles: np.ndarray, pivot: np.ndarray,
                 axes: np.ndarray, strength: float) -> None:
    if bone:
        _write_pose(owner, bone, action, frames, angles, strength)
    else:
        _write_deltas(owner, action, frames, angles, pivot, axes, strength)


def _write_pose(armature, bone: str, action, frames: np.ndarray, angles: np.ndarray, strength: float) -> None:
    """The head bone's pose rotation: the turn in world axes, in the bone's rest frame,
    before the pose the user gave it."""
    rest = json.loads(armature[REST_PROPERTY])
    pose = armature.pose.bones[bone]
    frame = np.array((armature.matrix_world @ armature.data.bones[bone].matrix_local).to_3x3().normalized())
    turns = rotation_matrices(np.asarray(angles) * strength)  # world axes: the character faces -Y, Z up
    euler = pose.rotation_mode in EULER_MODES
    static = np.array(Euler(rest["rotation_euler"], pose.rotation_mode).to_matrix() if euler else
                      Quaternion(rest["rotation_quaternion"]).to_matrix())
    rotations = frame.T @ turns @ frame @ static
    path = f'pose.bones["{bone}"].'
    _write_rotation(action, path + ("rotation_euler" if euler else "rotation_quaternion"), frames, rotations,
                    pose.rotation_mode if euler else "")


def _write_deltas(obj, action, frames: np.ndarray, angles: np.ndarray, pivot: np.ndarray, axes: np.ndarray,
                  strength: float) -> None:
    axes = np.asarray(axes, dtype=np.float64)
    turns = axes @ rotation_matrices(np.asarray(angles) * strength) @ axes.T  # (T, 3, 3) in object axes
    rest = json.loads(obj[REST_PROPERTY])
    euler = obj.rotation_mode in EULER_MODES
    own = np.array(obj.rotation_euler.to_matrix() if euler else obj.rotation_quaternion.to_matrix())
    delta = np.array(Euler(rest["delta_rotation_euler"], obj.rotation_mode).to_matrix() if euler else
                     Quaternion(rest["delta_rotation_quaternion"]).to_matrix())
    full = delta @ own  # F: the head's frame in its parent's
    scale = float(np.mean(np.asarray(obj.scale) * np.asarray(obj.delta_scale)))
    rotations = full @ turns @ own.T  # R_delta per frame
    locations = np.asarray(rest["delta_location"]) + scale * ((full @ (np.eye(3) - turns)) @ np.asarray(pivot))
    for axis in range(3):
        actions.write_curve(action, "delta_location", frames, locations[:, axis], index=axis)
    euler = obj.rotation_mode in EULER_MODES
    _write_rotation(action, "delta_rotation_euler" if euler else "delta_rotation_quaternion", frames, rotations,
                    obj.rotation_mode if euler else "")


def _write_rotation(action, path: str, frames: np.ndarray, rotations: np.ndarray, euler_mode: str) -> None:
    """(T, 3, 3) rotations as the curves of an Euler (`euler_mode`) or quaternion
    property, continuous from frame to frame (no flips)."""
    if euler_mode:
        values, previous = [], None
        for matrix in rotations:
            euler = Matrix(matrix.tolist()).to_euler(euler_mode, *(() if previous is None else (previous,)))
            values.append(tuple(euler))
            previous = euler
        values = np.array(values)
        for axis in range(3):
            actions.write_curve(action, path, frames, values[:, axis], index=axis)
        return
    values, previous = [], None
    for matrix in rotations:
        quaternion = Matrix(matrix.tolist()).to_quaternion()
        if previous is not None and quaternion.dot(previous) < 0:
            quaternion.negate()  # the same turn, on the same side as the frame before: no flips
        values.append(tuple(quaternion))
        previous = quaternion
    values = np.array(values)
    for axis in range(4):
        actions.write_curve(action, path, frames, values[:, axis], index=axis)
