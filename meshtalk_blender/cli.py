"""``python -m meshtalk_blender VERB ...``: the add-on's work without Blender.

Every user mistake ends in one line on stderr and a non-zero exit status, never a
traceback (set MESHTALK_DEBUG=1 to see one for a bug).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from .core.defaults import DEFAULT_TEMPERATURE
from .core.errors import MeshTalkError

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_MODEL = PACKAGE_DIR / "assets" / "model"
VERTEX_KINDS = (".pc2", ".mdd", ".npz")
WEIGHT_KINDS = (".csv", ".json", ".glb")  # ARKit weights (core/arkit_export.py)
OUTPUT_KINDS = VERTEX_KINDS + WEIGHT_KINDS
EXIT_USER_ERROR, EXIT_BUG, EXIT_CANCELLED = 2, 3, 130


def default_checkpoint() -> Path:
    if not (BUNDLED_MODEL / "model.safetensors").is_file():
        raise MeshTalkError(
            "No bundled model is installed in this copy; pass --checkpoint with a model folder "
            "(ours, or the original release's .pkl files plus --template)."
        )
    return BUNDLED_MODEL


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        # One line, like every other user error (argparse would add the whole usage).
        print(f"meshtalk: error: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m meshtalk_blender", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    animate = verbs.add_parser("animate", help="animate a face from an audio file")
    animate.add_argument("audio", type=Path, help="speech: wav, flac, ogg or mp3, any rate, mono or stereo")
    animate.add_argument("--out", type=Path, required=True,
                         help="output: vertices as .pc2 or .mdd (Mesh Cache) or .npz (uncompressed: vertices, fps, "
                              "seed, temperature, labels); or the 52 ARKit weights (models of the MeshTalk head's "
                              "topology) as .csv (Live Link Face's layout), .json (names and per-frame weights) or "
                              ".glb (the head with its 52 morph targets, animated). Every format goes to a temporary "
                              "file beside it and replaces --out only when complete (a failure, Ctrl-C or a full "
                              "disk leaves an existing file as it was); all but .glb stream, so memory stays flat "
                              "for any length")
    animate.add_argument("--checkpoint", type=Path, help="model folder (default: the bundled model)")
    animate.add_argument("--template", type=Path, help="template OBJ: the identity to animate, model topology")
    animate.add_argument("--fps", type=float, default=30.0, help="output frame rate (default 30; 29.97 works)")
    animate.add_argument("--seed", type=int, default=0, help="random seed of the upper-face motion")
    animate.add_argument("--temperature", type=float,
                         help="sampling temperature of the upper face; 0 = most likely (default: the one stored "
                              f"with the model; {DEFAULT_TEMPERATURE:g} for a model that stores none)")
    animate.add_argument("--no-pause-rest", dest="rest_in_pauses", action="store_false",
                         help="leave the mouth as drawn in pauses (default: it rests closed)")
    animate.add_argument("--no-lip-seal", dest="seal_lips", action="store_false",
                         help="leave the lips as drawn (default: the jaw follows the lips' opening heard in the "
                              "voice, they close on p/b/m, the lower lip tucks on f/v where the model hears one, "
                              "and they stay apart in speech where it hears neither)")
    animate.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    animate.add_argument("--start", type=float, default=0.0, help="seconds into the audio to start at")
    animate.add_argument("--duration", type=float, help="seconds of audio to animate (default: to the end)")
    animate.add_argument("--quiet", action="store_true", help="no progress output")
    animate.set_defaults(run=run_animate)
    return parser


def run_animate(args: argparse.Namespace) -> None:
    from .blender.model_source import bundled_head_vertex_count  # bpy-free: counts the shipped OBJ's vertices
    from .core import audio, cache_io, pipeline
    from .core.atomic_files import check_writable_output
    from .core.checkpoints import checkpoint_files, load_model
    from .core.device import choose_device
    from .core.npz_io import NpzWriter

    # Everything that can be refused without reading the audio or the model is refused first.
    checkpoint = args.checkpoint or default_checkpoint()
    check_writable_output(args.out, inputs=(args.audio, args.template, *checkpoint_files(checkpoint)))
    kind = args.out.suffix.lower()
    if kind not in OUTPUT_KINDS:
        raise MeshTalkError(f"Unknown output type '{args.out.suffix}'; use one of {', '.join(OUTPUT_KINDS)}.")
    options = pipeline.AnimateOptions(fps=args.fps, seed=args.seed, temperature=args.temperature, device=args.device,
                                      rest_in_pauses=args.rest_in_pauses, seal_lips=args.seal_lips)
    options.validate()
    clip = audio.AudioClip(args.audio, args.start, args.duration)
    clip.check_range()
    device = choose_device(args.device)
    started = time.perf_counter()
    loaded = load_model(checkpoint, args.template)
    if "non-commercial" in loaded.licence and not args.quiet:
        print(f"Model: {loaded.description}; licence: {loaded.licence}.", file=sys.stderr)
    run = pipeline.AnimationRun(loaded, clip, options)
    for warning in run.info.warnings:  # printed even with --quiet: they are about the result
        print(f"meshtalk: warning: {warning}", file=sys.stderr)
    report = _progress_printer(args.quiet)

    rig = upper = None
    if kind in WEIGHT_KINDS:  # imported only here: the head's rig costs 0.3 s of imports
        from .core import arkit_export
        from .core.retarget import BlendshapeSolver

        rig = arkit_export.bundled_head_rig(run.template)
    elif len(run.template) == bundled_head_vertex_count():  # not the original release's topology
        # The model's blinks stop half way and its brows barely move (core.upper_face_vertices).
        from .core.upper_face_vertices import completed_frames, for_bundled_head

        upper = for_bundled_head(run.template)
    if rig is not None or upper is not None:
        from .core import brows
        from .core.clip_analysis import ClipAnalysis
        from .core.face.arkit_names import ARKIT_NAMES

        # The take's phrases and pitch accents (gaze, brows) and its tongue (a "th" shows
        # as tongueOut) come from the audio alone: read on a thread beside the model.
        analysis = ClipAnalysis(run.info, run.num_output_frames, args.fps,
                                tongue=loaded.tongue if rig is not None else None)

        def drawn_brows(count: int) -> tuple[np.ndarray, np.ndarray]:
            """(levels_db (count,), brow raises (count, 52)) drawn for the seed."""
            levels, accents = analysis.result()
            levels = levels[:count]
            return levels, brows.clip_brows(levels, accents, args.fps, args.seed, ARKIT_NAMES)

    def write(device_now) -> None:
        vertices = loaded.config.num_vertices
        if rig is not None:
            from .core import gaze
            from .core.blinks import complete_blinks

            neutral, triangles, deltas = rig
            solver = BlendshapeSolver(deltas, ARKIT_NAMES)  # fresh per attempt: it carries the last frame's weights
            # The whole take's weights (52 floats a frame) before writing: each blink is
            # taken to a full closure (core.blinks), which needs its frames on both sides.
            # The eyes' gaze is drawn for the seed (core.gaze: the vertices have no eyeballs),
            # and brow raises on the pitch accents join the model's faint brows (core.brows).
            weights = np.concatenate([solver.solve(frames - neutral)
                                      for frames in run.chunks(report, device=device_now)])
            levels, drawn = drawn_brows(len(weights))
            gaze.draw_into(weights, ARKIT_NAMES, lambda names: gaze.clip_gaze(levels, args.fps, args.seed, names))
            weights = brows.add_brows(weights, ARKIT_NAMES, drawn)
            tongue = analysis.tongue_track()
            if tongue is not None:
                from .core.tongue import with_dental_tongue_out

                weights = with_dental_tongue_out(weights, list(ARKIT_NAMES), tongue[:len(weights)])
            with arkit_export.WeightsWriter(args.out, args.fps, head=rig) as writer:
                writer.write(complete_blinks(weights, ARKIT_NAMES, args.fps))
            return
        # Blinks and brows are completed as in the ARKit outputs, once the whole take is read.
        chunks = run.chunks(report, device=device_now)
        complete = lambda count: upper.complete(args.fps, drawn_brows(count)[1])  # noqa: E731
        if kind == ".npz":
            if upper is not None:  # a zip entry cannot be rewritten: the frames wait beside it
                chunks = completed_frames(chunks, upper, complete, args.out)
            with NpzWriter(args.out, run.num_output_frames, vertices) as writer:
                for frames in chunks:
                    writer.write(frames)
                writer.finish(fps=np.float64(args.fps), seed=np.int64(args.seed),
                              temperature=np.float64(run.options.temperature), labels=run.labels)
            return
        with cache_io.CacheWriter(args.out, run.num_output_frames, vertices, args.fps) as writer:
            if upper is not None:
                upper.reset()  # a take run again (on the CPU after a GPU failed) is read afresh
            for frames in chunks:
                if upper is not None:
                    upper.add(frames)
                writer.write(frames)
            if upper is not None:  # in the file itself, as the add-on's point caches
                complete(writer.written)
                writer.adjust(upper.offsets)

    pipeline.run_with_cpu_fallback(write, device, notify=lambda message: print(message, file=sys.stderr))
    if not args.quiet:
        elapsed = time.perf_counter() - started
        what = "52 ARKit weights" if rig is not None else f"{loaded.config.num_vertices} vertices"
        print(f"{chr(13) if report else ''}Wrote {args.out} ({run.num_output_frames} frames at {args.fps:g} fps, "
              f"{what}) in {elapsed:.1f} s.", file=sys.stderr)


def _progress_printer(quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None

    def report(fraction: float) -> None:
        print(f"\ranimating: {fraction * 100:5.1f} %", end="", file=sys.stderr, flush=True)

    return report


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except MeshTalkError as error:
        print(f"meshtalk: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("meshtalk: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as error:  # a bug in this project, not the user's fault
        if os.environ.get("MESHTALK_DEBUG"):
            raise
        print(f"meshtalk: internal error ({type(error).__name__}: {error}); "
              "please report it (set MESHTALK_DEBUG=1 for details).", file=sys.stderr)
        return EXIT_BUG
    return 0
