"""Loading and saving models.

Two formats:
- ours: a directory with ``model.safetensors`` (weights, plus the default template and
  optional per-vertex masks), ``config.json`` (sizes and metadata) and optionally
  ``lip_closure.safetensors`` (``model.lip_closure``), ``lip_tuck.safetensors``
  (``lip_tuck``), ``tongue.safetensors`` (``tongue``) and ``lip_gap.safetensors``
  (``lip_gap``), and ``speech_encoder.safetensors`` (``model.speech_encoder``) for a
  detector that reads its features;
- the original MeshTalk release: a directory with ``encoder.pkl``, ``vertex_unet.pkl``
  and ``context_model.pkl`` (plain state dicts), plus the user's template OBJ. These are
  read with ``torch.load(weights_only=True)``: tensors only, never arbitrary objects.
  Keys and shapes must match the release exactly; anything else is refused with a
  message naming the file and the key.
"""

from __future__ import annotations

import json
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .atomic_files import describe_os_error
from .defaults import DEFAULT_TEMPERATURE, stored_temperature
from .errors import MeshTalkError
from .model import MeshTalk, MeshTalkConfig
from .model.lip_closure import CLOSURE_FILE, EventDetector, LipClosureDetector, load_detector
from .model.speech_encoder import SPEECH_ENCODER_FILE, SpeechEncoder, load_speech_encoder
from .lip_tuck import TUCK_FILE, LipTuckDetector, load_tuck_detector
from .tongue import TONGUE_FILE, TongueDetector, load_tongue_detector
from .lip_gap import GAP_FILE, LipGapRegressor, load_lip_gap_regressor
from .model.prior import head_mask
from .obj_io import read_obj
from .tensor_checks import check_values

FORMAT_NAME = "meshtalk-blender"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
ORIGINAL_FILES = {"encoder.pkl": "", "vertex_unet.pkl": "decoder.", "context_model.pkl": "prior."}
ORIGINAL_LICENCE = "CC BY-NC 4.0 (original MeshTalk release): non-commercial use only"
# Modules needed to animate from audio; the others only matter for training.
INFERENCE_MODULES = ("audio_encoder.", "decoder.", "prior.")


@dataclass
class LoadedModel:
    model: MeshTalk  # in eval mode, on the CPU until moved
    template: np.ndarray  # (V, 3) float32: the default identity, in the model's space
    description: str
    licence: str
    # Optional per-vertex weights in [0, 1], e.g. "smoothing" (the release's forehead and
    # neck post-processing) and "mouth" (kept exact when the upper face is resampled).
    vertex_masks: dict[str, np.ndarray] = field(default_factory=dict)
    mouth_heads: tuple[int, ...] = ()  # latent heads that drive the mouth (if measured)
    metadata: dict = field(default_factory=dict)
    # The prior's sampling temperature unless the user picks another: a bundle stores its
    # own (how lively its upper face is at a temperature depends on how it was trained);
    # the original release and bundles made before they stored one, DEFAULT_TEMPERATURE.
    temperature: float = DEFAULT_TEMPERATURE
    lip_closure: LipClosureDetector | None = None  # where the lips must meet (bundles may have one)
    lip_tuck: LipTuckDetector | None = None  # where the lower lip tucks (f, v; core.lip_tuck)
    tongue: TongueDetector | None = None  # where the tongue goes (core.tongue; bundles may have one)
    lip_gap: LipGapRegressor | None = None  # how far apart the lips are, heard (core.lip_gap)
    speech_encoder: SpeechEncoder | None = None  # the features a detector with inputs "speech" reads

    @property
    def config(self) -> MeshTalkConfig:
        return self.model.config


def load_model(path: str | Path, template_obj: str | Path | None = None) -> LoadedModel:
    """Loads either format from a directory; ``template_obj`` overrides (ours) or is
    required for (the release) the template."""
    path = Path(path)
    if not path.exists():
        raise MeshTalkError(f"Checkpoint not found: {path}. Give a model folder.")
    if path.is_file():
        path = path.parent
    if (path / WEIGHTS_FILE).is_file():
        loaded = load_bundle(path)
        if template_obj is not None:
            loaded.template = read_template(template_obj, loaded.config.num_vertices)
        return loaded
    if any((path / name).exists() for name in ORIGINAL_FILES):
        if template_obj is None:
            raise MeshTalkError(
                "The original MeshTalk checkpoints need their template mesh: pass the release's "
                "face_template.obj with --template (or set it in the add-on preferences)."
            )
        return load_original(path, template_obj)
    raise MeshTalkError(
        f"{path} is not a MeshTalk model folder: expected {WEIGHTS_FILE} + {CONFIG_FILE}, or the "
        "original release's encoder.pkl, vertex_unet.pkl and context_model.pkl."
    )


