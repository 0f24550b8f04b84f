"""Smoke runs of both training stages on a tiny model and a tiny synthetic data set."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from audio_fixtures import speech_like
from conftest import TINY, random_model

from meshtalk_blender.core import audio
from meshtalk_blender.training.dataset import SegmentBatcher, Sequence
from meshtalk_blender.training.initialisation import _sample_frames
from meshtalk_blender.training.loops import (TrainSettings, prepare_stage1, set_vertex_statistics, train_stage1,
                                             train_stage2)
from meshtalk_blender.training.losses import RegionMasks, code_diversity_loss, masked_mse

MOUTH = np.arange(0, 10)
EYELIDS = np.arange(30, 36)


def synthetic_sequences(count=6, seconds=3.0):
    """Meshes whose 'mouth' opens with the audio's loudness and whose 'eyelids' blink at
    random: the two kinds of motion the cross-modality loss separates."""
    rng = np.random.default_rng(0)
    template = rng.normal(size=(TINY.num_vertices, 3)).astype(np.float32)
    sequences = []
    for index in range(count):
        waveform = audio.normalise_waveform(speech_like(seconds, seed=index))
        frames = audio.frame_count(seconds, 30)
        hop = 16000 // 30
        loudness = np.array([np.abs(waveform[i * hop:(i + 1) * hop]).mean() for i in range(frames)])
        loudness = loudness / (loudness.max() + 1e-9)
        blink = (rng.uniform(size=frames) < 0.05).astype(np.float32)
        vertices = np.repeat(template[None], frames, axis=0)
        vertices[:, MOUTH, 2] -= 0.5 * loudness[:, None]
        vertices[:, EYELIDS, 2] -= 0.3 * blink[:, None]
        sequences.append(Sequence(waveform, vertices - template, template, name=f"s{index}"))
    return sequences


def masks():
    mouth = torch.zeros(TINY.num_vertices)
    mouth[MOUTH] = 1
    return RegionMasks(mouth=mouth, upper_face=1 - mouth, eyelid_keypoints=torch.from_numpy(EYELIDS))


def test_batches_have_the_right_shapes_and_codes_positions():
    batcher = SegmentBatcher(synthetic_sequences(2), segment_frames=16, batch_size=3, seed=1)
    batch = batcher.next_batch()
    assert batch.vertices.shape == (3, 16, TINY.num_vertices, 3)
    assert batch.log_mel.shape == (3, 80, batcher.mel_per_window)
    steps = torch.diff(batch.code_positions, dim=1)
    torch.testing.assert_close(steps, torch.full_like(steps, 10 / 3))  # 30 fps frames on a 100 Hz grid
    assert float(batch.code_positions.max()) <= batcher.codes_per_window - 1


def test_masked_mse_is_normalised_by_the_mask_weight_and_in_square_millimetres():
    target = torch.zeros(1, 1, 4, 3)
    predicted = torch.full((1, 1, 4, 3), 0.002)  # 2 mm off on every coordinate
    assert float(masked_mse(predicted, target, torch.tensor([1.0, 0, 0, 0]))) == pytest.approx(4.0)
    assert float(masked_mse(predicted, target, torch.tensor([0.5, 0.5, 0.5, 0.5]))) == pytest.approx(4.0)


def test_both_stages_learn_and_resume(tmp_path):
    sequences = synthetic_sequences()
    model = random_model(TINY, seed=0)
    settings = TrainSettings(steps=60, batch_size=4, segment_frames=16, learning_rate=3e-3, log_every=10,
                             device="cpu", checkpoint_every=30)
    logged = []
    history = train_stage1(model, sequences, masks(), settings, tmp_path / "stage1.pt", log=logged.append)
    assert [entry["step"] for entry in history] == [10, 20, 30, 40, 50, 60]
    late = lambda key: np.mean([entry[key] for entry in history[-2:]])  # noqa: E731
    assert late("reconstruction") < 0.7 * history[0]["reconstruction"]
    assert late("cross_modality") < 0.8 * history[0]["cross_modality"]
    assert (tmp_path / "stage1.pt").is_file() and logged == history

    prior_before = {k: v.clone() for k, v in model.audio_encoder.state_dict().items()}
    stage2 = TrainSettings(steps=60, batch_size=4, segment_frames=24, learning_rate=3e-3, log_every=20, device="cpu")
    history2 = train_stage2(model, sequences, stage2)
    assert history2[-1]["nll"] < history2[0]["nll"]
    for key, value in model.audio_encoder.state_dict().items():  # stage 2 leaves the encoders alone
        torch.testing.assert_close(value, prior_before[key])

    # Resuming the finished stage-1 checkpoint with more steps continues where it stopped.
    longer = TrainSettings(**{**settings.__dict__, "steps": 70})
    resumed = random_model(TINY, seed=5)
    history3 = train_stage1(resumed, sequences, masks(), longer, tmp_path / "stage1.pt", log=lambda e: None)
    assert [entry["step"] for entry in history3][-2:] == [60, 70]
    assert history3[-1]["reconstruction"] < history[0]["reconstruction"]
    assert history3[-1]["lr"] == pytest.approx(3e-4)  # 70 steps decay at 56: already decayed

    # Extending a decayed run with a later decay point trains at the full rate again.
    extended = TrainSettings(**{**settings.__dict__, "steps": 100, "decay_at": 0.9})
    history4 = train_stage1(random_model(TINY, seed=5), sequences, masks(), extended, tmp_path / "stage1.pt",
                            log=lambda e: None)
    lr_at = {entry["step"]: entry["lr"] for entry in history4}
    assert lr_at[80] == pytest.approx(3e-3) and lr_at[100] == pytest.approx(3e-4)


OFFSETS = replace(TINY, vertex_space="offsets")


def test_offset_space_normalises_motion_not_identity():
    """Offsets mode: the encoder and the decoder's output work on motion statistics, the
    decoder's template input on identity statistics; no identity leaks into the motion."""
    sequences = synthetic_sequences(count=3)
    rng = np.random.default_rng(3)
    for sequence in sequences:  # three identities: shift each template (and its meshes)
        shift = rng.normal(scale=0.2, size=sequence.template.shape).astype(np.float32)
        sequence.template = sequence.template + shift
    model = random_model(OFFSETS, seed=0)
    set_vertex_statistics(model, sequences)
    offsets = np.concatenate([s.offsets for s in sequences])
    np.testing.assert_allclose(model.expression_encoder.mean[0, 0].numpy(), offsets.mean(0), atol=1e-6)
    np.testing.assert_allclose(model.decoder.offset_stddev[0, 0].numpy(),
                               np.maximum(offsets.std(0), model.decoder.offset_stddev.min().item()), atol=1e-6)
    templates = np.stack([s.template for s in sequences])
    np.testing.assert_allclose(model.decoder.mean[0, 0].numpy(), templates.mean(0), atol=1e-6)
    # The decoder returns its template plus offsets: a new identity moves the output by
    # exactly its template shift when the predicted offsets are the same.
    batch = SegmentBatcher(sequences, 8, 2).next_batch()
    one_hot = torch.nn.functional.one_hot(torch.zeros(2, 8, OFFSETS.num_heads, dtype=torch.long),
                                          OFFSETS.num_classes).float()
    with torch.no_grad():
        model.decoder.encoder.requires_grad_(False)
        out = model.decoder(batch.templates[:, None], one_hot)
        encoding = model.decoder.encode_template(batch.templates[:, None])
        labels_out, _ = model.decoder.decode_labels(encoding, torch.zeros(2, 8, OFFSETS.num_heads, dtype=torch.long))
    torch.testing.assert_close(labels_out, out, atol=1e-5, rtol=1e-5)
    moved = out - batch.templates[:, None]
    assert moved.abs().max() < 5 * model.decoder.offset_stddev.max() + model.decoder.offset_mean.abs().max()


