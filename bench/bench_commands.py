"""Speed of what users run, each in a fresh process: the command line to every output
format; the add-on's Animate from Audio on the bundled head (cold: the first click in a
fresh Blender; warm: the next; and the first click after the panel's warm-up); Make ARKit
Shape Keys on a character (bench_character.py); side by side with the in-process
pipeline and the naive algorithm of the original release (bench_animate.py), so that
the overheads show.

    .venv/bin/python bench/bench_commands.py                        # 1, 60, 600 s
    .venv/bin/python bench/bench_commands.py --lengths 1 60 --addon-seconds 8.5 240

Models: the bundled one, and an original-size model (random weights) written in the
original release's .pkl layout, loaded as a user's would be. Times are wall seconds of
the whole command (start-up, loading, work, exit) and its peak RSS (/usr/bin/time).
The "x real time" column is (60 s run - 1 s run) / 59 s of audio: the work without the
fixed costs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

VERTEX_FORMATS = (".pc2", ".mdd", ".npz")
WEIGHT_FORMATS = (".csv", ".json", ".glb")
ADDON_OUTPUTS = ("ARKIT", "BASIS", "MESH_CACHE")


def write_original_release(folder: Path) -> Path:
    """An original-size MeshTalk in the release's three .pkl files plus its template."""
    import numpy as np
    import torch

    from meshtalk_blender.core.checkpoints import _original_shapes, original_key_map
    from meshtalk_blender.core.model import MeshTalk, MeshTalkConfig
    from meshtalk_blender.core.obj_io import ObjMesh, write_obj

    folder.mkdir(parents=True, exist_ok=True)
    config = MeshTalkConfig.original()
    torch.manual_seed(0)
    state, shapes = MeshTalk(config).state_dict(), _original_shapes(config)
    for name, mapping in original_key_map(config).items():
        torch.save({key: state[ours] if ours else torch.zeros(shapes[f"unused.{key}"])
                    for key, ours in mapping.items()}, folder / name)
    write_obj(folder / "face_template.obj", ObjMesh(np.random.default_rng(0).normal(size=(6172, 3)), [[0, 1, 2]]))
    return folder


def timed(command: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of a command, from /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        result = subprocess.run(["/usr/bin/time", "-o", report.name, "-f", "%e %M", *command], capture_output=True,
                                text=True, env=env)
        if result.returncode != 0:
            raise SystemExit(f"bench: {' '.join(command)} failed:\n{result.stderr[-2000:]}")
        wall, kilobytes = report.read().split()[-2:]
    return float(wall), int(kilobytes) / 1024


def cli_runs(lengths: list[float], audio: dict, models: dict, folder: Path) -> dict:
    results = {}
    for model_name, (checkpoint, template, formats) in models.items():
        for extension in formats:
            for length in lengths:
                out = folder / f"out{extension}"
                command = [sys.executable, "-m", "meshtalk_blender", "animate", str(audio[length]), "--out", str(out),
                           "--quiet", "--checkpoint", str(checkpoint)] + (["--template", str(template)] if template else [])
                results[(model_name, extension, length)] = timed(command)
                out.unlink(missing_ok=True)
                print(f"  cli {model_name} {extension} {length:g} s: {results[(model_name, extension, length)][0]:.2f} s",
                      flush=True)
    return results


ADDON_SCRIPT = r"""
import json, os, sys, time
sys.path[:0] = sys.argv[1:3]
import blender_support as support
bpy = support.import_bpy()
extension = support.enable_addon()
output, audio_path, blend, warm_up = sys.argv[3:7]
support.empty_scene()
bpy.ops.wm.save_as_mainfile(filepath=blend)
face = support.add_head()
bpy.ops.meshtalk.load_audio(filepath=audio_path)
bpy.context.scene.meshtalk.output = output
times = []
if warm_up == "warm-up":  # what drawing the panel starts (it does not in the background), finished
    import importlib, threading
    addon = importlib.import_module(extension.__name__ + ".blender.addon")
    model_source = importlib.import_module(extension.__name__ + ".blender.model_source")
    model_source.warm_up(addon.model_choice())
    for thread in threading.enumerate():
        if thread.name == "MeshTalk warm-up":
            thread.join()
for _ in range(2):  # cold (the first click in this Blender), then warm
    started = time.perf_counter()
    bpy.ops.meshtalk.animate_from_audio()
    times.append(time.perf_counter() - started)
print("RESULT " + json.dumps(times))
sys.stdout.flush()
os._exit(0)
"""


def addon_clicks(output: str, audio_file: Path, folder: Path, warm_up: bool) -> list[float]:
    """Seconds of two Animate clicks in a fresh Blender (after the panel's warm-up has
    finished, if ``warm_up``)."""
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(folder / "blender-user"))
    result = subprocess.run([sys.executable, "-c", ADDON_SCRIPT, str(ROOT / "tests"), str(ROOT), output,
                             str(audio_file), str(folder / "scene.blend"), "warm-up" if warm_up else "none"],
                            capture_output=True, text=True, env=env, timeout=3600)
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"bench: the add-on run failed:\n{result.stderr[-2000:]}")
    return json.loads(line[len("RESULT "):])