def checkpoint_files(path: str | Path) -> list[Path]:
    """The files ``load_model(path)`` may read (whichever exist): an output must be none of them."""
    folder = Path(path) if not Path(path).is_file() else Path(path).parent
    names = (WEIGHTS_FILE, CONFIG_FILE, CLOSURE_FILE, TUCK_FILE, TONGUE_FILE, GAP_FILE, SPEECH_ENCODER_FILE,
             *ORIGINAL_FILES)
    return [folder / name for name in names]


def read_template(obj_path: str | Path, num_vertices: int) -> np.ndarray:
    mesh = read_obj(obj_path)
    if len(mesh.vertices) != num_vertices:
        raise MeshTalkError(
            f"Template {Path(obj_path).name} has {len(mesh.vertices)} vertices but the model expects "
            f"{num_vertices}; use the template that belongs to this model."
        )
    return mesh.vertices.astype(np.float32)


# ---------------------------------------------------------------- the original release


def reference_shapes(config: MeshTalkConfig) -> dict[str, tuple[int, ...]]:
    """Our state dict's keys and shapes for ``config``, from a model built on the meta
    device: no memory, no random initialisation (a full-size model took 0.3 s a time)."""
    with torch.device("meta"):
        return {key: tuple(value.shape) for key, value in MeshTalk(config).state_dict().items()}


def model_with_weights(config: MeshTalkConfig, tensors: dict[str, torch.Tensor]) -> MeshTalk:
    """A model in eval mode holding ``tensors`` (checked against ``config`` already),
    built without initialising weights only to overwrite them: on the meta device, then
    given the file's tensors (in the model's dtypes) as its own. What a bundle leaves out
    (the training-only modules) is zeros. (Module.to_empty would also do, but imports
    0.45 s of torch.fx on the way.)"""
    with torch.device("meta"):
        model = MeshTalk(config)
    own = {key: (tensors[key].to(value.dtype) if key in tensors else torch.zeros(value.shape, dtype=value.dtype))
           for key, value in model.state_dict().items()}
    model.load_state_dict(own, strict=True, assign=True)
    return model.eval()


def original_key_map(config: MeshTalkConfig) -> dict[str, dict[str, str | None]]:
    """For each release file: its key -> our state-dict key (None: present but unused)."""
    ours = reference_shapes(config).keys()
    files: dict[str, dict[str, str | None]] = {name: {} for name in ORIGINAL_FILES}
    renamed = {
        "audio_encoder.log_mel.window": "audio_encoder.melspec.spectrogram.window",
        "audio_encoder.log_mel.filterbank": "audio_encoder.melspec.mel_scale.fb",
    }
    for key in ours:
        if key.startswith(("audio_encoder.", "expression_encoder.")):
            files["encoder.pkl"][renamed.get(key, key)] = key
        elif key.startswith("fusion."):
            files["encoder.pkl"]["fusion_model." + key[len("fusion."):]] = key
        elif key.startswith("decoder."):
            files["vertex_unet.pkl"][key[len("decoder."):]] = key
        elif key.startswith("prior."):
            files["context_model.pkl"][key[len("prior."):]] = key
    for layer in ("embedding", "logits"):  # the release has audio convs here that it never uses
        for suffix in ("weight", "bias"):
            files["context_model.pkl"][f"{layer}.unmasked_linear.{suffix}"] = None
    return files