def test_data_initialisation_whitens_the_first_features_and_scales_the_latent():
    sequences = synthetic_sequences(count=6)
    model = random_model(OFFSETS, seed=0)
    prepare_stage1(model, sequences)
    frames = _sample_frames(model, sequences, seed=0)  # the frames it was fitted on
    with torch.no_grad():
        features = model.expression_encoder.layers[0](frames)
    used = features.std(0) > 1e-6
    # As many whitened features as the sampled motion has directions (mouth, eyelids).
    rank = int(torch.linalg.matrix_rank(frames - frames.mean(0), rtol=1e-3))
    assert rank >= 2 and int(used.sum()) == rank and bool(used[:rank].all())
    top = features[:, :rank]
    torch.testing.assert_close(top.mean(0), torch.zeros(rank), atol=1e-3, rtol=0)
    torch.testing.assert_close(top.std(0, correction=0), torch.ones(rank), atol=1e-3, rtol=0)
    torch.testing.assert_close(torch.corrcoef(top.T), torch.eye(rank), atol=1e-3, rtol=0)
    latent = model.decoder.fusion.weight.detach()[:, -OFFSETS.latent_size:]
    assert abs(float(latent.std()) - 1 / np.sqrt(OFFSETS.num_heads)) < 0.05


def test_code_diversity_loss_is_zero_for_even_use_and_high_for_one_class():
    classes = 8
    even = torch.eye(classes).log().clamp(min=-30).view(1, classes, 1, classes)  # each frame its own class
    assert float(code_diversity_loss(torch.log_softmax(even * 10, -1))) < 1e-3
    one = torch.zeros(1, classes, 1, classes)
    one[..., 0] = 30
    assert float(code_diversity_loss(torch.log_softmax(one, -1))) > 1 - 1 / classes - 1e-3


