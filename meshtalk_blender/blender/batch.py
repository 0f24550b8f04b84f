"""The ``meshtalk`` batch command: many lines of dialogue, no UI.

    blender -b scene.blend -c meshtalk animate --object Face --audio line1.wav --audio line2.wav
    blender -b scene.blend -c meshtalk animate --object Face --audio *.wav --out-dir shots/
    blender -b character.blend -c meshtalk rig --object Body   (the 52 ARKit keys, any topology)

Without --out-dir, every line becomes a take (its own action, or its own point cache)
on the object, the lines' sound strips one after another on the timeline, all of them
playing (blender/playback.py), the takes the object had before replaced, and the file
saved (--save PATH, default: the open .blend, keeping Blender's .blend1 backup). With
--out-dir, each line goes into its own copy of the .blend (DIR/<audio name>.blend).
Every output file is written whole or not at all.

``main(argv) -> exit status`` is the whole command: the ``-c`` entry point, the
``--python`` script (``blender/batch_script.py``) and the tests call it. A user error
prints one line ``meshtalk: error: ...`` and returns 2; a bug returns 3; Ctrl-C 130.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import secrets
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

import bpy
import numpy as np

from ..core.atomic_files import check_writable_output, describe_os_error
from ..core.defaults import DEFAULT_TEMPERATURE, MAX_SEED
from ..core.errors import MeshTalkError
from . import addon, audio_source, cache_files, model_source, session
from .job import Job
from .model_source import ModelChoice

EXIT_OK, EXIT_USER_ERROR, EXIT_BUG, EXIT_CANCELLED = 0, 2, 3, 130
MAX_VARIANTS = 64
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
    animate.add_argument("--temperature", type=float,
                         help="sampling temperature of the upper face (default: the one stored with the model; "
                              f"{DEFAULT_TEMPERATURE:g} for a model that stores none)")
    animate.add_argument("--no-pause-rest", dest="rest_in_pauses", action="store_false",
                         help="leave the mouth as drawn in pauses (default: it rests closed)")
    animate.add_argument("--no-lip-seal", dest="seal_lips", action="store_false",
                         help="leave the lips as drawn (default: the jaw follows the lips' opening heard in the "
                              "voice, they close on p/b/m, the lower lip tucks on f/v where the model hears one, "
                              "and they stay apart in speech where it hears neither)")
    animate.add_argument("--no-head-motion", dest="head_motion", action="store_false",
                         help="keep the head still (default: it nods and turns a little, drawn by the seed: "
                              "the MeshTalk head, or a character's head bone)")
    animate.add_argument("--every-frame", action="store_true",
                         help="shape-key outputs: a linear key at every frame (default: the fewest Bezier keys "
                              "within --key-tolerance, none for keys that stay near zero)")
    animate.add_argument("--key-tolerance", type=float, default=0.01,
                         help="how far the reduced keys' curves may stray from the weights (default 0.01)")
    animate.add_argument("--variants", type=int, default=0, help="extra upper-face variants per line (takes)")
    animate.add_argument("--frame", type=int, help="scene frame where the (first) line starts (default: scene start)")
    animate.add_argument("--gap", type=float, default=1.0, help="seconds between lines on the timeline (default 1)")
    animate.add_argument("--model", type=Path, help="model folder (default: the add-on's preference)")
    animate.add_argument("--template", type=Path, help="the original release's face_template.obj (with --model)")
    animate.add_argument("--device", choices=["auto", "cuda", "mps", "cpu"], help="default: the add-on's preference")
    animate.add_argument("--cache-folder", default="//meshtalk_cache/", help="point caches (default: next to the .blend)")
    animate.add_argument("--export", nargs="+", choices=["csv", "json", "glb"], default=[],
                         help="also write each line's ARKit weights beside the saved .blend, as <line>.csv (Live Link "
                              "Face's layout), .json or .glb (the MeshTalk head with 52 morph targets); needs "
                              "--output arkit")
    rig = verbs.add_parser("rig", help="give a mesh of any topology the 52 ARKit shape keys (Make ARKit Shape Keys)")
    rig.add_argument("--object", required=True, help="the character's face or body mesh (object name)")
    rig.add_argument("--save", type=Path, help="save the result here (default: over the open .blend)")
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
        if args.verb == "rig":
            _rig(args)
        else:
            _animate(args)
    except MeshTalkError as error:
        _say(f"meshtalk: error: {error}", error=True)
        return EXIT_USER_ERROR
    except _BatchFailed as failed:
        return failed.status
    except KeyboardInterrupt:  # before any line started
        _say("meshtalk: cancelled; nothing was written.", error=True)
        return EXIT_CANCELLED
    except SystemExit as exit_request:  # --help
        return int(exit_request.code or 0)
    except Exception as error:  # a bug in this project, not the user's fault
        traceback.print_exc()
        _say(f"meshtalk: internal error ({type(error).__name__}: {error}); please report it.", error=True)
        return EXIT_BUG
    return EXIT_OK


class _BatchFailed(Exception):
    """Some outputs were not written; the summary is printed; ``status`` is the exit code."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def _say(text: str, error: bool = False) -> None:
    stream = sys.stderr if error else sys.stdout
    print(text, file=stream, flush=True)


