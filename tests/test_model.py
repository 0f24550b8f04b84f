"""The MeshTalk modules: shapes, equivalences with the naive reference, causality."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import TINY, random_model
from reference_meshtalk import reference_audio_code, reference_decode, reference_prior_log_probs

from meshtalk_blender.core import audio
from meshtalk_blender.core.model import MeshTalk, MeshTalkConfig
from meshtalk_blender.core.model.config import AUDIO_RECEPTIVE_FIELD
from meshtalk_blender.core.model.fusion import quantize
from meshtalk_blender.core.model.meshtalk import audio_codes_for_window, codes_at_positions


def one_hot_labels(frames, config, seed=0):
    labels = torch.from_numpy(np.random.default_rng(seed).integers(0, config.num_classes, (frames, config.num_heads)))
    return labels, torch.nn.functional.one_hot(labels, config.num_classes).float()


def test_shapes_of_every_module(tiny_model):
    config, frames = TINY, 7
    log_mel = torch.randn(2, 80, frames + AUDIO_RECEPTIVE_FIELD - 1)
    audio_code = tiny_model.audio_encoder(log_mel)
    assert audio_code.shape == (2, frames, config.audio_channels)
    expression = tiny_model.expression_encoder(torch.randn(2, frames, config.num_vertices, 3),
                                              torch.randn(2, 1, config.num_vertices, 3))
    assert expression.shape == (2, frames, config.expression_code)
    log_probs = tiny_model.fusion(expression, audio_code)
    assert log_probs.shape == (2, frames, config.num_heads, config.num_classes)
    one_hot = quantize(log_probs)
    assert torch.all(one_hot.sum(-1) == 1)
    template = torch.randn(2, frames, config.num_vertices, 3)
    assert tiny_model.decoder(template, one_hot).shape == (2, frames, config.num_vertices, 3)
    assert tiny_model.prior(one_hot, audio_code).shape == (2, frames, config.num_heads, config.num_classes)


def test_original_sizes_have_the_release_parameter_shapes():
    shapes = {k: tuple(v.shape) for k, v in MeshTalk(MeshTalkConfig.original()).state_dict().items()}
    assert shapes["decoder.fusion.weight"] == (128, 2176)
    assert shapes["prior.embedding.masked_linear.weight"] == (1024, 2048, 1)
    assert shapes["prior.context_layers.3.historic.weight"] == (1024, 1024, 2)
    assert shapes["fusion.mlp.4.weight"] == (2048, 256)
    assert shapes["expression_encoder.layers.0.weight"] == (256, 18516)


def test_audio_encoder_over_the_whole_file_equals_one_window_per_frame(tiny_model):
    encoder_sd = {"audio_encoder." + k: v for k, v in tiny_model.audio_encoder.state_dict().items()}
    log_mel = torch.randn(1, 80, 260)
    whole = tiny_model.audio_encoder(log_mel)[0]  # (160, A): code j is centred on mel frame j + 50
    for j in (0, 37, 159):
        window = log_mel[0, :, j:j + AUDIO_RECEPTIVE_FIELD]
        torch.testing.assert_close(whole[j], reference_audio_code(encoder_sd, window), atol=1e-5, rtol=1e-5)


def test_codes_for_a_window_of_frames_equal_codes_of_the_whole_clip(tiny_model, speech_wav):
    """Chunked feature extraction (what long audio uses) matches one pass over the file."""
    info, samples = audio.load_normalised(audio.AudioClip(speech_wav))
    get = lambda start, end: audio.slice_with_zeros(samples, start, end)  # noqa: E731
    times = np.arange(audio.frame_count(info.duration, 30)) / 30
    with torch.no_grad():
        whole = audio_codes_for_window(tiny_model, get, times)
        parts = torch.cat([audio_codes_for_window(tiny_model, get, times[a:a + 17]) for a in range(0, len(times), 17)])
    torch.testing.assert_close(parts, whole, atol=1e-5, rtol=1e-5)


def test_code_interpolation_hits_grid_points_and_interpolates_between():
    codes = torch.arange(10, dtype=torch.float32).view(1, 10, 1)
    positions = torch.tensor([[0.0, 10 / 3, 20 / 3, 9.0, 12.0]])  # frames at 0, 1/30, 2/30 s; past the end
    out = codes_at_positions(codes, positions)[0, :, 0]
    torch.testing.assert_close(out, torch.tensor([0.0, 10 / 3, 20 / 3, 9.0, 9.0]))


def test_decoder_label_path_equals_one_hot_path_and_the_reference(tiny_model, template_vertices):
    config = TINY
    decoder = tiny_model.decoder
    with torch.no_grad():
        decoder.mean.normal_()
        decoder.stddev.uniform_(0.5, 2.0)
        decoder.vertex_bias.normal_()
    labels, one_hot = one_hot_labels(11, config)
    template = torch.from_numpy(template_vertices)
    with torch.no_grad():
        full = decoder(template.expand(1, 11, -1, -1), one_hot[None])[0]
        encoding = decoder.encode_template(template[None, None])
        first, state = decoder.decode_labels(encoding, labels[None, :5], None)
        second, _ = decoder.decode_labels(encoding, labels[None, 5:], state)
    torch.testing.assert_close(torch.cat([first[0], second[0]]), full, atol=1e-5, rtol=1e-5)
    reference = reference_decode(decoder.state_dict(), template, one_hot)
    torch.testing.assert_close(full, reference, atol=1e-5, rtol=1e-5)


def test_prior_equals_reference(tiny_model):
    labels, one_hot = one_hot_labels(30, TINY, seed=2)
    audio_code = torch.randn(30, TINY.audio_channels)
    with torch.no_grad():
        ours = tiny_model.prior(one_hot[None], audio_code[None])[0]
    reference = reference_prior_log_probs(tiny_model.prior.state_dict(), one_hot, audio_code, TINY.num_heads)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


def test_prior_is_causal_over_time_and_heads():
    """Changing frame t's head h (or anything later) never changes the log-probs of
    earlier frames, nor those of heads <= h at frame t."""
    model = random_model(TINY, seed=5, scale=2.0)
    frames, t, h = 25, 12, 3
    labels, one_hot = one_hot_labels(frames, TINY, seed=4)
    audio_code = torch.randn(frames, TINY.audio_channels)
    perturbed_labels = one_hot.clone()
    perturbed_labels[t, h] = torch.roll(perturbed_labels[t, h], 1)
    perturbed_labels[t + 1:] = torch.roll(perturbed_labels[t + 1:], 1, dims=-1)
    perturbed_audio = audio_code.clone()
    perturbed_audio[t + 1:] += 5.0
    with torch.no_grad():
        base = model.prior(one_hot[None], audio_code[None])[0]
        changed = model.prior(perturbed_labels[None], perturbed_audio[None])[0]
    torch.testing.assert_close(changed[:t], base[:t])
    torch.testing.assert_close(changed[t, :h + 1], base[t, :h + 1])
    assert not torch.allclose(changed[t + 1:], base[t + 1:])  # the perturbation does reach later frames
    # Heads 0..5 see no same-frame heads (six stacked strict masks): only history and audio.
    torch.testing.assert_close(changed[t, :6], base[t, :6])


def test_prior_reaches_back_exactly_nineteen_frames():
    model = random_model(TINY, seed=6, scale=2.0)
    frames = 40
    _, one_hot = one_hot_labels(frames, TINY, seed=7)
    audio_code = torch.randn(frames, TINY.audio_channels)
    assert TINY.prior_lookback == 19
    for past, should_change in ((39 - 19, True), (39 - 20, False)):
        perturbed = one_hot.clone()
        perturbed[past] = torch.roll(perturbed[past], 1, dims=-1)
        with torch.no_grad():
            base = model.prior(one_hot[None], audio_code[None])[0, -1]
            changed = model.prior(perturbed[None], audio_code[None])[0, -1]
        assert (not torch.allclose(base, changed)) == should_change


@pytest.mark.parametrize("values", [{"num_vertices": 10}, {"num_vertices": 7, "prior_dilations": [1, 2]}])
def test_config_round_trips_through_json(values):
    config = MeshTalkConfig.from_dict(values)
    import json

    assert MeshTalkConfig.from_dict(json.loads(config.to_json())) == config


@pytest.mark.parametrize("change, message", [
    ({"num_heads": 1e9}, "num_heads must be a whole number"),
    ({"num_heads": 1_000_000_000}, "num_heads must be between 1 and 256"),
    ({"num_vertices": -5}, "num_vertices must be between 1"),
    ({"num_classes": 0}, "num_classes must be between 1"),
    ({"fusion_width": 16.0}, "fusion_width must be a whole number"),
    ({"audio_channels": "128"}, "audio_channels must be a whole number"),
    ({"decoder_lstm_layers": True}, "decoder_lstm_layers must be a whole number"),
    ({"decoder_widths": [32, 24]}, "decoder_widths must be a list of 3 sizes"),
    ({"decoder_widths": [32, -24, 16]}, "decoder_widths must be between 1"),
    ({"prior_dilations": []}, "prior_dilations must have 1 to"),
    ({"prior_dilations": "1248"}, "prior_dilations must be a list"),
    ({"prior_channels": 100_000}, "prior_channels must be between 1 and 16384"),
    ({"prior_channels": 4096}, "million numbers"),  # each size allowed, the whole far too big
    ({"audio_normalisation": 3}, "audio_normalisation must be one of"),
])
def test_absurd_sizes_are_refused_before_anything_is_built(change, message):
    values = {**json.loads(TINY.to_json()), **change}
    with pytest.raises(ValueError, match=message):
        MeshTalkConfig.from_dict(values)


@pytest.mark.parametrize("config", [TINY, MeshTalkConfig.original(),
                                    dataclasses.replace(TINY, vertex_space="offsets", decoder_lstm_layers=3,
                                                        prior_dilations=(1, 2))])
def test_the_size_estimate_is_the_models_state_dict(config):
    assert config.num_values() == sum(v.numel() for v in MeshTalk(config).state_dict().values())
