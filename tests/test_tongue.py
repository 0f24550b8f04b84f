"""The tongue's track (core/tongue.py) and its detector's training targets (training/tongue.py)."""

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from audio_fixtures import speech_like

from meshtalk_blender.core import audio, tongue
from meshtalk_blender.core.errors import MeshTalkError
from meshtalk_blender.core.model.lip_closure import LipClosureDetector, save_detector
from meshtalk_blender.core.tongue import TONGUE_KEYS, TongueDetector, clip_probabilities, tongue_weights
from meshtalk_blender.training import real_speech
from meshtalk_blender.training.dataset import Sequence
from meshtalk_blender.training.lip_closure import utterance_log_mel
from meshtalk_blender.training.tongue import tongue_targets

RATE = 16000
SHIPPED = Path(__file__).resolve().parents[1] / "meshtalk_blender" / "assets" / "model" / tongue.TONGUE_FILE


def test_targets_mark_each_places_phonemes():
    phonemes = [("sil", 0.0, 0.1), ("t", 0.1, 0.2), ("a", 0.2, 0.3), ("θ", 0.3, 0.4), ("k", 0.4, 0.5),
                ("ɹ", 0.5, 0.6), ("ŋ", 0.6, 0.7), ("s", 0.7, 0.8), ("??", 0.8, 0.9), ("p", 0.9, 1.0)]
    sequence = Sequence(np.zeros(RATE, np.float32), np.zeros((31, 1, 3), np.float32), np.zeros((1, 3), np.float32),
                        metadata={"phonemes": phonemes})
    targets = tongue_targets(sequence, 101).numpy()
    assert targets.shape == (3, 101)
    marked = [np.flatnonzero(row).tolist() for row in targets]
    # t and s: the tip on the ridge (an English r only comes near it); th: dental; k, ng: the back.
    assert marked[TONGUE_KEYS.index("tongueTipUp")] == list(range(10, 21)) + list(range(70, 81))
    assert marked[TONGUE_KEYS.index("tongueDental")] == list(range(30, 41))
    assert marked[TONGUE_KEYS.index("tongueBackUp")] == list(range(40, 51)) + list(range(60, 71))


def test_the_clip_is_heard_block_by_block_as_the_detector_was_trained(tmp_path, monkeypatch):
    """Inference reads the clip a block at a time (flat memory for an hour of audio); it
    must give the numbers the detector gets on the whole utterance's log-mel in training."""
    path = tmp_path / "line.wav"
    soundfile.write(path, speech_like(3.0, 22050, seed=3), 22050)
    torch.manual_seed(0)
    detector = TongueDetector().eval()
    info, waveform = audio.load_normalised(audio.AudioClip(path))
    with torch.no_grad():
        whole = torch.sigmoid(detector(utterance_log_mel(waveform)[None]))[0].numpy()
    monkeypatch.setattr(tongue, "BLOCK_MEL_FRAMES", 70)  # 5 blocks
    blocks = clip_probabilities(detector, info)
    assert blocks.shape == whole.shape == (3, 300)
    np.testing.assert_allclose(blocks, whole, atol=2e-5)


@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0])
def test_a_short_consonant_moves_the_tongue_in_and_out_over_a_few_frames(fps):
    probabilities = np.zeros((3, 300), np.float32)
    probabilities[0, 151] = 0.95  # a 10 ms "t" at 1.51 s: between frames at 24 fps
    weights = tongue_weights(probabilities, int(3 * fps), fps)
    tip = weights[:, 0]
    assert weights[:, 1:].max() == 0.0
    peak = int(np.argmax(tip))
    assert tip[peak] == 1.0 and abs(peak / fps - 1.51) <= 0.5 / fps
    assert 0.0 < tip[peak - 1] < 1.0 and 0.0 < tip[peak + 1] < 1.0  # eased, not a one-frame snap
    distance = np.abs(np.arange(len(tip)) / fps - peak / fps)
    assert tip[distance > tongue.TONGUE_APPROACH_S + 1e-9].max() == 0.0
    assert np.all(np.diff(tip[:peak + 1]) >= 0) and np.all(np.diff(tip[peak:]) <= 0)


def test_a_target_without_the_heads_tongue_shows_a_th_as_tongue_out():
    names = ["jawOpen", "tongueOut"]
    weights = np.array([[0.2, 0.0], [0.2, 0.05], [0.2, 0.6]], np.float32)
    track = np.zeros((3, 3), np.float32)
    track[:, TONGUE_KEYS.index("tongueDental")] = [0.0, 1.0, 1.0]
    out = tongue.with_dental_tongue_out(weights, names, track)
    np.testing.assert_allclose(out[:, 1], [0.0, tongue.DENTAL_TONGUE_OUT, 0.6])
    np.testing.assert_array_equal(out[:, 0], weights[:, 0])
    np.testing.assert_array_equal(tongue.with_dental_tongue_out(weights[:, :1], names[:1], track), weights[:, :1])


