"""The lip-closure detector: its file, its training inputs, and the pipeline closing the
lips where it fires (and nowhere else)."""

import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile
import torch
from audio_fixtures import speech_like
from safetensors.torch import load_file, save_file
from conftest import TINY, random_model

from meshtalk_blender.core import audio, pipeline
from meshtalk_blender.core.checkpoints import LoadedModel, load_model, save_bundle
from meshtalk_blender.core.errors import MeshTalkError
from meshtalk_blender.core.model.lip_closure import (
    CLOSURE_FILE, SEAL_FROM, SEAL_FULL, LipClosureDetector, closure_probabilities, load_detector, save_detector,
    seal_weights)
from meshtalk_blender.core.model.meshtalk import LogMelWindow, clip_mel_statistics, log_mel_window
from meshtalk_blender.core.timeline import FpsResampler
from meshtalk_blender.training.dataset import Sequence
from meshtalk_blender.training.lip_closure import (
    SEAL_FALSE_ALARMS, ClosureTrainSettings, calibrated_thresholds, closure_peaks, closure_peaks_and_background,
    closure_targets, detection_report, train_detector, utterance_log_mel)

RATE = 16000


def random_detector(seed: int = 0) -> LipClosureDetector:
    torch.manual_seed(seed)
    return LipClosureDetector(width=16, dilations=(2, 4)).eval()


def test_detector_file_round_trips_and_a_damaged_one_is_refused(tmp_path):
    detector = random_detector()
    log_mel = torch.randn(1, 80, 120)
    save_detector(detector, tmp_path / "full.safetensors", half_precision=False)
    save_detector(detector, tmp_path / "half.safetensors")
    with torch.no_grad():
        expected = detector(log_mel)
        torch.testing.assert_close(load_detector(tmp_path / "full.safetensors")(log_mel), expected)
        torch.testing.assert_close(load_detector(tmp_path / "half.safetensors")(log_mel), expected, atol=0.02, rtol=0.02)
    assert load_detector(tmp_path / "half.safetensors").dilations == (2, 4)
    save_detector(LipClosureDetector(width=4, dilations=(32, 32)), tmp_path / "too_wide.safetensors")
    with pytest.raises(MeshTalkError, match="at most 50"):
        load_detector(tmp_path / "too_wide.safetensors")
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes((tmp_path / "full.safetensors").read_bytes()[:300])
    with pytest.raises(MeshTalkError, match="damaged"):
        load_detector(damaged)


def test_a_detector_beside_a_model_that_does_not_normalise_per_utterance_is_refused(tmp_path, template_vertices):
    save_bundle(tmp_path, random_model(TINY), template_vertices, description="tiny", licence="MIT")
    save_detector(random_detector(), tmp_path / CLOSURE_FILE)
    with pytest.raises(MeshTalkError, match="per utterance"):
        load_model(tmp_path)


def test_seal_weights_ramp_between_the_two_probabilities():
    weights = seal_weights(np.array([0.0, SEAL_FROM, (SEAL_FROM + SEAL_FULL) / 2, SEAL_FULL, 1.0]))
    np.testing.assert_allclose(weights, [0, 0, 0.5, 1, 1], atol=1e-6)
    np.testing.assert_allclose(seal_weights(np.array([0.5, 0.8, 0.85, 0.9, 0.95]), (0.8, 0.9)), [0, 0, 0.5, 1, 1],
                               atol=1e-6)


def test_a_detector_carries_its_seal_thresholds_in_its_file(tmp_path):
    detector = random_detector()
    assert detector.thresholds == (SEAL_FROM, SEAL_FULL)
    detector.thresholds = (0.72, 0.91)
    save_detector(detector, tmp_path / "calibrated.safetensors")
    assert load_detector(tmp_path / "calibrated.safetensors").thresholds == pytest.approx((0.72, 0.91))
    # A file from before thresholds were stored: the fixed ones.
    settings = {"width": 16, "dilations": [2, 4], "outputs": 1}
    save_file(load_file(str(tmp_path / "calibrated.safetensors")), str(tmp_path / "old.safetensors"),
              metadata={"settings": json.dumps(settings)})
    assert load_detector(tmp_path / "old.safetensors").thresholds == (SEAL_FROM, SEAL_FULL)
    for damaged in ([0.9, 0.7], [0.5], [0.5, 1.5]):
        save_file(load_file(str(tmp_path / "calibrated.safetensors")), str(tmp_path / "bad.safetensors"),
                  metadata={"settings": json.dumps(settings | {"thresholds": damaged})})
        with pytest.raises(MeshTalkError, match="damaged"):
            load_detector(tmp_path / "bad.safetensors")