def addon_runs(seconds: list[float], audio: dict, folder: Path) -> dict:
    results = {}
    for length in seconds:
        for output in ADDON_OUTPUTS:
            results[(output, length)] = addon_clicks(output, audio[length], folder, warm_up=False)
            print(f"  add-on {output} {length:g} s: cold {results[(output, length)][0]:.2f} s, "
                  f"warm {results[(output, length)][1]:.2f} s", flush=True)
    return results


def in_process(lengths: list[float], naive: list[float], folder: Path) -> dict:
    """bench_animate.py's in-process pipeline and naive algorithm (original size)."""
    results = {}
    for flag, values in (("--one", lengths), ("--one-naive", naive)):
        for length in values:
            output = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_animate.py"), flag, str(length),
                                     "--workdir", str(folder)], capture_output=True, text=True, check=True).stdout
            results[(flag, length)] = json.loads(output.strip().splitlines()[-1])["end_to_end_s"]
            print(f"  {flag[2:]} {length:g} s: {results[(flag, length)]:.2f} s", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=float, nargs="+", default=[1, 60, 600])
    parser.add_argument("--naive", type=float, nargs="*", default=[1, 60], help="lengths for the naive algorithm")
    parser.add_argument("--addon-seconds", type=float, nargs="*", default=[8.5, 240])
    parser.add_argument("--no-character", dest="character", action="store_false",
                        help="leave out Make ARKit Shape Keys on a character (bench_character.py --blender)")
    args = parser.parse_args()
    from audio_fixtures import speech_like  # noqa: F401  (fails early outside the checkout)
    from bench_animate import machine, write_audio

    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        audio = {length: write_audio(length, folder) for length in set(args.lengths) | set(args.addon_seconds)}
        release = write_original_release(folder / "release")
        models = {"bundled": (ROOT / "meshtalk_blender" / "assets" / "model", None, VERTEX_FORMATS + WEIGHT_FORMATS),
                  "original size": (release, release / "face_template.obj", VERTEX_FORMATS)}
        print(f"{machine()}; each command in a fresh process", flush=True)
        cli = cli_runs(args.lengths, audio, models, folder)
        pipeline = in_process(args.lengths, args.naive, folder)
        addon = addon_runs(args.addon_seconds, audio, folder)
        warmed = {length: addon_clicks("ARKIT", audio[length], folder, warm_up=True) for length in args.addon_seconds[:1]}

    print("\nCommand line, wall seconds (peak RSS), whole command:")
    print(f"{'model':>14} {'format':>6} " + " ".join(f"{length:>16g}s" for length in args.lengths)
          + ("   x real time (60-1)" if {1, 60} <= set(args.lengths) else ""))
    for (model_name, extension) in dict.fromkeys((m, e) for m, e, _ in cli):
        cells = [cli[(model_name, extension, length)] for length in args.lengths]
        row = f"{model_name:>14} {extension:>6} " + " ".join(f"{wall:>8.2f}s ({rss:>4.0f}MB)" for wall, rss in cells)
        if {1, 60} <= set(args.lengths):
            row += f"   {59 / max(1e-9, cli[(model_name, extension, 60)][0] - cli[(model_name, extension, 1)][0]):>6.1f}x"
        print(row)
    print("\nOriginal size in process (bench_animate.py; no start-up, .pc2):  "
          + ", ".join(f"{length:g} s: {pipeline[('--one', length)]:.2f} s" for length in args.lengths))
    print("The release's naive algorithm, same sizes:                      "
          + ", ".join(f"{length:g} s: {pipeline[('--one-naive', length)]:.2f} s" for length in args.naive))
    print("\nThe add-on's Animate from Audio on the bundled head (the operator, in Blender):")
    for (output, length), (cold, warm) in addon.items():
        print(f"{output:>11} {length:>6g} s of audio: cold {cold:6.2f} s, warm {warm:6.2f} s")
    for length, (first, second) in warmed.items():
        print(f"      ARKIT {length:>6g} s of audio, after the panel's warm-up finished: first click {first:.2f} s, "
              f"second {second:.2f} s")
    if args.character:  # the any-character fit, as a user waits for it (its own script, fresh processes)
        print("\nMake ARKit Shape Keys on a character (bench_character.py --blender):", flush=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "bench_character.py"), "--blender"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
