"""Lips apart in speech (core.lip_parting): the jaw opens a mouth whose lips meet where no
p/b/m is heard, just as far as PART_MIN_MM, and leaves alone an open mouth, a pause, a
heard p/b/m, a run without lip contacts and a model of another topology."""

from dataclasses import replace

import numpy as np
import pytest
import soundfile
import torch
from audio_fixtures import speech_with_a_pause

from meshtalk_blender.core import audio, pipeline
from meshtalk_blender.core.lip_parting import PART_FROM, PART_MIN_MM, PART_UNTIL, closure_allowance, parting_rig
from meshtalk_blender.core.model.config import MODEL_FPS
from meshtalk_blender.core.model.lip_closure import LipClosureDetector
from meshtalk_blender.core.pauses import clip_levels_db, rest_weights_of_levels
from meshtalk_blender.training import metrics


def test_the_jaw_opens_closed_lips_to_the_least_gap_and_leaves_open_ones(head, lips):
    rig = parting_rig(len(head.vertices))
    rest = head.vertices.astype(np.float32)
    jaw = rig.opening
    frames = np.stack([rest, rest, rest + 0.3 * jaw, rest])  # closed, closed, open (7.5 mm), closed
    parted = rig.part(frames, np.array([1.0, 0.5, 1.0, 0.0], np.float32))
    gaps = metrics.pair_gap(parted, *lips)
    rest_gap = metrics.pair_gap(rest[None], *lips)[0]
    assert rest_gap < 0.5
    assert gaps[0] == pytest.approx(PART_MIN_MM, abs=0.05)
    assert gaps[1] == pytest.approx((PART_MIN_MM + rest_gap) / 2, abs=0.05)  # half the floor, half the way
    np.testing.assert_array_equal(parted[2:], frames[2:])  # open already; no floor
    # Only the jaw's opening moves the face: the lower lip and the chin, not the upper lip.
    moved_by = parted[0] - rest
    scale = float((moved_by * jaw).sum() / (jaw * jaw).sum())
    assert scale > 0
    np.testing.assert_allclose(moved_by, scale * jaw, atol=1e-7)
    moved = np.abs(moved_by).max(axis=1) > 1e-6
    assert moved[lips[1]].all() and not moved[lips[0]].any()
    assert parting_rig(100) is None  # no rig for another topology


def test_closure_probabilities_give_way_to_a_heard_p_b_m():
    allowance = closure_allowance(np.array([0.0, PART_FROM, (PART_FROM + PART_UNTIL) / 2, PART_UNTIL, 0.9]))
    np.testing.assert_allclose(allowance, [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-6)


def scripted_closure(probability_logit: float) -> LipClosureDetector:
    """A p/b/m detector that hears the same probability everywhere."""
    detector = LipClosureDetector(width=8, dilations=(2,))
    with torch.no_grad():
        detector.output.weight.zero_()
        detector.output.bias.fill_(probability_logit)
    return detector.eval()


@pytest.fixture(scope="module")
def bundled(bundled):
    """The bundled model without the tuck, the lip-gap regressor and the speech encoder: the
    tests give it scripted log-mel p/b/m detectors."""
    return replace(bundled, lip_tuck=None, lip_gap=None, speech_encoder=None)


@pytest.fixture(scope="module")
def speech_with_pauses(tmp_path_factory):
    path = tmp_path_factory.mktemp("parting") / "speech.wav"
    soundfile.write(path, speech_with_a_pause(16000), 16000)
    return path


def animate(loaded, path, seal=True):
    options = pipeline.AnimateOptions(seed=0, device="cpu", seal_lips=seal)
    return pipeline.animate(loaded, audio.AudioClip(path), options).vertices


def test_the_pipeline_parts_the_lips_in_speech_only_where_no_p_b_m_is_heard(bundled, speech_with_pauses, lips):
    hears_nothing = replace(bundled, lip_closure=scripted_closure(-10.0))
    plain = animate(bundled, speech_with_pauses, seal=False)
    parted = animate(hears_nothing, speech_with_pauses)
    info = audio.probe(audio.AudioClip(speech_with_pauses))
    pauses = rest_weights_of_levels(clip_levels_db(info, len(plain), MODEL_FPS), MODEL_FPS)
    speech, resting = pauses == 0.0, pauses == 1.0
    assert speech.sum() > 30 and resting.sum() > 10, "the clip has both speech and pauses"
    plain_gap, gap = metrics.pair_gap(plain, *lips), metrics.pair_gap(parted, *lips)
    assert (plain_gap[speech] < PART_MIN_MM).sum() >= 3, "the model's own lips meet somewhere in this speech"
    assert gap[speech].min() >= PART_MIN_MM - 0.05
    assert gap[resting].max() < 1.0, "in a pause the mouth still rests closed"
    wide = plain_gap >= PART_MIN_MM + 0.5
    assert speech[wide].any()
    np.testing.assert_allclose(parted[wide & speech], plain[wide & speech], atol=1e-5)  # open: as drawn
    # A p/b/m heard everywhere seals every frame; without lip contacts there is no parting.
    sealed = animate(replace(bundled, lip_closure=scripted_closure(10.0)), speech_with_pauses)
    assert metrics.pair_gap(sealed, *lips).max() < 0.5
    np.testing.assert_array_equal(animate(hears_nothing, speech_with_pauses, seal=False), plain)