def _animate(args: argparse.Namespace) -> None:
    """Every output file is written whole or not at all: a .blend is saved (under its own
    name) only when all of its lines were animated; a line that fails leaves no file, no
    point cache and the previous .blend as it was."""
    audio_files = _checked_arguments(args)
    choice = (ModelChoice("FOLDER", str(args.model.resolve()), str(args.template.resolve()) if args.template else "")
              if args.model else addon.model_choice())
    device = args.device or addon.device_preference()
    cache_folder = args.cache_folder if args.cache_folder.startswith("//") else str(Path(args.cache_folder).resolve())
    cache_files.approve_folder(cache_folder)  # given on this command line: the user's own choice
    settings = SimpleNamespace(audio_strip="", output=OUTPUTS[args.output], seed=args.seed,
                               use_model_temperature=args.temperature is None,
                               temperature=args.temperature,  # read only when the model's is not used
                               cache_folder=cache_folder,
                               rest_in_pauses=args.rest_in_pauses, seal_lips=args.seal_lips,
                               head_motion=args.head_motion,
                               keys="EVERY_FRAME" if args.every_frame else "REDUCED", key_tolerance=args.key_tolerance)
    source_blend = bpy.data.filepath
    if args.out_dir is not None:
        if not source_blend:
            raise MeshTalkError("--out-dir copies the open .blend for each line: open one (blender -b scene.blend ...).")
        targets = _out_dir_targets(args.out_dir, audio_files, Path(source_blend))
        outcomes = []
        for index, (audio, target) in enumerate(zip(audio_files, targets)):
            if index:
                bpy.ops.wm.open_mainfile(filepath=source_blend)
            outcomes.append(_write_output(target, [audio], [target.stem], args, settings, choice, device))
            if outcomes[-1] == EXIT_CANCELLED:
                break
        _summarise(outcomes, len(audio_files))
        return
    save_to = args.save.resolve() if args.save else (Path(source_blend) if source_blend else None)
    if save_to is None:
        raise MeshTalkError("Nothing to save into: open a .blend (blender -b scene.blend ...) or pass --save PATH.")
    names = distinct_names(audio_files)
    _summarise([_write_output(save_to, audio_files, names, args, settings, choice, device)], 1)


def _rig(args: argparse.Namespace) -> None:
    """Make ARKit Shape Keys on --object and save the file (whole or not at all: a
    failure leaves the .blend as it was)."""
    from . import character_rig

    source_blend = bpy.data.filepath
    save_to = args.save.resolve() if args.save else (Path(source_blend) if source_blend else None)
    if save_to is None:
        raise MeshTalkError("Nothing to save into: open a .blend (blender -b character.blend ...) or pass --save PATH.")
    check_writable_output(save_to, inputs=())
    obj = _target_object(args.object)
    started = time.perf_counter()
    rig_plan = character_rig.plan(bpy.context, obj)
    rig = character_rig.run(rig_plan)
    _say(character_rig.apply(rig_plan, rig) + f" ({time.perf_counter() - started:.1f} s)")
    _save_as(save_to)
    _say(f"meshtalk: saved {save_to}")


