"""The lip tuck of f and v (core.lip_tuck, training.lip_tuck): the pose is a tuck by the
real-speech report's own measure, and the pipeline blends the mouth to it only where the
detector hears one, only where the model's lips are nearly closed, only in the mouth,
with the seal winning."""

from dataclasses import replace

import numpy as np
import pytest
import soundfile
import torch
from audio_fixtures import speech_like

from meshtalk_blender.core import audio, pipeline
from meshtalk_blender.core.errors import MeshTalkError
from meshtalk_blender.core.face import load_bundled_head
from meshtalk_blender.core.lip_tuck import (TUCK_CLOSING, TUCK_FILE, TUCK_OPEN_FROM_MM, TUCK_OPEN_TO_MM,
                                            LipTuckDetector, load_tuck_detector, tuck_rig)
from meshtalk_blender.core.model.lip_closure import LipClosureDetector, save_detector, seal_weights
from meshtalk_blender.training import metrics
from meshtalk_blender.training.dataset import Sequence
from meshtalk_blender.training.lip_tuck import tuck_targets


def test_the_tuck_pose_is_a_tuck_by_the_reports_measures_and_the_rest_is_not(lips):
    head = load_bundled_head()
    rig = tuck_rig(len(head.vertices))
    pose = rig.tuck(head.vertices[None], head.vertices, np.ones(len(head.vertices)), np.ones(1))[0]
    assert metrics.tucked_frames(pose[None], head.vertices, *lips).all()
    assert metrics.teeth_over_lip_frames(pose[None], head.vertices, *lips).all()
    assert not metrics.tucked_frames(head.vertices[None], head.vertices, *lips).any()
    assert not metrics.teeth_over_lip_frames(head.vertices[None], head.vertices, *lips).any()
    moved = np.abs(pose - head.vertices).max(axis=1) > 1e-6
    assert moved[lips[1]].all() and not moved[head.masks["mouth"] == 0].any()  # the lower lip; only the mouth
    assert tuck_rig(100) is None  # no rig for another topology


def test_openness_reads_the_inner_lip_gap(lips):
    head = load_bundled_head()
    rig = tuck_rig(len(head.vertices))
    frames = np.repeat(head.vertices[None], 3, axis=0)
    for frame, gap_mm in zip(frames, (TUCK_OPEN_FROM_MM, (TUCK_OPEN_FROM_MM + TUCK_OPEN_TO_MM) / 2, TUCK_OPEN_TO_MM)):
        frame[lips[1], 2] -= gap_mm / 1000.0  # the lower lip straight down from the closed rest's
    closed = metrics.pair_gap(head.vertices[None], *lips)[0]
    assert closed < 0.5
    slack = closed / (TUCK_OPEN_TO_MM - TUCK_OPEN_FROM_MM)  # the rest's own gap adds to each
    np.testing.assert_allclose(rig.openness(frames), [0.0, 0.5, 1.0], atol=slack)


def test_targets_are_f_and_v_then_their_neighbours():
    phonemes = [("f", 0.1, 0.2), ("b", 0.3, 0.4), ("t", 0.5, 0.6), ("v", 0.7, 0.75), ("θ", 0.8, 0.85),
                ("k", 0.9, 0.95)]
    sequence = Sequence(np.zeros(16000, np.float32), np.zeros((31, 1, 3), np.float32), np.zeros((1, 3), np.float32),
                        metadata={"phonemes": phonemes})
    targets = tuck_targets(sequence, 101).numpy()
    assert targets.shape == (5, 101)
    marked = [np.flatnonzero(row).tolist() for row in targets]
    assert marked == [list(range(10, 21)) + list(range(70, 76)), list(range(30, 41)), list(range(50, 61)),
                      list(range(80, 86)), list(range(90, 96))]


def scripted(always: bool, kind=LipTuckDetector, also_bilabial: bool = False):
    """A detector that hears its contact everywhere (or nowhere); a lip-tuck detector
    hears the others it learned beside it (p/b/m, the tongue's) nowhere, or with
    ``also_bilabial`` p/b/m as much as f/v."""
    detector = kind(width=8, dilations=(2,))
    with torch.no_grad():
        detector.output.weight.zero_()
        detector.output.bias.fill_(10.0 if always else -10.0)
        if kind is LipTuckDetector:
            detector.output.bias[1:] = -10.0
            detector.output.bias[1] = detector.output.bias[0] if also_bilabial else -10.0
    return detector.eval()


