"""The README's main job, in headless Blender (the bpy module), the way a user works:

1. enable the MeshTalk extension from this checkout (exactly as Blender enables one),
2. Add MeshTalk Head, Load Audio File (the bundled sample speech),
3. Animate from Audio (shape keys: ARKit weights on the head's 52 keys),
4. save out/demo.blend (open it in Blender 4.2+ with the extension installed),
5. write a preview: out/demo_contact_sheet.png (frames across the line, with the
   weights of a few keys over time) and out/demo.mp4 (the face with the sound).

It uses the bundled trained model (meshtalk_blender/assets/model); a copy without it
falls back to an untrained stand-in, says so, and the preview then shows a nearly
still face.

    .venv/bin/python scripts/demo.py [--no-video] [--out DIR]
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
SAMPLE = ROOT / "meshtalk_blender" / "assets" / "sample_speech.flac"
REPO = "meshtalk_demo"
ADDON = f"bl_ext.{REPO}.meshtalk_blender"
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="meshtalk-demo-"))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

CURVES = (("jawOpen", (0.85, 0.25, 0.2)), ("mouthClose", (0.95, 0.6, 0.1)), ("eyeBlinkLeft", (0.2, 0.45, 0.9)),
          ("browInnerUp", (0.2, 0.7, 0.3)))


def enable_extension() -> None:
    """A user repository whose folder holds meshtalk_blender, then addon_utils.enable:
    what Blender does for an installed extension, without building a zip."""
    import addon_utils

    # The same folder every run: numba keys its kernel cache by source path.
    parent = ROOT / "out" / "extension_repository"
    parent.mkdir(parents=True, exist_ok=True)
    if not (parent / "meshtalk_blender").is_symlink():
        (parent / "meshtalk_blender").symlink_to(ROOT / "meshtalk_blender", target_is_directory=True)
    bpy.context.preferences.extensions.repos.new(name=REPO, module=REPO, custom_directory=str(parent), source="USER")
    addon_utils.enable(ADDON, default_set=True)


def build_scene(out: Path) -> tuple[bpy.types.Scene, bpy.types.Object, float]:
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    # Saved twice (here, and once animated): no demo.blend1 backup of the empty first state.
    bpy.context.preferences.filepaths.save_version = 0
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "demo.blend"))  # relative paths from here on
    bpy.ops.meshtalk.add_head()
    bpy.ops.meshtalk.load_audio(filepath=str(SAMPLE))
    scene.meshtalk.output = "ARKIT"
    started = time.perf_counter()
    bpy.ops.meshtalk.animate_from_audio()
    seconds = time.perf_counter() - started
    face = bpy.context.active_object
    take = face.meshtalk.takes[0]
    scene.frame_start, scene.frame_end = take.start_frame, take.start_frame + take.frames - 1
    bpy.ops.wm.save_mainfile()
    return scene, face, seconds


def set_up_camera(scene: bpy.types.Scene, width: int, height: int) -> bpy.types.Object:
    """A three-quarter portrait of the head (Workbench: no GPU needed); returns the
    camera, which carries a text label at the bottom of the picture."""
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "MATERIAL"
    scene.display.shading.show_cavity = True
    scene.display.render_aa = "FXAA"
    scene.render.resolution_x, scene.render.resolution_y = width, height
    camera = scene.camera or bpy.data.objects.new("Preview Camera", bpy.data.cameras.new("Preview Camera"))
    if scene.camera is None:
        scene.collection.objects.link(camera)
        scene.camera = camera
        curve = bpy.data.curves.new("Preview Label", type="FONT")
        curve.size, curve.align_x = 0.011, "CENTER"
        material = bpy.data.materials.new("Preview Label")
        material.diffuse_color = (0.05, 0.05, 0.05, 1.0)
        curve.materials.append(material)
        label = bpy.data.objects.new("Preview Label", curve)
        label.parent, label.location = camera, (0.0, -0.123, -0.6)
        scene.collection.objects.link(label)
    camera.data.lens = 85.0
    azimuth, distance, target = math.radians(25.0), 0.86, (0.0, 0.02, -0.06)
    camera.location = (target[0] + distance * math.sin(azimuth), target[1] - distance * math.cos(azimuth),
                       target[2] + 0.03)
    camera.rotation_euler = (math.radians(88.0), 0.0, azimuth)
    return camera


def set_label(text: str) -> None:
    bpy.data.objects["Preview Label"].data.body = text


def render_frame(scene: bpy.types.Scene, frame: int, folder: Path) -> np.ndarray:
    """(H, W, 4) float pixels, top row first."""
    scene.frame_set(frame)
    path = folder / f"frame_{frame:05d}.png"
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(path)
    with quiet_stdout():
        bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(str(path))
    pixels = np.array(image.pixels[:], dtype=np.float32).reshape(image.size[1], image.size[0], 4)[::-1]
    bpy.data.images.remove(image)
    return pixels


def weight_chart(face: bpy.types.Object, take, width: int, height: int, marks: list[int]) -> np.ndarray:
    """(H, W, 4): the keyed weights of a few keys over the take, one coloured line each,
    with grey ticks at the frames the sheet shows."""
    from bl_ext.meshtalk_demo.meshtalk_blender.blender import actions, writers  # the enabled extension

    chart = np.ones((height, width, 4), dtype=np.float32)
    chart[..., :3] = 0.97
    for mark in marks:
        x = int((mark - take.start_frame) / max(1, take.frames - 1) * (width - 1))
        chart[:, max(0, x - 1):x + 1, :3] = 0.8
    for name, colour in CURVES:
        values = actions.read_curve(take.action, writers.key_value_path(name))
        if values is None:
            continue
        xs = np.linspace(0, width - 1, 4 * width)
        ys = np.interp(xs, np.linspace(0, width - 1, len(values)), values)
        rows = np.clip(((1.0 - ys) * (height - 8) + 4).astype(int), 0, height - 1)
        for dy in (-1, 0, 1):
            chart[np.clip(rows + dy, 0, height - 1), xs.astype(int), :3] = colour
    return chart


def save_png(pixels: np.ndarray, path: Path) -> None:
    image = bpy.data.images.new(path.stem, pixels.shape[1], pixels.shape[0], alpha=True)
    image.pixels.foreach_set(np.ascontiguousarray(pixels[::-1]).ravel())
    image.filepath_raw = str(path)
    image.file_format = "PNG"
    image.save()
    bpy.data.images.remove(image)


def contact_sheet(scene, face, out: Path, tiles: int = 8, tile=(240, 300)) -> Path:
    take = face.meshtalk.takes[0]
    frames = np.linspace(take.start_frame, take.start_frame + take.frames - 1, tiles).round().astype(int).tolist()
    set_up_camera(scene, *tile)
    tiles_pixels = []
    with tempfile.TemporaryDirectory() as folder:
        for frame in frames:
            set_label(f"frame {frame}  ({(frame - take.start_frame) / 30:.1f} s)")
            tiles_pixels.append(render_frame(scene, frame, Path(folder)))
    set_label("")
    row = np.concatenate(tiles_pixels, axis=1)
    chart = weight_chart(face, take, row.shape[1], 140, frames)
    path = out / "demo_contact_sheet.png"
    save_png(np.concatenate([row, chart], axis=0), path)
    return path


def video(scene, out: Path) -> Path:
    """The whole take with its sound: H.264 + AAC in an MP4."""
    set_up_camera(scene, 360, 450)
    set_label("MeshTalk for Blender")
    render = scene.render
    render.image_settings.file_format = "FFMPEG"
    render.ffmpeg.format, render.ffmpeg.codec, render.ffmpeg.audio_codec = "MPEG4", "H264", "AAC"
    render.ffmpeg.constant_rate_factor = "MEDIUM"
    render.filepath = str(out / "demo.mp4")
    render.use_file_extension = False
    with quiet_stdout():  # Blender prints several lines per frame
        bpy.ops.render.render(animation=True)
    return out / "demo.mp4"


class quiet_stdout:
    """Sends the process's C-level stdout to /dev/null for a while."""

    def __enter__(self):
        sys.stdout.flush()
        self._saved = os.dup(1)
        self._null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self._null, 1)

    def __exit__(self, *_):
        os.dup2(self._saved, 1)
        os.close(self._null)
        os.close(self._saved)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    parser.add_argument("--no-video", action="store_true", help="skip the MP4 (it takes about a minute)")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    enable_extension()
    scene, face, seconds = build_scene(out)
    take = face.meshtalk.takes[0]
    print(f"demo: animated {take.frames} frames ({take.frames / 30:.1f} s of speech) in {seconds:.1f} s; "
          f"({take.model_label})", flush=True)
    print(f"demo: wrote {out / 'demo.blend'}", flush=True)
    print(f"demo: wrote {contact_sheet(scene, face, out)}", flush=True)
    if not args.no_video:
        started = time.perf_counter()
        path = video(scene, out)
        print(f"demo: wrote {path} in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


def disable_extension() -> None:
    import addon_utils

    addon_utils.disable(ADDON, default_set=True)


if __name__ == "__main__":
    from bpy_exit import run_then_exit

    run_then_exit(main, cleanup=disable_extension)