def _original_shapes(config: MeshTalkConfig) -> dict[str, tuple[int, ...]]:
    shapes = dict(reference_shapes(config))
    channels = config.num_heads * config.prior_channels
    for layer, rows in (("embedding", channels), ("logits", config.latent_size)):
        shapes[f"unused.{layer}.unmasked_linear.weight"] = (rows, config.audio_channels, 1)
        shapes[f"unused.{layer}.unmasked_linear.bias"] = (rows,)
    return shapes


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise MeshTalkError(f"Missing {path.name} in {path.parent}; the original release has encoder.pkl, "
                            "vertex_unet.pkl and context_model.pkl side by side.")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr; the message below suffices
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "Weights only load failed" not in str(error):
            raise MeshTalkError(f"Cannot read {path.name}: {str(error).splitlines()[0]}. The file is damaged; "
                                "download it again.") from None
        # torch's own message advises loading it unsafely; never pass that on.
        raise MeshTalkError(
            f"{path.name} holds code or objects other than tensors, so it was not loaded (loading it could run "
            "that code). Use the original release's files as downloaded."
        ) from None
    except Exception as error:
        raise MeshTalkError(
            f"Cannot read {path.name}: {str(error).splitlines()[0]}. The file is damaged or not a "
            "plain state dict of tensors; download it again."
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MeshTalkError(f"{path.name} is not a state dict of tensors.")
    return state


def _config_from_original(states: dict[str, dict[str, torch.Tensor]]) -> MeshTalkConfig:
    try:
        mean = states["vertex_unet.pkl"]["mean"]
        embedding = states["context_model.pkl"]["embedding.masked_linear.weight"]
    except KeyError:
        raise MeshTalkError("The checkpoint files lack the keys of the original release "
                            "(vertex_unet.pkl 'mean', context_model.pkl 'embedding...').") from None
    # The sizes are read from these two tensors; every other key is checked against them.
    per_head = MeshTalkConfig.original().prior_channels
    for name, key, tensor, expected, fits in (
        ("vertex_unet.pkl", "mean", mean, "(1, 1, vertices, 3)",
         mean.dim() == 4 and tuple(mean.shape[:2]) == (1, 1) and mean.shape[3] == 3 and mean.shape[2] > 0),
        ("context_model.pkl", "embedding.masked_linear.weight", embedding, f"(heads x {per_head}, heads x classes, 1)",
         embedding.dim() == 3 and embedding.shape[2] == 1 and embedding.shape[0] > 0
         and embedding.shape[0] % per_head == 0 and embedding.shape[1] % (embedding.shape[0] // per_head or 1) == 0),
    ):
        if not fits:
            raise MeshTalkError(f"{name}: '{key}' has shape {tuple(tensor.shape)}, expected {expected} as in the "
                                "original release; the file is damaged or from another model. Download it again.")
    heads = embedding.shape[0] // per_head
    try:
        return MeshTalkConfig(num_vertices=int(mean.shape[2]), num_heads=int(heads),
                              num_classes=int(embedding.shape[1] // heads))
    except ValueError as error:
        raise MeshTalkError(f"The checkpoint's sizes are not usable ({error}); the files are damaged or from "
                            "another model. Use the original release's files as downloaded.") from None


def load_original(directory: str | Path, template_obj: str | Path) -> LoadedModel:
    directory = Path(directory)
    states = {name: _read_state_dict(directory / name) for name in ORIGINAL_FILES}
    config = _config_from_original(states)
    key_map = original_key_map(config)
    shapes = _original_shapes(config)
    merged: dict[str, torch.Tensor] = {}
    for name, mapping in key_map.items():
        state = states[name]
        missing = sorted(set(mapping) - set(state))
        unexpected = sorted(set(state) - set(mapping))
        if missing or unexpected:
            detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
            raise MeshTalkError(f"{name} does not match the original MeshTalk release ({detail}).")
        for key, ours in mapping.items():
            expected = shapes[ours] if ours else shapes[f"unused.{key}"]
            if tuple(state[key].shape) != expected:
                raise MeshTalkError(
                    f"{name}: '{key}' has shape {tuple(state[key].shape)}, expected {expected} "
                    f"(the release is {MeshTalkConfig.original().num_heads} heads x 128 classes, 6172 vertices)."
                )
            check_values(name, key, state[key])
            if ours:
                merged[ours] = state[key].float()
    _check_masks(merged, config)
    return LoadedModel(
        model=model_with_weights(config, merged),
        template=read_template(template_obj, config.num_vertices),
        description=f"original MeshTalk release ({directory.name})",
        licence=ORIGINAL_LICENCE,
    )


def _check_masks(state: dict[str, torch.Tensor], config: MeshTalkConfig) -> None:
    heads, classes, width = config.num_heads, config.num_classes, config.prior_channels
    expected = {"prior.embedding.mask": head_mask(heads, width, classes),
                "prior.logits.mask": head_mask(heads, classes, width)}
    for i in range(len(config.prior_dilations)):
        expected[f"prior.context_layers.{i}.mask"] = head_mask(heads, width, width)
    for key, mask in expected.items():
        if not torch.equal(state[key], mask):
            raise MeshTalkError(f"context_model.pkl: '{key[len('prior.'):]}' is not the release's "
                                "autoregressive head mask; the file is damaged or from another model.")


# ---------------------------------------------------------------- our own format


def save_bundle(
    directory: str | Path,
    model: MeshTalk,
    template: np.ndarray,
    *,
    description: str,
    licence: str,
    vertex_masks: dict[str, np.ndarray] | None = None,
    mouth_heads: tuple[int, ...] = (),
    inference_only: bool = False,
    half_precision: bool = False,
    metadata: dict | None = None,
) -> None:
    """Writes model.safetensors + config.json. ``inference_only`` drops the expression
    encoder and the fusion (training-only), which shrinks the file. ``half_precision``
    stores the learned weights and the 0/1 prior masks as float16 (half the size; loading
    widens them to float32); the normalisation statistics, the audio front end and the
    template stay float32."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    halved = {name for name, _ in model.named_parameters()} | {
        name for name, _ in model.named_buffers() if name.endswith(".mask")}
    tensors = {k: v.detach().cpu().to(torch.float16 if half_precision and k in halved else v.dtype).contiguous()
               for k, v in model.state_dict().items()
               if not inference_only or k.startswith(INFERENCE_MODULES)}
    tensors["template"] = torch.from_numpy(np.ascontiguousarray(template, dtype=np.float32))
    for name, mask in (vertex_masks or {}).items():
        tensors[f"vertex_mask.{name}"] = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))
    save_file(tensors, str(directory / WEIGHTS_FILE))
    info = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "config": json.loads(model.config.to_json()),
        "description": description,
        "licence": licence,
        "mouth_heads": list(mouth_heads),
        "inference_only": inference_only,
        "half_precision": half_precision,
        "metadata": metadata or {},
    }
    _write_config(directory, info)


def store_temperature(directory: str | Path, temperature: float, measured: dict | None = None) -> None:
    """Stores in a bundle's config.json the sampling temperature it is used at by default
    (``LoadedModel.temperature``), and in its metadata what that was chosen from."""
    path = Path(directory) / CONFIG_FILE
    info = json.loads(path.read_text(encoding="utf-8"))
    info["temperature"] = float(temperature)
    stored_temperature(info)  # a number from 0 to 10, as loading will require
    if measured is not None:
        info.setdefault("metadata", {})["temperature_blinks_per_minute"] = measured
    _write_config(Path(directory), info)


def _write_config(directory: Path, info: dict) -> None:
    (directory / CONFIG_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def _check_info_fields(info: dict, config: MeshTalkConfig) -> None:
    """The config's fields besides the sizes, with the types the rest of the code uses."""
    for key in ("description", "licence"):
        if not isinstance(info.get(key, ""), str):
            raise ValueError(f"{key} must be text")
    if not isinstance(info.get("metadata", {}), dict):
        raise ValueError("metadata must be an object")
    stored_temperature(info)
    heads = info.get("mouth_heads", [])
    if not isinstance(heads, list) or not all(
            isinstance(h, int) and not isinstance(h, bool) and 0 <= h < config.num_heads for h in heads):
        raise ValueError(f"mouth_heads must list heads 0..{config.num_heads - 1}")


def _checked_mask(name: str, mask: torch.Tensor, num_vertices: int) -> np.ndarray:
    """A per-vertex weight from a bundle -> (V,) float32 in [0, 1], or a clear refusal."""
    key = f"vertex_mask.{name}"
    if tuple(mask.shape) != (num_vertices,):
        raise MeshTalkError(f"{WEIGHTS_FILE}: '{key}' has shape {tuple(mask.shape)} but the model has {num_vertices} "
                            "vertices (one weight each); the file is damaged. Download the model again.")
    check_values(WEIGHTS_FILE, key, mask)
    values = mask.float().numpy()
    if values.min(initial=0.0) < 0.0 or values.max(initial=0.0) > 1.0:
        raise MeshTalkError(f"{WEIGHTS_FILE}: '{key}' has weights outside 0..1; the file is damaged. "
                            "Download the model again.")
    return values


def load_bundle(directory: str | Path) -> LoadedModel:
    directory = Path(directory)
    try:
        info = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        if not isinstance(info, dict) or info.get("format") != FORMAT_NAME:
            raise ValueError(f"format is {info.get('format') if isinstance(info, dict) else None!r}")
        config = MeshTalkConfig.from_dict(info["config"])
        _check_info_fields(info, config)
    except FileNotFoundError:
        raise MeshTalkError(f"{directory} has {WEIGHTS_FILE} but no {CONFIG_FILE}; download the model again.") from None
    except OSError as error:
        raise MeshTalkError(f"Cannot read {directory / CONFIG_FILE} ({describe_os_error(error)}); "
                            "check the model folder.") from None
    except (ValueError, KeyError, TypeError) as error:
        raise MeshTalkError(f"{directory / CONFIG_FILE} is not a valid model config ({error}); the file is damaged "
                            "or from another program. Download the model again.") from None
    try:
        tensors = load_file(str(directory / WEIGHTS_FILE))
    except Exception as error:
        raise MeshTalkError(f"Cannot read {directory / WEIGHTS_FILE} ({error}); the file is damaged.") from None
    template = tensors.pop("template", None)
    masks = {k[len("vertex_mask."):]: tensors.pop(k) for k in list(tensors) if k.startswith("vertex_mask.")}
    expected = reference_shapes(config)  # nothing is allocated until the file is known to fit
    required = [k for k in expected if k.startswith(INFERENCE_MODULES) or not info.get("inference_only")]
    problems = [k for k in required if k not in tensors or tuple(tensors[k].shape) != expected[k]]
    problems += [k for k in tensors if k not in expected]
    if template is None or tuple(template.shape) != (config.num_vertices, 3):
        problems.append("template")
    if problems:
        raise MeshTalkError(f"{directory / WEIGHTS_FILE} does not match its config (first problems: {problems[:3]}); "
                            "the two files do not belong together. Download the model again.")
    for key, tensor in [*tensors.items(), ("template", template)]:
        check_values(WEIGHTS_FILE, key, tensor)
    masks = {name: _checked_mask(name, mask, config.num_vertices) for name, mask in masks.items()}
    model = model_with_weights(config, tensors)
    contacts = {}
    for name, load in ((CLOSURE_FILE, load_detector), (TUCK_FILE, load_tuck_detector)):
        if (directory / name).is_file():
            contacts[name] = load(directory / name)
            # Log-mel detectors read the model's windows, normalised as it normalises them.
            if contacts[name].inputs == "mel" and config.audio_normalisation != "utterance":
                raise MeshTalkError(f"{directory / name} needs a model that normalises audio per utterance; "
                                    f"this one does not. Delete the file to use the model without it.")
    # It reads the audio on its own, normalised per clip: it fits any model of the head.
    tongue = load_tongue_detector(directory / TONGUE_FILE) if (directory / TONGUE_FILE).is_file() else None
    lip_gap = load_lip_gap_regressor(directory / GAP_FILE) if (directory / GAP_FILE).is_file() else None
    speech_encoder = _speech_encoder_for(directory, [*contacts.values(), tongue, lip_gap])
    return LoadedModel(
        model=model,
        template=template.numpy().astype(np.float32),
        description=info.get("description", directory.name),
        licence=info.get("licence", "unknown"),
        vertex_masks=masks,
        mouth_heads=tuple(info.get("mouth_heads", ())),
        metadata=info.get("metadata", {}),
        temperature=stored_temperature(info),
        lip_closure=contacts.get(CLOSURE_FILE),
        lip_tuck=contacts.get(TUCK_FILE),
        tongue=tongue,
        lip_gap=lip_gap,
        speech_encoder=speech_encoder,
    )


def _speech_encoder_for(directory: Path, detectors: list[EventDetector | None]) -> SpeechEncoder | None:
    """The bundle's speech encoder if one of its detectors reads it (a detector's inputs
    must match its width); None if none does."""
    readers = [d for d in detectors if d is not None and d.inputs == "speech"]
    if not readers:
        return None
    path = directory / SPEECH_ENCODER_FILE
    if not path.is_file():
        raise MeshTalkError(f"{directory}'s detectors read the speech encoder's features, but {SPEECH_ENCODER_FILE} "
                            "is missing. Reinstall the add-on or download the model again.")
    encoder = load_speech_encoder(path)
    if any(d.input_channels != encoder.width for d in readers):
        raise MeshTalkError(f"{path} gives {encoder.width} channels, but a detector beside it reads another number; "
                            "the files do not belong together. Reinstall the add-on or download the model again.")
    return encoder
