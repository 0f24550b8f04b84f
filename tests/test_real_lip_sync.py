"""The bundled model on a small real recording: the gap follows the speech, no pops, the
lips meet on every p/b/m and hardly anywhere else.

One LibriVox sentence of the Debian package pocketsphinx-testdata (a reader the model
never heard, 6 s), force-aligned with pocketsphinx; the reference is the teacher's
animation of that alignment. Measured: r 0.84, largest step 4.4 mm (teacher 7.7); with
the seal blended frame by frame (before its approach and release) the lips jumped 9.4 mm
in one frame there. The lips meet on all 11 p/b/m, and on 3 of the 104 speech frames
more than 60 ms from any (the teacher's own: 6); before the lips were kept apart in
speech (core.lip_parting) on 11.
"""

import numpy as np
import pytest

from meshtalk_blender.core.model.config import MODEL_FPS
from meshtalk_blender.training import metrics, real_speech
from meshtalk_blender.training.real_report import Case, ModelRunner
from meshtalk_blender.training.real_speech import align, make_decoder, reference_sequence
from meshtalk_blender.core.face import arkit_deltas, load_bundled_head
from meshtalk_blender.training.evaluate import SEAL_MM
from meshtalk_blender.training.speech import ipa

pytestmark = pytest.mark.skipif(real_speech.missing_requirements() is not None,
                                reason=str(real_speech.missing_requirements()))
MODEL = real_speech.Path(__file__).resolve().parents[1] / "meshtalk_blender" / "assets" / "model"


def test_the_bundled_models_lips_follow_a_real_voice_without_pops():
    recording = next(r for r in real_speech.find_recordings() if r.name == "librivox-0920")
    utterance = align(recording, make_decoder())
    head = load_bundled_head()
    reference = reference_sequence(utterance, head, arkit_deltas(head))
    case = Case(None, "clean", utterance.audio, utterance.phonemes, reference.vertices, reference.template)
    vertices = ModelRunner(MODEL).animate(case)
    sets = head.index_sets
    gap = metrics.pair_gap(vertices[:reference.num_frames], sets["upper_inner_lip"], sets["lower_inner_lip"])
    reference_gap = metrics.pair_gap(reference.vertices[:len(gap)], sets["upper_inner_lip"], sets["lower_inner_lip"])
    r = metrics.correlation(gap, reference_gap)
    assert r > 0.7, f"the inner-lip gap follows the reference at r {r:.2f}"
    steps, teacher_steps = metrics.largest_steps(gap), metrics.largest_steps(reference_gap)
    assert steps.max() <= teacher_steps.max(), (
        f"a pop: the lips move {steps.max():.1f} mm in one frame at {steps.argmax() / MODEL_FPS:.2f} s, "
        f"the teacher at most {teacher_steps.max():.1f} mm")
    phonemes = [tuple(p) for p in utterance.phonemes]
    sealed, bilabials = metrics.bilabial_seals(gap, MODEL_FPS, metrics.bilabial_closures(phonemes), SEAL_MM)
    assert bilabials >= 10 and sealed == bilabials, f"the lips meet on {sealed} of {bilabials} p/b/m"
    away = metrics.speech_frames_away_from_bilabials(phonemes, MODEL_FPS, len(gap), ipa.SILENCE)
    closed = int((away & (gap < SEAL_MM)).sum())
    assert away.sum() >= 100 and closed <= 0.05 * away.sum(), (
        f"the lips meet on {closed} of {away.sum()} speech frames away from any p/b/m")
