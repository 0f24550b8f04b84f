"""Statistics of a generated corpus, and one of its sequences rendered with real Blender.

    .venv/bin/python scripts/corpus_report.py CORPUS [--sheet out.png] [--video out.mp4]
        [--name SEQUENCE] [--split train] [--tile W H] [--no-render]

Prints hours, voices, languages and engines per split, phoneme coverage, bilabial
closures, blink rate and durations, brow raises; then renders one sequence (by default
the first training sequence with at least four bilabials) to a contact sheet: a strip
of consecutive frames around a bilabial, then key moments (an open vowel, a lip
closure, f/v, a rounded vowel, silence, a blink, a brow raise), each labelled with its
time and phoneme; with --video, the whole sequence with its sound as an MP4. Rendering
uses the bpy module with the Workbench engine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshtalk_blender.core.face import ARKIT_INDEX, IdentityParams, build_head  # noqa: E402
from meshtalk_blender.core.face.rig import EYE_PITCH_DOWN, EYE_PITCH_UP, EYE_YAW  # noqa: E402
from meshtalk_blender.training.corpus import read_manifest, read_sequence  # noqa: E402
from meshtalk_blender.training.speech import ipa  # noqa: E402

STRIP_FRAMES = 8
TILE = (240, 270)  # pixels per frame tile


# ----------------------------------------------------------------- statistics


def _sequence_info(folder: Path, record: dict) -> tuple[dict, list[str]]:
    """The stored info and phoneme symbols, without loading the meshes."""
    with np.load(folder / record["file"], allow_pickle=False) as data:
        return json.loads(str(data["info"])), [str(s) for s in data["phoneme_symbols"]]


def corpus_statistics(folder: Path) -> dict:
    manifest = read_manifest(folder)
    records = manifest["sequences"]
    phoneme_counts: Counter = Counter()
    manner_place: Counter = Counter()
    unknown: Counter = Counter()
    blink_durations, blink_close, blink_open, incomplete = [], [], [], 0
    brow_kinds: Counter = Counter()
    accent_count = 0
    closure_holds = []
    for record in records:
        info, symbols = _sequence_info(folder, record)
        for symbol in symbols:
            if symbol == ipa.SILENCE:
                continue
            phoneme_counts[symbol] += 1
            if ipa.is_known(symbol):
                features = ipa.features(symbol)
                manner_place[f"{features.manner} {features.place}".strip()] += 1
            else:
                unknown[symbol] += 1
        events = info["events"]
        for blink in events["blinks"]:
            blink_durations.append(blink["close"] + blink["hold"] + blink["open"])
            blink_close.append(blink["close"])
            blink_open.append(blink["open"])
            incomplete += blink["amplitude"] < 1.0
        brow_kinds.update(event["kind"] for event in events["brow_events"])
        accent_count += len(events["accents"])
        closure_holds.extend(c["hold_end"] - c["hold_start"] for c in events["contacts"] if c["kind"] == "seal")
    minutes = sum(r["duration"] for r in records) / 60.0
    return {
        "manifest": manifest,
        "minutes": minutes,
        "phoneme_counts": phoneme_counts,
        "manner_place": manner_place,
        "unknown": unknown,
        "blink_durations": np.array(blink_durations),
        "blink_close": np.array(blink_close),
        "blink_open": np.array(blink_open),
        "incomplete_blinks": incomplete,
        "brow_kinds": brow_kinds,
        "accents": accent_count,
        "closure_holds": np.array(closure_holds),
    }


def print_statistics(stats: dict) -> None:
    manifest = stats["manifest"]
    records = manifest["sequences"]
    print(f"corpus: {len(records)} sequences, {stats['minutes'] / 60:.2f} hours of speech")
    for split in ("train", "validation"):
        chosen = [r for r in records if r["split"] == split]
        if not chosen:
            continue
        hours = sum(r["duration"] for r in chosen) / 3600
        engines = Counter(r["engine"] for r in chosen)
        engine_minutes = {e: sum(r["duration"] for r in chosen if r["engine"] == e) / 60 for e in engines}
        languages = Counter(r["language"] for r in chosen)
        print(f"  {split}: {len(chosen)} sequences, {hours:.2f} h, {len({r['voice_id'] for r in chosen})} voices, "
              f"{sum(r['augmented'] for r in chosen)} augmented")
        print("    engines (min): " + ", ".join(f"{e} {m:.1f}" for e, m in sorted(engine_minutes.items())))
        print("    languages (sequences): " + ", ".join(f"{k} {v}" for k, v in sorted(languages.items())))
    held = manifest["held_out"]
    train_voices = {r["voice_id"] for r in records if r["split"] == "train"}
    leaked = train_voices & set(held["voices"]) | {r["voice_id"] for r in records if r["split"] == "train"
                                                   and r["language"] == held["language"]}
    print(f"  held out: language {held['language']}, {len(held['voices'])} voices; in training: "
          f"{sorted(leaked) if leaked else 'none'}")
    counts = stats["phoneme_counts"]
    print(f"phonemes: {sum(counts.values())} segments, {len(counts)} distinct symbols; most common: "
          + " ".join(f"{s}:{n}" for s, n in counts.most_common(12)))
    print("  by manner and place: " + ", ".join(f"{k} {v}" for k, v in stats["manner_place"].most_common()))
    if stats["unknown"]:
        print("  symbols without features: " + " ".join(f"{s}:{n}" for s, n in stats["unknown"].most_common()))
    holds = stats["closure_holds"]
    bilabials = sum(r["bilabials"] for r in records)
    print(f"bilabial closures: {bilabials} ({bilabials / max(stats['minutes'], 1e-9):.1f} per minute), "
          f"hold median {1000 * np.median(holds):.0f} ms (5-95 %: {1000 * np.percentile(holds, 5):.0f}-"
          f"{1000 * np.percentile(holds, 95):.0f} ms)" if len(holds) else "bilabial closures: none")
    durations = stats["blink_durations"]
    if len(durations):
        rates = [r["blinks"] / (r["duration"] / 60) for r in records if r["duration"] > 20]
        rate_text = (f", per long sequence median {np.median(rates):.1f} (5-95 %: {np.percentile(rates, 5):.1f}-"
                     f"{np.percentile(rates, 95):.1f})" if rates else "")
        print(f"blinks: {len(durations)}, {len(durations) / stats['minutes']:.1f} per minute{rate_text}; duration "
              f"median {1000 * np.median(durations):.0f} ms (5-95 %: {1000 * np.percentile(durations, 5):.0f}-"
              f"{1000 * np.percentile(durations, 95):.0f}); closing {1000 * np.median(stats['blink_close']):.0f} ms, "
              f"reopening {1000 * np.median(stats['blink_open']):.0f} ms; "
              f"{100 * stats['incomplete_blinks'] / len(durations):.0f} % incomplete")
    kinds = stats["brow_kinds"]
    raises = sum(v for k, v in kinds.items() if k != "frown")
    if raises:
        print(f"brow raises: {raises} ({raises / stats['minutes']:.1f} per minute) from {stats['accents']} pitch "
              f"accents: {100 * kinds['accent'] / raises:.0f} % on accents, {100 * kinds['free'] / raises:.0f} % free "
              f"while speaking, {100 * kinds['pause'] / raises:.0f} % in pauses; {kinds['frown']} frowns")
    generation = manifest["generation"]
    size = sum(r["bytes"] for r in records)
    print(f"generation: {generation['wall_seconds']:.0f} s wall with {generation['workers']} workers, "
          f"{generation['speech_seconds_per_wall_second']:.2f} s of speech per second; {size / 1e9:.2f} GB on disk")


# ----------------------------------------------------------------- frames to show


def _phoneme_at(phonemes: list[tuple[str, float, float]], time: float) -> str:
    for symbol, start, end in phonemes:
        if start <= time < end:
            return symbol
    return phonemes[-1][0]


def choose_frames(stored) -> list[tuple[int, str]]:
    """(frame, caption) pairs: a strip of consecutive frames around a bilabial closure,
    then one frame per key moment."""
    arkit, phonemes = stored.arkit, stored.phonemes
    times = np.arange(len(arkit)) / 30.0
    events = stored.info["events"]
    chosen: list[tuple[int, str]] = []
    closures = [contact for contact in events["contacts"] if contact["kind"] == "seal"]
    if closures:
        middle = closures[len(closures) // 2]
        first = max(0, int(round(middle["hold_start"] * 30)) - 3)
        chosen += [(k, "") for k in range(first, min(first + STRIP_FRAMES, len(arkit)))]

    def first_frame(condition, caption):
        frames = np.flatnonzero(condition)
        if len(frames):
            chosen.append((int(frames[len(frames) // 2]), caption))

    features = [ipa.features(_phoneme_at(phonemes, t)) if ipa.is_known(_phoneme_at(phonemes, t)) else None
                for t in times]
    jaw = arkit[:, ARKIT_INDEX["jawOpen"]]
    vowel = np.array([f is not None and f.manner == "vowel" for f in features])
    chosen.append((int(np.argmax(np.where(vowel, jaw, -1.0))), "widest vowel"))
    for closure in closures[:2]:
        chosen.append((int(math.ceil(0.5 * (closure["hold_start"] + closure["hold_end"]) * 30)), "lip seal"))
    first_frame([f is not None and f.place == "labiodental" and f.manner == "fricative" for f in features], "f/v tuck")
    first_frame([f is not None and f.manner == "vowel" and f.rounded for f in features], "rounded")
    first_frame([f is not None and f.manner == "silence" for f in features], "silence")
    blink = arkit[:, ARKIT_INDEX["eyeBlinkLeft"]]
    if blink.max() > 0.5:
        chosen.append((int(np.argmax(blink)), "blink"))
    brow = arkit[:, ARKIT_INDEX["browInnerUp"]]
    if brow.max() > 0.1:
        chosen.append((int(np.argmax(brow)), "brow raise"))
    look = arkit[:, [ARKIT_INDEX[n] for n in ("eyeLookOutLeft", "eyeLookInLeft", "eyeLookDownLeft")]].sum(axis=1)
    if look.max() > 0.2:
        chosen.append((int(np.argmax(look)), "looks away"))
    return [(min(frame, len(arkit) - 1), caption) for frame, caption in chosen]


# ----------------------------------------------------------------- rendering


def _stage(stored, tile: tuple[int, int]):
    """A Workbench scene with the sequence's identity, a front camera and a caption bar:
    (bpy, scene, face object, eye objects, caption curve)."""
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="meshtalk-blender-"))
    import bpy

    from meshtalk_blender.blender.head_builder import build_head_objects

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "MATERIAL"
    scene.display.shading.show_cavity = True
    scene.display.render_aa = "8"
    scene.render.resolution_x, scene.render.resolution_y = tile
    scene.view_settings.view_transform = "Standard"
    scene.world = bpy.data.worlds.new("White")
    scene.world.color = (1.0, 1.0, 1.0)  # Workbench's background colour
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.lens = 85.0
    scene.collection.objects.link(camera)
    scene.camera = camera
    # Straight on, framing the face from the brows to below the chin.
    camera.location = (0.0, -0.5, -0.035)
    camera.rotation_euler = (math.radians(90.0), 0.0, 0.0)
    ink = bpy.data.materials.new("Label Ink")
    ink.diffuse_color = (0.05, 0.05, 0.05, 1.0)
    paper = bpy.data.materials.new("Label Paper")
    paper.diffuse_color = (1.0, 1.0, 1.0, 1.0)
    # A white bar across the bottom of the tile, with the caption on it (in the
    # camera's frame: 0.3 m ahead the tile is 0.127 m tall and 0.113 m wide).
    bar_mesh = bpy.data.meshes.new("Label Bar")
    bar_mesh.from_pydata([(-0.06, -0.064, -0.301), (0.06, -0.064, -0.301), (0.06, -0.051, -0.301),
                          (-0.06, -0.051, -0.301)], [], [(0, 1, 2, 3)])
    bar_mesh.materials.append(paper)
    bar = bpy.data.objects.new("Label Bar", bar_mesh)
    bar.parent = camera
    scene.collection.objects.link(bar)
    curve = bpy.data.curves.new("Label", type="FONT")
    curve.size = 0.0052
    curve.align_x = "CENTER"
    curve.materials.append(ink)
    label = bpy.data.objects.new("Label", curve)
    label.parent = camera
    label.location = (0.0, -0.0605, -0.3)
    scene.collection.objects.link(label)
    face, eyes = build_head_objects(build_head(IdentityParams(*[float(v) for v in stored.identity])),
                                    shape_keys=False)
    return bpy, scene, face, eyes, curve


def _eye_angles(weights: np.ndarray, suffix: str, side: float) -> tuple[float, float, float]:
    """Euler angles of one eyeball for ARKit weights (52,), as the head builder's drivers."""
    w = lambda name: float(weights[ARKIT_INDEX[name + suffix]])  # noqa: E731
    return (w("eyeLookDown") * EYE_PITCH_DOWN - w("eyeLookUp") * EYE_PITCH_UP, 0.0,
            (w("eyeLookOut") - w("eyeLookIn")) * EYE_YAW * side)


