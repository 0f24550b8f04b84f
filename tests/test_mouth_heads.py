"""Mouth heads: decided by the audio in training, isolated in the prior, certain when sampled."""

import numpy as np
import pytest
import torch
from conftest import TINY, random_model

from meshtalk_blender.core.sampling import PriorSampler, draws
from meshtalk_blender.training.losses import RegionMasks, lip_shape_mse
from meshtalk_blender.training.mouth_heads import (HeadRoles, fusion_log_probs, isolate_mouth_context, mix_heads,
                                                   sharpen_mouth_heads)

ROLES = HeadRoles(fixed=(0,), mouth=(1, 2))  # TINY has 6 heads: 3-5 carry the upper face


def test_roles_must_be_the_leading_heads():
    with pytest.raises(ValueError, match="first heads"):
        HeadRoles(fixed=(0,), mouth=(2, 3))
    assert HeadRoles(fixed=(0,), mouth=(1, 2)).audio_driven == (0, 1, 2) and not HeadRoles()


def test_mouth_heads_come_from_the_audio_alone_and_the_fixed_head_is_class_0():
    model = random_model(TINY)
    audio = torch.randn(2, 5, TINY.audio_channels)
    one, other = torch.randn(2, 5, TINY.expression_code), torch.randn(2, 5, TINY.expression_code)
    first, second = fusion_log_probs(model, one, audio, ROLES), fusion_log_probs(model, other, audio, ROLES)
    torch.testing.assert_close(first[:, :, 1:3], second[:, :, 1:3])  # mouth: the same audio, the same logits
    assert not torch.allclose(first[:, :, 3:], second[:, :, 3:])  # the upper face follows the expression
    assert (first[:, :, 0].argmax(-1) == 0).all() and float(first[:, :, 0, 0].detach().max()) == 0.0
    mixed = mix_heads(torch.zeros(1, 1, 6, 4), torch.ones(1, 1, 6, 4), ROLES)
    assert mixed[0, 0, :, 0].tolist() == [0, 0, 0, 1, 1, 1]


def test_the_isolated_prior_gives_the_mouth_heads_the_same_logits_whatever_the_upper_heads_drew():
    model = random_model(TINY)
    isolate_mouth_context(model.prior, ROLES)
    labels = torch.randint(0, TINY.num_classes, (1, 30, TINY.num_heads))
    changed = labels.clone()
    changed[..., 3:] = torch.randint(0, TINY.num_classes, (1, 30, 3))
    audio = torch.randn(1, 30, TINY.audio_channels)
    one_hot = lambda x: torch.nn.functional.one_hot(x, TINY.num_classes).float()  # noqa: E731
    with torch.no_grad():
        before, after = model.prior(one_hot(labels), audio), model.prior(one_hot(changed), audio)
    torch.testing.assert_close(before[..., :3, :], after[..., :3, :])
    assert not torch.allclose(before[..., 3:, :], after[..., 3:, :])


def test_sharpened_mouth_heads_sample_the_same_labels_for_every_seed_and_temperature():
    model = random_model(TINY, scale=3.0)
    isolate_mouth_context(model.prior, ROLES)
    sharpen_mouth_heads(model.prior, ROLES)
    codes = np.random.default_rng(0).normal(size=(40, TINY.audio_channels)).astype(np.float32)
    sampled = []
    for seed, temperature in ((0, 0.6), (1, 0.6), (2, 1.0), (3, 1.0)):
        sampler = PriorSampler(model.prior)
        sampled.append(sampler.sample(sampler.start(), codes, draws(seed, 40, TINY.num_heads), temperature))
    for labels in sampled[1:]:
        assert (labels[:, :3] == sampled[0][:, :3]).all()
    assert any((labels[:, 3:] != sampled[0][:, 3:]).any() for labels in sampled[1:]), "the upper face still varies"


def test_lip_shape_term_measures_the_inner_lips_positions():
    masks = RegionMasks(mouth=torch.ones(4), upper_face=torch.zeros(4), eyelid_keypoints=torch.tensor([3]),
                        upper_inner_lip=torch.tensor([0]), lower_inner_lip=torch.tensor([1]))
    target = torch.zeros(1, 1, 4, 3)
    lifted = target.clone()
    lifted[0, 0, 1, 2] = 0.002  # the lower lip 2 mm up, as in a tuck
    assert float(lip_shape_mse(lifted, target, masks)) == pytest.approx(4.0 / 6)
    lifted[0, 0, 2, 2] = 0.01  # not a lip vertex
    assert float(lip_shape_mse(lifted, target, masks)) == pytest.approx(4.0 / 6)
