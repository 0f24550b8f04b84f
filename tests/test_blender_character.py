"""Make ARKit Shape Keys in real Blender: a mesh of another topology (the bundled head
subdivided, with eyeball islands, stored rotated and scaled under an object transform)
gets the 52 keys, measured against the bundled rig resampled to it; the user's own keys
are kept; undo, bad input and cancel leave the file as it was; Animate from Audio then
works on it (ARKit keys mode); and the `rig` batch verb."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from blender_support import (add_strip, addon, addon_module, empty_scene, fingerprint,  # noqa: E402,F401
                             run_operator, write_speech)
from test_character_meshes import decimated as decimated_head  # noqa: E402
from test_character_meshes import functional, head_mesh, subdivided  # noqa: E402

pytestmark = pytest.mark.timeout(300)

# The mesh is stored in another frame (Y up, centimetres) and the object's transform
# brings it back to Blender's front view: the keys must come out right either way.
DATA_SCALE = 100.0


def _known():
    return subdivided(head_mesh(), jitter=0.15)


@pytest.fixture(scope="module")
def known():
    return _known()


def make_object(known, name="Character", data_transform=True):
    vertices = known.vertices
    if data_transform:  # data: x, z, -y in centimetres; object: rotate 90 about X, scale 0.01
        vertices = np.stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]], axis=1) * DATA_SCALE
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(vertices.tolist(), [], [list(map(int, f)) for f in known.faces])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    if data_transform:
        obj.rotation_euler = (np.pi / 2, 0.0, 0.0)
        obj.scale = (1.0 / DATA_SCALE,) * 3
        obj.location = (0.5, -0.2, 1.6)
    bpy.context.view_layer.update()
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    return obj


def world_offsets(obj) -> np.ndarray:
    """(52, V, 3) world-space offset of each ARKit key from the reference key."""
    from meshtalk_blender.core.face import ARKIT_NAMES

    matrix = np.array(obj.matrix_world)[:3, :3]
    blocks = obj.data.shape_keys.key_blocks
    count = len(obj.data.vertices)
    rest = np.zeros(count * 3, np.float32)
    blocks[0].data.foreach_get("co", rest)
    out = np.zeros((52, count, 3))
    flat = np.zeros(count * 3, np.float32)
    for index, name in enumerate(ARKIT_NAMES):
        blocks[name].data.foreach_get("co", flat)
        out[index] = (flat - rest).reshape(-1, 3) @ matrix.T
    return out


@pytest.fixture
def scene(addon, tmp_path):
    empty_scene()
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    return bpy.context.scene


def test_keys_on_another_topology_match_the_rig_and_work(scene, known):
    obj = make_object(known)
    bpy.ops.ed.undo_push(message="before")
    before = fingerprint()
    assert "UNDO" in bpy.ops.meshtalk.make_arkit_keys.bl_options
    assert run_operator("make_arkit_keys") == {"FINISHED"}
    offsets = world_offsets(obj)
    error_mm = np.linalg.norm(offsets - known.truth, axis=2) * 1000.0
    assert error_mm.mean() < 0.1
    assert np.percentile(error_mm, 99, axis=1).max() < 4.0  # the worst key (jawOpen) at the lips' corners
    checks = functional(known, offsets)
    assert checks["lips_open_mm"] > 20.0  # the bundled rig: 26 mm
    assert checks["lips_sealed_mm"] < 1.0
    assert checks["blink_gap_mm"] < 0.6  # the lids meet
    assert checks["other_side_mm"] < 0.5
    import json

    found = json.loads(obj["meshtalk_character"])
    assert found["eyes"] == "islands" and found["eye_islands"] == 2 and found["added"] == 52
    # One undo step takes it all away.
    bpy.ops.ed.undo_push(message="Make ARKit Shape Keys")
    bpy.ops.ed.undo()
    assert fingerprint() == before


def test_keys_on_a_decimated_head_in_another_frame(scene):
    """The bundled head decimated by a third (vertex clusters; the lip and lid loops
    kept), stored Y up in centimetres under the object's transform."""
    decimated = decimated_head(head_mesh(), 0.008)
    obj = make_object(decimated, "Decimated")
    assert run_operator("make_arkit_keys") == {"FINISHED"}
    offsets = world_offsets(obj)
    error_mm = np.linalg.norm(offsets - decimated.truth, axis=2) * 1000.0
    assert error_mm.mean(axis=1).max() < 0.25 and np.percentile(error_mm, 99, axis=1).max() < 6.0
    checks = functional(decimated, offsets)
    assert checks["lips_open_mm"] > 20.0 and checks["lips_sealed_mm"] < 1.0
    assert checks["blink_gap_mm"] < 0.6 and checks["other_side_mm"] < 0.5


