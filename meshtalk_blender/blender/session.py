"""From the panel to a job and back (main thread): gather what a run needs from Blender
into plans, and write finished results into takes.

Operators (interactive, modal) and the batch command share these two halves:
``plan_*`` validates everything it can before any heavy work (clear messages, nothing
touched), ``apply`` writes all results at once, so one Undo step reverts them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import bpy
import numpy as np

from ..core.defaults import MAX_SEED
from ..core.errors import MeshTalkError
from . import (actions, addon, audio_source, bindings, cache_files, head_actions, model_source, playback, properties,
               strengths, targets, writers)
from .job import ARKIT, BASIS, MESH_CACHE, JobPlan, JobResult, Resample
from .take_data import decode_labels, encode_labels, model_frame_range

if TYPE_CHECKING:
    from ..core.audio import AudioClip

REPLACE_ALL, REPLACE_ACTIVE, ADD = "REPLACE_ALL", "REPLACE_ACTIVE", "ADD"
BASIS_TOLERANCE = 2e-4  # of the mesh's size: ~0.05 mm on a 25 cm head


@dataclass
class TakeSpec:
    """How a result becomes a take."""

    object_name: str
    vertex_count: int
    mode: str
    output: str
    key_names: tuple[str, ...]  # ARKIT: the shape keys the weights animate, in order
    strip_name: str
    sound_name: str
    clip: AudioClip
    start_frame: int
    fps: float
    seed: int
    temperature: float
    scope: str
    cache_file: str = ""  # as stored on the modifier (relative when possible)
    key_tolerance: float = 0.0  # shape-key outputs: the reduced keys' tolerance (0: every frame)


@dataclass
class Work:
    plans: list[JobPlan]
    specs: list[TakeSpec]
    summary: model_source.ModelSummary


# ---------------------------------------------------------------- planning


def _checked_target(context, obj, choice: model_source.ModelChoice):
    summary = model_source.summarise(choice)
    info = targets.inspect(obj, summary)
    if info.mode == targets.UNSUPPORTED:
        raise MeshTalkError(info.message)
    targets.require_object_mode(obj)
    return summary, info


def chosen_temperature(settings, summary: model_source.ModelSummary) -> float:
    """The temperature a new take is sampled at: the model's own unless the user set one."""
    return summary.temperature if settings.use_model_temperature else settings.temperature


def plan_animate(context, obj, settings=None, scope: str = ADD,
                 choice: model_source.ModelChoice | None = None, device: str | None = None) -> Work:
    """A new take from the sound strip the settings name (default: the panel's); it
    plays for that line, and the line's earlier takes stay in the list."""
    scene = context.scene
    settings = settings or scene.meshtalk
    choice = choice or addon.model_choice()
    device = device or addon.device_preference()
    summary, info = _checked_target(context, obj, choice)
    strip = audio_source.chosen_strip(scene, settings.audio_strip)
    placement = audio_source.placement(scene, strip)
    output = settings.output if info.mode == targets.SAME_TOPOLOGY else ARKIT
    if info.mode == targets.ARKIT_KEYS and settings.output == MESH_CACHE and bindings.has(obj):
        output = MESH_CACHE  # a character with a stored fit: its own vertices, one by one
    key_names: tuple[str, ...] = ()
    temperature = chosen_temperature(settings, summary)
    plan = JobPlan(choice, device, placement.clip, placement.fps, settings.seed, temperature, output,
                   object_name=obj.name, rest_in_pauses=settings.rest_in_pauses, seal_lips=settings.seal_lips,
                   key_tolerance=key_tolerance(settings), tongue_controls=bool(_tongue_key_names(obj)),
                   jaw_keys=_has_jaw_keys(obj))
    if output == ARKIT:
        if not info.arkit_keys:
            raise MeshTalkError(f"'{obj.name}' has no ARKit-named shape keys: choose the output 'Shape Keys: "
                                "Compact Basis' or 'Mesh Cache'.")
        key_names = tuple(info.arkit_keys.values())
        plan.solve_names = tuple(info.arkit_keys)
    if info.mode == targets.SAME_TOPOLOGY:
        plan.object_rest = targets.rest_positions(obj)
        if output == ARKIT:
            plan.solve_deltas = targets.key_offsets(obj, list(key_names))
        plan.basis_tolerance = BASIS_TOLERANCE * _mesh_size(plan.object_rest)
        if output == BASIS:
            plan.basis_existing = _shared_basis(obj)
    elif output == MESH_CACHE:
        _bind(plan, obj)
    plan.head_motion = bool(settings.head_motion) and wants_head_motion(obj, info.mode)
    if settings.head_motion and info.mode == targets.SAME_TOPOLOGY and not plan.head_motion:
        plan.head_motion_note = head_actions.supported(obj) + "."
    spec = TakeSpec(obj.name, len(obj.data.vertices), info.mode, output, key_names, placement.strip_name,
                    placement.sound_name, placement.clip, placement.start_frame, placement.fps, settings.seed,
                    plan.temperature, scope, key_tolerance=plan.key_tolerance)
    if output == MESH_CACHE:
        plan.cache_path, spec.cache_file = cache_files.new_cache_file(settings.cache_folder, obj.name)
    return Work([plan], [spec], summary)