def render_sheet(stored, frames: list[tuple[int, str]], out: Path, columns: int = STRIP_FRAMES,
                 tile: tuple[int, int] = TILE) -> None:
    bpy, scene, face, eyes, caption = _stage(stored, tile)
    vertices = stored.vertices.astype(np.float32)
    tiles = []
    with tempfile.TemporaryDirectory() as folder:
        for number, (frame, label) in enumerate(frames):
            face.data.vertices.foreach_set("co", vertices[frame].ravel())
            face.data.update()
            for eye, suffix, side in zip(eyes, ("Left", "Right"), (1.0, -1.0)):
                eye.rotation_euler = _eye_angles(stored.arkit[frame], suffix, side)
            time = frame / 30.0
            caption.body = f"{time:.2f}s /{_phoneme_at(stored.phonemes, time)}/ {label}".strip()
            path = os.path.join(folder, f"{number}.png")
            scene.render.filepath = path
            bpy.ops.render.render(write_still=True)
            image = bpy.data.images.load(path)
            tiles.append(np.array(image.pixels[:], dtype=np.float32).reshape(tile[1], tile[0], 4))
            bpy.data.images.remove(image)
    blank = np.zeros_like(tiles[0])
    while len(tiles) % columns:
        tiles.append(blank)
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    sheet = np.concatenate(rows[::-1], axis=0)  # Blender images start at the bottom row
    alpha = sheet[..., 3:]
    sheet[..., :3] = sheet[..., :3] * alpha + (1.0 - alpha)  # on white
    sheet[..., 3] = 1.0
    image = bpy.data.images.new("Sheet", sheet.shape[1], sheet.shape[0], alpha=False)
    image.pixels.foreach_set(sheet.ravel())
    out.parent.mkdir(parents=True, exist_ok=True)
    # The tiles are already display colours: save them as they are, as compact RGB.
    settings = scene.render.image_settings
    settings.file_format, settings.color_mode, settings.compression = "PNG", "RGB", 100
    image.save_render(str(out), scene=scene)