def _checked_arguments(args: argparse.Namespace) -> list[Path]:
    """Everything that can be checked before any work: a clear message, nothing touched."""
    audio_files = [path.expanduser().resolve() for path in args.audio]
    for path in audio_files:
        if path.is_dir():
            raise MeshTalkError(f"{path} is a folder, not an audio file; give the audio files inside it.")
        if not path.is_file():
            raise MeshTalkError(f"Audio file not found: {path}.")
    if not 0 <= args.variants <= MAX_VARIANTS:
        raise MeshTalkError(f"--variants must be between 0 and {MAX_VARIANTS}.")
    if not 0 <= args.seed <= MAX_SEED:  # variants' seeds wrap around (session.following_seed)
        raise MeshTalkError(f"--seed must be between 0 and {MAX_SEED}.")
    if args.temperature is not None and not (math.isfinite(args.temperature) and 0.0 <= args.temperature <= 10.0):
        raise MeshTalkError("--temperature must be between 0 and 10.")
    if not (math.isfinite(args.key_tolerance) and 0.0005 <= args.key_tolerance <= 0.2):
        raise MeshTalkError("--key-tolerance must be between 0.0005 and 0.2.")
    if not (math.isfinite(args.gap) and 0.0 <= args.gap <= 3600.0):
        raise MeshTalkError("--gap must be between 0 and 3600 seconds.")
    limit = bpy.types.Scene.bl_rna.properties["frame_current"].hard_max
    if args.frame is not None and not -limit <= args.frame <= limit:
        raise MeshTalkError(f"--frame must be between {-limit} and {limit} (Blender's frame range).")
    if args.save is not None:
        check_writable_output(args.save.resolve(), inputs=tuple(audio_files))
    _target_object(args.object)
    if args.export and args.output != "arkit":
        raise MeshTalkError("--export writes ARKit weights: use it with --output arkit (the default).")
    if args.out_dir is not None and args.out_dir.exists() and not args.out_dir.is_dir():
        raise MeshTalkError(f"--out-dir {args.out_dir} is a file; give a folder.")
    return audio_files


def _out_dir_targets(out_dir: Path, audio_files: list[Path], source: Path) -> list[Path]:
    """One .blend per line, named after the audio file; lines with the same file name
    from different folders get their folders' names too (x/line.wav -> x_line.blend), so
    no line overwrites another's file."""
    out_dir = out_dir.resolve()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MeshTalkError(f"Cannot create --out-dir {out_dir} ({describe_os_error(error)}).") from None
    names = distinct_names(audio_files)
    targets = [out_dir / f"{name}.blend" for name in names]
    for target in targets:
        check_writable_output(target, inputs=tuple(audio_files) + (source,))
    return targets


def distinct_names(paths: list[Path]) -> list[str]:
    """A file name stem per path, unique among them: the stem, with as few parent folder
    names in front as tell equal stems apart (x/line.wav, y/line.wav -> x_line, y_line);
    a number for what no folder tells apart (line.wav, line.flac -> line, line_2)."""
    names = [path.stem for path in paths]
    for stem in set(names):
        group = [i for i, name in enumerate(names) if name == stem]
        deepest = max(len(paths[i].parent.parts) for i in group)
        for depth in range(1, deepest + 1) if len(group) > 1 else ():
            candidates = ["_".join(paths[i].parent.parts[-depth:] + (stem,)).lstrip("/_") for i in group]
            if len(set(candidates)) == len(group):
                for i, candidate in zip(group, candidates):
                    names[i] = candidate
                break
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique


def _write_output(target: Path, lines: list[Path], names: list[str], args, settings, choice,
                  device) -> int | Path:
    """Animates ``lines`` in the open file and saves it as ``target`` if all succeed
    (then each line's ARKit weights as ``--export`` asks, named ``names`` beside it);
    otherwise ``target`` stays as it was and every point cache of the failed run is
    deleted. Returns the target (written) or an exit status (failed)."""
    in_place = bpy.data.filepath and Path(bpy.data.filepath).resolve() == target
    staging = None
    try:
        if not in_place:
            # Saved first under a temporary name in the target's folder, so that point
            # caches and relative paths are made for where the file will live.
            staging = target.with_name(f".{target.stem}.meshtalk-{os.getpid()}-{secrets.token_hex(4)}.blend")
            _save_as(staging)
        weights = _animate_lines(args, lines, settings, choice, device)
        _save_as(target)
        for name, line_weights in zip(names, weights):
            for kind in args.export or ():
                path = target.parent / f"{name}.{kind}"
                _export(path, line_weights, settings, choice)
                _say(f"meshtalk: exported {path}")
        return target
    except (Exception, KeyboardInterrupt) as error:
        status = (EXIT_USER_ERROR if isinstance(error, MeshTalkError) else
                  EXIT_CANCELLED if isinstance(error, KeyboardInterrupt) else EXIT_BUG)
        if status == EXIT_BUG:
            traceback.print_exc()
        what = ("cancelled" if status == EXIT_CANCELLED else
                str(error) if status == EXIT_USER_ERROR else
                f"internal error ({type(error).__name__}: {error}); please report it")
        _say(f"meshtalk: error: {what} ({', '.join(p.name for p in lines)}: {target.name} was not written)", error=True)
        cache_files.delete_unreachable()  # this run's point caches: nothing saved uses them
        return status
    finally:
        if staging is not None:
            for leftover in (staging, staging.with_name(staging.name + "1")):
                with contextlib.suppress(OSError):
                    leftover.unlink()


