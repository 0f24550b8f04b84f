"""The streaming pipeline: chunking changes nothing, frame clocks, smoothing, fallback, cancel."""

import dataclasses
import threading
import warnings

import numpy as np
import pytest
import torch
from conftest import TINY

from meshtalk_blender.core import audio, cache_io, pipeline
from meshtalk_blender.core.checkpoints import LoadedModel
from meshtalk_blender.core.clip_analysis import ClipAnalysis
from meshtalk_blender.core.defaults import DEFAULT_TEMPERATURE
from meshtalk_blender.core.errors import MeshTalkError
from meshtalk_blender.core.model.meshtalk import audio_codes_for_window
from meshtalk_blender.core.sampling import PriorSampler, draws, keep_mask
from meshtalk_blender.core.timeline import FpsResampler, TemporalSmoother, gaussian_taps
from meshtalk_blender.core.tongue import TongueDetector


@pytest.fixture
def loaded(tiny_model, template_vertices):
    return LoadedModel(tiny_model, template_vertices, "tiny", "test")


def test_chunked_pipeline_equals_one_pass_composition(loaded, speech_wav):
    """The streamed result equals encoder -> sampler -> decoder run once over everything."""
    clip = audio.AudioClip(speech_wav)
    options = pipeline.AnimateOptions(fps=30, seed=4, chunk_frames=13, device="cpu")
    animation = pipeline.animate(loaded, clip, options)

    info, samples = audio.load_normalised(clip)
    frames = audio.frame_count(info.duration, 30)
    model = loaded.model
    with torch.no_grad():
        codes = audio_codes_for_window(model, audio.NormalisedSamples(info).get, np.arange(frames) / 30).numpy()
        sampler = PriorSampler(model.prior)
        labels = sampler.sample(sampler.start(), codes, draws(4, frames, TINY.num_heads), animation.temperature)
        encoding = model.decoder.encode_template(torch.from_numpy(loaded.template)[None, None])
        vertices, _ = model.decoder.decode_labels(encoding, torch.from_numpy(labels)[None])
    np.testing.assert_array_equal(animation.labels, labels)
    assert animation.vertices.shape == (frames, TINY.num_vertices, 3)
    np.testing.assert_allclose(animation.vertices, vertices[0].numpy(), atol=1e-5)


def test_without_a_temperature_the_run_samples_at_the_models_own(loaded, speech_wav):
    """A model stores the temperature it is meant to be sampled at; options without one
    take it, record it, and draw exactly what that temperature given explicitly draws."""
    clip = audio.AudioClip(speech_wav)
    assert loaded.temperature == DEFAULT_TEMPERATURE  # a model that stores none
    lively = dataclasses.replace(loaded, temperature=2.5)
    own = pipeline.animate(lively, clip, pipeline.AnimateOptions(seed=3, device="cpu"))
    explicit = pipeline.animate(loaded, clip, pipeline.AnimateOptions(seed=3, temperature=2.5, device="cpu"))
    default = pipeline.animate(loaded, clip, pipeline.AnimateOptions(seed=3, device="cpu"))
    assert own.temperature == explicit.temperature == 2.5 and default.temperature == DEFAULT_TEMPERATURE
    np.testing.assert_array_equal(own.labels, explicit.labels)
    assert (own.labels != default.labels).any()  # the temperature was used, not only recorded
    chosen = pipeline.animate(lively, clip, pipeline.AnimateOptions(seed=3, temperature=0.0, device="cpu"))
    assert chosen.temperature == 0.0  # the user's choice wins over the model's


@pytest.mark.parametrize("fps", [24, 25, 30000 / 1001, 50, 60])
def test_output_frames_sit_at_exact_frame_times(loaded, speech_wav, fps):
    at_30 = pipeline.animate(loaded, audio.AudioClip(speech_wav), pipeline.AnimateOptions(fps=30, seed=1, device="cpu"))
    other = pipeline.animate(loaded, audio.AudioClip(speech_wav),
                             pipeline.AnimateOptions(fps=fps, seed=1, chunk_frames=11, device="cpu"))
    assert len(other.vertices) == audio.frame_count(at_30.duration, fps)
    np.testing.assert_array_equal(other.labels, at_30.labels)  # the model runs at its own 30 fps
    times = np.arange(len(other.vertices)) / fps
    positions = np.minimum(times * 30, len(at_30.vertices) - 1)
    lower = np.floor(positions + 1e-9).astype(int)
    upper = np.minimum(lower + 1, len(at_30.vertices) - 1)
    weight = (positions - lower)[:, None, None]
    expected = at_30.vertices[lower] * (1 - weight) + at_30.vertices[upper] * weight
    np.testing.assert_allclose(other.vertices, expected, atol=1e-5)


