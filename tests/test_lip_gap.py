"""The lips' opening heard through the speech encoder (core.lip_gap): the regressor's file,
the jaw that follows its gaps, and the pipeline that moves the mouth by them."""

from dataclasses import replace

import numpy as np
import pytest
import soundfile
import torch
from audio_fixtures import speech_with_a_pause

from meshtalk_blender.core import audio, pipeline
from meshtalk_blender.core.errors import MeshTalkError
from meshtalk_blender.core.lip_gap import (FOLLOW_CLOSING, FOLLOW_OPENING, GAP_SCALE_MM, LipGapRegressor, gaps_at, load_lip_gap_regressor,
                                          smoothed_gaps)
from meshtalk_blender.core.lip_parting import PART_MIN_MM, parting_rig
from meshtalk_blender.core.model.lip_closure import save_detector
from meshtalk_blender.core.pauses import clip_levels_db, rest_weights_of_levels
from meshtalk_blender.training import metrics


def test_the_jaw_follows_the_heard_gap_opening_and_closing_but_never_shuts_the_lips(head, lips):
    rig = parting_rig(len(head.vertices))
    rest = head.vertices.astype(np.float32)
    frames = np.stack([rest + 0.1 * rig.opening, rest + 0.4 * rig.opening, rest + 0.4 * rig.opening, rest])
    before = metrics.pair_gap(frames, *lips)  # about 2.9, 10, 10 and 0.3 mm
    heard = np.array([8.0, 5.0, 0.0, 6.0], np.float32)
    followed = metrics.pair_gap(rig.follow(frames, heard, 1.0, 1.0), *lips)
    assert followed[0] == pytest.approx(8.0, abs=0.05)  # opened to the heard gap
    assert followed[1] == pytest.approx(5.0, abs=0.05)  # closed to it
    assert followed[2] == pytest.approx(PART_MIN_MM, abs=0.05), "closing stops where the lips would meet"
    assert followed[3] == pytest.approx(6.0, abs=0.05)
    shares = metrics.pair_gap(rig.follow(frames, heard, 0.5, 0.25), *lips)
    assert shares[0] == pytest.approx(before[0] + 0.5 * (8.0 - before[0]), abs=0.05)  # half way open
    assert shares[1] == pytest.approx(before[1] + 0.25 * (5.0 - before[1]), abs=0.05)  # a quarter way closed
    # Where the seal closes the mouth it is not opened; closing is still followed.
    kept = metrics.pair_gap(rig.follow(frames, heard, 1.0, 1.0, np.array([1.0, 1.0, 0.0, 0.5])), *lips)
    assert kept[0] == pytest.approx(before[0], abs=1e-3) and kept[1] == pytest.approx(5.0, abs=0.05)
    assert kept[3] == pytest.approx(before[3] + 0.5 * (6.0 - before[3]), abs=0.05)
    # Only the jaw's opening moves the face, and shares of 0 leave it as it is.
    moved_by = rig.follow(frames, heard, 1.0, 1.0)[1] - frames[1]
    scale = float((moved_by * rig.opening).sum() / (rig.opening * rig.opening).sum())
    np.testing.assert_allclose(moved_by, scale * rig.opening, atol=1e-7)
    assert rig.follow(frames, heard, 0.0, 0.0) is frames


def test_heard_gaps_are_read_between_mel_frames_and_smoothed():
    gaps = np.array([0.0, 10.0, 20.0], np.float32)  # at 0, 10 and 20 ms
    np.testing.assert_allclose(gaps_at(gaps, np.array([0.0, 0.005, 0.015, 0.5])), [0.0, 5.0, 15.0, 20.0], atol=1e-5)
    np.testing.assert_array_equal(gaps_at(np.zeros(0, np.float32), np.array([0.0, 1.0])), [0.0, 0.0])
    jittery = np.tile(np.array([4.0, 8.0], np.float32), 50)  # a 10 ms flicker around 6 mm
    smooth = smoothed_gaps(jittery)
    assert smooth.shape == jittery.shape and np.abs(smooth[10:-10] - 6.0).max() < 0.05
    assert smoothed_gaps(np.zeros(0, np.float32)).shape == (0,)