def plan_resample(context, obj, seeds: list[int], frame_range: tuple[int, int] | None = None,
                  scope: str = REPLACE_ACTIVE, settings=None, choice: model_source.ModelChoice | None = None,
                  device: str | None = None) -> Work:
    """Redraws the upper face of the active take (same lips) with each seed: in place
    (REPLACE_ACTIVE, one seed) or as new takes (ADD, variants). ``frame_range``: scene
    frames [first, last] to redraw, the rest of the take stays as it is."""
    state = obj.meshtalk if obj is not None and obj.type == "MESH" else None
    if state is None or not len(state.takes):
        raise MeshTalkError("Animate from Audio first: there is no MeshTalk take on the selected object to resample.")
    take = state.takes[state.active_take]
    choice = choice or addon.model_choice()
    device = device or addon.device_preference()
    summary, info = _checked_target(context, obj, choice)
    if take.model_label and take.model_label != _model_label(summary):
        raise MeshTalkError("This take was made with another model; animate it again before resampling.")
    settings = settings or context.scene.meshtalk
    labels = decode_labels(take.labels)
    if take.sound is None:
        raise MeshTalkError("The take's sound was deleted from the file; animate again.")
    from ..core.audio import AudioClip

    clock = json.loads(take.clock)
    clip = AudioClip(audio_source.sound_file(take.sound), clock["start"], clock["duration"])
    fps = clock["fps"]
    if abs(audio_source.scene_fps(context.scene) - fps) > 1e-9:
        raise MeshTalkError("The scene's frame rate changed since this take was made; animate it again.")
    model_frames = output_frames = None
    if frame_range is not None:
        first, last = frame_range
        if last < first:
            raise MeshTalkError("The resample range ends before it starts; set End after Start.")
        model_frames = model_frame_range(first, last, take.start_frame, fps, len(labels))
        output_frames = (max(0, first - take.start_frame), min(take.frames - 1, last - take.start_frame))
        if model_frames[1] <= model_frames[0] or output_frames[1] < output_frames[0]:
            raise MeshTalkError(f"Frames {first}-{last} are outside the take (frames {take.start_frame}-"
                                f"{take.start_frame + take.frames - 1}); set a range inside it.")
    # The take's keys that can still be animated: a key the user drove (or deleted)
    # since is left out of the redraw, as a new take would leave it.
    key_names = tuple(key for key in json.loads(take.key_names or "[]") if key in info.arkit_keys.values())
    if take.output == ARKIT and not key_names:
        raise MeshTalkError(f"None of the shape keys this take animates on '{obj.name}' can be animated any more "
                            "(deleted or driven); animate again.")
    previous, previous_cache = _previous_output(obj, take, key_names)
    previous_head = head_actions.raw_angles(take)  # its head motion, redrawn where the frames are
    plans, specs = [], []
    for seed in seeds:
        plan = JobPlan(choice, device, clip, fps, seed, chosen_temperature(settings, summary),
                       take.output, object_name=obj.name, rest_in_pauses=settings.rest_in_pauses,
                       seal_lips=settings.seal_lips, key_tolerance=key_tolerance(settings),
                       resample=Resample(labels, model_frames, output_frames, previous, previous_cache,
                                         previous_head=previous_head, previous_looks=_previous_looks(obj, take)),
                       head_motion=previous_head is not None and wants_head_motion(obj, take.mode),
                       tongue_controls=bool(_tongue_key_names(obj)), jaw_keys=_has_jaw_keys(obj))
        if take.output == ARKIT:
            plan.solve_names = tuple(name for name, key in info.arkit_keys.items() if key in key_names)
            if tuple(info.arkit_keys[name] for name in plan.solve_names) != key_names:
                raise MeshTalkError(f"The shape keys of '{obj.name}' changed since this take was made; animate again.")
        if take.mode == targets.SAME_TOPOLOGY:
            plan.object_rest = targets.rest_positions(obj)
            if take.output == ARKIT:
                plan.solve_deltas = targets.key_offsets(obj, list(key_names))
            plan.basis_tolerance = BASIS_TOLERANCE * _mesh_size(plan.object_rest)
            if take.output == BASIS:
                plan.basis_existing = _shared_basis(obj)
        elif take.output == MESH_CACHE:
            _bind(plan, obj)
        spec = TakeSpec(obj.name, len(obj.data.vertices), take.mode, take.output, key_names, take.strip_name,
                        take.sound.name, clip, take.start_frame, fps, seed, plan.temperature, scope,
                        key_tolerance=plan.key_tolerance)
        if take.output == MESH_CACHE:
            plan.cache_path, spec.cache_file = cache_files.new_cache_file(settings.cache_folder, obj.name)
        plans.append(plan)
        specs.append(spec)
    return Work(plans, specs, summary)


