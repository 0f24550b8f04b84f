"""Renders what Make ARKit Shape Keys gives a character: the 52 keys as a grid and the
face speaking (ARKit weights from the bundled model), with real Blender (Workbench).

    PYTHONPATH=. .venv/bin/python scripts/character_render.py --mesh mpfb PATH/base.obj \
        --weights weights.json --out docs/images/character_mpfb
    PYTHONPATH=. .venv/bin/python scripts/character_render.py --mesh suzanne --out /tmp/suzanne

``--weights``: the JSON that ``python -m meshtalk_blender animate speech.wav --out w.json``
writes. Writes OUT_keys.png (52 tiles, front view) and OUT_talking.png (frames of the
line, front and three-quarter). Prints the time the keys took.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="meshtalk-blender-"))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from meshtalk_blender.core.character import make_rig  # noqa: E402
from meshtalk_blender.core.character.mesh import triangles_of  # noqa: E402
from meshtalk_blender.core.face import ARKIT_NAMES  # noqa: E402


def _scene(tile):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "OBJECT"
    scene.display.shading.show_cavity = True
    scene.display.render_aa = "8"
    scene.render.resolution_x, scene.render.resolution_y = tile
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.lens = 85.0
    scene.collection.objects.link(camera)
    scene.camera = camera
    return scene, camera


def _object(name, vertices, faces, colour):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(vertices.tolist(), [], faces)
    mesh.polygons.foreach_set("use_smooth", [True] * len(mesh.polygons))
    obj = bpy.data.objects.new(name, mesh)
    obj.color = colour
    bpy.context.scene.collection.objects.link(obj)
    return obj


def load(kind: str, path: str | None):
    if kind == "mpfb":
        from character_meshes import mpfb_body

        return mpfb_body(Path(path))
    if kind == "suzanne":
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.mesh.primitive_monkey_add()
        bpy.ops.object.modifier_add(type="SUBSURF")
        bpy.context.object.modifiers[0].levels = 2
        bpy.ops.object.modifier_apply(modifier=bpy.context.object.modifiers[0].name)
        mesh = bpy.context.object.data
        vertices = np.array([v.co[:] for v in mesh.vertices]) * 0.1  # head-sized
        return vertices, [list(p.vertices) for p in mesh.polygons]
    raise SystemExit(f"unknown mesh {kind}")


def _aim(camera, target, distance, yaw_degrees):
    yaw = math.radians(yaw_degrees)
    camera.location = (target[0] + distance * math.sin(yaw), target[1] - distance * math.cos(yaw), target[2])
    camera.rotation_euler = (math.pi / 2, 0.0, yaw)


def _grid(images, columns, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg

    tiles = []
    for path in images:
        pixels = mpimg.imread(str(path))
        alpha = pixels[:, :, 3:4] if pixels.shape[2] == 4 else 1.0
        tiles.append(pixels[:, :, :3] * alpha + (1.0 - alpha))  # on white
    h, w = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / columns)
    sheet = np.ones((rows * h, columns * w, 3))
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = tile
    mpimg.imsave(str(out), sheet)


def _label(camera):
    curve = bpy.data.curves.new("Label", type="FONT")
    curve.size = 0.012
    curve.align_x = "CENTER"
    label = bpy.data.objects.new("Label", curve)
    label.parent = camera
    label.location = (0.0, -0.1, -0.6)  # in the camera's frame: bottom middle
    label.color = (0.1, 0.1, 0.1, 1.0)
    bpy.context.scene.collection.objects.link(label)
    return label


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mesh", nargs="+", required=True, help="mpfb PATH | suzanne")
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tile", type=int, nargs=2, default=(200, 240))
    args = parser.parse_args()
    vertices, faces = load(args.mesh[0], args.mesh[1] if len(args.mesh) > 1 else None)
    started = time.perf_counter()
    rig = make_rig(vertices, triangles_of(faces))
    print(f"{args.mesh[0]}: {len(vertices)} vertices, keys in {time.perf_counter() - started:.1f} s; eyes from "
          f"{rig.fit.user_landmarks.eyes_from}, {len(rig.jaw_parts)} jaw parts")
    scene, camera = _scene(tuple(args.tile))
    obj = _object("Character", vertices, faces, (0.8, 0.62, 0.52, 1.0))
    obj.shape_key_add(name="Basis", from_mix=False)
    for name, delta in zip(ARKIT_NAMES, rig.deltas):
        key = obj.shape_key_add(name=name, from_mix=False)
        key.data.foreach_set("co", (vertices + delta).astype(np.float32).ravel())
        key.value = 0.0
    landmarks = rig.fit.user_landmarks
    centre = 0.5 * (landmarks.eye_centres.mean(axis=0) + landmarks.chin)
    distance = 0.6 * landmarks.head_width / 0.163
    tmp = Path(tempfile.mkdtemp(prefix="character-render-"))
    blocks = obj.data.shape_keys.key_blocks

    label = _label(camera)

    def shot(path, weights: dict, yaw=0.0, text=""):
        label.data.body = text
        for block in blocks[1:]:
            block.value = weights.get(block.name, 0.0)
        _aim(camera, centre, distance, yaw)
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        return path

    images = [shot(tmp / "neutral.png", {}, text="neutral")]
    for name in ARKIT_NAMES:
        images.append(shot(tmp / f"{name}.png", {name: 1.0}, text=name))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _grid(images, 9, args.out.with_name(args.out.name + "_keys.png"))
    print("order: neutral, then", ", ".join(ARKIT_NAMES))
    # Close-ups of what must work: lips parted, sealed again, lids closed.
    distance_far = distance
    distance = 0.45 * distance_far
    centre_far = centre
    for label_text, weights, focus in (
            ("neutral", {}, "mouth"), ("jawOpen", {"jawOpen": 1.0}, "mouth"),
            ("jawOpen + mouthClose", {"jawOpen": 1.0, "mouthClose": 1.0}, "mouth"),
            ("neutral", {}, "eyes"), ("eyeBlink L + R", {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}, "eyes"),
            ("eyeBlink 0.5", {"eyeBlinkLeft": 0.5, "eyeBlinkRight": 0.5}, "eyes")):
        centre = landmarks.lip_centre if focus == "mouth" else landmarks.eye_centres.mean(axis=0)
        images.append(shot(tmp / f"close_{focus}_{len(images)}.png", weights, text=label_text))
    _grid(images[-6:], 6, args.out.with_name(args.out.name + "_closeup.png"))
    distance, centre = distance_far, centre_far
    if args.weights is not None:
        data = json.loads(args.weights.read_text())
        frames = data["frames"]
        picks = np.linspace(10, len(frames) - 10, 8).astype(int)
        talking = []
        for yaw in (0.0, 35.0):
            for k in picks:
                talking.append(shot(tmp / f"talk_{int(yaw)}_{k}.png", frames[k]["weights"], yaw,
                                    f"{frames[k]['time']:.2f} s"))
        _grid(talking, 8, args.out.with_name(args.out.name + "_talking.png"))


if __name__ == "__main__":
    from bpy_exit import run_then_exit

    run_then_exit(main)