def test_a_detector_of_another_kind_is_refused_with_a_message(tmp_path):
    save_detector(scripted(True), tmp_path / TUCK_FILE)
    assert load_tuck_detector(tmp_path / TUCK_FILE).outputs == 5
    save_detector(scripted(True, LipClosureDetector), tmp_path / TUCK_FILE)
    with pytest.raises(MeshTalkError, match="lip-tuck detector .* gives 1 kinds of event, not 5"):
        load_tuck_detector(tmp_path / TUCK_FILE)


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    path = tmp_path_factory.mktemp("tuck") / "speech.wav"
    soundfile.write(path, speech_like(2.0, 16000, seed=15, pauses=False), 16000)  # opens past TUCK_OPEN_TO_MM
    return path


def animate(loaded, path, seal=True):
    options = pipeline.AnimateOptions(seed=3, device="cpu", rest_in_pauses=False, seal_lips=seal)
    return pipeline.animate(loaded, audio.AudioClip(path), options).vertices


def test_the_pipeline_tucks_a_nearly_closed_mouth_where_its_detector_hears_f_or_v(bundled, speech, lips):
    plain = animate(replace(bundled, lip_closure=None, lip_tuck=None), speech)
    tucking = replace(bundled, lip_closure=None, lip_tuck=scripted(True), lip_gap=None)  # the tuck alone
    tucked = animate(tucking, speech)
    rig = tuck_rig(len(bundled.template))
    openness = rig.openness(plain)
    closed, open_ = openness == 0.0, openness == 1.0
    assert closed.sum() >= 5 and open_.sum() >= 3, "the line has both nearly closed and open frames"
    mouth = bundled.vertex_masks["mouth"] > 0
    # Nearly closed: the tuck added and half the opening taken away, as far as the mouth
    # mask reaches; open: left as drawn.
    mask = bundled.vertex_masks["mouth"][None, :, None]
    expected = plain[closed] + mask * (TUCK_CLOSING * (bundled.template - plain[closed]) + rig.offsets + rig.lift)
    np.testing.assert_allclose(tucked[closed], expected, atol=1e-5)
    height = lambda frames, lip: frames[:, lip, 2].mean(axis=1)  # noqa: E731
    assert (height(tucked[closed], lips[1]) > height(plain[closed], lips[1]) + 0.001).all(), "the lower lip rises"
    assert (height(tucked[closed], lips[0]) > height(plain[closed], lips[0]) + 0.001).all(), "and the upper lip"
    assert metrics.teeth_over_lip_frames(tucked[closed], bundled.template, *lips).mean() > 0.8
    np.testing.assert_allclose(tucked[open_], plain[open_], atol=1e-6)
    # Heard as much as a p/b/m, an f/v tucks the lower lip but the upper lip stays down.
    unlifted = animate(replace(tucking, lip_tuck=scripted(True, also_bilabial=True)), speech)
    expected = plain[closed] + mask * (TUCK_CLOSING * (bundled.template - plain[closed]) + rig.offsets)
    np.testing.assert_allclose(unlifted[closed], expected, atol=1e-5)
    assert not metrics.tucked_frames(plain, bundled.template, *lips).all()
    np.testing.assert_array_equal(tucked[:, ~mouth], plain[:, ~mouth])  # only the mouth moves
    np.testing.assert_array_equal(animate(tucking, speech, seal=False), plain)  # the option turns it off
    np.testing.assert_array_equal(animate(replace(tucking, lip_tuck=scripted(False)), speech), plain)
    # Where both are heard the lips seal (a p/b/m next to an f: the closure must be seen).
    both = animate(replace(tucking, lip_closure=scripted(True, LipClosureDetector)), speech)
    lip_vertices = bundled.vertex_masks["mouth"] == 1.0
    np.testing.assert_allclose(both[:, lip_vertices], np.broadcast_to(bundled.template[lip_vertices],
                                                                      both[:, lip_vertices].shape), atol=1e-5)
    # Where a p/b/m is half heard the seal half closes the mouth, and the tuck's lift of the
    # upper lip gives way by as much: a partial seal must still bring the upper lip down.
    half_heard = scripted(True, LipClosureDetector)
    with torch.no_grad():
        half_heard.output.bias.fill_(0.0)  # a probability of 0.5 everywhere
    sealing = float(seal_weights(np.array([0.5]), half_heard.thresholds)[0])
    assert 0.2 < sealing < 0.8
    partly = animate(replace(tucking, lip_closure=half_heard), speech)[closed]
    template = bundled.template
    lifted = plain[closed] + mask * (TUCK_CLOSING * (template - plain[closed]) + rig.offsets + (1 - sealing) * rig.lift)
    np.testing.assert_allclose(partly, lifted + sealing * mask * (template - lifted), atol=1e-5)