def test_calibration_puts_the_thresholds_where_the_detector_fires_on_2_and_1_percent_of_frames_away_from_p_b_m():
    sequences = [gapped_speech(seed) for seed in range(100, 108)]
    detector = random_detector(3)
    with torch.no_grad():  # probabilities spread over (0, 1), as a trained detector's
        detector.output.weight.mul_(100.0)
    _, background = closure_peaks_and_background(detector, sequences)
    start, full = calibrated_thresholds(detector, sequences)
    assert SEAL_FALSE_ALARMS == (0.02, 0.01) and len(background) > 1000
    assert np.mean(background > start) == pytest.approx(0.02, abs=2 / len(background))
    assert np.mean(background > full) == pytest.approx(0.01, abs=2 / len(background))
    assert calibrated_thresholds(detector, []) == detector.thresholds


class ScriptedDetector(torch.nn.Module):
    """Gives frame i the probability ``probabilities[i]``, whatever it hears."""

    def __init__(self, probabilities: np.ndarray):
        super().__init__()
        self.logits = torch.logit(torch.as_tensor(probabilities, dtype=torch.float32))
        self.output = torch.nn.Conv1d(1, 1, 1)  # only its dtype is read (closure_probabilities)

    def event_logits(self, log_mel: torch.Tensor) -> torch.Tensor:
        return self.logits[None, None, :log_mel.shape[2]]

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        return self.event_logits(log_mel)[:, 0]


def test_a_closure_between_two_frames_is_shown_on_the_frames_around_it():
    """At 30 fps the frames fall every 3.3 mel frames: a closure heard on one mel frame
    that no frame's time lands on must still close the frame(s) within half a frame."""
    window = LogMelWindow(torch.zeros(1, 80, 200), first_mel=100)  # mel frames 100..299 (1-3 s)
    times = np.arange(30, 90) / 30
    for heard in (150, 151, 152, 153):  # 1.50 s is frame 45's time; 1.51-1.53 s fall between 45 and 46
        probabilities = closure_probabilities(ScriptedDetector(np.eye(200)[heard - 100]), window, times)
        distance = np.abs(times * 100 - heard)  # mel frames from each frame's time
        np.testing.assert_array_equal(probabilities > 0.99, distance <= 100 / 30 / 2)
        assert probabilities.max() > 0.99 and (probabilities > 0.99).sum() <= 2
        assert probabilities[distance > 100 / 30 / 2].max() < 1e-6


def test_targets_mark_the_bilabials_frames():
    phonemes = [("sil", 0.0, 0.5), ("b", 0.5, 0.6), ("a", 0.6, 0.8), ("??", 0.8, 0.9), ("m", 0.9, 1.0)]
    sequence = Sequence(np.zeros(RATE, np.float32), np.zeros((31, 1, 3), np.float32), np.zeros((1, 3), np.float32),
                        metadata={"phonemes": phonemes})
    targets = closure_targets(sequence, 101)[0].numpy()
    assert np.flatnonzero(targets).tolist() == list(range(50, 61)) + list(range(90, 101))


def test_closure_peaks_take_each_bilabials_highest_value_within_30_ms():
    values = torch.arange(40, dtype=torch.float32).reshape(2, 20) % 7
    targets = torch.zeros(2, 20)
    targets[0, 5:7] = 1  # frames 2..9 count: values 2, 3, 4, 5, 6, 0, 1, 2
    targets[0, 15:20] = 1  # frames 12..19: 5, 6, 0, ...
    targets[1, 0:1] = 1  # row 1 is 20..39: frames 0..3 are 6, 0, 1, 2
    np.testing.assert_array_equal(closure_peaks(values, targets).numpy(), [6, 6, 6])
    assert closure_peaks(values, torch.zeros(2, 20)).shape == (0,)