def test_offset_space_model_trains(tmp_path):
    model = random_model(OFFSETS, seed=0)
    settings = TrainSettings(steps=100, batch_size=4, segment_frames=16, learning_rate=3e-3, log_every=10,
                             device="cpu")
    history = train_stage1(model, synthetic_sequences(), masks(), settings, log=lambda e: None)
    assert np.mean([e["reconstruction"] for e in history[-2:]]) < 0.6 * history[0]["reconstruction"]


def test_warmup_weights_apply_to_the_first_steps_only():
    from meshtalk_blender.training.loops import stage1_weights_at
    from meshtalk_blender.training.losses import Stage1Weights

    settings = TrainSettings(steps=10, weights=Stage1Weights(lip_contact=1.0), warmup_weights=Stage1Weights(),
                             warmup_steps=3)
    assert [stage1_weights_at(settings, i)["lip_contact"] for i in (0, 2, 3, 9)] == [0, 0, 1, 1]
    assert stage1_weights_at(replace(settings, warmup_weights=None), 0)["lip_contact"] == 1

    # Training uses them: with every warm-up weight 0 the first steps leave the prepared
    # model as it was (zero gradients), and the first step after them changes it.
    sequences = synthetic_sequences(count=3)
    prepared = random_model(TINY, seed=0)
    prepare_stage1(prepared, sequences)
    zero = Stage1Weights(0.0, 0.0, 0.0)
    for steps, unchanged in ((2, True), (3, False)):
        trained = random_model(TINY, seed=0)
        train_stage1(trained, sequences, masks(), TrainSettings(steps=steps, batch_size=2, segment_frames=8,
                     device="cpu", warmup_weights=zero, warmup_steps=2), log=lambda e: None)
        same = all(torch.equal(a, b) for a, b in zip(prepared.state_dict().values(), trained.state_dict().values()))
        assert same == unchanged


def test_mouth_heads_compare_each_region_with_its_own_motion():
    from meshtalk_blender.training.heads import HeadInfluence, measure_head_influence

    # Head 0 moves the mouth 20x more than the upper face, which is just how much more the
    # mouth moves in the data: a mixed head. Head 1 barely touches the upper face.
    influence = HeadInfluence(np.array([2e-3, 2e-3]), np.array([1e-4, 1e-6]), 2e-3, 1e-4)
    assert influence.mouth_heads() == (1,)
    np.testing.assert_allclose(influence.mouth_share, [0.5, 1 / 1.01])

    model = random_model(TINY, seed=0)
    with torch.no_grad():  # heads 0 and 1 are not wired to the decoder: no effect anywhere
        code_width = model.decoder.fusion.weight.shape[1] - TINY.latent_size
        model.decoder.fusion.weight[:, code_width:code_width + 2 * TINY.num_classes] = 0
    mouth, upper = np.zeros(TINY.num_vertices, np.float32), np.zeros(TINY.num_vertices, np.float32)
    mouth[MOUTH], upper[EYELIDS] = 1, 1
    measured = measure_head_influence(model, synthetic_sequences(count=3), mouth, upper, batches=1,
                                      batch_size=3, segment_frames=16)
    assert measured.mouth[:2].max() == 0 and measured.upper_face[:2].max() == 0
    assert measured.mouth[2:].max() > 0 and measured.mouth_motion > 0 and measured.upper_face_motion > 0