def _bind(plan: JobPlan, obj) -> None:
    """A character's point cache: its rest shape and stored binding go with the plan."""
    plan.bound_arrays = bindings.stored_arrays(obj)
    if plan.bound_arrays is None:
        raise MeshTalkError(f"'{obj.name}' has no stored fit for a point cache (its ARKit keys were not made by "
                            "MeshTalk, or before it kept one): make its ARKit shape keys again, or use the ARKit "
                            "weights output.")
    plan.object_rest = targets.rest_positions(obj)


def wants_head_motion(obj, mode: str) -> bool:
    """Head motion turns the MeshTalk head's object (not when rotated by axis and angle:
    no delta rotation there), or a character's armature's head bone (a character's own
    mesh may be a whole body, so never the object)."""
    return head_actions.owner_for(obj, mode == targets.SAME_TOPOLOGY) is not None


def _previous_output(obj, take, key_names: tuple[str, ...]) -> tuple[np.ndarray | None, Path | None]:
    """What the take shows, as the worker needs it: (T, K) weights of ``key_names``,
    (T, V, 3) vertices, or the path of its point cache."""
    if take.output == MESH_CACHE:
        return None, writers.cache_file_path(obj, take)
    if take.action is None:
        raise MeshTalkError("The take's action was deleted; animate again.")
    if take.output == ARKIT:
        return _played_weights(take, key_names), None
    from ..core.face.arkit_names import JAW_NAMES

    names = tuple(json.loads(take.basis_keys or "[]"))
    # A head's basis was fitted without the share of the jaw keys keyed beside it (takes
    # made before that key none).
    names += tuple(name for name in _arkit_key_names(obj, JAW_NAMES).values()
                   if actions.find_curve(take.action, writers.key_value_path(name)) is not None)
    rest = targets.rest_positions(obj)
    components = targets.key_offsets(obj, list(names))
    return rest[None] + np.einsum("tk,kvc->tvc", _played_weights(take, names), components), None


