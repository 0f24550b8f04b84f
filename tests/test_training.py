"""Smoke runs of both training stages on a tiny model and a tiny synthetic data set."""

import numpy as np
import pytest
import torch
from audio_fixtures import speech_like
from conftest import TINY, random_model

from meshtalk_blender.core import audio
from meshtalk_blender.training.dataset import SegmentBatcher, Sequence
from meshtalk_blender.training.loops import TrainSettings, train_stage1, train_stage2
from meshtalk_blender.training.losses import RegionMasks, masked_mse

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
        sequences.append(Sequence(waveform, vertices, template, name=f"s{index}"))
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
