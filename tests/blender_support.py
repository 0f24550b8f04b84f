"""Real Blender (the bpy module) for the add-on's tests, set up the way Blender runs
extensions: a user repository whose folder holds ``meshtalk_blender``, enabled through
``addon_utils`` as ``bl_ext.<repo>.meshtalk_blender``.

Also a pytest plugin (``-p blender_support``, used by scripts/test.sh): the session ends
with ``os._exit(status)``, because a bpy process can hang at interpreter exit.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REPO_MODULE = "meshtalk_dev"
ADDON = f"bl_ext.{REPO_MODULE}.meshtalk_blender"

_user_resources = tempfile.mkdtemp(prefix="meshtalk-blender-user-")
os.environ.setdefault("BLENDER_USER_RESOURCES", _user_resources)

_exit_status: int | None = None


def import_bpy():
    import bpy

    return bpy


def stable_repository_folder() -> Path:
    """A repository folder holding a link to this checkout's meshtalk_blender, at the same
    path in every run: numba keys its compiled-kernel cache by source path, so a new
    temporary folder each time would recompile the sampler (seconds) in every session."""
    checkout = hashlib.sha1(str(ROOT).encode()).hexdigest()[:8]
    parent = Path(tempfile.gettempdir()) / f"meshtalk-extension-repo-{os.getuid()}-{checkout}"
    parent.mkdir(exist_ok=True)
    sys.path.insert(0, str(ROOT))
    import build

    build.link_for_development(parent)  # the package's files and the top-level manifest, as links
    return parent


def enable_addon():
    """Enables the extension from this checkout; returns its top module."""
    import addon_utils

    bpy = import_bpy()
    prefs = bpy.context.preferences
    if prefs.extensions.repos.get(REPO_MODULE) is None and not any(r.module == REPO_MODULE
                                                                   for r in prefs.extensions.repos):
        parent = stable_repository_folder()
        prefs.extensions.repos.new(name=REPO_MODULE, module=REPO_MODULE, custom_directory=str(parent), source="USER")
    addon_utils.enable(ADDON, default_set=True, handle_error=_raise)
    return sys.modules[ADDON]


def disable_addon() -> None:
    import addon_utils

    addon_utils.disable(ADDON, default_set=True, handle_error=_raise)


def _raise(error):
    raise error


def addon_module(name: str):
    """A submodule of the enabled extension, e.g. addon_module("blender.session")."""
    import importlib

    return importlib.import_module(f"{ADDON}.{name}")


def empty_scene(fps: int = 30, fps_base: float = 1.0):
    """A new empty file (the add-on stays enabled); returns its scene."""
    bpy = import_bpy()
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, fps_base
    scene.frame_start, scene.frame_end = 1, 250
    return scene


def evaluated_positions(obj) -> np.ndarray:
    """(V, 3) local positions of the evaluated mesh at the current frame."""
    bpy = import_bpy()
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        flat = np.zeros(len(mesh.vertices) * 3, dtype=np.float32)
        mesh.vertices.foreach_get("co", flat)
    finally:
        evaluated.to_mesh_clear()
    return flat.reshape(-1, 3)


def positions_at(scene, obj, frame: int) -> np.ndarray:
    scene.frame_set(frame)
    return evaluated_positions(obj)


def fingerprint(bpy=None) -> dict:
    """What a user could see changed in the file: datablocks, objects, modifiers, shape
    keys (names, values, positions), actions and their curves, strips."""
    bpy = bpy or import_bpy()
    data = bpy.data
    report: dict = {
        "counts": {kind: len(getattr(data, kind)) for kind in ("objects", "meshes", "actions", "shape_keys", "sounds",
                                                              "materials")},
        "objects": {},
        "actions": {},
    }
    for obj in data.objects:
        entry = {"type": obj.type, "location": tuple(round(v, 6) for v in obj.location),
                 "modifiers": [(m.name, m.type) for m in obj.modifiers],
                 "action": obj.animation_data.action.name if obj.animation_data and obj.animation_data.action else None,
                 # Head motion lives here: delta transforms, the object's NLA tracks, its custom properties.
                 "deltas": tuple(round(v, 6) for v in (*obj.delta_location, *obj.delta_rotation_euler,
                                                       *obj.delta_rotation_quaternion)),
                 "object_tracks": [t.name for t in obj.animation_data.nla_tracks] if obj.animation_data else [],
                 "properties": sorted(key for key in obj.keys() if key != "meshtalk")}
        if obj.type == "MESH":
            flat = np.zeros(len(obj.data.vertices) * 3, dtype=np.float32)
            obj.data.vertices.foreach_get("co", flat)
            entry["mesh_sum"] = round(float(np.abs(flat).sum()), 4)
            keys = obj.data.shape_keys
            if keys is not None:
                entry["keys"] = [(k.name, round(k.value, 6)) for k in keys.key_blocks]
                entry["key_action"] = (keys.animation_data.action.name
                                       if keys.animation_data and keys.animation_data.action else None)
                entry["key_drivers"] = len(keys.animation_data.drivers) if keys.animation_data else 0
            entry["takes"] = len(obj.meshtalk.takes) if hasattr(obj, "meshtalk") else 0
        report["objects"][obj.name] = entry
    for action in data.actions:
        report["actions"][action.name] = action.frame_range[:]
    for scene in data.scenes:
        editor = scene.sequence_editor
        report.setdefault("strips", {})[scene.name] = sorted(
            (s.name, s.frame_final_start, s.frame_final_end) for s in (editor.strips_all if editor else []))
    return report


def exit_hard_at_exit(status_source) -> None:
    """Safety net when this module is used without the plugin: leave without bpy's
    exit hang, with pytest's status."""

    def leave():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status_source())

    atexit.register(leave)


