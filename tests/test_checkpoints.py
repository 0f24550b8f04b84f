"""Loading the original release (exact keys and shapes) and our own format."""

import dataclasses
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from conftest import TINY, random_model
from reference_meshtalk import reference_decode, reference_prior_log_probs

from meshtalk_blender.core import audio
from meshtalk_blender.core.checkpoints import load_bundle, load_model, save_bundle, store_temperature
from meshtalk_blender.core.defaults import DEFAULT_TEMPERATURE
from meshtalk_blender.core.errors import MeshTalkError
from meshtalk_blender.core.obj_io import ObjMesh, write_obj

# The release's files, key by key, as listed in ../shared/docs/meshtalk-reference.md.
# Written out here on purpose (not derived from our model) so that the test checks our
# loader against the release, not against itself.
V, H, C = 6172, 16, 128
ENCODER = {
    "audio_encoder.melspec.spectrogram.window": (800,),
    "audio_encoder.melspec.mel_scale.fb": (1025, 80),
    "audio_encoder.convert_dimensions.weight": (128, 80, 5), "audio_encoder.convert_dimensions.bias": (128,),
    **{f"audio_encoder.convs.{i}.{p}": s for i in range(6) for p, s in (("weight", (128, 128, 5)), ("bias", (128,)))},
    "audio_encoder.code.weight": (128, 128), "audio_encoder.code.bias": (128,),
    "expression_encoder.mean": (1, 1, V, 3), "expression_encoder.stddev": (1, 1, V, 3),
    "expression_encoder.layers.0.weight": (256, V * 3), "expression_encoder.layers.0.bias": (256,),
    "expression_encoder.layers.1.weight": (128, 256), "expression_encoder.layers.1.bias": (128,),
    "expression_encoder.lstm.weight_ih_l0": (512, 128), "expression_encoder.lstm.weight_hh_l0": (512, 128),
    "expression_encoder.lstm.bias_ih_l0": (512,), "expression_encoder.lstm.bias_hh_l0": (512,),
    "expression_encoder.code.weight": (128, 128), "expression_encoder.code.bias": (128,),
    "fusion_model.mlp.0.weight": (256, 256), "fusion_model.mlp.0.bias": (256,),
    "fusion_model.mlp.2.weight": (256, 256), "fusion_model.mlp.2.bias": (256,),
    "fusion_model.mlp.4.weight": (2048, 256), "fusion_model.mlp.4.bias": (2048,),
}
VERTEX_UNET = {
    "vertex_bias": (V * 3,), "mean": (1, 1, V, 3), "stddev": (1, 1, V, 3),
    "encoder.0.weight": (512, V * 3), "encoder.0.bias": (512,),
    "encoder.1.weight": (256, 512), "encoder.1.bias": (256,),
    "encoder.2.weight": (128, 256), "encoder.2.bias": (128,),
    "fusion.weight": (128, 2176), "fusion.bias": (128,),
    **{f"temporal.{k}_l{i}": (512, 128) for k in ("weight_ih", "weight_hh") for i in (0, 1)},
    **{f"temporal.{k}_l{i}": (512,) for k in ("bias_ih", "bias_hh") for i in (0, 1)},
    "decoder.0.weight": (256, 128), "decoder.0.bias": (256,),
    "decoder.1.weight": (512, 256), "decoder.1.bias": (512,),
    "decoder.2.weight": (V * 3, 512), "decoder.2.bias": (V * 3,),
}
CONTEXT_MODEL = {
    "embedding.mask": (1024, 2048, 1),
    "embedding.unmasked_linear.weight": (1024, 128, 1), "embedding.unmasked_linear.bias": (1024,),
    "embedding.masked_linear.weight": (1024, 2048, 1), "embedding.masked_linear.bias": (1024,),
    **{f"context_layers.{i}.{k}": s for i in range(4) for k, s in (
        ("mask", (1024, 1024, 1)),
        ("unmasked_linear.weight", (1024, 128, 1)), ("unmasked_linear.bias", (1024,)),
        ("masked_linear.weight", (1024, 1024, 1)), ("masked_linear.bias", (1024,)),
        ("historic.weight", (1024, 1024, 2)), ("historic.bias", (1024,)))},
    "logits.mask": (2048, 1024, 1),
    "logits.unmasked_linear.weight": (2048, 128, 1), "logits.unmasked_linear.bias": (2048,),
    "logits.masked_linear.weight": (2048, 1024, 1), "logits.masked_linear.bias": (2048,),
}