def test_existing_keys_are_kept_and_only_missing_ones_added(scene, known):
    obj = make_object(known, data_transform=False)
    obj.shape_key_add(name="Basis", from_mix=False)
    mine = obj.shape_key_add(name="A25_Jaw_Open", from_mix=False)
    moved = np.array([v.co[:] for v in obj.data.vertices]) + np.array([0.0, 0.0, 0.01])
    mine.data.foreach_set("co", moved.astype(np.float32).ravel())
    mine.value = 0.3
    assert run_operator("make_arkit_keys") == {"FINISHED"}
    names = [block.name for block in obj.data.shape_keys.key_blocks]
    assert len(names) == 1 + 52 and "jawOpen" not in names and "A25_Jaw_Open" in names
    after = np.zeros(len(moved) * 3, np.float32)
    obj.data.shape_keys.key_blocks["A25_Jaw_Open"].data.foreach_get("co", after)
    assert np.allclose(after.reshape(-1, 3), moved, atol=1e-6) and mine.value == pytest.approx(0.3)
    with pytest.raises(RuntimeError, match="already has all 52 ARKit shape keys"):
        run_operator("make_arkit_keys")


def refuses(message: str) -> None:
    before = fingerprint()
    with pytest.raises(RuntimeError, match=message):
        run_operator("make_arkit_keys")
    assert fingerprint() == before


def test_bad_input_gets_one_message_and_changes_nothing(scene, known):
    bpy.ops.mesh.primitive_cube_add()
    refuses("only 8 vertices")
    bpy.ops.mesh.primitive_uv_sphere_add(segments=64, ring_count=32)
    refuses("No face found")
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    bpy.context.view_layer.objects.active = camera
    refuses("is a camera, not a mesh")
    huge = bpy.data.meshes.new("Huge")
    huge.vertices.add(2_000_000)
    huge_object = bpy.data.objects.new("Huge", huge)
    scene.collection.objects.link(huge_object)
    bpy.context.view_layer.objects.active = huge_object
    refuses("2,000,000 vertices, more than")
    behind = make_object(known, "Behind", data_transform=False)
    behind.rotation_euler = (0.0, 0.0, np.pi)  # looks toward +Y
    bpy.context.view_layer.update()
    refuses("face away from the front view")


def test_cancel_leaves_the_file_as_it_was(scene, known):
    operators = addon_module("blender.operators.make_arkit_keys")
    character_rig = addon_module("blender.character_rig")
    obj = make_object(known, data_transform=False)
    before = fingerprint()
    worker = operators._Worker(character_rig.plan(bpy.context, obj))
    worker.cancelled = True  # Esc before the fit's first check
    worker.run()
    assert worker.result is None and worker.error is None and worker.finished
    assert fingerprint() == before


def test_animate_from_audio_drives_the_new_keys(scene, known, tmp_path):
    obj = make_object(known, data_transform=False)
    assert run_operator("make_arkit_keys") == {"FINISHED"}
    info = addon_module("blender.targets").inspect(obj, addon_module("blender.model_source").summarise(
        addon_module("blender.addon").model_choice()))
    assert info.mode == "ARKIT_KEYS" and len(info.arkit_keys) == 52
    add_strip(scene, write_speech(tmp_path / "line.wav", seconds=1.5), frame=1)
    assert run_operator("animate_from_audio") == {"FINISHED"}
    assert obj.meshtalk.takes[0].output == "ARKIT"