# ---------------------------------------------------------------- pytest plugin


def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


def pytest_unconfigure(config):
    if "bpy" in sys.modules and _exit_status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)


# ---------------------------------------------------------------- shared fixtures

import pytest  # noqa: E402


def make_test_model(directory: Path, audio_normalisation: str = "none") -> Path:
    """A small random MeshTalk on the bundled head's topology whose motion is big enough
    to see (a few millimetres per frame), with a mouth mask and a measured mouth head, so
    every code path of the add-on has something to check. Built with the extension's
    own modules."""
    import torch

    checkpoints = addon_module("core.checkpoints")
    model_module = addon_module("core.model")
    face = addon_module("core.face")
    head = face.load_bundled_head()
    config = model_module.MeshTalkConfig(num_vertices=len(head.vertices), num_heads=4, num_classes=16,
                                         audio_channels=32, expression_widths=(32, 16), expression_code=16,
                                         fusion_width=32, decoder_widths=(48, 32, 16), prior_channels=8,
                                         audio_normalisation=audio_normalisation)
    torch.manual_seed(0)
    model = model_module.MeshTalk(config).eval()
    with torch.no_grad():
        model.decoder.mean.copy_(torch.from_numpy(head.vertices).view(1, 1, -1, 3))
        model.decoder.stddev.fill_(0.08)
        for name, parameter in model.named_parameters():
            if name.startswith("prior."):
                parameter.mul_(3.0)  # a peaked prior: samples differ by seed but are not uniform noise
    checkpoints.save_bundle(directory, model, head.vertices, description="test model (random)", licence="MIT",
                            vertex_masks={"mouth": head.masks["mouth"]}, mouth_heads=(0,), inference_only=True)
    return directory


@pytest.fixture(scope="session")
def addon(tmp_path_factory):
    """The enabled extension, using the test model; disabled (everything unregistered)
    at the end of the session."""
    module = enable_addon()
    folder = make_test_model(tmp_path_factory.mktemp("model"))
    prefs = import_bpy().context.preferences.addons[ADDON].preferences
    prefs.model_source, prefs.model_folder, prefs.device = "FOLDER", str(folder), "CPU"
    yield module
    disable_addon()


@pytest.fixture
def saved_scene(addon, tmp_path):
    """An empty scene saved in a temporary folder (point caches go next to it)."""
    empty_scene()
    import_bpy().ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    return import_bpy().context.scene


@pytest.fixture(scope="session")
def test_model_folder(addon):
    return Path(import_bpy().context.preferences.addons[ADDON].preferences.model_folder)


def write_speech(path: Path, seconds: float = 2.0, rate: int = 16000, channels: int = 1, seed: int = 1) -> Path:
    import soundfile

    from audio_fixtures import speech_like

    samples = speech_like(seconds, rate, seed=seed)
    if channels > 1:
        samples = np.stack([samples * (1.0 - 0.2 * c) for c in range(channels)], axis=1)
    soundfile.write(path, samples, rate)
    return path