def test_fps_resampler_is_the_same_whatever_the_chunks():
    frames = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    whole = FpsResampler(24, 80).push(frames, last=True)
    resampler = FpsResampler(24, 80)
    # An empty chunk (a smoother still filling its window) gives nothing, before or after frames.
    assert resampler.push(frames[:0]).shape == (0, 4)
    parts = [resampler.push(frames[a:a + 9], last=a + 9 >= 100) for a in range(0, 100, 9)]
    assert resampler.push(frames[:0]).shape == (0, 4)
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6)
    assert len(whole) == 80


@pytest.mark.parametrize("fps", [24, 25, 60])
def test_a_one_frame_peak_survives_resampling_that_keeps_peaks(fps):
    """A closure weight of 1 on a single model frame must reach 1 on an output frame
    (linear interpolation leaves 0.8 and 0.2 at 24 fps where it falls between frames),
    and the result must not depend on the chunks."""
    count = int(100 * fps / 30)
    for peak in range(40, 45):
        weights = np.zeros(100, np.float32)
        weights[peak] = 1.0
        whole = FpsResampler(fps, count, keep_peaks=True).push(weights, last=True)
        assert whole.max() == 1.0 and FpsResampler(fps, count).push(weights, last=True).max() <= 1.0
        resampler = FpsResampler(fps, count, keep_peaks=True)
        parts = [resampler.push(weights[a:a + 7], last=a + 7 >= 100) for a in range(0, 100, 7)]
        np.testing.assert_array_equal(np.concatenate(parts), whole)
        near = np.abs(np.arange(count) * 30 / fps - peak) < 1  # output frames within one model frame
        assert whole[near].max() == 1.0 and whole[~near].max() == 0.0
    linear = FpsResampler(24, 80).push(np.eye(100, dtype=np.float32)[42], last=True)
    assert linear.max() < 1.0, "42 / 30 s falls between two 24 fps frames: interpolation fades it"


def test_smoother_equals_a_gaussian_filter_with_held_ends_and_respects_the_mask():
    rng = np.random.default_rng(1)
    frames = rng.normal(size=(50, 3, 3)).astype(np.float32)
    weights = np.array([1.0, 0.0, 0.5], np.float32)
    smoother = TemporalSmoother(weights)
    parts = [smoother.push(frames[a:a + 6], last=a + 6 >= 50) for a in range(0, 50, 6)]
    out = np.concatenate(parts)
    padded = np.concatenate([np.repeat(frames[:1], 4, 0), frames, np.repeat(frames[-1:], 4, 0)])
    taps = gaussian_taps()
    filtered = sum(tap * padded[i:i + 50] for i, tap in enumerate(taps))
    np.testing.assert_allclose(out[:, 0], filtered[:, 0], atol=1e-5)
    np.testing.assert_allclose(out[:, 1], frames[:, 1], atol=1e-6)
    np.testing.assert_allclose(out[:, 2], 0.5 * (frames[:, 2] + filtered[:, 2]), atol=1e-5)


def test_a_lighter_filter_smooths_what_the_first_mask_leaves():
    rng = np.random.default_rng(2)
    frames = rng.normal(size=(40, 4, 3)).astype(np.float32)
    weights = np.array([1.0, 0.0, 0.5, 0.0], np.float32)
    lighter = np.array([1.0, 1.0, 1.0, 0.0], np.float32)
    smoother = TemporalSmoother(weights, lighter=(lighter, 1.0))
    out = np.concatenate([smoother.push(frames[a:a + 7], last=a + 7 >= 40) for a in range(0, 40, 7)])
    padded = np.concatenate([np.repeat(frames[:1], 4, 0), frames, np.repeat(frames[-1:], 4, 0)])
    wide = sum(tap * padded[i:i + 40] for i, tap in enumerate(gaussian_taps(2.0)))
    narrow = sum(tap * padded[i:i + 40] for i, tap in enumerate(gaussian_taps(1.0)))
    np.testing.assert_allclose(out[:, 0], wide[:, 0], atol=1e-5)  # the first mask's whole: no room left
    np.testing.assert_allclose(out[:, 1], narrow[:, 1], atol=1e-5)
    np.testing.assert_allclose(out[:, 2], 0.5 * wide[:, 2] + 0.5 * narrow[:, 2], atol=1e-5)  # shares add to 1
    np.testing.assert_array_equal(out[:, 3], frames[:, 3])
    assert np.abs(np.diff(out[:, 1], axis=0)).max() < np.abs(np.diff(frames[:, 1], axis=0)).max()


