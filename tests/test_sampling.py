"""The fast sampler against the release's naive loop, on the same draws."""

import numpy as np
import pytest
import torch
from conftest import TINY, random_model
from reference_meshtalk import reference_sample

from meshtalk_blender.core.model import MeshTalkConfig
from meshtalk_blender.core.model.prior import Prior
from meshtalk_blender.core.sampling import PriorSampler, draw_label, draws, keep_mask


def naive(prior, audio_code, uniforms, temperature, fixed_labels=None, fixed_mask=None):
    config = prior.config
    return reference_sample(prior.state_dict(), torch.from_numpy(audio_code), config.num_heads, config.num_classes,
                            uniforms, temperature, draw_label, fixed_labels, fixed_mask)


def fast(prior, audio_code, uniforms, temperature, fixed_labels=None, fixed_mask=None, chunk=None):
    sampler = PriorSampler(prior)
    state = sampler.start()
    chunk = chunk or len(audio_code)
    parts = []
    for start in range(0, len(audio_code), chunk):
        end = start + chunk
        parts.append(sampler.sample(
            state, audio_code[start:end], uniforms[start:end], temperature,
            None if fixed_labels is None else fixed_labels[start:end],
            None if fixed_mask is None else fixed_mask[start:end],
        ))
    return np.concatenate(parts)


@pytest.fixture(scope="module")
def prior():
    return random_model(TINY, seed=11, scale=3.0).prior


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0, 0.0])
def test_fast_sampler_equals_naive_loop(prior, temperature):
    frames = 45
    audio_code = np.random.default_rng(1).normal(size=(frames, TINY.audio_channels)).astype(np.float32)
    uniforms = draws(7, frames, TINY.num_heads)
    expected = naive(prior, audio_code, uniforms, temperature)
    np.testing.assert_array_equal(fast(prior, audio_code, uniforms, temperature), expected)
    np.testing.assert_array_equal(fast(prior, audio_code, uniforms, temperature, chunk=7), expected)
    assert len(np.unique(expected)) > 3  # not a degenerate, constant sequence


def test_fast_sampler_equals_naive_loop_at_the_original_sizes():
    torch.manual_seed(3)
    prior = Prior(MeshTalkConfig.original()).eval()
    with torch.no_grad():
        for parameter in prior.parameters():
            parameter.mul_(4.0)
    frames = 24
    audio_code = np.random.default_rng(2).normal(size=(frames, 128)).astype(np.float32)
    uniforms = draws(1, frames, 16)
    np.testing.assert_array_equal(fast(prior, audio_code, uniforms, 1.0, chunk=10), naive(prior, audio_code, uniforms, 1.0))


def test_kept_heads_and_frames_stay_and_condition_the_rest(prior):
    frames, heads = 40, TINY.num_heads
    audio_code = np.random.default_rng(4).normal(size=(frames, TINY.audio_channels)).astype(np.float32)
    first = fast(prior, audio_code, draws(1, frames, heads), 1.0)
    keep = np.zeros((frames, heads), bool)
    keep[:, :2] = True  # keep heads 0-1 everywhere (like "keep the mouth")
    keep[:10] = keep[25:] = True  # and frames outside 10..24 entirely (like "resample frames 10-24")
    uniforms = draws(2, frames, heads)
    second = fast(prior, audio_code, uniforms, 1.0, first, keep, chunk=9)
    np.testing.assert_array_equal(second[keep], first[keep])
    assert np.any(second[~keep] != first[~keep])
    np.testing.assert_array_equal(second, naive(prior, audio_code, uniforms, 1.0, first, keep))


def test_same_seed_same_labels_other_seed_other_labels(prior):
    audio_code = np.random.default_rng(5).normal(size=(30, TINY.audio_channels)).astype(np.float32)
    a = fast(prior, audio_code, draws(9, 30, TINY.num_heads), 1.0)
    b = fast(prior, audio_code, draws(9, 30, TINY.num_heads), 1.0)
    c = fast(prior, audio_code, draws(10, 30, TINY.num_heads), 1.0)
    np.testing.assert_array_equal(a, b)
    assert np.mean(a != c) > 0.3


def test_draw_label_follows_the_softmax_distribution():
    logits = np.log(np.array([0.1, 0.6, 0.3]))
    uniforms = draws(0, 20000, 1)[:, 0]
    counts = np.bincount([draw_label(logits, u, 1.0) for u in uniforms], minlength=3) / len(uniforms)
    np.testing.assert_allclose(counts, [0.1, 0.6, 0.3], atol=0.01)
    sharp = np.bincount([draw_label(logits, u, 0.25) for u in uniforms[:5000]], minlength=3) / 5000
    assert sharp[1] > 0.9  # low temperature concentrates on the most likely label
    assert draw_label(logits, 0.999, 0.0) == 1  # temperature 0 is argmax whatever the draw


def test_embedding_mask_that_sees_its_own_head_is_refused():
    prior = Prior(TINY)
    with torch.no_grad():
        prior.embedding.mask.fill_(1)
    with pytest.raises(ValueError, match="autoregressive"):
        PriorSampler(prior)


def test_keep_mask_for_upper_face_and_frame_ranges():
    upper_face = keep_mask(10, 4, redraw_heads=[1, 3])
    assert upper_face[:, [0, 2]].all() and not upper_face[:, [1, 3]].any()
    frames = keep_mask(10, 4, redraw_frames=(3, 6))
    assert frames[:3].all() and frames[6:].all() and not frames[3:6].any()
    both = keep_mask(10, 4, redraw_heads=[1], redraw_frames=(3, 6))
    assert (~both).sum() == 3 and not both[3:6, 1].any()


def test_the_samplers_weights_are_laid_out_once_per_prior_and_again_after_training(tiny_model):
    from meshtalk_blender.core.sampling import sampler_weights

    first = PriorSampler(tiny_model.prior).weights
    assert PriorSampler(tiny_model.prior).weights is first  # the add-on animates many takes with one model
    bias = tiny_model.prior.logits.masked_linear.bias.detach().clone().numpy()
    with torch.no_grad():
        tiny_model.prior.logits.masked_linear.bias.add_(1.0)  # what an optimiser step does
    again = sampler_weights(tiny_model.prior)
    assert again is not first and np.allclose(again.logits_bias, bias + 1.0)