def test_rig_batch_verb(scene, known, tmp_path, capsys):
    make_object(known, "Body")
    path = tmp_path / "character.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    batch = addon_module("blender.batch")
    assert batch.main(["rig", "--object", "Body", "--save", str(tmp_path / "rigged.blend")]) == 0
    assert "52 ARKit keys added" in capsys.readouterr().out
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "rigged.blend"))
    assert len(bpy.data.objects["Body"].data.shape_keys.key_blocks) == 53
    assert batch.main(["rig", "--object", "Nobody"]) == 2


def ball_head(scene):
    """A stylised ball head (radius 0.1, no nose): the search finds no face on it."""
    from test_character_rig import sphere

    vertices, triangles = sphere(80)
    mesh = bpy.data.meshes.new("Ball")
    mesh.from_pydata(vertices.tolist(), [], triangles.tolist())
    obj = bpy.data.objects.new("Ball", mesh)
    scene.collection.objects.link(obj)
    obj.location = (1.0, 0.0, 0.5)  # the points are read in world space
    bpy.context.view_layer.update()
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    return obj


def test_face_landmarks_fix_a_face_the_search_cannot_find(scene):
    import json

    from test_character_rig import BALL_FACE

    obj = ball_head(scene)
    with pytest.raises(RuntimeError, match="show the face's landmarks"):
        run_operator("make_arkit_keys")
    assert run_operator("place_face_landmarks") == {"FINISHED"}
    landmarks = addon_module("blender.face_landmarks")
    empties = landmarks.landmark_objects(obj)
    assert sorted(empties) == sorted(BALL_FACE) and all(e.parent == obj for e in empties.values())
    from blender_support import draw_panel

    calls = draw_panel(addon_module("blender.panel").MESHTALK_PT_panel)
    assert ("operator", "meshtalk.place_face_landmarks") in calls and ("operator", "Clear") in calls
    assert any("Face landmarks: drag them" in text for _, text in calls)
    guessed = landmarks.placed_points(obj)
    assert guessed["eye_left"][2] > guessed["nose_tip"][2] > guessed["mouth_left"][2] > guessed["chin"][2]
    assert guessed["eye_left"][0] > guessed["eye_right"][0]
    # The user drags them onto the ball's face (in world space; only X and Z count).
    for name, point in BALL_FACE.items():
        empties[name].matrix_world.translation = (point[0] + 1.0, point[1], point[2] + 0.5)
    bpy.context.view_layer.update()
    assert run_operator("make_arkit_keys") == {"FINISHED"}
    found = json.loads(obj["meshtalk_character"])
    assert found["placed"] and found["eyes"] == "placed" and found["added"] == 52
    on_ball = -np.sqrt(0.1**2 - 0.025**2 - 0.035**2)  # put on the surface: the ball's y there
    assert np.allclose(found["points"]["mouth_left"], [1.025, on_ball, 0.465], atol=0.004)
    offsets = world_offsets(obj)[addon_module("core.face").ARKIT_INDEX["jawOpen"]]
    rest = np.array([v.co[:] for v in obj.data.vertices])
    chin = (rest[:, 1] < -0.08) & (rest[:, 2] < -0.045) & (np.abs(rest[:, 0]) < 0.015)
    assert offsets[chin, 2].mean() < -0.008  # the jaw drops below the placed mouth
    assert run_operator("clear_face_landmarks") == {"FINISHED"}
    assert landmarks.landmark_objects(obj) == {} and "MeshTalk Chin (Ball)" not in bpy.data.objects