def test_smoothing_mask_of_the_model_is_applied(loaded, speech_wav):
    plain = pipeline.animate(loaded, audio.AudioClip(speech_wav), pipeline.AnimateOptions(device="cpu"))
    loaded.vertex_masks["smoothing"] = np.ones(TINY.num_vertices, np.float32)
    smooth = pipeline.animate(loaded, audio.AudioClip(speech_wav), pipeline.AnimateOptions(device="cpu"))
    jitter = lambda v: np.abs(np.diff(v, axis=0)).mean()  # noqa: E731
    assert jitter(smooth.vertices) < 0.7 * jitter(plain.vertices)


def test_resampling_keeps_what_it_is_told_to_keep(loaded, speech_wav):
    clip = audio.AudioClip(speech_wav)
    first = pipeline.animate(loaded, clip, pipeline.AnimateOptions(seed=1, device="cpu"))
    keep = np.zeros_like(first.labels, dtype=bool)
    keep[:, :3] = True
    again = pipeline.animate(loaded, clip, pipeline.AnimateOptions(seed=2, keep_labels=first.labels, keep_mask=keep,
                                                                  device="cpu"))
    np.testing.assert_array_equal(again.labels[:, :3], first.labels[:, :3])
    assert np.any(again.labels[:, 3:] != first.labels[:, 3:])
    with pytest.raises(MeshTalkError, match="different clip"):
        pipeline.animate(loaded, clip, pipeline.AnimateOptions(keep_labels=first.labels[:5], keep_mask=keep[:5]))


@pytest.mark.parametrize("options, message", [
    (pipeline.AnimateOptions(fps=0), "fps"),
    (pipeline.AnimateOptions(temperature=-1), "temperature"),
    (pipeline.AnimateOptions(device="tpu"), "Unknown device"),
    (pipeline.AnimateOptions(fps=float("nan")), "fps"),
    (pipeline.AnimateOptions(seed=-1), "seed must be a whole number from 0 to 2147483647"),
    (pipeline.AnimateOptions(seed=2**31), "seed must be"),
    (pipeline.AnimateOptions(seed=1.5), "seed must be"),
])
def test_bad_options_are_refused(loaded, speech_wav, options, message):
    with pytest.raises(MeshTalkError, match=message):
        pipeline.animate(loaded, audio.AudioClip(speech_wav), options)


def test_wrong_template_size_is_refused(loaded, speech_wav):
    with pytest.raises(MeshTalkError, match="vertices"):
        pipeline.animate(loaded, audio.AudioClip(speech_wav), template=np.zeros((7, 3)))


def test_gpu_failure_falls_back_to_the_cpu_with_a_message():
    messages, devices = [], []

    def work(device):
        devices.append(device.type)
        if device.type != "cpu":
            raise RuntimeError("CUDA error: out of memory")
        return "done"

    assert pipeline.run_with_cpu_fallback(work, torch.device("cuda"), messages.append) == "done"
    assert devices == ["cuda", "cpu"] and "running on the CPU instead" in messages[0]
    with pytest.raises(ValueError):  # other errors are not hidden
        pipeline.run_with_cpu_fallback(lambda d: (_ for _ in ()).throw(ValueError("x")), torch.device("cuda"))


def test_cancel_stops_the_run_and_its_worker(loaded, speech_wav):
    calls = []

    def should_cancel():
        calls.append(1)
        return len(calls) > 2

    before = threading.active_count()
    with pytest.raises(pipeline.Cancelled):
        pipeline.animate(loaded, audio.AudioClip(speech_wav), pipeline.AnimateOptions(chunk_frames=5, device="cpu"),
                         should_cancel=should_cancel)
    assert threading.active_count() == before


