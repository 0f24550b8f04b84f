"""Real human speech: the Debian recordings align, the teacher's reference moves the lips
as the phones say, and the report scores the reference perfectly and a still face not."""

import numpy as np
import pytest

from meshtalk_blender.core.face import load_bundled_head
from meshtalk_blender.core.model.config import MODEL_FPS
from meshtalk_blender.training import metrics, real_speech
from meshtalk_blender.training.evaluate import SEAL_MM, markdown
from meshtalk_blender.training.speech import ipa

pytestmark = pytest.mark.skipif(real_speech.missing_requirements() is not None,
                                reason=str(real_speech.missing_requirements()))


@pytest.fixture(scope="module")
def recordings():
    return real_speech.find_recordings()


@pytest.fixture(scope="module")
def aligned(recordings):
    return real_speech.align_all(recordings)


@pytest.fixture(scope="module")
def sequences(aligned):
    utterances, _ = aligned
    head = load_bundled_head()
    deltas = real_speech.arkit_deltas(head)
    return [real_speech.reference_sequence(u, head, deltas) for u in utterances]


def test_every_recording_with_a_transcript_aligns(recordings, aligned):
    utterances, failures = aligned
    assert len(recordings) == 12 and failures == {}
    seconds = sum(u.duration for u in utterances)
    assert 35 < seconds < 45
    for recording, utterance in zip(recordings, utterances):
        starts = [p.start for p in utterance.phonemes]
        assert starts[0] == 0 and np.all(np.diff(starts) > 0)
        assert utterance.phonemes[-1].end == pytest.approx(utterance.duration)
        assert all(ipa.is_known(p.symbol) for p in utterance.phonemes)
        # pocketsphinx aligned exactly the transcript's words, in order, inside the audio
        assert [w.text for w in utterance.words] == recording.transcript.split()
        assert all(0 <= w.start < w.end <= utterance.duration + 1e-6 for w in utterance.words)
        # speech fills most of the recording: the alignment did not collapse into silence
        spoken = sum(p.end - p.start for p in utterance.phonemes if p.symbol != ipa.SILENCE)
        assert spoken > 0.5 * utterance.duration


def test_alignment_puts_the_bilabials_where_the_words_have_them(aligned):
    utterances, _ = aligned
    # "he was not an ill disposed young man": the p of disposed and the m of man
    utterance = next(u for u in utterances if u.voice_id.endswith("0880"))
    words = {w.text: w for w in utterance.words}
    bilabials = [p for p in utterance.phonemes if p.symbol != ipa.SILENCE and ipa.features(p.symbol).is_bilabial]
    assert [p.symbol for p in bilabials] == ["p", "m"]
    assert words["disposed"].start <= bilabials[0].start < bilabials[0].end <= words["disposed"].end
    assert bilabials[1].start == pytest.approx(words["man"].start)


def test_the_reference_seals_on_bilabials_and_opens_in_vowels(sequences):
    head = load_bundled_head()
    upper, lower = head.index_sets["upper_inner_lip"], head.index_sets["lower_inner_lip"]
    vowel_gaps = []
    for sequence in sequences:
        gap = metrics.pair_gap(sequence.vertices, upper, lower)
        for start, end in metrics.bilabial_closures(sequence.metadata["phonemes"]):
            middle = int(round(0.5 * (start + end) * MODEL_FPS))
            assert gap[middle] < SEAL_MM, (sequence.name, start)
        vowel_gaps += [gap[int(round(0.5 * (s + e) * MODEL_FPS))] for symbol, s, e in sequence.metadata["phonemes"]
                       if symbol != ipa.SILENCE and ipa.features(symbol).manner == "vowel" and e - s >= 0.06]
    assert len(vowel_gaps) > 80
    assert np.median(vowel_gaps) > 4 * SEAL_MM
    assert np.mean(np.array(vowel_gaps) > SEAL_MM) > 0.95


def test_report_scores_the_reference_perfectly_and_a_still_face_not(sequences):
    report = real_speech.real_speech_report(lambda s: s.vertices, sequences)
    assert report["recordings"] == 12 and report["failed_to_align"] == {}
    assert report["bilabial_segments"] > 25 and report["phones"] > 300
    reference = report["rows"]["model"]
    assert reference["lip_gap_r"] == pytest.approx(1.0)
    assert reference["bilabial_seal_rate"] == 1.0 and reference["lip_vertex_error_mm"] == 0
    assert reference["meets_targets"]
    # The template's lips rest together, so it "seals" everywhere, but it never opens:
    # the correlation is undefined and the targets fail.
    still = report["rows"]["static template"]
    assert still["bilabial_seal_rate"] == 1.0
    assert np.isnan(still["lip_gap_r"]) and not still["meets_targets"]
    assert still["lip_vertex_error_mm"] > 2
    # The loudness jaw opens with the voice but neither follows the phones nor seals.
    jaw = report["rows"]["loudness jaw"]
    assert 0.2 < jaw["lip_gap_r"] < 0.8 and jaw["bilabial_seal_rate"] < 0.5
    # A model that is right on average but late by 100 ms loses the seals.
    late_by_100_ms = lambda s: np.concatenate([np.repeat(s.vertices[:1], 3, axis=0), s.vertices[:-3]])  # noqa: E731
    late = real_speech.real_speech_report(late_by_100_ms, sequences)
    assert late["rows"]["model"]["lip_gap_r"] < 0.9 and not late["rows"]["model"]["meets_targets"]
    # Variants of the model (e.g. without the pause rest) get their own rows.
    both = real_speech.real_speech_report(lambda s: s.vertices, sequences, variants={"late": late_by_100_ms})
    assert list(both["rows"]) == ["model", "late", "loudness jaw", "static template"]
    assert both["rows"]["late"] == late["rows"]["model"] and both["rows"]["model"] == reference
    text = "\n".join(markdown({"model": "m", "validation_sequences": 0, "voices": [], "summary": {},
                               "real_speech": report}).splitlines())
    assert "## Real human speech" in text and "pocketsphinx-testdata" in text
    plot = report["plot"]
    assert {"reference", "model", "loudness jaw"} <= set(plot) and plot["bilabials"]


def test_missing_package_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="pocketsphinx-testdata"):
        real_speech.find_recordings(tmp_path)
    assert "pocketsphinx-testdata" in real_speech.missing_requirements(tmp_path)