def _played_weights(take, key_names: tuple[str, ...]) -> np.ndarray:
    """(T, K) what the take's action plays for each key at each of its frames (an
    animator's edits included). A reduced take has no curve for a key that stayed near
    zero: that key plays 0."""
    columns = []
    for name in key_names:
        column = actions.sample_curve(take.action, writers.key_value_path(name), take.start_frame, take.frames)
        if column is None and take.key_tolerance <= 0:
            raise MeshTalkError("The take's action was edited (keys missing); animate again before resampling.")
        columns.append(np.zeros(take.frames, np.float32) if column is None else column)
    played = np.stack(columns, axis=1) if columns else np.zeros((take.frames, 0), np.float32)
    return strengths.raw_weights(take, key_names, played) if take.output == ARKIT else played


def _shared_basis(obj) -> np.ndarray | None:
    """(k, V, 3) offsets of the basis keys the object's takes share (None: none yet), in
    the order writers.shared_basis_keys gives; a new basis take reuses them."""
    names = writers.shared_basis_keys(obj)
    return targets.key_offsets(obj, names) if names else None


def key_tolerance(settings) -> float:
    """The panel's (or batch's) choice: the fewest keys within this, or 0 (every frame)."""
    return settings.key_tolerance if settings.keys == "REDUCED" else 0.0


def _mesh_size(points: np.ndarray) -> float:
    return float(np.linalg.norm(points.max(axis=0) - points.min(axis=0))) or 1.0


def _model_label(summary: model_source.ModelSummary) -> str:
    return summary.label


# ---------------------------------------------------------------- applying


def apply(work: Work, results: list[JobResult]) -> str:
    """Writes finished results as takes; returns the report line. Raises MeshTalkError
    (and writes nothing) when the object changed meanwhile."""
    if len(results) != len(work.specs):
        raise MeshTalkError("The run produced no result; try again.")
    first = work.specs[0]
    obj = bpy.data.objects.get(first.object_name)
    if obj is None or obj.type != "MESH" or len(obj.data.vertices) != first.vertex_count:
        raise MeshTalkError(f"'{first.object_name}' was deleted or changed while it was animated; run again.")
    state = obj.meshtalk
    if first.scope == REPLACE_ALL:
        writers.remove_all_takes(obj)
    replaced = state.active_take if first.scope == REPLACE_ACTIVE and len(state.takes) else None
    new_index = None
    for spec, result in zip(work.specs, results):
        new_index = _add_take(obj, spec, result, work.summary)
    if replaced is not None:  # after the new take exists: the basis keys they share stay
        writers.remove_take(obj, replaced, refresh=False)
        new_index -= 1
        state.takes.move(new_index, replaced)
        new_index = replaced
    take = state.takes[new_index]
    with playback.selecting_quietly():
        state.active_take = new_index
    playback.play(obj, take)
    scene = bpy.context.scene
    properties.show_take_settings(scene, take)
    extended = _extend_scene_to_cover(scene, obj)
    last = results[-1]
    seconds = first.clip.duration or 0.0
    what = {ARKIT: f"ARKit weights on {len(first.key_names)} shape keys",
            BASIS: (f"{len(last.basis.components) if last.basis is not None else 0} basis shape keys "
                    f"({sum(r.basis_new for r in results)} new, shared by the object's takes)"),
            MESH_CACHE: "a point cache"}[first.output]
    takes = f"{len(results)} takes" if len(results) > 1 else f"take '{state.takes[new_index].name}'"
    notes = " ".join(dict.fromkeys(note for result in results for note in result.notes))  # variants repeat them
    warning = f" {work.summary.warning}." if work.summary.warning else ""
    extended = f" The scene now ends at frame {extended} to show it all." if extended else ""
    return (f"MeshTalk: '{obj.name}' animated from '{first.strip_name}' ({last.num_frames} frames, {seconds:.1f} s of "
            f"audio): {takes}, {what}.{warning}{extended} {notes}").strip()


def _extend_scene_to_cover(scene, obj) -> int | None:
    """Moves the scene's end to the last frame a take plays, if it ended before; returns
    the new end (None: it already covered everything)."""
    end = playback.end_frame(obj)
    if end is None or end <= scene.frame_end:
        return None
    scene.frame_end = end
    return end


