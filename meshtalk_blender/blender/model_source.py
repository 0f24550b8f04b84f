"""Which MeshTalk model the add-on uses, loaded once and kept (no bpy here).

Choices (the add-on preferences):
- BUNDLED: the trained model shipped in ``assets/model``. When this copy has none, an
  UNTRAINED model (random weights whose decoder starts at the bundled head's neutral
  pose) stands in, and every place that shows the model says so: the motion is noise.
- FOLDER: a folder with our format, or with the original MeshTalk release's checkpoints
  plus its template OBJ (licence CC BY-NC 4.0: non-commercial, shown in the UI).
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.defaults import DEFAULT_TEMPERATURE, stored_temperature
from ..core.errors import MeshTalkError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
BUNDLED_MODEL_DIR = PACKAGE_DIR / "assets" / "model"
BUNDLED_HEAD_OBJ = PACKAGE_DIR / "assets" / "head" / "meshtalk_head.obj"
BUNDLED_HEAD_SEMANTICS = PACKAGE_DIR / "assets" / "head" / "meshtalk_head_semantics.json"
UNTRAINED_WARNING = "No trained model installed: using an untrained model (motion is noise)"
ORIGINAL_RELEASE_VERTICES = 6172


@dataclass(frozen=True)
class ModelChoice:
    source: str = "BUNDLED"  # BUNDLED or FOLDER
    folder: str = ""
    template_obj: str = ""  # the release's face_template.obj (FOLDER with .pkl files)

    @property
    def uses_untrained_model(self) -> bool:
        return self.source == "BUNDLED" and not bundled_model_installed()


@dataclass(frozen=True)
class ModelSummary:
    """What the UI needs to know without loading any weights."""

    label: str  # one line: which model
    num_vertices: int  # the topology it animates
    licence: str
    warning: str = ""  # shown prominently (untrained model, non-commercial licence)
    temperature: float = DEFAULT_TEMPERATURE  # the sampling temperature stored with it


def bundled_model_installed() -> bool:
    return (BUNDLED_MODEL_DIR / "model.safetensors").is_file() and (BUNDLED_MODEL_DIR / "config.json").is_file()


def summarise(choice: ModelChoice) -> ModelSummary:
    """Cheap: reads config.json or counts the template's vertices, never the weights."""
    if choice.source == "BUNDLED":
        if choice.uses_untrained_model:
            return ModelSummary("Model: untrained stand-in", bundled_head_vertex_count(), "MIT", UNTRAINED_WARNING)
        return _summarise_our_folder(BUNDLED_MODEL_DIR, "Bundled model")
    folder = Path(choice.folder) if choice.folder else None
    if folder is None or not folder.is_dir():
        raise MeshTalkError("Choose a model folder in the add-on preferences (Edit > Preferences > Add-ons > MeshTalk).")
    if (folder / "model.safetensors").is_file():
        return _summarise_our_folder(folder, f"Model in {folder.name}")
    if (folder / "context_model.pkl").is_file() or (folder / "vertex_unet.pkl").is_file():
        from ..core.checkpoints import ORIGINAL_LICENCE

        if not choice.template_obj:
            raise MeshTalkError("The original MeshTalk release needs its face_template.obj: set it in the add-on "
                                "preferences next to the model folder.")
        return ModelSummary(f"Original MeshTalk release ({folder.name})", _obj_vertex_count(choice.template_obj),
                            ORIGINAL_LICENCE, "Non-commercial licence (CC BY-NC 4.0): not for commercial work")
    raise MeshTalkError(f"{folder} holds no MeshTalk model: expected model.safetensors + config.json, or the "
                        "original release's encoder.pkl, vertex_unet.pkl and context_model.pkl.")


def _summarise_our_folder(folder: Path, label: str) -> ModelSummary:
    try:
        info = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        num_vertices = int(info["config"]["num_vertices"])
        temperature = stored_temperature(info)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise MeshTalkError(f"{folder / 'config.json'} is missing or not a MeshTalk model config ({error}).") from None
    description = info.get("description") or label
    return ModelSummary(f"{label}: {description}", num_vertices, str(info.get("licence", "unknown")),
                        temperature=temperature)


_vertex_counts: dict[tuple[str, float], int] = {}


def _obj_vertex_count(path: str) -> int:
    obj = Path(path)
    if not obj.is_file():
        raise MeshTalkError(f"Template OBJ not found: {obj}. Set the release's face_template.obj in the preferences.")
    key = (str(obj), obj.stat().st_mtime)
    if key not in _vertex_counts:
        with open(obj, "rb") as handle:
            _vertex_counts[key] = sum(1 for line in handle if line.startswith(b"v "))
    return _vertex_counts[key]


def bundled_head_vertex_count() -> int:
    return _obj_vertex_count(str(BUNDLED_HEAD_OBJ))


@functools.lru_cache(maxsize=1)
def bundled_head_parts() -> dict[str, np.ndarray]:
    """The head's neutral vertices (V, 3), "stable" vertex ids and "mouth" mask (V,), from
    the shipped files: milliseconds, where building the head from code takes seconds."""
    from ..core.obj_io import read_obj

    semantics = json.loads(BUNDLED_HEAD_SEMANTICS.read_text(encoding="utf-8"))
    masks = semantics["masks"]
    return {"vertices": read_obj(BUNDLED_HEAD_OBJ).vertices.astype(np.float32),
            "stable": np.asarray(semantics["index_sets"]["stable"], dtype=np.int64),
            "mouth": np.asarray(masks["mouth"], dtype=np.float32),
            "smoothing": np.maximum(np.asarray(masks["forehead"]), np.asarray(masks["neck"])).astype(np.float32)}