def test_landmarks_make_meshtalks_keys_again_and_keep_the_users(scene, known):
    import json

    obj = make_object(known, data_transform=False)
    obj.shape_key_add(name="Basis", from_mix=False)
    mine = obj.shape_key_add(name="A25_Jaw_Open", from_mix=False)  # the user's jawOpen
    assert run_operator("make_arkit_keys") == {"FINISHED"}
    smile_before = key_coordinates(obj, "mouthSmileLeft")
    assert run_operator("place_face_landmarks") == {"FINISHED"}  # where the search found them
    landmarks = addon_module("blender.face_landmarks")
    found = json.loads(obj["meshtalk_character"])
    placed = landmarks.placed_points(obj)
    for name in placed:
        assert np.allclose(placed[name], found["points"][name], atol=1e-6)
    # Wider mouth corners (3 mm each side): the smile follows them.
    empties = landmarks.landmark_objects(obj)
    for name, step in (("mouth_left", 0.003), ("mouth_right", -0.003)):
        empties[name].matrix_world.translation.x += step
    bpy.context.view_layer.update()
    assert run_operator("make_arkit_keys") == {"FINISHED"}
    names = [block.name for block in obj.data.shape_keys.key_blocks]
    assert len(names) == 1 + 52 and names.count("mouthSmileLeft") == 1 and "jawOpen" not in names
    again = json.loads(obj["meshtalk_character"])
    assert again["remade"] == 51 and again["added"] == 0 and again["kept"] == ["A25_Jaw_Open"]
    smile_after = key_coordinates(obj, "mouthSmileLeft")
    assert np.abs(smile_after - smile_before).max() > 0.0005  # made again from the moved corners
    rest = np.array([v.co[:] for v in obj.data.vertices], dtype=np.float32)
    assert np.allclose(key_coordinates(obj, mine.name), rest, atol=1e-7)  # the user's key as it was


def key_coordinates(obj, name: str) -> np.ndarray:
    flat = np.zeros(len(obj.data.vertices) * 3, np.float32)
    obj.data.shape_keys.key_blocks[name].data.foreach_get("co", flat)
    return flat.reshape(-1, 3)


def test_a_characters_point_cache_follows_the_models_vertices(scene, known, tmp_path):
    """Mesh Cache output on a character of another topology: its stored fit carries the
    model's own frames to its vertices (not only what 52 keys express)."""
    import json

    obj = make_object(known)  # stored in another frame under an object transform
    assert run_operator("make_arkit_keys") == {"FINISHED"}
    speech = write_speech(tmp_path / "line.wav", seconds=2.0)
    add_strip(scene, speech, frame=1)
    scene.meshtalk.output = "MESH_CACHE"
    assert run_operator("animate_from_audio") == {"FINISHED"}
    take = obj.meshtalk.takes[0]
    assert take.output == "MESH_CACHE" and take.mode == "ARKIT_KEYS"
    frames = addon_module("core.cache_io").read_cache(addon_module("blender.writers").cache_file_path(obj, take))
    rest = addon_module("blender.targets").rest_positions(obj)
    assert frames.shape == (take.frames, len(rest), 3)
    # The model's own frames, through the fit's binding, in the object's own space.
    from blender_support import core_animation

    animation, loaded = core_animation(speech, 0.0, None, 30.0)
    stored = addon_module("blender.bindings").stored_arrays(obj)
    bound = addon_module("core.character.bound").BoundMesh.from_arrays(stored, rest, loaded.template)
    np.testing.assert_allclose(frames, bound.apply(animation.vertices), atol=1e-5)
    # What a user sees: the lips part and close as the model's do (the gap's changes
    # from rest; the re-meshed lips rest a little further apart).
    upper, lower = known.lip_pairs
    world = frames.astype(np.float64) / DATA_SCALE  # the data is in centimetres
    rest_world = rest.astype(np.float64) / DATA_SCALE
    gap = (np.linalg.norm(world[:, upper] - world[:, lower], axis=2)
           - np.linalg.norm(rest_world[upper] - rest_world[lower], axis=1)).mean(axis=1)
    parts = addon_module("core.face").load_bundled_head().index_sets
    neutral = loaded.template
    model = (np.linalg.norm(animation.vertices[:, parts["upper_inner_lip"]]
                            - animation.vertices[:, parts["lower_inner_lip"]], axis=2)
             - np.linalg.norm(neutral[parts["upper_inner_lip"]] - neutral[parts["lower_inner_lip"]], axis=1)).mean(axis=1)
    assert np.corrcoef(gap, model)[0, 1] > 0.95 and abs(gap.std() / model.std() - 1.0) < 0.25
    # Its modifier plays the cache on the character; removing the take leaves it as it was.
    assert obj.modifiers[0].type == "MESH_CACHE"
    assert json.loads(obj["meshtalk_character"])["added"] == 52
    assert run_operator("remove_animation") == {"FINISHED"}
    assert not [m for m in obj.modifiers if m.type == "MESH_CACHE"]


