"""The speech encoder (core.model.speech_encoder): its log-mel, its windows, its file and
the conversion of its weights; detectors that read its features, in training and in the
pipeline."""

import struct

import numpy as np
import pytest
import soundfile
import torch
from audio_fixtures import speech_like
from conftest import TINY

from meshtalk_blender.core import audio, pipeline
from meshtalk_blender.core.checkpoints import LoadedModel, load_model, save_bundle
from meshtalk_blender.core.errors import MeshTalkError
from meshtalk_blender.core.model import speech_encoder
from meshtalk_blender.core.model.lip_closure import (
    CLOSURE_FILE, LipClosureDetector, load_detector, save_detector, speech_event_probabilities)
from meshtalk_blender.core.model.speech_encoder import (
    SPEECH_ENCODER_FILE, SpeechEncoder, encode_clip, feature_count, load_speech_encoder, log_mel,
    save_speech_encoder, sinusoids)
from meshtalk_blender.training import lip_closure as closure_training
from meshtalk_blender.training.speech_encoder_weights import convert, read_ctranslate2

RATE = 16000


def tiny_encoder(seed: int = 0) -> SpeechEncoder:
    torch.manual_seed(seed)
    return SpeechEncoder(width=16, layers=2, heads=2).eval()


def speech_detector(seed: int = 0, width: int = 16) -> LipClosureDetector:
    torch.manual_seed(seed)
    return LipClosureDetector(width=8, dilations=(2, 4), inputs="speech", input_channels=width).eval()


def test_the_mel_filterbank_is_librosas_slaney_one_without_importing_librosa():
    import librosa

    expected = librosa.filters.mel(sr=RATE, n_fft=speech_encoder.N_FFT, n_mels=80)
    np.testing.assert_allclose(speech_encoder.mel_filters().numpy(), expected, atol=1e-7)


