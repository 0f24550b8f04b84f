"""Renders the MeshTalk head with real Blender (the bpy module) into a PNG contact sheet:
the neutral face and key ARKit shapes, from the front and a three-quarter view.

    .venv/bin/python scripts/render_head.py [--out docs/images/meshtalk_head.png]
        [--tile 260 320] [--seed N] [--shapes jawOpen,eyeBlinkLeft+eyeBlinkRight ...]

Uses the Workbench engine (no GPU needed, about half a second per tile on 2 cores).
With --seed the head is a random identity instead of the neutral one.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="meshtalk-blender-"))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from meshtalk_blender.blender.head_builder import build_head_objects  # noqa: E402
from meshtalk_blender.core.face import build_head, load_bundled_head, sample_identity  # noqa: E402

DEFAULT_SHAPES = (
    "neutral",
    "eyeBlinkLeft+eyeBlinkRight",
    "jawOpen",
    "mouthFunnel",
    "mouthSmileLeft+mouthSmileRight",
    "browInnerUp",
)
VIEWS = (("front", 0.0), ("three-quarter", 38.0))


def _scene(tile: tuple[int, int]) -> tuple[bpy.types.Scene, bpy.types.Object]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "MATERIAL"
    scene.display.shading.show_cavity = True
    scene.display.shading.cavity_type = "WORLD"
    scene.display.render_aa = "8"
    scene.render.resolution_x, scene.render.resolution_y = tile
    scene.render.film_transparent = False
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.lens = 85.0
    scene.collection.objects.link(camera)
    scene.camera = camera
    return scene, camera


def _label(camera: bpy.types.Object, text: str) -> bpy.types.Object:
    curve = bpy.data.curves.new("Label", type="FONT")
    curve.body = text
    curve.size = 0.012
    curve.align_x = "CENTER"
    label = bpy.data.objects.new("Label", curve)
    label.parent = camera
    label.location = (0.0, -0.118, -0.6)  # in the camera's frame: bottom middle
    label.color = (0.1, 0.1, 0.1, 1.0)
    bpy.context.scene.collection.objects.link(label)
    return label


def _aim(camera: bpy.types.Object, azimuth_degrees: float, target=(0.0, 0.02, -0.03), distance: float = 0.78) -> None:
    azimuth = math.radians(azimuth_degrees)
    camera.location = (
        target[0] + distance * math.sin(azimuth),
        target[1] - distance * math.cos(azimuth),
        target[2] + 0.03,
    )
    camera.rotation_euler = (math.radians(88.0), 0.0, azimuth)


def render_sheet(out: Path, tile=(260, 320), shapes=DEFAULT_SHAPES, seed: int | None = None) -> float:
    """Writes the contact sheet to `out`; returns the seconds it took."""
    start = time.time()
    head = load_bundled_head() if seed is None else build_head(sample_identity(np.random.default_rng(seed)))
    scene, camera = _scene(tile)
    face, _ = build_head_objects(head)
    keys = face.data.shape_keys.key_blocks
    label = _label(camera, "")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for view, azimuth in VIEWS:
            _aim(camera, azimuth)
            row = []
            for shape in shapes:
                for key in keys[1:]:
                    key.value = 0.0
                for name in shape.split("+"):
                    if name != "neutral":
                        keys[name].value = 1.0
                label.data.body = shape.replace("+", " + ") if view == "front" else ""
                path = os.path.join(folder, f"{view}-{shape}.png")
                scene.render.filepath = path
                bpy.ops.render.render(write_still=True)
                image = bpy.data.images.load(path)
                pixels = np.array(image.pixels[:], dtype=np.float32).reshape(tile[1], tile[0], 4)
                bpy.data.images.remove(image)
                row.append(pixels)
            rows.append(np.concatenate(row, axis=1))
    sheet = np.concatenate(rows[::-1], axis=0)  # Blender images start at the bottom row
    image = bpy.data.images.new("Sheet", sheet.shape[1], sheet.shape[0], alpha=True)
    image.pixels.foreach_set(sheet.ravel())
    out.parent.mkdir(parents=True, exist_ok=True)
    image.filepath_raw = str(out)
    image.file_format = "PNG"
    image.save()
    return time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "meshtalk_head.png")
    parser.add_argument("--tile", type=int, nargs=2, default=(260, 320), metavar=("WIDTH", "HEIGHT"))
    parser.add_argument("--seed", type=int, default=None, help="render a random identity")
    parser.add_argument("--shapes", type=lambda text: tuple(text.split(",")), default=DEFAULT_SHAPES)
    args = parser.parse_args()
    seconds = render_sheet(args.out, tuple(args.tile), args.shapes, args.seed)
    print(f"wrote {args.out} in {seconds:.1f} s")


if __name__ == "__main__":
    from bpy_exit import run_then_exit

    run_then_exit(main)
