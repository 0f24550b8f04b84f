"""Pauses found from the audio's level, and the mouth resting in them."""

import numpy as np
import pytest
import soundfile
from audio_fixtures import speech_like, speech_with_a_pause
from conftest import TINY

from meshtalk_blender.core import audio, pauses, pipeline
from meshtalk_blender.core.checkpoints import LoadedModel

RATE, FPS = 16000, 30


def levels_of(samples: np.ndarray) -> np.ndarray:
    count = audio.frame_count(len(samples) / RATE, FPS)
    return pauses.frame_levels_db(lambda a, b: audio.slice_with_zeros(samples, a, b), RATE, count, FPS)


def phrase(seconds: float, seed: int) -> np.ndarray:
    return speech_like(seconds, RATE, seed=seed, pauses=False)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def test_levels_streamed_in_blocks_equal_the_whole_clip_at_once(monkeypatch):
    samples = phrase(2.0, 0)
    monkeypatch.setattr(pauses, "BLOCK_FRAMES", 7)
    streamed = levels_of(samples)
    half = round(RATE / FPS)
    expected = [np.mean(np.square(audio.slice_with_zeros(samples, round(i * RATE / FPS) - half,
                                                         round(i * RATE / FPS) + half), dtype=np.float64))
                for i in range(len(streamed))]
    np.testing.assert_allclose(streamed, 10 * np.log10(np.array(expected) + 1e-10), atol=1e-6)


@pytest.mark.parametrize("noise_db", [None, -50.0, -35.0])
def test_long_pauses_are_found_and_gaps_inside_speech_are_not(noise_db):
    """0.5 s lead-in, a phrase, a 0.6 s pause, a phrase with a 0.12 s gap, 0.4 s tail;
    with no noise, and with a noise floor 50 or 35 dB under the speech's peak."""
    parts = [silence(0.5), phrase(1.0, 1), silence(0.6), phrase(0.6, 2), silence(0.12), phrase(0.6, 3), silence(0.4)]
    samples = np.concatenate(parts)
    if noise_db is not None:
        samples = samples + np.random.default_rng(0).normal(0, 10 ** (noise_db / 20), len(samples)).astype(np.float32)
    spans = pauses.pause_spans(levels_of(samples), FPS)
    seconds = [(first / FPS, end / FPS) for first, end in spans]
    expected = [(0.0, 0.5), (1.5, 2.1), (3.42, 3.82)]
    assert len(seconds) == 3, seconds
    for (start, end), (want_start, want_end) in zip(seconds, expected):
        assert abs(start - want_start) <= 0.07 and abs(end - want_end) <= 0.07, seconds


def test_continuous_speech_has_no_pauses():
    assert pauses.pause_spans(levels_of(phrase(4.0, 5)), FPS) == []


def test_rest_weights_hold_in_pauses_and_ease_in_and_out():
    count = 120
    weights = pauses.rest_weights([(0, 15), (45, 90)], count, FPS)
    assert weights.shape == (count,) and weights.min() >= 0 and weights.max() <= 1
    assert np.all(weights[:9] == 1), "a lead-in pause rests from the first frame (until 0.2 s before speech)"
    assert np.all(weights[15:45] == 0) and np.all(weights[90:] == 0), "speech is left alone"
    closing, holding, opening = weights[45:51], weights[51:84], weights[84:90]
    assert closing[0] == 0 and np.all(np.diff(closing) > 0), "the mouth settles over CLOSE_SECONDS"
    assert np.all(holding == 1)
    assert np.all(np.diff(opening) < 0) and opening[-1] < 0.1, "and leaves the rest before speech"
    # A pause at the very end has no opening ramp.
    assert np.all(pauses.rest_weights([(100, count)], count, FPS)[110:] == 1)


def test_rest_mouth_moves_only_the_mouth_and_only_as_far_as_weighted():
    rng = np.random.default_rng(0)
    vertices = rng.normal(size=(3, 4, 3)).astype(np.float32)
    template = rng.normal(size=(4, 3)).astype(np.float32)
    mouth = np.array([1.0, 0.5, 0.0, 0.0], np.float32)
    rested = pauses.rest_mouth(vertices, template, mouth, np.array([0.0, 1.0, 0.5], np.float32))
    np.testing.assert_array_equal(rested[0], vertices[0])
    np.testing.assert_array_equal(rested[:, 2:], vertices[:, 2:])
    np.testing.assert_allclose(rested[1, 0], template[0], atol=1e-6)
    np.testing.assert_allclose(rested[1, 1], (vertices[1, 1] + template[1]) / 2, atol=1e-6)
    np.testing.assert_allclose(rested[2, 0], (vertices[2, 0] + template[0]) / 2, atol=1e-6)


def test_pipeline_rests_the_mouth_in_a_pause_and_nowhere_else(tiny_model, template_vertices, tmp_path):
    path = tmp_path / "pause.wav"
    soundfile.write(path, speech_with_a_pause(RATE), RATE)
    mouth = np.zeros(TINY.num_vertices, np.float32)
    mouth[: TINY.num_vertices // 3] = 1.0
    loaded = LoadedModel(tiny_model, template_vertices, "tiny", "test", vertex_masks={"mouth": mouth})
    run = lambda rest: pipeline.animate(  # noqa: E731
        loaded, audio.AudioClip(path), pipeline.AnimateOptions(seed=3, chunk_frames=17, device="cpu",
                                                               rest_in_pauses=rest)).vertices
    rested, free = run(True), run(False)
    middle = slice(int(1.3 * FPS), int(1.7 * FPS))
    lips = mouth > 0
    np.testing.assert_allclose(rested[middle][:, lips], np.broadcast_to(template_vertices[lips], rested[middle][:, lips].shape),
                               atol=1e-5)
    assert np.abs(free[middle][:, lips] - template_vertices[lips]).max() > 0.1, "the random model's mouth moves"
    np.testing.assert_array_equal(rested[:, ~lips], free[:, ~lips])
    speech = np.r_[0:int(0.9 * FPS), int(2.1 * FPS):len(free)]
    np.testing.assert_array_equal(rested[speech], free[speech])