def test_lip_contact_term_measures_the_gap_between_paired_lip_vertices():
    from meshtalk_blender.training.losses import lip_contact_mse

    target = torch.zeros(1, 2, 4, 3)
    upper, lower = torch.tensor([0, 1]), torch.tensor([2, 3])
    apart = target.clone()
    apart[:, :, :2, 2] += 0.002  # upper lip 2 mm above its partner
    assert float(lip_contact_mse(target, target, upper, lower)) == 0
    assert float(lip_contact_mse(apart, target, upper, lower)) == pytest.approx(4 / 3)  # (2 mm)^2 over x, y, z
    moved_together = target + 0.005  # the whole mouth moved, lips still together: no contact error
    assert float(lip_contact_mse(moved_together, target, upper, lower)) == pytest.approx(0, abs=1e-9)
    assert float(lip_contact_mse(apart, target, upper[:0], lower[:0])) == 0
    # stage 1 weighs the term separately on the reconstruction and on the audio-driven decode
    from meshtalk_blender.training.losses import RegionMasks, stage1_losses

    masks = RegionMasks(mouth=torch.ones(4), upper_face=torch.zeros(4), eyelid_keypoints=torch.tensor([0]),
                        upper_inner_lip=upper, lower_inner_lip=lower)
    log_probs = torch.log_softmax(torch.zeros(1, 2, 2, 3), dim=-1)
    terms = stage1_losses(apart, target, target, target, masks, log_probs)
    assert float(terms["lip_contact"]) == pytest.approx(4 / 3) and float(terms["audio_lip_contact"]) == 0
    terms = stage1_losses(target, target, apart, target, masks, log_probs)
    assert float(terms["lip_contact"]) == 0 and float(terms["audio_lip_contact"]) == pytest.approx(4 / 3)


def test_brow_term_measures_the_brow_keypoints_only_and_is_off_without_them():
    from meshtalk_blender.training.losses import RegionMasks, stage1_losses

    target = torch.zeros(1, 2, 4, 3)
    raised = target.clone()
    raised[:, :, 1, 2] += 0.003  # vertex 1 (a brow keypoint) 3 mm up
    raised[:, :, 3, 2] += 0.010  # vertex 3 (not one) 10 mm up
    log_probs = torch.log_softmax(torch.zeros(1, 2, 2, 3), dim=-1)
    common = dict(mouth=torch.ones(4), upper_face=torch.zeros(4), eyelid_keypoints=torch.tensor([0]))
    terms = stage1_losses(raised, target, target, target, RegionMasks(**common, brow_keypoints=torch.tensor([1, 2])),
                          log_probs)
    assert float(terms["brow"]) == pytest.approx(9 / 6)  # (3 mm)^2 on one of 2 vertices x 3 coordinates
    assert float(stage1_losses(raised, target, target, target, RegionMasks(**common), log_probs)["brow"]) == 0


def test_the_bundled_heads_brow_keypoints_are_the_brows():
    from meshtalk_blender.core.face import load_bundled_head
    from meshtalk_blender.training.bundled import brow_keypoints, region_masks

    head = load_bundled_head()
    brows = brow_keypoints(head)
    assert 50 < len(brows) < 400
    assert (head.masks["upper_face"][brows] > 0.5).all() and (head.masks["mouth"][brows] == 0).all()
    eyes = head.vertices[np.concatenate([head.index_sets["left_eye_corners"], head.index_sets["right_eye_corners"]])]
    assert head.vertices[brows, 2].min() > eyes[:, 2].min()  # above the eyes' corners
    np.testing.assert_array_equal(region_masks(head).brow_keypoints.numpy(), brows)


def test_the_recipes_brow_term_starts_after_the_warm_up_and_can_be_set():
    from meshtalk_blender.training.bundled import BROW_WEIGHT, STAGE1, STAGE2, recipe_settings
    from meshtalk_blender.training.mouth_heads import HeadRoles

    stage1, stage2 = recipe_settings()
    assert stage1.weights == STAGE1.weights and stage1.warmup_weights == STAGE1.warmup_weights and stage2 == STAGE2
    assert stage1.weights.brow == BROW_WEIGHT > 0 and stage1.warmup_weights.brow == 0  # the blinks form in the warm-up
    stage1, _ = recipe_settings(brow_weight=0.0)  # the recipe before
    assert stage1.weights.brow == 0.0 and stage1.warmup_weights.brow == 0
    assert replace(stage1.weights, brow=BROW_WEIGHT) == STAGE1.weights  # nothing else changes
    assert [s.steps for s in recipe_settings(steps=(30, 20))] == [30, 20]
    assert recipe_settings(mouth_heads=False)[0].roles == HeadRoles()