def test_log_mel_puts_a_tone_in_its_band_and_floors_the_rest_8_decades_below_the_peak():
    seconds = np.arange(RATE) / RATE
    mel = log_mel(torch.from_numpy((0.5 * np.sin(2 * np.pi * 1000 * seconds)).astype(np.float32)))
    assert mel.shape == (80, RATE // speech_encoder.HOP)
    centres = np.argmax(speech_encoder.mel_filters().numpy(), axis=1) * RATE / speech_encoder.N_FFT
    band = int(np.argmin(np.abs(centres - 1000)))
    assert abs(int(mel[:, 50].argmax()) - band) <= 1
    assert float(mel.min()) == pytest.approx(float(mel.max()) - speech_encoder.LOG_FLOOR_RANGE / 4, abs=1e-5)


def test_the_encoder_halves_the_rate_and_a_clip_that_fits_one_window_is_encoded_whole():
    encoder = tiny_encoder()
    samples = speech_like(3.0, RATE, seed=1)
    whole = encoder.encode(samples).numpy()
    assert whole.shape == (feature_count(len(samples)), 16) == (150, 16)
    get = lambda start, end: audio.slice_with_zeros(samples, start, end)  # noqa: E731
    clip = encode_clip(encoder, get, len(samples))
    assert clip.dtype == np.float16
    np.testing.assert_allclose(clip, whole, atol=2e-3 * np.abs(whole).max())


def test_a_long_clip_is_encoded_window_by_window_each_with_context_on_both_sides():
    encoder = tiny_encoder()
    samples = speech_like(7.0, RATE, seed=2)
    get = lambda start, end: audio.slice_with_zeros(samples, start, end)  # noqa: E731
    windowed = encode_clip(encoder, get, len(samples), window_s=2.0, context_s=1.0)
    assert windowed.shape == (350, 16)
    # Frames 100-199 (2-4 s) are those of audio 1-5 s encoded on its own.
    alone = encoder.encode(samples[RATE:5 * RATE]).numpy()
    np.testing.assert_allclose(windowed[100:200], alone[50:150], atol=2e-3 * np.abs(alone).max())
    whole = encoder.encode(samples).numpy()
    assert np.abs(windowed - whole).max() > 1e-3, "the windows are not the whole clip"
    with pytest.raises(ValueError, match="30 s"):
        encode_clip(encoder, get, 40 * RATE, window_s=28.0, context_s=2.0)


def test_encoder_file_round_trips_and_a_damaged_one_is_refused(tmp_path):
    encoder = tiny_encoder()
    save_speech_encoder(encoder, tmp_path / SPEECH_ENCODER_FILE)
    loaded = load_speech_encoder(tmp_path / SPEECH_ENCODER_FILE)
    samples = speech_like(1.0, RATE, seed=3)
    torch.testing.assert_close(loaded.encode(samples), encoder.encode(samples), atol=0.02, rtol=0.02)
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes((tmp_path / SPEECH_ENCODER_FILE).read_bytes()[:200])
    with pytest.raises(MeshTalkError, match="damaged"):
        load_speech_encoder(damaged)


def ctranslate2_file(path, variables: dict[str, np.ndarray]) -> None:
    """A CTranslate2 model.bin (format version 6) holding ``variables``."""
    codes = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.float16): 4}

    def text(value: str) -> bytes:
        return struct.pack("<H", len(value) + 1) + value.encode() + b"\0"

    parts = [struct.pack("<I", 6), text("WhisperSpec"), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name, value in variables.items():
        value = np.ascontiguousarray(value)
        parts += [text(name), struct.pack("<B", value.ndim), *(struct.pack("<I", d) for d in value.shape),
                  struct.pack("<B", codes[value.dtype]), struct.pack("<I", value.nbytes), value.tobytes()]
    path.write_bytes(b"".join(parts + [struct.pack("<I", 0)]))


def whisper_variables(encoder: SpeechEncoder) -> dict[str, np.ndarray]:
    """The variables CTranslate2 writes for a Whisper encoder with ``encoder``'s weights."""
    state = {k: v.numpy().astype(np.float16) for k, v in encoder.state_dict().items()}
    out = {"decoder/alibi": np.array(0, np.int8), "encoder/num_heads": np.array(encoder.heads, np.int16),
           "encoder/position_encodings/encodings": sinusoids(speech_encoder.MAX_FRAMES, encoder.width).numpy().astype(np.float16)}
    for ours, theirs in (("conv1", "conv1"), ("conv2", "conv2")):
        out[f"encoder/{theirs}/weight"], out[f"encoder/{theirs}/bias"] = state[f"{ours}.weight"], state[f"{ours}.bias"]
    out["encoder/layer_norm/gamma"], out["encoder/layer_norm/beta"] = state["norm.weight"], state["norm.bias"]
    for i in range(encoder.layers):
        layer, block = f"encoder/layer_{i}/", f"blocks.{i}."
        for theirs, ours in (("self_attention/layer_norm", "attention_norm"), ("ffn/layer_norm", "mlp_norm")):
            out[layer + theirs + "/gamma"], out[layer + theirs + "/beta"] = state[block + ours + ".weight"], state[block + ours + ".bias"]
        for theirs, ours in (("self_attention/linear_0", "qkv"), ("self_attention/linear_1", "attention_out"),
                             ("ffn/linear_0", "mlp_in"), ("ffn/linear_1", "mlp_out")):
            out[layer + theirs + "/weight"], out[layer + theirs + "/bias"] = state[block + ours + ".weight"], state[block + ours + ".bias"]
    return out


def test_whisper_weights_in_ctranslate2s_format_become_the_same_encoder(tmp_path):
    encoder = tiny_encoder(5)
    ctranslate2_file(tmp_path / "model.bin", whisper_variables(encoder))
    assert read_ctranslate2(tmp_path / "model.bin")["encoder/num_heads"] == 2
    converted = convert(tmp_path / "model.bin")
    assert (converted.width, converted.layers, converted.heads) == (16, 2, 2)
    samples = speech_like(1.0, RATE, seed=4)
    torch.testing.assert_close(converted.encode(samples), encoder.encode(samples), atol=0.02, rtol=0.02)
    variables = whisper_variables(encoder)
    variables["encoder/position_encodings/encodings"] = variables["encoder/position_encodings/encodings"][::-1].copy()
    ctranslate2_file(tmp_path / "learned.bin", variables)
    with pytest.raises(ValueError, match="positions"):
        convert(tmp_path / "learned.bin")


def test_a_speech_detector_scores_a_clip_in_blocks_as_it_would_whole(monkeypatch, tmp_path):
    detector = speech_detector()
    features = np.random.default_rng(0).normal(size=(230, 16)).astype(np.float32)
    with torch.no_grad():
        whole = torch.sigmoid(detector.event_logits(torch.from_numpy(features.T)[None]))[0].numpy()
    assert whole.shape == (1, 460)
    monkeypatch.setattr("meshtalk_blender.core.model.lip_closure.SPEECH_BLOCK_FRAMES", 50)
    np.testing.assert_allclose(speech_event_probabilities(detector, features), whole, atol=1e-6)
    save_detector(detector, tmp_path / CLOSURE_FILE, half_precision=False)
    loaded = load_detector(tmp_path / CLOSURE_FILE)
    assert (loaded.inputs, loaded.input_channels, loaded.input_step) == ("speech", 16, 2)
    np.testing.assert_allclose(speech_event_probabilities(loaded, features), whole, atol=1e-6)


def test_a_bundle_whose_detector_reads_the_speech_encoder_needs_it_beside_it(tmp_path, tiny_model, template_vertices):
    save_bundle(tmp_path, tiny_model, template_vertices, description="tiny", licence="MIT")
    save_detector(speech_detector(), tmp_path / CLOSURE_FILE)
    with pytest.raises(MeshTalkError, match="missing"):
        load_model(tmp_path)
    save_speech_encoder(SpeechEncoder(width=24, layers=1, heads=2), tmp_path / SPEECH_ENCODER_FILE)
    with pytest.raises(MeshTalkError, match="do not belong together"):
        load_model(tmp_path)
    save_speech_encoder(tiny_encoder(), tmp_path / SPEECH_ENCODER_FILE)
    loaded = load_model(tmp_path)
    assert loaded.speech_encoder is not None and loaded.lip_closure.inputs == "speech"


def test_the_pipeline_seals_where_a_speech_detector_fires_whatever_the_chunking(tmp_path, tiny_model, template_vertices):
    path = tmp_path / "speech.wav"
    soundfile.write(path, speech_like(2.0, RATE, seed=5, pauses=False), RATE)
    mouth = np.zeros(TINY.num_vertices, np.float32)
    mouth[: TINY.num_vertices // 3] = 1.0
    detector = speech_detector(1)
    detector.thresholds = (0.45, 0.55)
    loaded = LoadedModel(tiny_model, template_vertices, "tiny", "test", vertex_masks={"mouth": mouth},
                         lip_closure=detector, speech_encoder=tiny_encoder())
    weights = []
    for chunk_frames in (7, 1000):
        options = pipeline.AnimateOptions(seed=3, chunk_frames=chunk_frames, device="cpu", rest_in_pauses=False)
        run = pipeline.AnimationRun(loaded, audio.AudioClip(path), options)
        list(run.chunks())
        weights.append(run.seal.weights)
    np.testing.assert_array_equal(weights[0], weights[1])
    assert weights[0].shape == (61,) and weights[0].std() > 0.01, "the random detector's weights vary"
    # They are the detector's probabilities of the clip's features, through the seal's ramp.
    samples = audio.NormalisedSamples(audio.probe(audio.AudioClip(path)))
    features = encode_clip(loaded.speech_encoder, samples.get, 2 * RATE)
    heard = speech_event_probabilities(detector, features)[0]
    frame_weights = np.clip((heard[np.round(np.arange(61) / 30 * 100).astype(int).clip(max=len(heard) - 1)] - 0.45) / 0.1,
                            0, 1)
    assert np.all(run.seal.weights >= frame_weights - 1e-5)


def test_training_a_speech_detector_crops_on_feature_frames_and_calibrates_on_its_features():
    from test_lip_closure import gapped_speech

    encoder = tiny_encoder()
    train = [gapped_speech(seed) for seed in range(3)]
    settings = closure_training.ClosureTrainSettings(steps=30, batch_size=4, log_every=1000, width=8)
    detector = closure_training.train_detector(train, settings, device="cpu", log=lambda message: None,
                                               encoder=encoder)
    assert (detector.inputs, detector.input_channels) == ("speech", 16)
    inputs, targets = closure_training.examples(train[:1], encoder=encoder)[0]
    assert inputs.dtype == torch.float16 and inputs.shape == (16, 200) and targets.shape == (1, 400)
    low, high = closure_training.calibrated_thresholds(detector, train, encoder)
    _, background = closure_training.closure_peaks_and_background(detector, train, encoder=encoder)
    assert (background > low).mean() == pytest.approx(closure_training.SPEECH_SEAL_FALSE_ALARMS[0], abs=0.003)
    assert (background > high).mean() == pytest.approx(closure_training.SPEECH_SEAL_FALSE_ALARMS[1], abs=0.003)
    assert low < high


def test_a_speech_tuck_detector_is_heard_over_the_clip_and_scored_as_a_log_mel_one(tmp_path, tiny_model,
                                                                                 template_vertices):
    from meshtalk_blender.core.lip_tuck import TUCK_FILE, TUCK_OUTPUTS, LipTuckDetector, scores_of_probabilities

    torch.manual_seed(2)
    tuck = LipTuckDetector(width=8, dilations=(2,), inputs="speech", input_channels=16).eval()
    save_bundle(tmp_path, tiny_model, template_vertices, description="tiny", licence="MIT")
    save_detector(tuck, tmp_path / TUCK_FILE)
    with pytest.raises(MeshTalkError, match="missing"):
        load_model(tmp_path)
    save_speech_encoder(tiny_encoder(), tmp_path / SPEECH_ENCODER_FILE)
    loaded = load_model(tmp_path)
    assert loaded.lip_tuck.inputs == "speech" and loaded.lip_closure is None
    path = tmp_path / "speech.wav"
    soundfile.write(path, speech_like(1.5, RATE, seed=6, pauses=False), RATE)
    heard = pipeline.HeardInSpeech(loaded.speech_encoder, [loaded.lip_tuck])
    heard.listen(audio.probe(audio.AudioClip(path)), lambda: False)
    probabilities = heard.scores[id(loaded.lip_tuck)]
    assert probabilities.shape == (TUCK_OUTPUTS, 150)
    times = np.arange(45) / 30
    np.testing.assert_array_equal(heard.tuck_scores(loaded.lip_tuck, None, times),
                                  scores_of_probabilities(probabilities, 0, times))


def test_esc_stops_a_run_while_the_worker_is_still_hearing_the_clip(tmp_path, tiny_model, template_vertices,
                                                                   monkeypatch):
    """Before its first chunk the worker hears the whole clip through the speech encoder
    (600 s of audio: 11.6 s); the consumer must see Esc meanwhile, and the worker then stops."""
    import threading

    path = tmp_path / "speech.wav"
    soundfile.write(path, speech_like(1.0, RATE, seed=7), RATE)
    mouth = np.ones(TINY.num_vertices, np.float32)
    loaded = LoadedModel(tiny_model, template_vertices, "tiny", "test", vertex_masks={"mouth": mouth},
                         lip_closure=speech_detector(), speech_encoder=tiny_encoder())
    stopped = threading.Event()

    def slow_listen(self, info, should_stop, progress=None):
        while not should_stop():  # an endless clip, until the run stops the worker
            stopped.wait(0.01)
        stopped.set()

    monkeypatch.setattr(pipeline.HeardInSpeech, "listen", slow_listen)
    calls = []
    run = pipeline.AnimationRun(loaded, audio.AudioClip(path), pipeline.AnimateOptions(device="cpu"))
    outcome = []

    def consume():
        try:
            list(run.chunks(should_cancel=lambda: calls.append(1) or len(calls) > 3))
        except pipeline.Cancelled:
            outcome.append("cancelled")

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    consumer.join(timeout=10)
    assert outcome == ["cancelled"] and stopped.wait(5), "Esc ended the run and the worker's hearing"


def test_the_progress_bar_moves_while_the_clip_is_heard_and_ends_full(tmp_path, tiny_model, template_vertices,
                                                                     monkeypatch):
    """Hearing a long clip takes most of a bundled-model run on a CPU (600 s: 11.6 of
    15.6 s): the worker's progress through it fills the bar's first HEARING_SHARE."""
    path = tmp_path / "speech.wav"
    soundfile.write(path, speech_like(2.0, RATE, seed=8), RATE)
    loaded = LoadedModel(tiny_model, template_vertices, "tiny", "test",
                         vertex_masks={"mouth": np.ones(TINY.num_vertices, np.float32)},
                         lip_closure=speech_detector(), speech_encoder=tiny_encoder())
    listen = pipeline.HeardInSpeech.listen

    def listen_in_halves(self, info, should_stop, progress=None):
        progress(0.5)  # as encode_clip tells it after each window
        listen(self, info, should_stop, progress)

    monkeypatch.setattr(pipeline.HeardInSpeech, "listen", listen_in_halves)
    told = []
    run = pipeline.AnimationRun(loaded, audio.AudioClip(path), pipeline.AnimateOptions(device="cpu", chunk_frames=20))
    list(run.chunks(progress=told.append))
    share = pipeline.HEARING_SHARE
    assert told[:2] == [pytest.approx(0.5 * share), pytest.approx(share)]  # one window: the whole clip
    assert told == sorted(told) and told[-1] == pytest.approx(1.0) and len(told) > 4