def constant_regressor(gap_mm: float, inputs: str = "speech", channels: int = 384) -> LipGapRegressor:
    """A regressor that hears the same gap everywhere."""
    regressor = LipGapRegressor(width=8, dilations=(2,), inputs=inputs, input_channels=channels)
    with torch.no_grad():
        regressor.output.weight.zero_()
        regressor.output.bias.fill_(gap_mm / GAP_SCALE_MM)
    return regressor.eval()


def test_the_regressor_file_gives_millimetres_and_must_read_the_speech_encoder(tmp_path):
    save_detector(constant_regressor(7.5), tmp_path / "gap.safetensors")
    loaded = load_lip_gap_regressor(tmp_path / "gap.safetensors")
    with torch.no_grad():
        logits = loaded.event_logits(torch.zeros(1, 384, 10))
    np.testing.assert_allclose(loaded.scores(logits).numpy(), 7.5, atol=1e-2)  # float16 on disk
    save_detector(constant_regressor(7.5, inputs="mel", channels=80), tmp_path / "mel.safetensors")
    with pytest.raises(MeshTalkError, match="speech encoder"):
        load_lip_gap_regressor(tmp_path / "mel.safetensors")


@pytest.fixture(scope="module")
def speech_with_pauses(tmp_path_factory):
    path = tmp_path_factory.mktemp("lip_gap") / "speech.wav"
    soundfile.write(path, speech_with_a_pause(16000), 16000)
    return path


def animate(loaded, path, seal=True, fps=30.0):
    options = pipeline.AnimateOptions(seed=0, device="cpu", seal_lips=seal, fps=fps)
    return pipeline.animate(loaded, audio.AudioClip(path), options).vertices


@pytest.mark.parametrize("fps", [30.0, 24.0])
def test_the_pipeline_opens_the_mouth_to_the_heard_gap_before_the_contacts(bundled, speech_with_pauses, lips, fps):
    """A regressor that hears 12 mm everywhere: the speech opens FOLLOW_OPENING of the way to 12 mm
    wherever the contacts leave it alone; pauses still rest closed; without the lip contacts (or
    without the file) the model's own mouth is untouched."""
    hears_nothing = replace(bundled, lip_tuck=None,
                            lip_closure=replace_output(bundled.lip_closure, -10.0))  # no p/b/m anywhere
    heard = replace(hears_nothing, lip_gap=constant_regressor(12.0))
    plain = animate(replace(hears_nothing, lip_gap=None), speech_with_pauses, fps=fps)
    opened = animate(heard, speech_with_pauses, fps=fps)
    info = audio.probe(audio.AudioClip(speech_with_pauses))
    pauses = rest_weights_of_levels(clip_levels_db(info, len(plain), fps), fps)
    speech, resting = pauses == 0.0, pauses == 1.0
    assert speech.sum() > 30 and resting.sum() > 10, "the clip has both speech and pauses"
    gap, plain_gap = metrics.pair_gap(opened, *lips), metrics.pair_gap(plain, *lips)
    assert np.abs(plain_gap[speech] - 12.0).mean() > 3.0, "the model's own mouth is not 12 mm open"
    share = np.where(plain_gap < 12.0, FOLLOW_OPENING, FOLLOW_CLOSING)
    followed = plain_gap + share * (12.0 - plain_gap)  # that share of the way to the heard gap
    assert 0.5 <= FOLLOW_OPENING <= 1.0
    assert np.median(np.abs(gap[speech] - followed[speech])) < 0.2
    assert gap[resting].max() < 1.0, "in a pause the mouth still rests closed"
    np.testing.assert_array_equal(animate(heard, speech_with_pauses, seal=False, fps=fps),
                                  animate(hears_nothing, speech_with_pauses, seal=False, fps=fps))


def replace_output(detector, logit: float):
    """A copy of ``detector`` that hears the same logit everywhere."""
    import copy

    scripted = copy.deepcopy(detector)
    with torch.no_grad():
        scripted.output.weight.zero_()
        scripted.output.bias.fill_(logit)
    return scripted.eval()