def render_video(stored, out: Path, tile: tuple[int, int] = (480, 540)) -> None:
    """The whole sequence as an MP4 (H.264 + AAC) with its audio, at 30 fps: the face
    plays a point cache (Mesh Cache modifier), the eyes are keyed per frame."""
    import soundfile

    from meshtalk_blender.core.cache_io import write_cache

    bpy, scene, face, eyes, caption = _stage(stored, tile)
    text = stored.info["text"]
    caption.body = f"{stored.info['voice_id']}: {text[:40] + '...' if len(text) > 40 else text}"
    folder = Path(tempfile.mkdtemp(prefix="meshtalk-video-"))
    write_cache(folder / "face.pc2", stored.vertices.astype(np.float32), fps=30.0)
    cache = face.modifiers.new("Teacher", "MESH_CACHE")
    cache.cache_format = "PC2"
    cache.filepath = str(folder / "face.pc2")
    cache.frame_start = 1.0  # scene frame 1 plays sample 0
    frames = len(stored.vertices)
    for eye, suffix, side in zip(eyes, ("Left", "Right"), (1.0, -1.0)):
        for frame in range(frames):
            eye.rotation_euler = _eye_angles(stored.arkit[frame], suffix, side)
            eye.keyframe_insert("rotation_euler", frame=frame + 1)
    soundfile.write(folder / "audio.wav", stored.audio, 16000)
    scene.sequence_editor_create().strips.new_sound("Speech", str(folder / "audio.wav"), 1, 1)
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.frame_start, scene.frame_end = 1, frames
    scene.render.image_settings.file_format = "FFMPEG"
    scene.render.ffmpeg.format = "MPEG4"
    scene.render.ffmpeg.codec = "H264"
    scene.render.ffmpeg.audio_codec = "AAC"
    scene.render.ffmpeg.audio_mixrate = 48000
    out.parent.mkdir(parents=True, exist_ok=True)
    scene.render.filepath = str(out)
    bpy.ops.render.render(animation=True)


