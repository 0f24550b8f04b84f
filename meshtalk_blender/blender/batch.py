"""The ``meshtalk`` batch command: many lines of dialogue, no UI.

    blender -b scene.blend -c meshtalk animate --object Face --audio line1.wav --audio line2.wav
    blender -b scene.blend -c meshtalk animate --object Face --audio *.wav --out-dir shots/

Without --out-dir, every line becomes a take (its own action, or its own point cache)
on the object, the lines' sound strips one after another on the timeline, and the file
is saved (--save PATH, default: the open .blend, keeping Blender's .blend1 backup).
With --out-dir, each line goes into its own copy of the .blend (DIR/<audio name>.blend).

``main(argv) -> exit status`` is the whole command: the ``-c`` entry point, the
``--python`` script (``meshtalk_batch.py`` next to this package) and the tests call it.
A user error prints one line ``meshtalk: error: ...`` and returns 2; a bug returns 3.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

import bpy

from ..core.defaults import DEFAULT_TEMPERATURE
from ..core.errors import MeshTalkError
from . import addon, audio_source, session
from .job import Job
from .model_source import ModelChoice

EXIT_OK, EXIT_USER_ERROR, EXIT_BUG = 0, 2, 3
OUTPUTS = {"arkit": "ARKIT", "basis": "BASIS", "cache": "MESH_CACHE"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise MeshTalkError(f"{message} (see: meshtalk animate --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="blender -b FILE.blend -c meshtalk", description="MeshTalk: animate faces from speech.")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    animate = verbs.add_parser("animate", help="animate an object from one or more audio files")
    animate.add_argument("--object", required=True, help="the face mesh to animate (object name)")
    animate.add_argument("--audio", required=True, nargs="+", action="extend", type=Path,
                         help="speech files (wav, flac, ogg, mp3); repeat or list several")
    animate.add_argument("--output", choices=sorted(OUTPUTS), default="arkit",
                         help="arkit: ARKit key weights; basis: compact shape-key basis; cache: PC2 + Mesh Cache "
                              "(meshes with ARKit keys but another topology always get arkit)")
    animate.add_argument("--seed", type=int, default=0, help="seed of the upper-face motion (default 0)")
    animate.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE,
                         help=f"sampling temperature (default {DEFAULT_TEMPERATURE:g})")
    animate.add_argument("--no-pause-rest", dest="rest_in_pauses", action="store_false",
                         help="leave the mouth as drawn in pauses (default: it rests closed)")
    animate.add_argument("--no-lip-seal", dest="seal_lips", action="store_false",
                         help="leave the lips as drawn on p, b and m (default: they close where the model hears one)")
    animate.add_argument("--variants", type=int, default=0, help="extra upper-face variants per line (takes)")
    animate.add_argument("--frame", type=int, help="scene frame where the (first) line starts (default: scene start)")
    animate.add_argument("--gap", type=float, default=1.0, help="seconds between lines on the timeline (default 1)")
    animate.add_argument("--model", type=Path, help="model folder (default: the add-on's preference)")
    animate.add_argument("--template", type=Path, help="the original release's face_template.obj (with --model)")
    animate.add_argument("--device", choices=["auto", "cuda", "mps", "cpu"], help="default: the add-on's preference")
    animate.add_argument("--cache-folder", default="//meshtalk_cache/", help="point caches (default: next to the .blend)")
    where = animate.add_mutually_exclusive_group()
    where.add_argument("--save", type=Path, help="save the result here (default: over the open .blend)")
    where.add_argument("--out-dir", type=Path, help="one .blend per audio line in this folder")
    return parser


def cli_command(argv: list[str]) -> int:
    """``blender -c meshtalk ...`` (bpy.utils.register_cli_command)."""
    return main(argv)


def main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
        _animate(args)
    except MeshTalkError as error:
        _say(f"meshtalk: error: {error}", error=True)
        return EXIT_USER_ERROR
    except SystemExit as exit_request:  # --help
        return int(exit_request.code or 0)
    except Exception as error:  # a bug in this project, not the user's fault
        traceback.print_exc()
        _say(f"meshtalk: internal error ({type(error).__name__}: {error}); please report it.", error=True)
        return EXIT_BUG
    return EXIT_OK


def _say(text: str, error: bool = False) -> None:
    stream = sys.stderr if error else sys.stdout
    print(text, file=stream, flush=True)


def _animate(args: argparse.Namespace) -> None:
    audio_files = [path.expanduser().resolve() for path in args.audio]
    for path in audio_files:
        if not path.is_file():
            raise MeshTalkError(f"Audio file not found: {path}.")
    if args.variants < 0:
        raise MeshTalkError("--variants must be 0 or more.")
    choice = (ModelChoice("FOLDER", str(args.model.resolve()), str(args.template.resolve()) if args.template else "")
              if args.model else addon.model_choice())
    device = args.device or addon.device_preference()
    settings = SimpleNamespace(audio_strip="", output=OUTPUTS[args.output], seed=args.seed,
                               temperature=args.temperature, cache_folder=args.cache_folder,
                               rest_in_pauses=args.rest_in_pauses, seal_lips=args.seal_lips)
    source_blend = bpy.data.filepath
    if args.out_dir is not None:
        if not source_blend:
            raise MeshTalkError("--out-dir copies the open .blend for each line: open one (blender -b scene.blend ...).")
        args.out_dir.mkdir(parents=True, exist_ok=True)
        for index, audio in enumerate(audio_files):
            if index:
                bpy.ops.wm.open_mainfile(filepath=source_blend)
            target = (args.out_dir / f"{audio.stem}.blend").resolve()
            bpy.ops.wm.save_as_mainfile(filepath=str(target))  # point caches then go next to the copy
            _animate_line(args, audio, settings, choice, device, session.REPLACE_ALL, args.frame)
            bpy.ops.wm.save_mainfile()
            _say(f"meshtalk: saved {target}")
        return
    save_to = args.save.resolve() if args.save else (Path(source_blend) if source_blend else None)
    if save_to is None:
        raise MeshTalkError("Nothing to save into: open a .blend (blender -b scene.blend ...) or pass --save PATH.")
    if args.save:
        bpy.ops.wm.save_as_mainfile(filepath=str(save_to))
    frame = args.frame
    for index, audio in enumerate(audio_files):
        strip = _animate_line(args, audio, settings, choice, device,
                              session.REPLACE_ALL if index == 0 else session.ADD, frame)
        fps = audio_source.scene_fps(bpy.context.scene)
        frame = strip.frame_final_end + int(round(args.gap * fps))
    bpy.ops.wm.save_mainfile()
    _say(f"meshtalk: saved {save_to}")


def _animate_line(args, audio: Path, settings, choice, device, scope: str, frame: int | None):
    scene = bpy.context.scene
    obj = scene.objects.get(args.object)
    if obj is None:
        names = ", ".join(sorted(o.name for o in scene.objects if o.type == "MESH")[:8]) or "none"
        raise MeshTalkError(f"No object named '{args.object}' in the scene (meshes: {names}).")
    strip = audio_source.add_sound_strip(scene, str(audio), scene.frame_start if frame is None else frame)
    settings.audio_strip = strip.name
    started = time.perf_counter()
    work = session.plan_animate(bpy.context, obj, settings, scope, choice, device)
    _run_and_apply(work)
    if args.variants:
        seeds = session.variant_seeds(obj, settings, args.variants)
        _run_and_apply(session.plan_resample(bpy.context, obj, seeds, scope=session.ADD, settings=settings,
                                             choice=choice, device=device))
        obj.meshtalk.active_take = len(obj.meshtalk.takes) - 1 - args.variants  # the line's first take plays
    _say(f"meshtalk: {audio.name} -> '{obj.name}' in {time.perf_counter() - started:.1f} s")
    return strip


def _run_and_apply(work: session.Work) -> None:
    job = Job(work.plans)
    job.run()
    if job.error is not None:
        raise MeshTalkError(job.error)
    _say(session.apply(work, job.results))
