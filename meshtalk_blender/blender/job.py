"""The work of "Animate from Audio" on a worker thread (no bpy here).

The main thread gathers everything from Blender into a ``JobPlan`` (plain arrays and
paths), the worker turns it into a ``JobResult`` (labels, key weights, a shape-key basis
or a finished point-cache file), and the main thread writes that into Blender. So the UI
keeps drawing while torch and the sampler run, Esc stops the worker between chunks, and
a cancelled or failed job leaves no file and no Blender data behind.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..core import cache_io
from ..core.clip_analysis import ClipAnalysis
from ..core.errors import MeshTalkError
from ..core.keyframes import ReducedCurve, reduce_curve
from ..core.retarget import (BlendshapeSolver, CompactBasis, Similarity, align_to_template, extend_basis,
                             is_mouth_key)
from . import model_source
from .take_data import blend_with_previous, redraw_ramp, redraw_window

if TYPE_CHECKING:
    from ..core.audio import AudioClip

# torch, numba and the pipeline are imported when a job runs (on the worker thread),
# not when the add-on registers.

ARKIT, BASIS, MESH_CACHE = "ARKIT", "BASIS", "MESH_CACHE"
DISCARD_WAIT_SECONDS = 1.0
PREVIOUS_BLOCK = 600  # frames of a previous take copied at a time
MAX_BASIS_BYTES = 2 * 1024**3  # the compact basis holds every frame in memory while it is fitted
# Model space: where the head turns (the top of the spine, behind the jaw, level with the mouth).
HEAD_PIVOT = np.array([0.0, 0.055, -0.085])
NO_TRANSFORM = Similarity(1.0, np.eye(3), np.zeros(3))  # the model's own space is the object's


@dataclass
class Resample:
    """Redraw part of an existing take: its latent, which heads and frames to redraw, and
    what it looked like (to keep the lips, and everything outside the frame range)."""

    labels: np.ndarray  # (K, H) the take's latent
    model_frames: tuple[int, int] | None  # [start, end) model frames to redraw; None: all
    output_frames: tuple[int, int] | None  # [first, last] output frames redrawn; None: all
    previous: np.ndarray | None = None  # (T, V, 3) output-space vertices or (T, K) weights
    previous_cache: Path | None = None  # or the take's point cache
    same_lips: bool = True
    previous_head: np.ndarray | None = None  # (T, 3) the take's head motion, radians
    previous_looks: np.ndarray | None = None  # (T, 8) a vertex take's gaze (core.gaze.LOOK_NAMES), keyed


@dataclass
class JobPlan:
    model_choice: model_source.ModelChoice
    device: str
    clip: AudioClip
    fps: float
    seed: int
    temperature: float
    output: str  # ARKIT, BASIS or MESH_CACHE
    object_name: str = "The mesh"
    # A mesh of the model's topology: its (V, 3) local rest shape, animated as the
    # identity and written back in its own space. None: the model's own template, in
    # model space (a character animated through its ARKit keys).
    object_rest: np.ndarray | None = None
    solve_names: tuple[str, ...] = ()  # ARKIT: the ARKit names to solve for
    solve_deltas: np.ndarray | None = None  # (K, V, 3) their offsets in the object's space; None: the head's rig
    basis_tolerance: float = 1e-4  # object-space vertex distance
    # BASIS: the (k, V, 3) offsets of the basis keys the object's takes already share (in
    # the object's order); the new take reuses them and adds only what they miss.
    basis_existing: np.ndarray | None = None
    cache_path: Path | None = None
    resample: Resample | None = None
    rest_in_pauses: bool = True  # close the mouth in pauses (core.pauses)
    seal_lips: bool = True  # lips closed on p/b/m, tucked on f/v, apart elsewhere in speech (core.pipeline)
    # Shape-key outputs: keys within this of the per-frame weights (core.keyframes),
    # reduced here on the worker; 0: a LINEAR key at every frame.
    key_tolerance: float = 0.0
    head_motion: bool = False  # draw the head's motion too (an object shaped like the MeshTalk head)
    head_motion_note: str = ""  # why head motion was asked for and left out, for the report
    # The object has the MeshTalk head's tongue controls (core.tongue.TONGUE_KEYS): the
    # tongue's track is keyed on them; without, an ARKit take's tongueOut shows a "th".
    tongue_controls: bool = False
    # The object has ARKit's four jaw keys: a head's vertex take keys them from its frames
    # (its lower teeth and tongue follow them).
    jaw_keys: bool = False
    # A character's point cache: its stored binding (blender/bindings.py) maps the
    # model's frames to its own vertices (object_rest), vertex by vertex.
    bound_arrays: dict | None = None


@dataclass
class Geometry:
    """Where the model's frames go: the identity it animates, the way back to the
    object's space, the rest shape displacements start from, and the ARKit shapes."""

    template: np.ndarray | None  # (V, 3) model space; None: the model's own
    to_output: Similarity | None  # or a character's BoundMesh: anything with apply(frames)
    neutral: np.ndarray  # (V, 3) output space
    solve_deltas: np.ndarray | None  # (K, V, 3) output space