def core_animation(path: Path, start: float, duration: float | None, fps: float, seed: int = 0,
                   temperature: float | None = None, template=None, **switches: bool):
    """What the add-on should show, computed with the Blender-free core alone (at the
    model's own temperature unless one is given). ``switches``: AnimateOptions'
    on/off settings (rest_in_pauses, seal_lips)."""
    audio = addon_module("core.audio")
    pipeline = addon_module("core.pipeline")
    loaded = addon_module("blender.model_source").load(addon_module("blender.addon").model_choice())
    options = pipeline.AnimateOptions(fps=fps, seed=seed, temperature=temperature, device="cpu", **switches)
    return pipeline.animate(loaded, audio.AudioClip(Path(path), start, duration), options, template=template), loaded


def core_vertex_output(path: Path, start: float, duration: float | None, fps: float, seed: int = 0,
                       **switches: bool):
    """((T, V, 3), loaded): what a point cache of the MeshTalk head shows, from the core
    alone: the animation with its blinks completed and the brows drawn for the seed
    joined (core/upper_face_vertices.py)."""
    animation, loaded = core_animation(path, start, duration, fps, seed, **switches)
    audio = addon_module("core.audio")
    face = addon_module("core.face")
    brows = addon_module("core.brows")
    info = audio.probe(audio.AudioClip(Path(path), start, duration))
    count = len(animation.vertices)
    levels = addon_module("core.pauses").clip_levels_db(info, count, fps)
    drawn = brows.clip_brows(levels, brows.take_accents(info), fps, seed, face.ARKIT_NAMES)
    upper = addon_module("core.upper_face_vertices").UpperFaceOnVertices(
        face.arkit_deltas(face.load_bundled_head()), face.ARKIT_NAMES, loaded.template)
    upper.add(animation.vertices)
    upper.complete(fps, drawn)
    vertices = animation.vertices.copy()
    for first in range(0, count, 64):
        offsets = upper.offsets(first, min(64, count - first))
        if offsets is not None:
            vertices[first:first + len(offsets)] += offsets
    return vertices, loaded


def away_from_the_looks(obj) -> np.ndarray:
    """(V,) bool: vertices no eyeLook key moves. A vertex take keys the gaze on those
    keys (the eyeballs turn by them), so with shape keys the lids follow the eyes."""
    gaze = addon_module("core.gaze")
    offsets = addon_module("blender.targets").key_offsets(obj, list(gaze.LOOK_NAMES))
    return np.abs(offsets).max(axis=(0, 2)) == 0


def add_head(name: str = "MeshTalk Head"):
    bpy = import_bpy()
    builder = addon_module("blender.head_builder")
    face, _eyes = builder.build_head_objects(name=name)
    bpy.context.view_layer.objects.active = face
    face.select_set(True)
    return face


def add_strip(scene, path: Path, frame: int = 1, name: str | None = None):
    editor = scene.sequence_editor or scene.sequence_editor_create()
    return editor.strips.new_sound(name=name or path.stem, filepath=str(path), channel=1, frame_start=frame)


def playing_actions(obj) -> list:
    """The actions MeshTalk's NLA track plays on the object's shape keys, in time order."""
    key = obj.data.shape_keys
    if key is None or key.animation_data is None or "MeshTalk" not in key.animation_data.nla_tracks:
        return []
    return [strip.action for strip in key.animation_data.nla_tracks["MeshTalk"].strips]


def run_operator(name: str, **kwargs):
    """Calls bpy.ops.meshtalk.<name>; returns its result set (an ERROR report raises
    RuntimeError with the message, as in any Blender script)."""
    bpy = import_bpy()
    return getattr(bpy.ops.meshtalk, name)(**kwargs)


class RecordingLayout:
    """Stands in for UILayout when a panel's draw() runs headless: accepts every call,
    records (method, text) pairs, and returns a child layout for nesting."""

    def __init__(self, calls=None):
        self.calls = [] if calls is None else calls

    def __getattr__(self, name):
        def record(*args, **kwargs):
            self.calls.append((name, kwargs.get("text", args[0] if args and isinstance(args[0], str) else "")))
            return RecordingLayout(self.calls)

        return record


def draw_panel(panel_class, context=None) -> list[tuple[str, str]]:
    """Runs a panel's draw() against a RecordingLayout; returns what it drew."""
    layout = RecordingLayout()
    panel_class.draw(type("Panel", (), {"layout": layout})(), context or import_bpy().context)
    return layout.calls