def strict_mask(out_per_head, in_per_head):
    mask = torch.zeros(H * out_per_head, H * in_per_head, 1)
    for head in range(H):
        mask[head * out_per_head:(head + 1) * out_per_head, :head * in_per_head] = 1
    return mask


def release_state_dicts(seed=0):
    generator = torch.Generator().manual_seed(seed)
    states = {}
    for name, table in (("encoder.pkl", ENCODER), ("vertex_unet.pkl", VERTEX_UNET), ("context_model.pkl", CONTEXT_MODEL)):
        # Weights scaled by 1/sqrt(fan-in), as a trained network's roughly are.
        states[name] = {k: torch.randn(shape, generator=generator) / (shape[1] if len(shape) > 1 else 16) ** 0.5
                        for k, shape in table.items()}
    states["encoder.pkl"]["audio_encoder.melspec.spectrogram.window"] = torch.hann_window(800)
    states["encoder.pkl"]["audio_encoder.melspec.mel_scale.fb"] = torch.from_numpy(audio.mel_filterbank())
    unet = states["vertex_unet.pkl"]
    unet["stddev"] = unet["stddev"].abs() + 0.5
    context = states["context_model.pkl"]
    context["embedding.mask"] = strict_mask(64, C)
    context["logits.mask"] = strict_mask(C, 64)
    for i in range(4):
        context[f"context_layers.{i}.mask"] = strict_mask(64, 64)
    return states


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    directory = tmp_path_factory.mktemp("release")
    states = release_state_dicts()
    for name, state in states.items():
        torch.save(state, directory / name)
    template = np.random.default_rng(0).normal(size=(V, 3)) * 50
    write_obj(directory / "face_template.obj", ObjMesh(vertices=template, faces=[[0, 1, 2]]))
    return directory, states


def test_release_checkpoint_loads_and_computes_what_the_release_computes(release):
    directory, states = release
    loaded = load_model(directory, directory / "face_template.obj")
    assert loaded.config.num_vertices == V and loaded.config.num_heads == H and loaded.config.num_classes == C
    assert "non-commercial" in loaded.licence
    model = loaded.model
    frames = 6
    labels = torch.randint(0, C, (frames, H), generator=torch.Generator().manual_seed(1))
    one_hot = torch.nn.functional.one_hot(labels, C).float()
    template = torch.from_numpy(loaded.template)
    with torch.no_grad():
        encoding = model.decoder.encode_template(template[None, None])
        ours, _ = model.decoder.decode_labels(encoding, labels[None])
        audio_code = torch.randn(frames, 128)
        prior = model.prior(one_hot[None], audio_code[None])[0]
    expected = reference_decode(states["vertex_unet.pkl"], template, one_hot)
    torch.testing.assert_close(ours[0], expected, atol=1e-3, rtol=1e-4)
    expected_prior = reference_prior_log_probs(states["context_model.pkl"], one_hot, audio_code, H)
    torch.testing.assert_close(prior, expected_prior, atol=1e-4, rtol=1e-4)
    # The release's own STFT window and filterbank buffers are the ones used.
    torch.testing.assert_close(model.audio_encoder.log_mel.window, torch.hann_window(800))


@pytest.fixture
def release_copy(release, tmp_path):
    """The release's folder with each file a symbolic link to the original, removed after
    the test: eleven real copies of its 200 MB filled a CI machine's small disk. Damage
    goes through _replace, so it never writes through a link."""
    import shutil

    target = tmp_path / "copy"
    target.mkdir()
    for file in release[0].iterdir():
        (target / file.name).symlink_to(file)
    yield target
    shutil.rmtree(target)


def _replace(path):
    """``path`` ready to be written as a file of its own (never through the link)."""
    path.unlink()
    return path