def resolve_geometry(plan: JobPlan, loaded) -> Geometry:
    template = to_output = None
    neutral = loaded.template
    if plan.bound_arrays is not None:
        from ..core.character.bound import BoundMesh

        to_output = BoundMesh.from_arrays(plan.bound_arrays, plan.object_rest, loaded.template,
                                          f"'{plan.object_name}'")
        return Geometry(None, to_output, np.asarray(plan.object_rest, dtype=np.float32), None)
    if plan.object_rest is not None:
        stable = None
        if loaded.config.num_vertices == model_source.bundled_head_vertex_count():
            stable = model_source.bundled_head_parts()["stable"]
        to_model = align_to_template(plan.object_rest, loaded.template, stable, f"'{plan.object_name}'")
        template, to_output, neutral = to_model.apply(plan.object_rest), to_model.inverse(), plan.object_rest
    deltas = plan.solve_deltas
    if plan.output == ARKIT and deltas is None:
        if loaded.config.num_vertices != model_source.bundled_head_vertex_count():
            raise MeshTalkError("Solving into ARKit shape keys needs a model on the MeshTalk head's topology; "
                                "switch the model in the preferences, or use the Mesh cache output.")
        from ..core.face import ARKIT_INDEX, arkit_deltas, load_bundled_head

        rig = arkit_deltas(load_bundled_head())
        deltas = rig[[ARKIT_INDEX[name] for name in plan.solve_names]]
    return Geometry(template, to_output, np.asarray(neutral, dtype=np.float32), deltas)


@dataclass
class JobResult:
    labels: np.ndarray  # (K, H) latent at 30 fps
    num_frames: int
    model_label: str
    weights: np.ndarray | None = None  # (T, K) ARKit weights
    basis: CompactBasis | None = None  # existing components first, then the new ones
    basis_new: int = 0  # how many of the basis's components are new shape keys
    curves: list[ReducedCurve | None] | None = None  # per column of the weights: the fewest keys
    cache_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    head_motion: np.ndarray | None = None  # (T, 3) radians (core.head_motion), when the plan asks for it
    head_pivot: np.ndarray | None = None  # (3,) the point the head turns about, in the object's space
    head_axes: np.ndarray | None = None  # (3, 3) model-space directions -> the object's
    # A head's vertex outputs: the eyes' gaze as eyeLook weights (core.gaze.LOOK_NAMES) to
    # key, since the eyeballs turn by those keys, not by the vertices.
    look_weights: np.ndarray | None = None  # (T, 8)
    look_curves: list[ReducedCurve | None] | None = None
    # A head's vertex take: the jaw keys' weights read from its frames (JAW_NAMES), to key,
    # since the lower teeth and tongue follow those keys, not the vertices.
    jaw_weights: np.ndarray | None = None  # (T, 4)
    jaw_curves: list[ReducedCurve | None] | None = None
    # An object with the tongue controls: their weights (core.tongue.TONGUE_KEYS), to key.
    tongue_weights: np.ndarray | None = None  # (T, 3)
    tongue_curves: list[ReducedCurve | None] | None = None