def _save_as(path: Path) -> None:
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(path))
    except RuntimeError as error:
        raise MeshTalkError(f"Blender could not save {path} ({str(error).strip()}); check the folder and the "
                            "free disk space.") from None


def _summarise(outcomes: list, total: int) -> None:
    written = [outcome for outcome in outcomes if isinstance(outcome, Path)]
    failed = [outcome for outcome in outcomes if not isinstance(outcome, Path)]
    for path in written:
        _say(f"meshtalk: saved {path}")
    if not failed and len(outcomes) == total:
        return
    if total == 1:
        raise _BatchFailed(failed[0])  # its one line said it all
    skipped = total - len(outcomes)
    note = f", {skipped} not started" if skipped else ""
    _say(f"meshtalk: {len(written)} of {total} files written, {len(failed)} failed{note}.", error=True)
    raise _BatchFailed(EXIT_CANCELLED if EXIT_CANCELLED in failed else max(failed))


def _animate_lines(args, audio_files: list[Path], settings, choice, device) -> list[tuple[float, np.ndarray]]:
    """Each line's (fps, (T, 52) ARKit weights of its first take) when the output is
    ARKit weights (the exports' input), else empty."""
    frame = args.frame
    weights = []
    for index, audio in enumerate(audio_files):
        strip, result = _animate_line(args, audio, settings, choice, device,
                                      session.REPLACE_ALL if index == 0 else session.ADD, frame)
        fps = audio_source.scene_fps(bpy.context.scene)
        frame = strip.frame_final_end + int(round(args.gap * fps))
        if result is not None:
            weights.append((fps, result))
    return weights


def _export(path: Path, fps_and_weights: tuple[float, np.ndarray], settings, choice) -> None:
    from ..core import arkit_export

    fps, weights = fps_and_weights
    rig = arkit_export.bundled_head_rig(model_source.load(choice).template) if path.suffix == ".glb" else None
    with arkit_export.WeightsWriter(path, fps, head=rig) as writer:
        writer.write(weights)


def _target_object(name: str):
    scene = bpy.context.scene
    obj = scene.objects.get(name)
    if obj is None:
        names = ", ".join(sorted(o.name for o in scene.objects if o.type == "MESH")[:8]) or "none"
        raise MeshTalkError(f"No object named '{name}' in the scene (meshes: {names}).")
    return obj


def _animate_line(args, audio: Path, settings, choice, device, scope: str, frame: int | None):
    scene = bpy.context.scene
    obj = _target_object(args.object)
    strip = audio_source.add_sound_strip(scene, str(audio), scene.frame_start if frame is None else frame)
    settings.audio_strip = strip.name
    started = time.perf_counter()
    work = session.plan_animate(bpy.context, obj, settings, scope, choice, device)
    results = _run_and_apply(work)
    weights = None
    if results[0].weights is not None:  # ARKit output: its weights in ARKit's 52 (keys it has none for stay 0)
        from ..core.face.arkit_names import ARKIT_INDEX, ARKIT_NAMES

        weights = np.zeros((len(results[0].weights), len(ARKIT_NAMES)), np.float32)
        weights[:, [ARKIT_INDEX[name] for name in work.plans[0].solve_names]] = results[0].weights
    if args.variants:
        seeds = session.variant_seeds(obj, settings, args.variants)
        _run_and_apply(session.plan_resample(bpy.context, obj, seeds, scope=session.ADD, settings=settings,
                                             choice=choice, device=device))
        obj.meshtalk.active_take = len(obj.meshtalk.takes) - 1 - args.variants  # the line's first take plays
    _say(f"meshtalk: {audio.name} -> '{obj.name}' in {time.perf_counter() - started:.1f} s")
    return strip, weights


def _run_and_apply(work: session.Work) -> list:
    job = Job(work.plans)
    job.run()
    if job.error is not None:
        raise MeshTalkError(job.error)
    results = list(job.results)
    _say(session.apply(work, job.results))
    return results