@pytest.mark.parametrize("damage, message", [
    ("missing_file", "Missing context_model.pkl"),
    ("extra_key", "unexpected"),
    ("missing_key", "missing"),
    ("wrong_shape", "has shape"),
    ("nan", "NaN"),
    ("truncated", "damaged"),
    ("pickled_object", "holds code or objects other than tensors, so it was not loaded"),
    ("wrong_mask", "autoregressive head mask"),
    ("integer_weights", "'logits.masked_linear.bias' holds int64 values"),
    ("float64_overflow", "'logits.masked_linear.bias' contains NaN or infinite values"),
    ("one_dimensional_mean", r"vertex_unet.pkl: 'mean' has shape \(18516,\), expected \(1, 1, vertices, 3\)"),
])
def test_damaged_release_files_get_clear_messages(release, release_copy, damage, message):
    states, target = release[1], release_copy
    context = {k: v.clone() for k, v in states["context_model.pkl"].items()}
    if damage == "missing_file":
        (target / "context_model.pkl").unlink()
    elif damage == "truncated":
        data = (target / "context_model.pkl").read_bytes()
        _replace(target / "context_model.pkl").write_bytes(data[: len(data) // 3])
    elif damage == "pickled_object":
        # A pickle that would run code when unpickled: weights_only must refuse it.
        class Payload:
            def __reduce__(self):
                return (print, ("this must never run",))

        _replace(target / "context_model.pkl").write_bytes(pickle.dumps({"embedding.mask": Payload()}))
    else:
        if damage == "extra_key":
            context["surprise.weight"] = torch.zeros(3)
        elif damage == "missing_key":
            del context["logits.masked_linear.bias"]
        elif damage == "wrong_shape":
            context["logits.masked_linear.bias"] = torch.zeros(2047)
        elif damage == "nan":
            context["logits.masked_linear.bias"][5] = float("nan")
        elif damage == "wrong_mask":
            context["context_layers.2.mask"] = torch.ones(1024, 1024, 1)
        elif damage == "integer_weights":
            context["logits.masked_linear.bias"] = torch.zeros(2048, dtype=torch.int64)
        elif damage == "float64_overflow":  # finite in the file, infinite once the model holds it in float32
            context["logits.masked_linear.bias"] = torch.full((2048,), 1e39, dtype=torch.float64)
        elif damage == "one_dimensional_mean":
            unet = dict(states["vertex_unet.pkl"], mean=states["vertex_unet.pkl"]["mean"].flatten())
            torch.save(unet, _replace(target / "vertex_unet.pkl"))
        torch.save(context, _replace(target / "context_model.pkl"))
    with pytest.raises(MeshTalkError, match=message) as refused:
        load_model(target, target / "face_template.obj")
    assert "weights_only" not in str(refused.value)  # torch's advice to load it unsafely is never passed on


def test_release_needs_a_template_with_its_vertex_count(release, tmp_path):
    directory, _ = release
    with pytest.raises(MeshTalkError, match="need their template"):
        load_model(directory)
    write_obj(tmp_path / "small.obj", ObjMesh(vertices=np.zeros((100, 3)), faces=[]))
    with pytest.raises(MeshTalkError, match="has 100 vertices but the model expects 6172"):
        load_model(directory, tmp_path / "small.obj")


def test_bundle_round_trip_and_inference_only(tmp_path, template_vertices):
    model = random_model(TINY, seed=3)
    masks = {"smoothing": np.linspace(0, 1, TINY.num_vertices).astype(np.float32)}
    save_bundle(tmp_path / "full", model, template_vertices, description="test", licence="MIT",
                vertex_masks=masks, mouth_heads=(1, 4))
    loaded = load_bundle(tmp_path / "full")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[key], value)
    np.testing.assert_array_equal(loaded.template, template_vertices)
    np.testing.assert_array_equal(loaded.vertex_masks["smoothing"], masks["smoothing"])
    assert loaded.mouth_heads == (1, 4) and loaded.licence == "MIT"
    assert loaded.temperature == DEFAULT_TEMPERATURE  # none stored: the bundles made before they stored one
    store_temperature(tmp_path / "full", 1.25, {"teacher": 21.0})
    lively = load_model(tmp_path / "full")
    assert lively.temperature == 1.25 and lively.metadata["temperature_blinks_per_minute"] == {"teacher": 21.0}
    with pytest.raises(ValueError, match="temperature must be a number from 0 to 10"):
        store_temperature(tmp_path / "full", 11.0)

    save_bundle(tmp_path / "small", model, template_vertices, description="t", licence="MIT", inference_only=True)
    small = load_model(tmp_path / "small")
    assert (tmp_path / "small" / "model.safetensors").stat().st_size < (tmp_path / "full" / "model.safetensors").stat().st_size
    torch.testing.assert_close(small.model.decoder.vertex_bias, model.decoder.vertex_bias)
    # Built without random initialisation (meta device, then empty storage): what the
    # bundle leaves out is zeros, not whatever memory held; and it moves between devices.
    assert all(not value.any() for key, value in small.model.state_dict().items()
               if key.startswith(("expression_encoder.", "fusion.")))
    assert small.model.to("cpu") is small.model

    # Half precision: weights rounded to float16 and widened again on loading; statistics,
    # audio front end and prior masks exact; the file about half the size.
    with torch.no_grad():
        model.decoder.mean.normal_()
    save_bundle(tmp_path / "half", model, template_vertices, description="t", licence="MIT", inference_only=True,
                half_precision=True)
    half = load_model(tmp_path / "half")
    stored = load_file(str(tmp_path / "half" / "model.safetensors"))
    assert stored["decoder.decoder.2.weight"].dtype == stored["prior.logits.mask"].dtype == torch.float16
    assert stored["decoder.mean"].dtype == stored["audio_encoder.log_mel.filterbank"].dtype == torch.float32
    for key, value in half.model.state_dict().items():
        assert value.dtype == torch.float32
        if key.startswith(("audio_encoder.log_mel", "decoder.mean", "decoder.stddev")) or key.endswith(".mask"):
            torch.testing.assert_close(value, model.state_dict()[key], atol=0, rtol=0)
        elif key.startswith(("decoder.", "prior.", "audio_encoder.")):
            torch.testing.assert_close(value, model.state_dict()[key].half().float(), atol=0, rtol=0)


def test_broken_bundles_are_refused(tmp_path, template_vertices):
    model = random_model(TINY)
    save_bundle(tmp_path / "m", model, template_vertices, description="t", licence="MIT")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(MeshTalkError, match="damaged"):
        load_model(tmp_path / "m")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MeshTalkError, match="not a MeshTalk model folder"):
        load_model(tmp_path / "empty")
    with pytest.raises(MeshTalkError, match="not found"):
        load_model(tmp_path / "nowhere")