def pick_sequence(manifest: dict, name: str | None, split: str) -> dict:
    records = manifest["sequences"]
    if name is not None:
        for record in records:
            if record["name"] == name:
                return record
        raise SystemExit(f"no sequence named {name!r} in the manifest")
    candidates = [r for r in records if r["split"] == split]
    for record in candidates:
        if record["bilabials"] >= 4 and 4.0 <= record["duration"] <= 15.0:
            return record
    return candidates[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--sheet", type=Path, default=Path("corpus_example.png"), help="contact sheet PNG to write")
    parser.add_argument("--name", help="sequence to render (default: a training sequence with bilabials)")
    parser.add_argument("--split", default="train", choices=("train", "validation"))
    parser.add_argument("--video", type=Path, help="also render the whole sequence to this MP4, with sound")
    parser.add_argument("--tile", type=int, nargs=2, default=TILE, metavar=("WIDTH", "HEIGHT"),
                        help="pixels per contact-sheet tile")
    parser.add_argument("--no-render", action="store_true", help="print the statistics only")
    args = parser.parse_args()
    stats = corpus_statistics(args.corpus)
    print_statistics(stats)
    if args.no_render:
        return
    record = pick_sequence(stats["manifest"], args.name, args.split)
    stored = read_sequence(args.corpus / record["file"])
    frames = choose_frames(stored)
    print(f"rendering {record['name']} ({record['voice_id']}, {record['duration']:.1f} s): \"{record['text']}\"")
    render_sheet(stored, frames, args.sheet, tile=tuple(args.tile))
    print(f"wrote {args.sheet}")
    if args.video:
        render_video(stored, args.video)
        print(f"wrote {args.video}")


if __name__ == "__main__":
    from bpy_exit import run_then_exit

    run_then_exit(main)