def test_a_damaged_or_wrong_detector_file_is_refused_with_what_to_do(tmp_path):
    good = tmp_path / "tongue.safetensors"
    save_detector(TongueDetector(), good)
    assert isinstance(tongue.load_tongue_detector(good), TongueDetector)
    closure = tmp_path / "closure.safetensors"
    save_detector(LipClosureDetector(), closure)
    with pytest.raises(MeshTalkError, match="tongue detector.*1 kinds of event, not 3.*delete the file"):
        tongue.load_tongue_detector(closure)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(good.read_bytes()[:300])
    with pytest.raises(MeshTalkError, match="Cannot read the tongue detector"):
        tongue.load_tongue_detector(broken)


@pytest.mark.skipif(real_speech.missing_requirements() is not None, reason=str(real_speech.missing_requirements()))
def test_the_shipped_detector_puts_the_tongue_where_real_voices_do(tmp_path):
    """The 12 recordings of pocketsphinx-testdata (LibriVox readers and CMU speakers the
    project never trained on), aligned by pocketsphinx: each place's key rises on its
    consonants (within 30 ms) and seldom more than 0.1 s away from any of them.
    Measured: t/d/n/l/s/z 94 of 104 heard, 26.1 % of the frames away from them keyed over
    0.5 (mostly f, v, m, where the lips hide the tongue); th 4 of 7, 1.8 %; k/g 10 of
    10, 8.3 %."""
    from meshtalk_blender.training.real_speech import align, make_decoder, read_audio
    from meshtalk_blender.training.tongue import tongue_segments

    detector = tongue.load_tongue_detector(SHIPPED)
    decoder = make_decoder()
    heard = {key: [] for key in TONGUE_KEYS}
    away = {key: [] for key in TONGUE_KEYS}
    for recording in real_speech.find_recordings():
        utterance = align(recording, decoder)
        path = tmp_path / f"{recording.name}.wav"  # some are headerless .raw
        soundfile.write(path, read_audio(Path(recording.path)), RATE)
        info = audio.probe(audio.AudioClip(path))
        count = audio.frame_count(info.duration, 30.0)
        weights = tongue.clip_tongue(detector, info, count, 30.0)
        times = np.arange(count) / 30.0
        for kind, key in enumerate(TONGUE_KEYS):
            near = np.zeros(count, bool)
            for start, end in tongue_segments(utterance.phonemes, key):
                near |= (times >= start - 0.1) & (times <= end + 0.1)
                heard[key].append(weights[(times >= start - 0.03) & (times <= end + 0.03), kind].max() > 0.5)
            away[key] += (weights[~near, kind] > 0.5).tolist()
    bounds = {"tongueTipUp": (0.85, 0.4), "tongueDental": (0.4, 0.05), "tongueBackUp": (0.8, 0.15)}
    for key, (least_heard, most_away) in bounds.items():
        assert np.mean(heard[key]) >= least_heard, (key, np.mean(heard[key]), len(heard[key]))
        assert np.mean(away[key]) <= most_away, (key, np.mean(away[key]))


def test_the_command_lines_arkit_weights_show_a_th_as_tongue_out(tmp_path):
    """A character has no tongue controls: the .json/.csv/.glb weights show the bundled
    model's "th" as tongueOut (the sample line: "by the boat", "in the morning")."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    sample = root / "meshtalk_blender" / "assets" / "sample_speech.flac"
    out = tmp_path / "line.json"
    result = subprocess.run([sys.executable, "-m", "meshtalk_blender", "animate", str(sample), "--out", str(out)],
                            cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    frames = json.loads(out.read_text())["frames"]
    tongue_out = np.array([frame["weights"]["tongueOut"] for frame in frames])
    info = audio.probe(audio.AudioClip(sample))
    track = tongue.clip_tongue(tongue.load_tongue_detector(SHIPPED), info, len(frames), 30.0)
    dental = track[:, TONGUE_KEYS.index("tongueDental")]
    assert dental.max() > 0.5
    assert np.all(tongue_out >= tongue.DENTAL_TONGUE_OUT * dental - 1e-5)
    assert tongue_out[np.argmax(dental)] >= tongue.DENTAL_TONGUE_OUT * 0.5