def _add_take(obj, spec: TakeSpec, result: JobResult, summary) -> int:
    state = obj.meshtalk
    state.take_counter += 1
    number = state.take_counter
    take = state.takes.add()
    take.name = f"Take {number} (seed {spec.seed})"
    take.output, take.mode = spec.output, spec.mode
    take.seed, take.temperature = spec.seed, spec.temperature
    take.strip_name, take.sound = spec.strip_name, bpy.data.sounds.get(spec.sound_name)
    take.clock = json.dumps({"start": spec.clip.start, "duration": spec.clip.duration, "fps": spec.fps})
    take.start_frame, take.frames = spec.start_frame, result.num_frames
    take.labels = encode_labels(result.labels)
    take.model_label = _model_label(summary)
    take.key_names = json.dumps(list(spec.key_names))
    action_name = f"MeshTalk {obj.name} take {number}"
    take.key_tolerance = spec.key_tolerance if result.curves is not None else 0.0
    tongue_names, tongue, tongue_curves = _tongue_keys(obj, result)
    if spec.output == ARKIT:
        names = list(spec.key_names) + tongue_names  # the tongue follows the Mouth slider too
        take.key_names = json.dumps(names)
        take.action = writers.write_weight_action(obj, action_name, names,
                                                  np.concatenate([result.weights, tongue], axis=1),
                                                  spec.start_frame, _joined(result.curves, tongue_curves))
        strengths.apply_to_take(obj, take)  # the object's sliders, from the start
    elif spec.output == BASIS:
        shared = writers.shared_basis_keys(obj)
        reused = len(result.basis.components) - result.basis_new
        if len(shared) < reused:
            raise MeshTalkError(f"The MeshTalk basis shape keys of '{obj.name}' were deleted while it was animated; "
                                "animate again.")
        new = result.basis.components[reused:]
        names = shared[:reused] + writers.write_basis_keys(
            obj, new, f"{writers.BASIS_KEY_PREFIX} {number}")
        take.basis_keys = json.dumps(names)
        look_names, looks, look_curves = _look_keys(obj, result)
        jaw_names, jaw, jaw_curves = _jaw_keys(obj, result)  # the basis was fitted without their share
        take.action = writers.write_weight_action(
            obj, action_name, names + look_names + jaw_names + tongue_names,
            np.concatenate([result.basis.weights, looks, jaw, tongue], axis=1), spec.start_frame,
            _joined(_joined(_joined(result.curves, look_curves), jaw_curves), tongue_curves))
    else:
        take.cache_file = spec.cache_file
        cache_files.record_created(result.cache_path)  # deleted when nothing can reach it any more
        look_names, looks, look_curves = _look_keys(obj, result)
        jaw_names, jaw, jaw_curves = _jaw_keys(obj, result)
        if look_names or jaw_names or tongue_names:  # the eyes, teeth and tongue move by these keys; the cache
            take.action = writers.write_weight_action(  # moves the face (it overwrites what the keys do to it)
                obj, action_name, look_names + jaw_names + tongue_names, np.concatenate([looks, jaw, tongue], axis=1),
                spec.start_frame, _joined(_joined(look_curves, jaw_curves), tongue_curves))
    owner = head_actions.owner_for(obj, spec.mode == targets.SAME_TOPOLOGY)
    if result.head_motion is not None and owner is not None:
        owner, bone = owner
        obj.meshtalk.head_owner = owner.name
        take.head_action = head_actions.write_action(
            owner, bone, f"MeshTalk {obj.name} head {number}", result.head_motion, spec.start_frame,
            result.head_pivot, result.head_axes, strengths.wanted(obj)["head"])
        take.head_frame = json.dumps({"pivot": result.head_pivot.tolist(), "axes": result.head_axes.tolist(),
                                      "bone": bone})
        strengths.record_head(take, strengths.wanted(obj)["head"])
    return len(state.takes) - 1


def _joined(curves: list | None, more: list | None) -> list | None:
    """Two columns' reduced curves side by side (None: keyed at every frame)."""
    return None if curves is None or more is None else list(curves) + list(more)