def armature_with_a_head(scene, name="Rig", head="mixamorig:Head"):
    """Hips > Spine > Neck > Head, standing at the origin (Z up), the head bone from the
    neck's top up through the skull."""
    data = bpy.data.armatures.new(name)
    rig = bpy.data.objects.new(name, data)
    scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    parent = None
    for bone_name, start, end in (("Hips", (0, 0, -0.9), (0, 0, -0.6)), ("Spine", (0, 0, -0.6), (0, 0, -0.2)),
                                  ("Neck", (0, 0, -0.2), (0, 0.01, -0.1)), (head, (0, 0.01, -0.1), (0, 0.01, 0.1))):
        bone = data.edit_bones.new(bone_name)
        bone.head, bone.tail, bone.parent = start, end, parent
        parent = bone
    bpy.ops.object.mode_set(mode="OBJECT")
    return rig


def test_a_characters_head_bone_nods(scene, known, tmp_path):
    """A character with an armature: the head motion turns its head bone (in world axes,
    about the bone's head), on the armature's own NLA track; the user's pose of the bone
    is kept inside it and comes back when the takes go."""
    import json

    from mathutils import Quaternion

    obj = make_object(known, data_transform=False)
    rig = armature_with_a_head(scene)
    obj.modifiers.new("Armature", "ARMATURE").object = rig
    pose = rig.pose.bones["mixamorig:Head"]
    pose.rotation_quaternion = Quaternion((1.0, 0.0, 0.0), 0.2)  # the user's own pose of the head
    bpy.context.view_layer.objects.active = obj
    assert run_operator("make_arkit_keys") == {"FINISHED"}
    speech = write_speech(tmp_path / "line.wav", seconds=3.0)
    add_strip(scene, speech, frame=1)
    scene.frame_set(1)
    rest = np.array((rig.matrix_world @ rig.data.bones["mixamorig:Head"].matrix_local).to_3x3())
    static = np.array(Quaternion((1.0, 0.0, 0.0), 0.2).to_matrix())
    assert run_operator("animate_from_audio") == {"FINISHED"}
    take = obj.meshtalk.takes[0]
    assert take.output == "ARKIT" and take.head_action is not None and obj.meshtalk.head_owner == "Rig"
    assert json.loads(take.head_frame)["bone"] == "mixamorig:Head"
    assert [s.action for s in rig.animation_data.nla_tracks[f"MeshTalk Head Motion ({obj.name})"].strips] == [
        take.head_action]
    angles = addon_module("blender.head_actions").raw_angles(take)
    assert np.degrees(np.abs(angles)).max() > 0.5
    turns = addon_module("core.head_motion").rotation_matrices(angles)
    for frame in (10, 40, 80):
        scene.frame_set(frame)
        world = np.array((rig.matrix_world @ pose.matrix).to_3x3())
        # The bone as posed by the user, then turned in world axes by the drawn motion.
        np.testing.assert_allclose(world, turns[frame - 1] @ rest @ static, atol=1e-4)
    assert run_operator("remove_animation") == {"FINISHED"}
    scene.frame_set(40)
    assert np.allclose(np.array(pose.rotation_quaternion), np.array(Quaternion((1.0, 0.0, 0.0), 0.2)), atol=1e-6)
    assert "meshtalk_head_motion" not in rig and obj.meshtalk.head_owner == ""


def test_the_head_bone_is_found_by_any_rigs_name(scene):
    head_actions = addon_module("blender.head_actions")
    for name in ("Head", "head", "DEF-head", "CC_Base_Head", "J_Bip_C_Head", "mixamorig:Head"):
        rig = armature_with_a_head(scene, f"Rig {name}", name)
        assert head_actions.head_bone(rig) == name
    rig = armature_with_a_head(scene, "No head", "Skull")
    assert head_actions.head_bone(rig) is None
