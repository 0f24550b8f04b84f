"""The lip tuck of f and v (core.lip_tuck, core.model.lip_closure's lip-tuck detector):
the pose is a tuck by the real-speech report's own measure, and the pipeline blends the
mouth to it only where the detector hears one, only in the mouth, with the seal winning."""

from dataclasses import replace

import numpy as np
import pytest
import soundfile
import torch
from audio_fixtures import speech_like

from meshtalk_blender.core import audio, pipeline
from meshtalk_blender.core.checkpoints import load_model
from meshtalk_blender.core.face import load_bundled_head
from meshtalk_blender.core.lip_tuck import tuck_pose
from meshtalk_blender.core.model.lip_closure import LipClosureDetector
from meshtalk_blender.training import metrics



@pytest.fixture(scope="module")
def lips():
    sets = load_bundled_head().index_sets
    return sets["upper_inner_lip"], sets["lower_inner_lip"]


def test_the_tuck_pose_is_a_tuck_by_the_reports_measure_and_the_rest_is_not(lips):
    head = load_bundled_head()
    pose = tuck_pose(head.vertices)
    assert metrics.tucked_frames(pose[None], head.vertices, *lips).all()
    assert not metrics.tucked_frames(head.vertices[None], head.vertices, *lips).any()
    moved = np.abs(pose - head.vertices).max(axis=1) > 1e-6
    assert moved[lips[1]].all() and not moved[head.masks["mouth"] == 0].any()  # the lower lip; only the mouth
    assert tuck_pose(np.zeros((100, 3), np.float32)) is None  # no rig for another topology


def scripted(always: bool) -> LipClosureDetector:
    """A detector that hears its contact everywhere (or nowhere)."""
    detector = LipClosureDetector(width=8, dilations=(2,))
    with torch.no_grad():
        detector.output.weight.zero_()
        detector.output.bias.fill_(10.0 if always else -10.0)
    return detector.eval()


@pytest.fixture(scope="module")
def bundled():
    from meshtalk_blender.blender.model_source import BUNDLED_MODEL_DIR

    return load_model(BUNDLED_MODEL_DIR)


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    path = tmp_path_factory.mktemp("tuck") / "speech.wav"
    soundfile.write(path, speech_like(2.0, 16000, seed=5, pauses=False), 16000)
    return path


def animate(loaded, path, seal=True):
    options = pipeline.AnimateOptions(seed=3, device="cpu", rest_in_pauses=False, seal_lips=seal)
    return pipeline.animate(loaded, audio.AudioClip(path), options).vertices


def test_the_pipeline_tucks_the_lower_lip_where_its_detector_hears_f_or_v(bundled, speech, lips):
    plain = animate(replace(bundled, lip_closure=None, lip_tuck=None), speech)
    tucking = replace(bundled, lip_closure=None, lip_tuck=scripted(True))
    tucked = animate(tucking, speech)
    assert not metrics.tucked_frames(plain, bundled.template, *lips).all()
    assert metrics.tucked_frames(tucked, bundled.template, *lips).all()
    mouth = bundled.vertex_masks["mouth"] > 0
    np.testing.assert_array_equal(tucked[:, ~mouth], plain[:, ~mouth])  # only the mouth moves
    np.testing.assert_array_equal(animate(tucking, speech, seal=False), plain)  # the option turns it off
    np.testing.assert_array_equal(animate(replace(tucking, lip_tuck=scripted(False)), speech), plain)
    # Where both are heard the lips seal (a p/b/m next to an f: the closure must be seen).
    both = animate(replace(tucking, lip_closure=scripted(True)), speech)
    lip_vertices = bundled.vertex_masks["mouth"] == 1.0
    np.testing.assert_allclose(both[:, lip_vertices], np.broadcast_to(bundled.template[lip_vertices],
                                                                      both[:, lip_vertices].shape), atol=1e-5)