def _damaged_bundle(directory, template_vertices, damage):
    """A tiny bundle in ``directory`` with one tensor of model.safetensors replaced."""
    from safetensors.torch import save_file

    from meshtalk_blender.core.model.lip_closure import CLOSURE_FILE, LipClosureDetector, save_detector

    mouth = np.zeros(TINY.num_vertices, np.float32)
    mouth[:10] = 1.0
    config = dataclasses.replace(TINY, audio_normalisation="utterance")  # what a detector needs
    save_bundle(directory, random_model(config), template_vertices, description="t", licence="MIT",
                vertex_masks={"mouth": mouth})
    save_detector(LipClosureDetector(width=8, dilations=(1, 2)), directory / CLOSURE_FILE)
    tensors = load_file(str(directory / "model.safetensors"))
    name, _, change = damage.partition(":")
    if name == "detector":
        detector = load_file(str(directory / CLOSURE_FILE))
        settings = {"settings": '{"width": 8, "dilations": [1, 2]}'}
        if change == "nan":
            detector["output.bias"] = torch.full_like(detector["output.bias"], float("nan"))
        elif change == "integer":
            detector["output.weight"] = detector["output.weight"].to(torch.int32)
        elif change == "huge_width":
            settings = {"settings": '{"width": 1000000000, "dilations": [1, 2]}'}
        save_file(detector, str(directory / CLOSURE_FILE), metadata=settings)
        return
    if change == "nan":
        tensors[name] = tensors[name].clone()
        tensors[name].view(-1)[0] = float("nan")
    elif change == "inf":
        tensors[name] = tensors[name].clone()
        tensors[name].view(-1)[-1] = float("inf")
    elif change == "integer":
        tensors[name] = tensors[name].to(torch.int64)
    elif change == "short":
        tensors[name] = tensors[name][:-3].clone()
    elif change == "above_one":
        tensors[name] = tensors[name] * 2
    save_file(tensors, str(directory / "model.safetensors"))


