"""Held-out voices and the held-out language never reach the training split."""
import pytest

from meshtalk_blender.training.speech import split, voices
from meshtalk_blender.training.speech.utterance import Utterance


def test_split_holds_out_whole_voices_and_a_language():
    catalogue = voices.all_voices()
    train, validation = split.split_voices(catalogue)
    assert set(train).isdisjoint(validation)
    assert set(train) | set(validation) == {v.id for v in catalogue}
    language_of = {v.id: v.language for v in catalogue}
    assert not any(language_of[v] == split.HELD_OUT_LANGUAGE for v in train)
    italian = {v.id for v in catalogue if v.language == split.HELD_OUT_LANGUAGE}
    assert len(italian) >= 3 and italian <= set(validation)
    assert split.HELD_OUT_VOICES & set(voices.voice_ids()) <= set(validation)
    assert not split.HELD_OUT_VOICES & set(train)
    engines = {v.id: v.card.engine for v in catalogue}
    assert {"espeak-ng", "festival"} <= {engines[v] for v in validation}
    assert len(train) > 3 * len(validation)


def test_assertion_helper_catches_a_held_out_voice():
    def record(voice_id, language):
        return Utterance(audio=None, phonemes=[], words=[], text="", voice_id=voice_id,
                         language=language, seed=0)

    good = [record("espeak-en-us-m1", "en"), {"voice_id": "festival-kal", "language": "en"}]
    assert split.assert_no_held_out(good) == 2
    with pytest.raises(split.HeldOutVoiceError, match="festival-slt-hts"):
        split.assert_no_held_out(good + [record("festival-slt-hts", "en")])
    with pytest.raises(split.HeldOutVoiceError, match="espeak-it-m2"):
        split.assert_no_held_out([{"voice_id": "espeak-it-m2", "language": "it"}])