def gapped_speech(seed: int) -> Sequence:
    """4 s of speech-like sound with eight 70 ms silent closures, labelled as "b"."""
    rng = np.random.default_rng(seed)
    waveform = speech_like(4.0, RATE, seed=seed, pauses=False)
    phonemes, position = [], 0.2
    for start in np.sort(rng.choice(np.arange(0.3, 3.6, 0.4), 8, replace=False)) + rng.uniform(0, 0.1, 8):
        waveform[int(start * RATE):int((start + 0.07) * RATE)] = 0.0
        phonemes += [("a", position, start), ("b", start, start + 0.07)]
        position = start + 0.07
    return Sequence(waveform, np.zeros((120, 1, 3), np.float32), np.zeros((1, 3), np.float32),
                    metadata={"phonemes": phonemes + [("a", position, 4.0)]})


def test_training_with_the_peak_term_learns_to_hear_closures_in_new_utterances():
    train = [gapped_speech(seed) for seed in range(6)]
    settings = ClosureTrainSettings(steps=120, batch_size=8, log_every=1000, peak_weight=1.0)
    detector = train_detector(train, settings, device="cpu", log=lambda message: None)
    untrained = detection_report(LipClosureDetector().eval(), [gapped_speech(100), gapped_speech(101)])
    report = detection_report(detector, [gapped_speech(100), gapped_speech(101)])
    assert report["bilabials"] == 16
    assert report["heard_over_0.3"] >= 0.9 and report["false_alarm_frames"] < 0.1, report
    assert untrained["heard_over_0.3"] < 0.5 or untrained["false_alarm_frames"] > 0.5, untrained


def test_report_compares_detectors_at_the_same_false_alarm_rate():
    """Two bilabials, one heard at 0.9 and one at 0.35; 4 of the 64 frames away from them
    (more than 6 frames) at 0.5, the rest at 0.01. At 4 % false alarms the threshold sits
    at 0.5 (only the first is heard), at 8 % at 0.01 (both are)."""
    phonemes = [("sil", 0.0, 0.2), ("b", 0.2, 0.25), ("a", 0.25, 0.6), ("m", 0.6, 0.65), ("a", 0.65, 1.0)]
    sequence = Sequence(np.zeros(RATE, np.float32), np.zeros((31, 1, 3), np.float32), np.zeros((1, 3), np.float32),
                        metadata={"phonemes": phonemes})
    probabilities = np.full(100, 0.01)
    probabilities[22], probabilities[62] = 0.9, 0.35
    probabilities[80:84] = 0.5
    report = detection_report(ScriptedDetector(probabilities), [sequence])
    assert report["bilabials"] == 2
    assert report["heard_over_0.3"] == 1.0 and report["heard_over_0.6"] == 0.5
    assert report["false_alarm_frames"] == pytest.approx(4 / 64)
    assert report["heard_at_4%_false_alarms"] == 0.5
    assert report["heard_at_8%_false_alarms"] == 1.0


def test_training_sees_the_log_mel_that_inference_gives_the_detector():
    """The detector is trained on whole utterances and run on the pipeline's windows: the
    frames must be the same numbers at the same times."""
    samples = speech_like(3.0, RATE, seed=4)
    model = random_model(replace(TINY, audio_normalisation="utterance"))
    get = lambda a, b: audio.slice_with_zeros(samples, a, b)  # noqa: E731
    times = np.arange(40, 70) / 30
    window = log_mel_window(model, get, times, clip_mel_statistics(model, get, len(samples)))
    whole = utterance_log_mel(samples)
    count = window.log_mel.shape[2]
    inside = slice(max(0, -window.first_mel), min(count, whole.shape[1] - window.first_mel))
    torch.testing.assert_close(window.log_mel[0, :, inside],
                               whole[:, window.first_mel + inside.start:window.first_mel + inside.stop],
                               atol=1e-4, rtol=1e-4)


def firing(always: bool) -> LipClosureDetector:
    """A detector that hears a closure everywhere (or nowhere)."""
    detector = random_detector()
    with torch.no_grad():
        detector.output.weight.zero_()
        detector.output.bias.fill_(10.0 if always else -10.0)
    return detector