@pytest.mark.parametrize("damage, message", [
    ("decoder.decoder.2.weight:nan", "'decoder.decoder.2.weight' contains NaN or infinite values"),
    ("prior.logits.masked_linear.bias:inf", "'prior.logits.masked_linear.bias' contains NaN or infinite values"),
    ("decoder.vertex_bias:integer", "'decoder.vertex_bias' holds int64 values"),
    ("template:nan", "'template' contains NaN"),
    ("template:inf", "'template' contains NaN"),
    ("vertex_mask.mouth:nan", "'vertex_mask.mouth' contains NaN"),
    ("vertex_mask.mouth:short", r"'vertex_mask.mouth' has shape \(37,\) but the model has 40 vertices"),
    ("vertex_mask.mouth:above_one", "'vertex_mask.mouth' has weights outside 0..1"),
    ("detector:nan", "lip_closure.safetensors: 'output.bias' contains NaN"),
    ("detector:integer", "lip_closure.safetensors: 'output.weight' holds int32 values"),
    ("detector:huge_width", "the file is damaged"),
])
def test_every_tensor_of_a_bundle_is_checked_on_load(tmp_path, template_vertices, damage, message):
    _damaged_bundle(tmp_path / "m", template_vertices, damage)
    with pytest.raises(MeshTalkError, match=message):
        load_model(tmp_path / "m")


def test_the_undamaged_bundle_of_that_test_loads(tmp_path, template_vertices):
    _damaged_bundle(tmp_path / "m", template_vertices, "none:none")
    loaded = load_model(tmp_path / "m")
    assert loaded.lip_closure is not None and loaded.vertex_masks["mouth"].shape == (TINY.num_vertices,)


@pytest.mark.parametrize("change, message", [
    ({"config": {"num_heads": 1e9}}, "num_heads must be a whole number"),
    ({"config": {"prior_channels": 100000}}, "prior_channels must be between"),
    ({"config": {"num_vertices": -3}}, "num_vertices must be between"),
    ({"mouth_heads": 7}, "mouth_heads must list"),
    ({"licence": 5}, "licence must be text"),
    ({"temperature": "hot"}, "temperature must be a number from 0 to 10"),
    ({"temperature": -1}, "temperature must be a number from 0 to 10"),
    ({"config": {"prior_channels": 500}}, "does not match its config"),  # 0.6 GB if it were built
])
def test_a_damaged_config_is_refused_before_the_model_is_built(tmp_path, template_vertices, change, message):
    """One clear message, and no allocation: the process loading it stays as small as
    one loading the intact model (prior_channels 500 once built 0.6 GB, 1e5 6.7 GB)."""
    import json
    import subprocess
    import sys

    from conftest import ROOT

    for name in ("intact", "damaged"):
        save_bundle(tmp_path / name, random_model(TINY), template_vertices, description="t", licence="MIT")
    info = json.loads((tmp_path / "damaged" / "config.json").read_text())
    info.update({k: v for k, v in change.items() if k != "config"})
    info["config"].update(change.get("config", {}))
    (tmp_path / "damaged" / "config.json").write_text(json.dumps(info))
    with pytest.raises(MeshTalkError, match=message):
        load_model(tmp_path / "damaged")
    # VmHWM: this process's own peak (ru_maxrss would include the parent's from before the exec).
    measure = ("import re, sys\n"
               "from meshtalk_blender.core.checkpoints import load_model\n"
               "try:\n    load_model(sys.argv[1])\nexcept Exception:\n    pass\n"
               "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))")
    peak_kb = {name: int(subprocess.run([sys.executable, "-c", measure, str(tmp_path / name)], cwd=ROOT,
                                        capture_output=True, text=True, check=True).stdout)
               for name in ("intact", "damaged")}
    assert peak_kb["damaged"] < peak_kb["intact"] + 100_000, peak_kb