class Job:
    """Runs plans one after the other on a worker thread (several for variants). Poll
    ``progress``/``stage``/``finished``; ``cancel()`` stops it at the next chunk; a
    cancelled or failed job deletes every file it wrote and keeps no result."""

    def __init__(self, plans: list[JobPlan]):
        self.plans = list(plans)
        self.progress = 0.0
        self.stage = "Starting"
        self.error: str | None = None
        self.results: list[JobResult] = []
        self.cancelled = False
        self.seconds = 0.0
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def start(self) -> "Job":
        self._thread = threading.Thread(target=self.run, name="MeshTalk animate", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def cancel(self) -> None:
        self._cancel.set()

    def discard(self, timeout: float = DISCARD_WAIT_SECONDS) -> None:
        """Cancel and delete anything the job wrote. Waits at most ``timeout`` for the
        worker (the UI must not freeze): a worker inside a long step deletes its own
        files when it reaches the next check (``run``'s cleanup on cancel)."""
        self.cancel()
        if self.wait(timeout):
            self._delete_files()

    def run(self) -> None:
        """The whole job on the calling thread (the batch command and tests call it directly)."""
        started = time.perf_counter()
        from ..core.pipeline import Cancelled

        try:
            for index, plan in enumerate(self.plans):
                def report(stage: str, fraction: float, index=index) -> None:
                    prefix = f"Take {index + 1}/{len(self.plans)}: " if len(self.plans) > 1 else ""
                    self.stage, self.progress = prefix + stage, (index + fraction) / len(self.plans)

                self.results.append(_work(plan, report, self._cancel.is_set))
                basis = self.results[-1].basis
                for later in self.plans[index + 1:]:  # variants share what this one added
                    if basis is not None and later.output == BASIS:
                        later.basis_existing = basis.components
        except Cancelled:
            self.cancelled = True
        except MeshTalkError as error:
            self.error = str(error)
        except Exception as error:  # a bug: keep the details for the console
            traceback.print_exc()
            self.error = f"Internal error ({type(error).__name__}: {error}); please report it."
        except BaseException:  # Ctrl-C in the batch command (run on the main thread): keep no file
            self.cancelled = True
            raise
        finally:
            self.cancelled = self.cancelled or self._cancel.is_set()
            if self.cancelled or self.error is not None:
                self._delete_files()
            self.seconds = time.perf_counter() - started
            self._finished.set()

    def _delete_files(self) -> None:
        for result in self.results:
            if result.cache_path is not None and result.cache_path.exists():
                os.unlink(result.cache_path)
        self.results = []


def _work(plan: JobPlan, report: Callable[[str, float], None], should_cancel: Callable[[], bool]) -> JobResult:
    import torch

    from ..core import audio, pipeline
    from ..core.model.config import MODEL_FPS
    from ..core.model.meshtalk import clip_mel_statistics
    from ..core.sampling import keep_mask

    report("Loading the model", 0.0)
    loaded = model_source.load(plan.model_choice)
    if should_cancel():
        raise pipeline.Cancelled()
    geometry = resolve_geometry(plan, loaded)
    report("Reading the audio", 0.0)
    info = audio.probe(plan.clip)
    num_model_frames = audio.frame_count(info.duration, MODEL_FPS)
    total = audio.frame_count(info.duration, plan.fps)
    keep_labels = mask = None
    resample = plan.resample
    window = None  # (first model frame, output frame there): a partial redraw runs that part only
    run_clip, statistics = info, None
    if resample is not None:
        redraw_heads = _upper_face_heads(loaded) if resample.same_lips else None
        keep_labels = resample.labels
        mask = keep_mask(len(keep_labels), keep_labels.shape[1], redraw_heads, resample.model_frames)
        part = redraw_window(resample.model_frames, num_model_frames, plan.fps)
        if part is not None and len(keep_labels) == num_model_frames:
            first, end, first_output = part
            seconds = (end - 1 - first) / MODEL_FPS if end < num_model_frames else info.duration - first / MODEL_FPS
            run_clip = audio.sub_clip(info, first / MODEL_FPS, seconds)
            count = min(audio.frame_count(run_clip.duration, MODEL_FPS), num_model_frames - first)
            keep_labels, mask = keep_labels[first:first + count], mask[first:first + count]
            with torch.inference_mode():  # the whole take's audio normalisation, for the part too
                statistics = clip_mel_statistics(loaded.model, audio.NormalisedSamples(info).get, info.num_samples)
            window = (first, first_output)
    options = pipeline.AnimateOptions(fps=plan.fps, seed=plan.seed, temperature=plan.temperature,
                                      device=plan.device, keep_labels=keep_labels, keep_mask=mask,
                                      rest_in_pauses=plan.rest_in_pauses, seal_lips=plan.seal_lips,
                                      lock_lips=resample is None or resample.same_lips)
    run = pipeline.AnimationRun(loaded, run_clip, options, geometry.template, statistics)
    if plan.output == BASIS:
        needed = total * loaded.config.num_vertices * 3 * 4
        if needed > MAX_BASIS_BYTES:
            raise MeshTalkError(f"This clip is too long for the shape-key basis output ({needed / 1024**3:.1f} GB "
                                "of frames); use the Mesh cache output, or animate a shorter strip.")
    notes: list[str] = []

    def progress(fraction: float) -> None:
        report("Animating", fraction)

    def produce(device) -> JobResult:
        sink = _Sink(plan, geometry, loaded, total)
        # The take's phrases and pitch accents (gaze, brows, head motion) come from the
        # audio alone: read beside the model, on a thread of their own.
        analysis = ClipAnalysis(info, total, plan.fps, sink.draws_upper_face() or plan.head_motion,
                                sink.draws_upper_face(), loaded.tongue if sink.draws_tongue() else None)
        try:
            done = window[1] if window is not None else 0
            sink.add_previous(0, done)  # before the part that is run again
            for frames in run.chunks(progress, should_cancel, device):
                frames = frames[:total - done]
                if geometry.to_output is not None:
                    frames = geometry.to_output.apply(frames)
                sink.add(frames, done)
                done += len(frames)
            sink.add_previous(done, total)  # and after it
            sink.levels_db, sink.accents = analysis.result()
            sink.tongue = analysis.tongue_track()
            return sink.finish(report, should_cancel)
        except BaseException:
            sink.abort()  # no partial point cache stays behind
            raise

    result = pipeline.run_with_cpu_fallback(produce, pipeline.choose_device(plan.device), notes.append)
    if window is not None:
        result.labels = resample.labels.copy()
        result.labels[window[0]:window[0] + len(run.labels)] = run.labels
    else:
        result.labels = run.labels.copy()
    result.model_label = loaded.description
    result.notes = list(info.warnings) + notes  # e.g. audio cut short, a GPU fallback
    return result


def _upper_face_heads(loaded) -> list[int] | None:
    """The heads to redraw for 'same lips': all but the mouth's (all when unknown; the
    vertex or key blend then keeps the lips)."""
    mouth = set(loaded.mouth_heads)
    return [h for h in range(loaded.config.num_heads) if h not in mouth]


class _Sink:
    """Takes output-space frames in order and builds the job's result."""

    def __init__(self, plan: JobPlan, geometry: Geometry, loaded, total: int):
        self.plan, self.geometry, self.total = plan, geometry, total
        self.resample = plan.resample
        self.previous = None
        if self.resample is not None:
            self.previous = (_open_cache(self.resample.previous_cache) if self.resample.previous_cache is not None
                             else self.resample.previous)
            if self.previous is None or len(self.previous) != total:
                raise MeshTalkError("The take to resample does not match its audio any more (frame count "
                                    "changed); animate it again.")
            first_last = self.resample.output_frames
            self.redraw = redraw_ramp(total, *(first_last if first_last else (None, None)))
        self.writer = None
        self.weight_chunks: list[np.ndarray] = []
        self.levels_db: np.ndarray | None = None  # (T,) the take's audio level per frame: its phrases
        self.accents: list | None = None  # the take's pitch accents (core.prosody), for the brows
        self.tongue: np.ndarray | None = None  # (T, 3) the take's tongue (core.tongue), when drawn
        self.frames: np.ndarray | None = None
        if plan.output == MESH_CACHE:
            self.writer = cache_io.CacheWriter(plan.cache_path, total, len(geometry.neutral), plan.fps)
            self.writer.__enter__()
        elif plan.output == ARKIT:
            self.solver = BlendshapeSolver(geometry.solve_deltas, plan.solve_names)
        else:
            self.frames = np.empty((total, loaded.config.num_vertices, 3), dtype=np.float32)
        lips = loaded.vertex_masks.get("mouth")
        if lips is None and loaded.config.num_vertices == model_source.bundled_head_vertex_count():
            lips = model_source.bundled_head_parts()["mouth"]
        same = self.resample is not None and self.resample.same_lips
        self.vertex_lips = (lips if lips is not None else np.zeros(loaded.config.num_vertices)) * float(same)
        if plan.bound_arrays is not None:  # a character's vertices: its mouth region through the binding
            self.vertex_lips = geometry.to_output.carry_mask(self.vertex_lips)
        self.key_lips = np.array([is_mouth_key(n) for n in plan.solve_names], dtype=np.float32) * float(same)
        self.jaw = None  # a head's vertex take: reads its jaw keys' weights (core.upper_face_vertices.KeyReader)
        self.upper = self._upper_face_on_vertices(loaded)

    def _upper_face_on_vertices(self, loaded):
        """Blinks and brows for the vertex outputs of a head of the MeshTalk head's
        topology (core/upper_face_vertices.py), or None; and the jaw's reader
        (``self.jaw``): its lower teeth and tongue follow the face's jaw keys, which the
        take keys from the frames (a point cache overwrites what they do to the face; a
        compact basis fits the frames less the jaw keys' share, ``_without_jaw``)."""
        if (self.plan.output not in (MESH_CACHE, BASIS) or self.plan.bound_arrays is not None
                or loaded.config.num_vertices != model_source.bundled_head_vertex_count()):
            return None
        from ..core.face import ARKIT_NAMES, arkit_deltas, load_bundled_head
        from ..core.face.arkit_names import JAW_NAMES
        from ..core.upper_face_vertices import KeyReader, UpperFaceOnVertices

        to_output = self.geometry.to_output or NO_TRANSFORM
        deltas = to_output.apply_to_offsets(arkit_deltas(load_bundled_head()))
        if self.plan.jaw_keys:
            self.jaw = KeyReader(deltas, ARKIT_NAMES, self.geometry.neutral, JAW_NAMES, alone=True)
            self.jaw_deltas = deltas[[ARKIT_NAMES.index(name) for name in JAW_NAMES]]  # (4, V, 3)
        return UpperFaceOnVertices(deltas, ARKIT_NAMES, self.geometry.neutral)

    def add_previous(self, start: int, end: int) -> None:
        """Output frames [start, end) as the take to resample has them (outside the part
        that is run again), in blocks (a point cache's frames stay on disk)."""
        if self.previous is None:
            return
        for first in range(start, end, PREVIOUS_BLOCK):
            kept = np.asarray(self.previous[first:min(end, first + PREVIOUS_BLOCK)], dtype=np.float32)
            if self.upper is not None:
                self.upper.add(kept)
            if self.jaw is not None:
                self.jaw.add(kept)
            if self.plan.output == ARKIT:
                self.weight_chunks.append(kept)
            elif self.writer is not None:
                self.writer.write(kept)
            else:
                self.frames[first:first + len(kept)] = kept

    def add(self, frames: np.ndarray, start: int) -> None:
        if not np.isfinite(frames).all():  # the pipeline checks its own output; this is the object's space
            raise MeshTalkError(f"The animation of '{self.plan.object_name}' came out as invalid numbers (NaN or "
                                "infinity); nothing was written. Check the mesh's transform and the model.")
        end = start + len(frames)
        if self.plan.output == ARKIT:
            weights = self.solver.solve(frames - self.geometry.neutral)
            if self.previous is not None:
                weights = blend_with_previous(weights, np.asarray(self.previous[start:end]), self.redraw[start:end],
                                              self.key_lips)
            self.weight_chunks.append(weights)
            return
        if self.previous is not None:
            frames = blend_with_previous(frames, np.asarray(self.previous[start:end]), self.redraw[start:end],
                                         self.vertex_lips)
        if self.upper is not None:
            self.upper.add(frames)
        if self.jaw is not None:
            self.jaw.add(frames)
        if self.writer is not None:
            self.writer.write(frames)
        else:
            self.frames[start:end] = frames

    def finish(self, report, should_cancel) -> JobResult:
        result = self._finish(report, should_cancel)
        if self.tongue is not None and self.plan.tongue_controls:
            result.tongue_weights = self.tongue
            result.tongue_curves = _reduced(self.tongue, self.plan.key_tolerance, should_cancel)
        if self.jaw is not None:
            result.jaw_weights = self._jaw_weights()
            result.jaw_curves = _reduced(result.jaw_weights, self.plan.key_tolerance, should_cancel)
        result.head_motion = self.head_motion()
        if self.plan.head_motion_note:
            result.notes.append(self.plan.head_motion_note)
        if result.head_motion is not None:
            to_output = self.geometry.to_output or NO_TRANSFORM
            result.head_pivot, result.head_axes = to_output.apply(HEAD_PIVOT), to_output.rotation
        return result

    def _finish(self, report, should_cancel) -> JobResult:
        from ..core import pipeline

        plan = self.plan
        if should_cancel():
            self.abort()
            raise pipeline.Cancelled()
        looks = None  # a head's vertex outputs key the gaze (the eyeballs turn by the eyeLook keys)
        if self.upper is not None:
            from ..core.brows import clip_brows
            from ..core.face import ARKIT_NAMES

            drawn = None if self.accents is None else clip_brows(self.levels_db, self.accents, plan.fps, plan.seed,
                                                                ARKIT_NAMES)
            self.upper.complete(plan.fps, drawn, self.redraw if self.previous is not None else None)
            looks = self._looks()
            if self.writer is not None:
                self.writer.adjust(self.upper.offsets)
            else:
                for first in range(0, self.total, PREVIOUS_BLOCK):
                    offsets = self.upper.offsets(first, min(PREVIOUS_BLOCK, self.total - first))
                    if offsets is not None:
                        self.frames[first:first + len(offsets)] += offsets
        if plan.output == MESH_CACHE:
            self.writer.__exit__(None, None, None)
            return self._with_looks(JobResult(np.zeros((0, 0)), self.total, "", cache_path=plan.cache_path),
                                    looks, should_cancel)
        if plan.output == ARKIT:
            from ..core.blinks import complete_blinks

            weights = self._with_brows(self._with_gaze(np.concatenate(self.weight_chunks)))
            weights = complete_blinks(weights, plan.solve_names, plan.fps)
            if self.tongue is not None and not plan.tongue_controls:
                from ..core.tongue import with_dental_tongue_out

                weights = with_dental_tongue_out(weights, list(plan.solve_names), self.tongue)
            return JobResult(np.zeros((0, 0)), self.total, "", weights=weights,
                             curves=_reduced(weights, plan.key_tolerance, should_cancel))
        def fitting(fraction: float) -> None:
            report("Fitting shape keys", fraction)
            if should_cancel():
                raise pipeline.Cancelled()

        existing = plan.basis_existing if plan.basis_existing is not None else np.zeros((0,) + self.frames.shape[1:])
        basis, new = extend_basis(self._without_jaw(self.frames - self.geometry.neutral[None]), existing,
                                  plan.basis_tolerance, on_step=fitting)
        return self._with_looks(JobResult(np.zeros((0, 0)), self.total, "", basis=basis, basis_new=new,
                                          curves=_reduced(basis.weights, plan.key_tolerance, should_cancel)),
                                looks, should_cancel)

    def _jaw_weights(self) -> np.ndarray:
        """(T, 4) the jaw keys' weights read from the frames, in JAW_NAMES order."""
        from ..core.face.arkit_names import JAW_NAMES

        return self.jaw.weights()[:, [self.jaw.names.index(name) for name in JAW_NAMES]]

    def _without_jaw(self, displacements: np.ndarray) -> np.ndarray:
        """(T, V, 3) a head's displacements less what its keyed jaw keys will add, in
        blocks (in place: the frames are not needed again)."""
        if self.jaw is None:
            return displacements
        weights = self._jaw_weights()
        for first in range(0, len(displacements), PREVIOUS_BLOCK):
            block = weights[first:first + PREVIOUS_BLOCK]
            displacements[first:first + len(block)] -= np.einsum("tk,kvc->tvc", block, self.jaw_deltas)
        return displacements

    def _looks(self) -> np.ndarray | None:
        """(T, 8) the gaze drawn for the plan's seed (core.gaze.LOOK_NAMES); in a
        resampled take, only where it is redrawn."""
        from ..core import gaze

        if self.levels_db is None:
            return None
        previous = self.resample.previous_looks if self.resample is not None else None
        return self._redrawn(gaze.clip_gaze(self.levels_db, self.plan.fps, self.plan.seed, gaze.LOOK_NAMES),
                             previous)

    def _with_looks(self, result: JobResult, looks: np.ndarray | None, should_cancel) -> JobResult:
        if looks is not None:
            result.look_weights = looks
            result.look_curves = _reduced(looks, self.plan.key_tolerance, should_cancel)
        return result

    def draws_upper_face(self) -> bool:
        """Whether the gaze and brows are drawn: ARKit weights with look or brow keys, or
        a head's vertices (brows only)."""
        from ..core.brows import BROW_NAMES
        from ..core.gaze import LOOK_NAMES

        drawn = set(LOOK_NAMES) | set(BROW_NAMES)
        return self.upper is not None or (self.plan.output == ARKIT
                                          and any(name in drawn for name in self.plan.solve_names))

    def draws_tongue(self) -> bool:
        """Whether the tongue's track is wanted: keyed on the head's controls, or shown as
        tongueOut on an ARKit take."""
        return self.plan.tongue_controls or (self.plan.output == ARKIT and "tongueOut" in self.plan.solve_names)

    def _redrawn(self, new: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
        """A take-long (T, ...) track drawn for the plan's seed, kept as `previous` where a
        resample does not redraw (the same ramp as the frames')."""
        if previous is None:
            return new
        return blend_with_previous(new, previous, self.redraw, np.zeros(new.shape[1:]))

    def _with_gaze(self, weights: np.ndarray) -> np.ndarray:
        """(T, K) solved weights with the eyeLook columns drawn by core.gaze for the
        plan's seed (the model's vertices have no eyeballs to solve them from)."""
        from ..core import gaze

        plan = self.plan
        if self.levels_db is None:
            return weights

        def drawn(names: list[str]) -> np.ndarray:
            previous = None
            if self.previous is not None:
                previous = np.asarray(self.previous)[:, [plan.solve_names.index(name) for name in names]]
            return self._redrawn(gaze.clip_gaze(self.levels_db, plan.fps, plan.seed, names), previous)

        return gaze.draw_into(weights, plan.solve_names, drawn)

    def _with_brows(self, weights: np.ndarray) -> np.ndarray:
        """(T, K) weights with brow raises drawn by core.brows for the plan's seed joined
        to the brow columns; in a resampled take, only where it is redrawn."""
        from ..core import brows

        plan = self.plan
        if self.accents is None:
            return weights
        drawn = brows.clip_brows(self.levels_db, self.accents, plan.fps, plan.seed, plan.solve_names)
        out = brows.add_brows(weights, plan.solve_names, drawn)
        if self.previous is not None:
            columns = [i for i, name in enumerate(plan.solve_names) if name in brows.BROW_NAMES]
            out[:, columns] = self._redrawn(out[:, columns], np.asarray(self.previous)[:, columns])
        return out

    def head_motion(self) -> np.ndarray | None:
        """(T, 3) pitch, yaw, roll (radians, core.head_motion) for the plan's seed."""
        from ..core.head_motion import head_motion

        if not self.plan.head_motion or self.levels_db is None:
            return None
        previous = self.resample.previous_head if self.resample is not None else None
        return self._redrawn(head_motion(self.levels_db, self.plan.fps, self.plan.seed), previous)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.__exit__(RuntimeError, RuntimeError("aborted"), None)  # deletes the partial file
            self.writer = None


def _reduced(weights: np.ndarray, tolerance: float, should_cancel) -> list[ReducedCurve | None] | None:
    """Each column of (T, K) weights as the fewest keys within ``tolerance`` (None: keep
    a key at every frame)."""
    from ..core import pipeline

    if tolerance <= 0:
        return None
    curves = []
    for column in weights.T:
        if should_cancel():
            raise pipeline.Cancelled()
        curves.append(reduce_curve(column, tolerance))
    return curves


def _open_cache(path: Path) -> np.ndarray:
    """(T, V, 3) frames of a PC2 file, memory-mapped (an hour never sits in memory)."""
    if not Path(path).is_file():
        raise MeshTalkError(f"The take's point cache {path} is missing; animate again.")
    with open(path, "rb") as handle:
        header = handle.read(cache_io.PC2_HEADER.size)
    if len(header) < cache_io.PC2_HEADER.size or not header.startswith(cache_io.PC2_MAGIC):
        raise MeshTalkError(f"The take's point cache {Path(path).name} is missing or damaged; animate again.")
    _, _, vertices, _, _, frames = cache_io.PC2_HEADER.unpack(header)
    return np.memmap(path, dtype="<f4", mode="r", offset=cache_io.PC2_HEADER.size, shape=(frames, vertices, 3))