@pytest.fixture
def loaded_with(tiny_model, template_vertices):
    mouth = np.zeros(TINY.num_vertices, np.float32)
    mouth[: TINY.num_vertices // 3] = 1.0
    return lambda detector: LoadedModel(tiny_model, template_vertices, "tiny", "test",
                                        vertex_masks={"mouth": mouth}, lip_closure=detector)


@pytest.fixture
def speech_path(tmp_path):
    path = tmp_path / "speech.wav"
    soundfile.write(path, speech_like(2.0, RATE, seed=5, pauses=False), RATE)
    return path


def animate(loaded, path, seal=True, chunk_frames=17):
    options = pipeline.AnimateOptions(seed=3, chunk_frames=chunk_frames, device="cpu", rest_in_pauses=False,
                                      seal_lips=seal)
    return pipeline.animate(loaded, audio.AudioClip(path), options).vertices


def test_pipeline_closes_only_the_mouth_and_only_where_the_detector_fires(loaded_with, template_vertices, speech_path):
    plain = animate(loaded_with(None), speech_path)
    lips = loaded_with(None).vertex_masks["mouth"] > 0
    assert np.abs(plain[:, lips] - template_vertices[lips]).max() > 0.1, "the random model's mouth moves"
    sealed = animate(loaded_with(firing(True)), speech_path)
    np.testing.assert_allclose(sealed[:, lips], np.broadcast_to(template_vertices[lips], sealed[:, lips].shape),
                               atol=1e-5)
    np.testing.assert_array_equal(sealed[:, ~lips], plain[:, ~lips])
    np.testing.assert_array_equal(animate(loaded_with(firing(True)), speech_path, seal=False), plain)
    np.testing.assert_array_equal(animate(loaded_with(firing(False)), speech_path), plain)
    # The detector's own thresholds decide: a closure heard at p = 0.99995 is no seal for
    # a detector calibrated to start at 0.99999.
    deaf = firing(True)
    deaf.thresholds = (0.99999, 0.999995)
    np.testing.assert_array_equal(animate(loaded_with(deaf), speech_path), plain)


def test_at_24_fps_the_mouth_closes_by_the_seal_weights_resampled_to_keep_their_peaks(loaded_with, speech_path):
    """The closed rest is blended in after the resampling to the output rate, so a
    closure of one 30 fps frame is as closed at 24 fps, not interpolated to half."""
    loaded = loaded_with(random_detector(1))
    options = pipeline.AnimateOptions(fps=24, seed=3, chunk_frames=17, device="cpu", rest_in_pauses=False)
    run = pipeline.AnimationRun(loaded, audio.AudioClip(speech_path), options)
    sealed = np.concatenate(list(run.chunks()))
    plain = pipeline.animate(loaded, audio.AudioClip(speech_path), replace(options, seal_lips=False)).vertices
    closing = FpsResampler(24, len(plain), keep_peaks=True).push(run.seal.weights, last=True)
    mouth = loaded.vertex_masks["mouth"]
    expected = plain + closing[:, None, None] * mouth[None, :, None] * (loaded.template[None] - plain)
    np.testing.assert_allclose(sealed, expected, atol=1e-5)
    linear = FpsResampler(24, len(plain)).push(run.seal.weights, last=True)
    assert closing.max() > 0.5 and np.abs(closing - linear).max() > 0.02, "the test tells the two resamplings apart"


def test_seal_weights_do_not_depend_on_the_chunking(loaded_with, speech_path):
    loaded = loaded_with(random_detector(1))
    runs = []
    for chunk_frames in (7, 1000):
        options = pipeline.AnimateOptions(seed=3, chunk_frames=chunk_frames, device="cpu")
        run = pipeline.AnimationRun(loaded, audio.AudioClip(speech_path), options)
        list(run.chunks())
        runs.append(run.seal.weights)
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-6)
    assert runs[0].shape == (61,) and runs[0].std() > 0.01, "the random detector's weights vary"


def test_the_seal_sweep_replays_the_detectors_own_thresholds_unless_a_setting_gives_others():
    from meshtalk_blender.core.model.lip_closure import closure_envelope
    from meshtalk_blender.training.seal_sweep import ClipTrace, Setting, closing_weights

    probabilities = np.linspace(0.0, 1.0, 60).astype(np.float32)
    zeros = np.zeros((60, 2, 3), np.float32)
    trace = ClipTrace(zeros, zeros, zeros[0], zeros[0], np.ones(2), np.ones(2), probabilities,
                      np.zeros(60, np.float32), np.zeros(60), [], seal_thresholds=(0.8, 0.9))
    own = closing_weights(trace, Setting(rest=False))
    np.testing.assert_array_equal(own, closure_envelope(seal_weights(probabilities, (0.8, 0.9)), 0, 60))
    assert own[: int(0.7 * 59)].max() == 0.0
    fixed = closing_weights(trace, Setting(seal_from=0.3, seal_full=0.6, rest=False))
    np.testing.assert_array_equal(fixed, closure_envelope(seal_weights(probabilities), 0, 60))