def test_a_seed_redraws_the_upper_face_heads_and_never_the_heads_the_audio_decides(tiny_model, template_vertices,
                                                                                  speech_wav):
    """With the prior's mouth heads cut off from the upper face's history (as the recipe
    trains them), their labels are the same for every seed; without the bundle naming
    them, a seed redraws them too."""
    import dataclasses

    from meshtalk_blender.training.mouth_heads import HeadRoles, isolate_mouth_context

    mouth = (0, 1, 2)
    with torch.no_grad():
        isolate_mouth_context(tiny_model.prior, HeadRoles(mouth=mouth))
    plain = LoadedModel(tiny_model, template_vertices, "tiny", "test")
    named = dataclasses.replace(plain, mouth_heads=mouth)
    clip = audio.AudioClip(speech_wav)
    takes = {(loaded is named, seed): pipeline.animate(loaded, clip, pipeline.AnimateOptions(seed=seed, device="cpu"))
             for loaded in (plain, named) for seed in (1, 2)}
    np.testing.assert_array_equal(takes[True, 1].labels[:, :3], takes[True, 2].labels[:, :3])
    assert (takes[True, 1].labels[:, 3:] != takes[True, 2].labels[:, 3:]).mean() > 0.2
    assert (takes[False, 1].labels[:, :3] != takes[False, 2].labels[:, :3]).mean() > 0.2
    # Seed 0 draws what it always drew.
    np.testing.assert_array_equal(pipeline.animate(plain, clip, pipeline.AnimateOptions(seed=0, device="cpu")).labels,
                                  pipeline.animate(named, clip, pipeline.AnimateOptions(seed=0, device="cpu")).labels)


def test_every_seed_gets_the_lips_of_seed_0_and_draws_the_rest_of_the_face(tiny_model, template_vertices,
                                                                          speech_wav):
    """The lip lock: the mouth (mask >= 0.5) of any seed is seed 0's to the bit, with the
    same kept labels too; it fades out where the mask is under half; the rest of the face
    is the seed's own; off, the seed moves the lips as well."""
    mouth = np.zeros(TINY.num_vertices, np.float32)
    lips, fading, rest = slice(0, 20), slice(20, 30), slice(30, None)
    mouth[lips], mouth[fading] = 1.0, 0.3
    loaded = LoadedModel(tiny_model, template_vertices, "tiny", "test", vertex_masks={"mouth": mouth})
    clip = audio.AudioClip(speech_wav)

    def run(seed, **options):
        return pipeline.animate(loaded, clip, pipeline.AnimateOptions(seed=seed, chunk_frames=13, device="cpu",
                                                                      **options))

    first, other, unlocked = run(0), run(3), run(3, lock_lips=False)
    np.testing.assert_array_equal(other.vertices[:, lips], first.vertices[:, lips])
    np.testing.assert_array_equal(other.vertices[:, rest], unlocked.vertices[:, rest])
    assert np.abs(other.vertices[:, rest] - first.vertices[:, rest]).max() > 1e-3
    assert np.abs(unlocked.vertices[:, lips] - first.vertices[:, lips]).max() > 1e-3
    # Where the mask is 0.3 the lock weighs 0.6 (every later step of the pipeline is affine).
    np.testing.assert_allclose(other.vertices[:, fading],
                               0.4 * unlocked.vertices[:, fading] + 0.6 * first.vertices[:, fading], atol=1e-5)
    np.testing.assert_array_equal(run(0, lock_lips=False).vertices, first.vertices)  # seed 0 is its own reference
    # A redraw keeping another take's labels: the lips are those of seed 0 keeping the same.
    kept = {"keep_labels": run(5).labels, "keep_mask": keep_mask(len(first.labels), TINY.num_heads, [2, 3])}
    np.testing.assert_array_equal(run(3, **kept).vertices[:, lips], run(0, **kept).vertices[:, lips])


