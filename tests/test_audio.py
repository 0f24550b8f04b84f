"""The audio front end: decoding, resampling, loudness, log-mel, streaming, bad input."""

import librosa
import numpy as np
import pytest
import soundfile
import torch
from audio_fixtures import speech_like
from reference_meshtalk import reference_log_mel

from meshtalk_blender.core import audio
from meshtalk_blender.core.errors import MeshTalkError


def test_mel_filterbank_matches_librosa_htk_without_normalisation():
    ours = audio.mel_filterbank()
    theirs = librosa.filters.mel(sr=16000, n_fft=2048, n_mels=80, fmin=0, fmax=8000, htk=True, norm=None).T
    assert ours.shape == (1025, 80)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_window_is_periodic_hann():
    np.testing.assert_allclose(audio.stft_window(), torch.hann_window(800, periodic=True).numpy(), atol=1e-6)


def test_log_mel_equals_centred_reference_inside_the_signal():
    samples = speech_like(2.0, seed=3)
    window, fb = torch.from_numpy(audio.stft_window()), torch.from_numpy(audio.mel_filterbank())
    reference = reference_log_mel(torch.from_numpy(samples), window, fb).numpy()  # centred, reflect-padded
    first, count = 10, 150  # frames whose 2048-sample span lies inside the signal
    start, end = audio.mel_frame_span(first, count)
    ours = audio.log_mel_uncentred(torch.from_numpy(samples[start:end])[None], window, fb)[0].numpy()
    assert ours.shape == (80, count)
    np.testing.assert_allclose(ours, reference[:, first:first + count], atol=1e-3)


def _write(path, data, rate, **kwargs):
    soundfile.write(path, data, rate, **kwargs)
    return path


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 96000])
def test_any_rate_is_resampled_to_16k_and_normalised(tmp_path, rate):
    t = np.arange(int(1.5 * rate)) / rate
    tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    info, samples = audio.load_normalised(audio.AudioClip(_write(tmp_path / "tone.wav", tone, rate)))
    assert info.file_rate == rate
    assert abs(len(samples) - 1.5 * 16000) <= 2
    np.testing.assert_allclose(np.abs(samples).mean(), audio.TARGET_MEAN_ABS, rtol=1e-3)
    spectrum = np.abs(np.fft.rfft(samples[2000:-2000]))
    assert abs(np.argmax(spectrum) * 16000 / len(samples[2000:-2000]) - 440) < 5


def test_stereo_is_averaged(tmp_path):
    left = speech_like(1.0, seed=4)
    stereo = np.stack([left, left * 0.5], axis=1)
    _, mono = audio.load_normalised(audio.AudioClip(_write(tmp_path / "st.wav", stereo, 16000, subtype="FLOAT")))
    expected = audio.normalise_waveform(left * 0.75)
    np.testing.assert_allclose(mono, expected, atol=1e-5)


@pytest.mark.parametrize("extension, options", [(".flac", {}), (".ogg", {"subtype": "VORBIS"}), (".mp3", {})])
def test_compressed_formats_decode(tmp_path, extension, options):
    speech = speech_like(2.0, 44100, seed=5)
    info, samples = audio.load_normalised(audio.AudioClip(_write(tmp_path / f"s{extension}", speech, 44100, **options)))
    assert abs(info.duration - 2.0) < 0.06  # mp3 adds encoder padding
    assert np.isfinite(samples).all()


def test_clip_range_and_streaming_blocks_equal_one_read(tmp_path, monkeypatch):
    speech = speech_like(6.0, 22050, seed=6)
    path = _write(tmp_path / "s.wav", speech, 22050)
    clip = audio.AudioClip(path, start=1.25, duration=3.5)
    info, whole = audio.load_normalised(clip)
    assert abs(info.duration - 3.5) < 1e-3
    monkeypatch.setattr(audio, "BLOCK_SECONDS", 0.37)  # many small blocks through the resampler
    info_small, blocks = audio.load_normalised(clip)
    assert info_small.num_samples == info.num_samples
    np.testing.assert_allclose(blocks, whole, atol=2e-3 * np.abs(whole).max())


def test_normalised_samples_pads_with_zeros_and_only_moves_forward(speech_wav):
    info = audio.probe(audio.AudioClip(speech_wav))
    samples = audio.NormalisedSamples(info)
    head = samples.get(-100, 16000)
    assert np.all(head[:100] == 0) and np.any(head[100:] != 0)
    tail = samples.get(info.num_samples - 10, info.num_samples + 20)
    assert np.all(tail[10:] == 0)
    with pytest.raises(ValueError):
        samples.get(0, 10)


@pytest.mark.parametrize("case, message", [
    ("missing", "not found"),
    ("corrupt", "Cannot decode"),
    ("silent", "silent"),
    ("short", "too short"),
    ("empty", "no samples"),
    ("start_past_end", "only"),
])
def test_bad_audio_gets_a_clear_message(tmp_path, case, message):
    path = tmp_path / "bad.wav"
    start = 0.0
    if case == "corrupt":
        path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    elif case == "silent":
        _write(path, np.zeros(16000, np.float32), 16000)
    elif case == "short":
        _write(path, speech_like(0.05, seed=1), 16000)
    elif case == "empty":
        _write(path, np.zeros(0, np.float32), 16000)
    elif case == "start_past_end":
        _write(path, speech_like(1.0, seed=1), 16000)
        start = 5.0
    with pytest.raises(MeshTalkError, match=message):
        audio.probe(audio.AudioClip(path, start=start))


def test_frame_count_places_frames_at_exact_times():
    assert audio.frame_count(1.0, 30) == 31  # 0, 1/30, ..., 30/30
    assert audio.frame_count(10.0, 30000 / 1001) == 300  # 29.97 fps: last frame at 9.977 s
    assert audio.frame_count(0.999, 24) == 24