def _tongue_key_names(obj) -> list[str]:
    """The MeshTalk head's tongue controls (core.tongue.TONGUE_KEYS) the object has: all
    or none (a face without all three is not the head's)."""
    from ..core.face.arkit_names import TONGUE_KEYS

    present = set(targets.shape_key_names(obj))
    return list(TONGUE_KEYS) if all(name in present for name in TONGUE_KEYS) else []


def _tongue_keys(obj, result: JobResult) -> tuple[list[str], np.ndarray, list | None]:
    """(the tongue controls to key, (T, n) their weights, their reduced curves or None)."""
    names = _tongue_key_names(obj)
    if result.tongue_weights is None or not names:
        return [], np.zeros((result.num_frames, 0), np.float32), []
    return names, result.tongue_weights, result.tongue_curves


def _look_key_names(obj) -> dict[str, str]:
    """{eyeLook ARKit name: the object's key} for the look keys the object has."""
    from ..core.gaze import LOOK_NAMES

    return _arkit_key_names(obj, LOOK_NAMES)


def _arkit_key_names(obj, wanted) -> dict[str, str]:
    """{ARKit name: the object's key} for the ``wanted`` ARKit keys the object has."""
    from ..core.retarget import match_arkit_keys

    present = match_arkit_keys(targets.shape_key_names(obj))
    return {name: present[name] for name in wanted if name in present}


def _arkit_columns(obj, wanted, weights: np.ndarray | None, curves: list | None,
                   count: int) -> tuple[list[str], np.ndarray, list | None]:
    """(the object's key names, (T, n) their weights, their reduced curves or None for a
    key at every frame) of a vertex take's extra track of ``wanted`` ARKit keys (T,
    len(wanted)), for those the object has (none: nothing to key)."""
    if weights is None:
        return [], np.zeros((count, 0), np.float32), []
    names = _arkit_key_names(obj, wanted)
    columns = [i for i, name in enumerate(wanted) if name in names]
    curves = None if curves is None else [curves[i] for i in columns]
    return [names[wanted[i]] for i in columns], weights[:, columns], curves


def _look_keys(obj, result: JobResult) -> tuple[list[str], np.ndarray, list | None]:
    """The eyeLook keys of a vertex take's gaze (``_arkit_columns``)."""
    from ..core.gaze import LOOK_NAMES

    return _arkit_columns(obj, LOOK_NAMES, result.look_weights, result.look_curves, result.num_frames)


def _has_jaw_keys(obj) -> bool:
    from ..core.face.arkit_names import JAW_NAMES

    return len(_arkit_key_names(obj, JAW_NAMES)) == len(JAW_NAMES)


def _jaw_keys(obj, result: JobResult) -> tuple[list[str], np.ndarray, list | None]:
    """The jaw keys of a head's point cache, which move its teeth and tongue (``_arkit_columns``)."""
    from ..core.face.arkit_names import JAW_NAMES

    return _arkit_columns(obj, JAW_NAMES, result.jaw_weights, result.jaw_curves, result.num_frames)


def _previous_looks(obj, take) -> np.ndarray | None:
    """(T, 8) what a vertex take keys for the eyes (core.gaze.LOOK_NAMES; a missing curve
    plays 0), or None for a take without."""
    from ..core.gaze import LOOK_NAMES

    if take.output == ARKIT or take.action is None:
        return None
    names = _look_key_names(obj)
    columns = [actions.sample_curve(take.action, writers.key_value_path(names[name]), take.start_frame, take.frames)
               if name in names else None for name in LOOK_NAMES]
    if all(column is None for column in columns):
        return None
    return np.stack([np.zeros(take.frames, np.float32) if c is None else c for c in columns], axis=1)


def variant_seeds(obj, settings, count: int) -> list[int]:
    """Seeds no take of this object uses yet, from the panel's seed upwards."""
    used = {take.seed for take in obj.meshtalk.takes}
    seeds, candidate = [], settings.seed
    while len(seeds) < count:
        if candidate not in used:
            seeds.append(candidate)
        candidate = following_seed(candidate)
    return seeds


def following_seed(seed: int) -> int:
    """The next seed, back to 0 after the largest one a take can store (Blender's int)."""
    return (seed + 1) % (MAX_SEED + 1)

