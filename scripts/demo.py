"""The README's main job, in headless Blender (the bpy module), the way a user works:

1. enable the MeshTalk extension from this checkout (exactly as Blender enables one),
2. Add MeshTalk Head, Load Audio File (the bundled sample speech),
3. Animate from Audio (shape keys: ARKit weights on the head's 52 keys),
4. save out/demo.blend (open it in Blender 4.2+ with the extension installed),
5. write a preview: out/demo_contact_sheet.png (frames across the line, among them
   the tongue on "the", a blink, a brow raise and the open jaw, each also seen close
   on the mouth, with the weights of a few keys over time) and out/demo.mp4 (the face
   with the sound).

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
          ("browInnerUp", (0.2, 0.7, 0.3)), ("tongueDental", (0.6, 0.3, 0.7)))
# The moments the sheet shows, each where its key (or the product of keys joined by "*")
# peaks (the rest of its tiles spread over the line): the tongue between the teeth on
# "the", the tip up on a "t"/"n", the upper teeth on the tucked lower lip of an "f", a
# blink, a brow raise and the widest jaw (the teeth).
MOMENTS = (("th", "tongueDental"), ("tip up", "tongueTipUp"), ("f/v", "mouthRollLower*mouthUpperUpLeft"),
           ("blink", "eyeBlinkLeft"), ("brows", "browInnerUp"), ("open", "jawOpen"))


def enable_extension() -> None:
    """A user repository whose folder holds meshtalk_blender, then addon_utils.enable:
    what Blender does for an installed extension, without building a zip."""
    import addon_utils

    # The same folder every run: numba keys its kernel cache by source path.
    parent = ROOT / "out" / "extension_repository"
    parent.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    import build

    build.link_for_development(parent)
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


def set_up_camera(scene: bpy.types.Scene, width: int, height: int, mouth: bool = False) -> bpy.types.Object:
    """A three-quarter portrait of the head, or with ``mouth`` a close view of the mouth
    (teeth and tongue), Workbench (no GPU needed); returns the camera, which carries a
    text label at the bottom of the picture."""
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
    if mouth:  # a little from above and the side, as an animator checks the inside of the mouth
        azimuth, distance, target = math.radians(15.0), 0.2, (0.0, -0.01, -0.076)
    camera.location = (target[0] + distance * math.sin(azimuth), target[1] - distance * math.cos(azimuth),
                       target[2] + 0.035 * distance)
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
    with quiet_render():
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
        # What plays at each frame (read_curve's keys are only where the reduced curve needs them).
        values = actions.sample_curve(take.action, writers.key_value_path(name), take.start_frame, take.frames)
        if values is None:
            continue
        xs = np.linspace(0, width - 1, 4 * width)
        ys = np.interp(xs, np.linspace(0, width - 1, len(values)), values)
        rows = np.clip(((1.0 - ys) * (height - 8) + 4).astype(int), 0, height - 1)
        for dy in (-1, 0, 1):
            chart[np.clip(rows + dy, 0, height - 1), xs.astype(int), :3] = colour
    return chart


def legend_strip(scene, width: int, height: int) -> np.ndarray:
    """(H, W, 4): the chart's key names in their line colours, rendered as text objects
    in front of the camera with everything else hidden."""
    camera = set_up_camera(scene, width, height)
    shown = [obj for obj in scene.objects if not obj.hide_render]
    for obj in shown:
        obj.hide_render = True
    visible_width = 0.6 * camera.data.sensor_width / camera.data.lens  # at the labels' distance
    texts = []
    for index, (name, colour) in enumerate(CURVES):
        curve = bpy.data.curves.new(f"Legend {name}", type="FONT")
        curve.body, curve.align_x, curve.align_y = f"— {name}", "CENTER", "CENTER"
        curve.size = 0.55 * visible_width * height / width
        material = bpy.data.materials.new(f"Legend {name}")
        material.diffuse_color = (*colour, 1.0)
        curve.materials.append(material)
        text = bpy.data.objects.new(f"Legend {name}", curve)
        text.parent = camera
        text.location = (visible_width * ((index + 0.5) / len(CURVES) - 0.5), 0.0, -0.6)
        scene.collection.objects.link(text)
        texts.append((text, curve, material))
    try:
        with tempfile.TemporaryDirectory() as folder:
            return render_frame(scene, scene.frame_current, Path(folder))
    finally:
        for text, curve, material in texts:
            bpy.data.objects.remove(text)
            bpy.data.curves.remove(curve)
            bpy.data.materials.remove(material)
        for obj in shown:
            obj.hide_render = False


def save_png(pixels: np.ndarray, path: Path) -> None:
    image = bpy.data.images.new(path.stem, pixels.shape[1], pixels.shape[0], alpha=True)
    image.pixels.foreach_set(np.ascontiguousarray(pixels[::-1]).ravel())
    image.filepath_raw = str(path)
    image.file_format = "PNG"
    image.save()
    bpy.data.images.remove(image)


def sheet_frames(take, tiles: int) -> list[tuple[int, str]]:
    """[(scene frame, what it shows)] in time order: each of MOMENTS at its key's peak
    (when keyed), the others spread evenly over the line away from those."""
    from bl_ext.meshtalk_demo.meshtalk_blender.blender import actions, writers  # the enabled extension

    chosen: dict[int, str] = {}
    for label, names in MOMENTS:
        curves = [actions.sample_curve(take.action, writers.key_value_path(name), take.start_frame, take.frames)
                  for name in names.split("*")]
        values = None if any(curve is None for curve in curves) else np.prod(curves, axis=0)
        if values is not None and values.max() ** (1 / len(curves)) > 0.2:
            frame = take.start_frame + int(np.argmax(values))
            chosen.setdefault(frame, label)
    spread = np.linspace(take.start_frame, take.start_frame + take.frames - 1, tiles).round().astype(int)
    for frame in spread:
        if len(chosen) >= tiles:
            break
        if all(abs(frame - other) > 15 for other in chosen):
            chosen[int(frame)] = ""
    return sorted(chosen.items())


def contact_sheet(scene, face, out: Path, tiles: int = 8, tile=(240, 300)) -> Path:
    take = face.meshtalk.takes[0]
    picked = sheet_frames(take, tiles)
    frames = [frame for frame, _ in picked]
    set_up_camera(scene, *tile)
    tiles_pixels = []
    with tempfile.TemporaryDirectory() as folder:
        for frame, label in picked:
            set_label(f"frame {frame}  ({(frame - take.start_frame) / 30:.1f} s)" + (f"  {label}" if label else ""))
            tiles_pixels.append(render_frame(scene, frame, Path(folder)))
        set_label("")
        set_up_camera(scene, tile[0], tile[0] // 2, mouth=True)
        mouths = [render_frame(scene, frame, Path(folder)) for frame in frames]
    row = np.concatenate([np.concatenate(tiles_pixels, axis=1), np.concatenate(mouths, axis=1)], axis=0)
    chart = weight_chart(face, take, row.shape[1], 140, frames)
    legend = legend_strip(scene, row.shape[1], 40)
    path = out / "demo_contact_sheet.png"
    save_png(np.concatenate([row, chart, legend], axis=0), path)
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
    with quiet_render():  # Blender prints several lines per frame
        bpy.ops.render.render(animation=True)
    return out / "demo.mp4"


# Headless Blender asks EGL for a display-less GPU context, is refused with this, and
# renders on the CPU (Workbench): harmless, so it is not shown.
HARMLESS_RENDER_NOISE = ("EGL Error (0x3009): EGL_BAD_MATCH",)


class quiet_render:
    """While rendering: the process's C-level stdout (several lines per frame) goes to
    /dev/null, and its stderr to a file whose lines are shown afterwards, except the
    harmless EGL refusal."""

    def __enter__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = os.dup(1), os.dup(2)
        self._null = os.open(os.devnull, os.O_WRONLY)
        self._errors = tempfile.TemporaryFile()
        os.dup2(self._null, 1)
        os.dup2(self._errors.fileno(), 2)

    def __exit__(self, *_):
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for descriptor in (*self._saved, self._null):
            os.close(descriptor)
        self._errors.seek(0)
        for line in self._errors.read().decode(errors="replace").splitlines():
            if not line.startswith(HARMLESS_RENDER_NOISE):
                print(line, file=sys.stderr)
        self._errors.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    parser.add_argument("--no-video", action="store_true", help="skip the MP4 (it takes about a minute)")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    print("demo: starting Blender (the bpy module) with the MeshTalk extension", flush=True)
    enable_extension()
    print("demo: adding the MeshTalk head, loading the sample speech, animating (the first run also compiles "
          "the sampler's kernels: up to a minute)", flush=True)
    scene, face, seconds = build_scene(out)
    take = face.meshtalk.takes[0]
    print(f"demo: animated {take.frames} frames ({take.frames / 30:.1f} s of speech) in {seconds:.1f} s; "
          f"({take.model_label})", flush=True)
    print(f"demo: wrote {out / 'demo.blend'}", flush=True)
    print("demo: rendering the contact sheet (8 frames and the keys' curves)", flush=True)
    print(f"demo: wrote {contact_sheet(scene, face, out)}", flush=True)
    if not args.no_video:
        print(f"demo: rendering the video ({take.frames} frames with the sound, about 30 s)", flush=True)
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