@pytest.fixture
def two_torch_threads():
    """Two torch threads, as on a user's laptop; the core suite itself runs with one (see
    scripts/test.sh), so this is where the pipeline's own thread handling is exercised."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_on_the_cpu_the_run_leaves_a_core_to_its_sampler_and_restores_the_thread_count(
        loaded, speech_wav, two_torch_threads):
    during = []
    options = pipeline.AnimateOptions(seed=2, chunk_frames=9, device="cpu")
    first = pipeline.animate(loaded, audio.AudioClip(speech_wav), options,
                             progress=lambda _: during.append(torch.get_num_threads()))
    assert during and set(during) == {1}
    assert torch.get_num_threads() == 2
    second = pipeline.animate(loaded, audio.AudioClip(speech_wav), options)
    np.testing.assert_array_equal(first.vertices, second.vertices)


def test_torch_work_beside_a_run_has_the_runs_thread_count_whichever_starts_first(speech_wav, two_torch_threads):
    """core.clip_analysis runs the tongue detector on a thread beside the run. Torch's
    thread count is process-wide and its sums differ in the last bits with another count,
    so the tongue runs with the run's count (one fewer on the CPU) whether or not the run
    has started, and the count outside comes back when the last block closes."""
    counts = []

    class CountingDetector(TongueDetector):
        def event_logits(self, log_mel):
            counts.append(torch.get_num_threads())
            return super().event_logits(log_mel)

    info = audio.probe(audio.AudioClip(speech_wav))
    tongue_track = lambda: ClipAnalysis(info, 30, 30.0, False, False, CountingDetector().eval()).tongue_track()  # noqa: E731
    alone = tongue_track()
    with pipeline.sampler_core(torch.device("cpu")):  # as while a run is under way
        assert torch.get_num_threads() == 1
        beside = tongue_track()
        assert torch.get_num_threads() == 1, "an inner block keeps the outer one's count"
    assert torch.get_num_threads() == 2
    assert counts and set(counts) == {1}
    np.testing.assert_array_equal(alone, beside)
    with pipeline.sampler_core(torch.device("cuda")):  # another device: nothing changes
        assert torch.get_num_threads() == 2


def test_streamed_cache_file_equals_the_in_memory_animation(loaded, speech_wav, tmp_path):
    options = pipeline.AnimateOptions(fps=25, seed=3, chunk_frames=20, device="cpu")
    animation = pipeline.animate(loaded, audio.AudioClip(speech_wav), options)
    run = pipeline.AnimationRun(loaded, audio.AudioClip(speech_wav), options)
    with cache_io.CacheWriter(tmp_path / "a.pc2", run.num_output_frames, TINY.num_vertices, 25) as writer:
        for chunk in run.chunks():
            writer.write(chunk)
    np.testing.assert_allclose(cache_io.read_cache(tmp_path / "a.pc2"), animation.vertices, atol=1e-6)


def test_per_utterance_normalisation_makes_codes_ignore_the_recording_channel(tmp_path, template_vertices):
    """With audio_normalisation="utterance", a clip through a different channel (a
    constant per-band colouring) gives nearly the same codes; without it, it does not."""
    import dataclasses

    import soundfile
    from audio_fixtures import speech_like
    from conftest import random_model
    from scipy import signal

    from meshtalk_blender.core.model.meshtalk import clip_mel_statistics

    speech = speech_like(3.0, seed=8)
    b, a = signal.butter(2, 1500, "lowpass", fs=16000)  # a dull microphone
    soundfile.write(tmp_path / "clean.wav", speech, 16000, subtype="FLOAT")
    soundfile.write(tmp_path / "dull.wav", signal.lfilter(b, a, speech).astype(np.float32), 16000, subtype="FLOAT")
    times = np.arange(60, 80) / 30
    differences = {}
    for normalisation in ("utterance", "none"):
        model = random_model(dataclasses.replace(TINY, audio_normalisation=normalisation))
        codes = []
        for name in ("clean.wav", "dull.wav"):
            info = audio.probe(audio.AudioClip(tmp_path / name))
            with torch.no_grad():
                statistics = clip_mel_statistics(model, audio.NormalisedSamples(info).get, info.num_samples)
                codes.append(audio_codes_for_window(model, audio.NormalisedSamples(info).get, times, statistics))
        differences[normalisation] = float((codes[0] - codes[1]).abs().mean() / codes[0].abs().mean())
    assert differences["utterance"] < 0.03 and differences["none"] > 5 * differences["utterance"], differences


def overflowing(model):
    """``model`` with finite weights whose vertices overflow float32 (1e38 x 10 = inf): a
    checkpoint that passes every check on load and still yields infinity."""
    with torch.no_grad():
        model.decoder.stddev.fill_(1e38)
        model.decoder.vertex_bias.fill_(10.0)
    return model


@pytest.mark.parametrize("damage", ["overflow", "nan_weight"])
def test_a_run_whose_output_is_not_finite_fails_with_a_message(tiny_model, template_vertices, speech_wav, damage):
    if damage == "overflow":
        overflowing(tiny_model)
    else:
        with torch.no_grad():
            tiny_model.decoder.decoder[1].bias[3] = float("nan")
    loaded = LoadedModel(tiny_model, template_vertices, "tiny", "test")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # on the command line, a numpy warning would be lines around the message
        with pytest.raises(MeshTalkError, match=r"invalid numbers \(NaN or infinity\)"):
            pipeline.animate(loaded, audio.AudioClip(speech_wav), pipeline.AnimateOptions(fps=24, device="cpu"))