# ---------------------------------------------------------------- loading (slow: cached)

_cache_lock = threading.Lock()
_cached: dict[tuple, object] = {}


def _cache_key(choice: ModelChoice) -> tuple:
    def stamp(path: str | Path) -> float:
        path = Path(path)
        return max((p.stat().st_mtime for p in path.iterdir()), default=0.0) if path.is_dir() else (
            path.stat().st_mtime if path.exists() else 0.0)

    if choice.uses_untrained_model:
        return ("untrained",)
    folder = BUNDLED_MODEL_DIR if choice.source == "BUNDLED" else Path(choice.folder)
    return (choice.source, str(folder), stamp(folder), choice.template_obj,
            stamp(choice.template_obj) if choice.template_obj else 0.0)


def load(choice: ModelChoice):
    """The LoadedModel for a choice; loaded once per choice (safe from any thread)."""
    from ..core.checkpoints import load_model

    summarise(choice)  # the same clear messages as the UI, before any heavy work
    key = _cache_key(choice)
    with _cache_lock:
        if key not in _cached:
            _cached.clear()  # one model in memory at a time
            if choice.uses_untrained_model:
                _cached[key] = untrained_model()
            elif choice.source == "BUNDLED":
                _cached[key] = load_model(BUNDLED_MODEL_DIR)
            else:
                folder = Path(choice.folder)
                template = choice.template_obj if not (folder / "model.safetensors").is_file() else None
                _cached[key] = load_model(folder, template)
        return _cached[key]


_warmed: set[tuple] = set()
RUNTIME_PACKAGES = ("torch", "numba", "scipy", "soundfile", "soxr", "safetensors", "threadpoolctl")
_import_failure: list[str] = []  # set by the warm-up when a package is present but will not load


def dependency_problem() -> str | None:
    """One sentence for the panel when the add-on's Python packages cannot be used: a
    missing or broken torch is the usual one (a zip built for another platform, or
    another extension's conflicting copy). Cheap: it looks packages up, never imports."""
    import importlib.util

    missing = [name for name in RUNTIME_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        return (f"Missing Python packages: {', '.join(missing)}. Install the MeshTalk zip built for "
                "this platform (README: Build and install).")
    return _import_failure[0] if _import_failure else None


def warm_up(choice: ModelChoice) -> None:
    """Loads the model (and torch, numba, the head) on a background thread, once per
    choice, so that the first click on Animate does not wait for them (~10 s cold)."""
    try:
        key = _cache_key(choice)
        summarise(choice)
    except (MeshTalkError, OSError):
        return  # the panel shows the problem; animating will report it
    if key in _warmed:
        return
    _warmed.add(key)

    def work() -> None:
        try:
            import torch  # noqa: F401  (a broken install fails here, and the panel says so)
        except (ImportError, OSError) as error:
            _import_failure[:] = [f"PyTorch cannot be loaded ({str(error).splitlines()[0][:120]}). Reinstall the "
                                  "MeshTalk zip built for this platform (README: Build and install)."]
            return
        try:
            loaded = load(choice)
            from ..core.face import load_bundled_head
            from ..core.retarget import solve_box_qp
            from ..core.sampling import PriorSampler, draws

            # The compiled kernels: numba loads them from its cache (or compiles them, the
            # first time after an install: several seconds).
            sampler = PriorSampler(loaded.model.prior)
            codes = np.zeros((2, loaded.config.audio_channels), dtype=np.float32)
            sampler.sample(sampler.start(), codes, draws(0, 2, loaded.config.num_heads))
            solve_box_qp(np.eye(2), np.ones(2), np.zeros(2), np.zeros(2), np.ones(2))
            from ..core.keyframes import reduce_curve

            reduce_curve(np.linspace(0.0, 1.0, 8) ** 2, 0.01)  # the fewest-keys kernel
            load_bundled_head()  # the ARKit rig of characters with other topologies
            from ..core.prosody import clip_pitch_semitones

            # The brows' pitch analysis: librosa and its compiled YIN (~2 s the first time).
            clip_pitch_semitones(lambda start, end: np.zeros(end - start, dtype=np.float32), 16000)
        except Exception:  # noqa: BLE001 - the real run reports any problem
            _warmed.discard(key)

    threading.Thread(target=work, name="MeshTalk warm-up", daemon=True).start()


def untrained_model(seed: int = 0):
    """A full-size MeshTalk with random weights, for the bundled head, built in memory.

    Its decoder's output normalisation is the head's neutral pose with a 1 mm spread, so
    the head stays a head and moves by about a millimetre of noise: the pipeline runs end
    to end, the motion means nothing. The mouth and smoothing masks are the head's."""
    import torch

    from ..core.checkpoints import LoadedModel
    from ..core.model import MeshTalk, MeshTalkConfig

    head = bundled_head_parts()
    config = MeshTalkConfig(num_vertices=len(head["vertices"]), decoder_widths=(256, 128, 64))
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = MeshTalk(config).eval()
    finally:
        torch.random.set_rng_state(generator_state)  # leave the caller's random stream alone
    with torch.no_grad():
        model.decoder.mean.copy_(torch.from_numpy(head["vertices"]).view(1, 1, -1, 3))
        model.decoder.stddev.fill_(1e-3)
    masks = {"smoothing": head["smoothing"], "mouth": head["mouth"]}
    return LoadedModel(model=model, template=head["vertices"].copy(), description=UNTRAINED_WARNING, licence="MIT",
                       vertex_masks=masks)
