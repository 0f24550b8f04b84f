"""Text scripts are reproducible, cover sounds widely and carry bilabials; IPA is shared."""
import numpy as np

from meshtalk_blender.training.speech import festival_phones, ipa, textgen, voices, wordlists


def test_scripts_are_reproducible_and_vary_with_the_seed():
    assert textgen.make_script("en", 4) == textgen.make_script("en", 4)
    assert textgen.make_script("en", 4).phrases != textgen.make_script("en", 5).phrases
    assert textgen.make_script("en", 4).phrases != textgen.make_script("es", 4).phrases


def test_every_phrase_has_a_bilabial_and_every_kind_occurs():
    kinds, pauses = set(), []
    for language in sorted({v.language for v in voices.all_voices()}):
        for seed in range(40):
            script = textgen.make_script(language, seed)
            assert len(script.pauses_s) == len(script.phrases) - 1
            pauses.extend(script.pauses_s)
            kinds.update(script.kinds)
            for phrase in script.phrases:
                assert wordlists.bilabial_letter_count(phrase, language) > 0, (language, phrase)
    assert kinds == set(textgen.KINDS)
    assert min(pauses) < 0.15 and max(pauses) > 1.0


def test_text_is_readable_by_the_festival_voices_encodings():
    for voice in voices.all_voices():
        encoding = getattr(voice, "encoding", None)
        if encoding:
            for seed in range(10):
                textgen.make_script(voice.language, seed).text.encode(encoding)


def test_espeak_speech_of_generated_text_is_rich_in_bilabials():
    """Running speech has ~6 % p/b/m; the corpus text should give clearly more."""
    voice = voices.get_voice("espeak-en-us-m1")
    spoken = []
    for seed in range(12):
        script = textgen.make_script("en", seed)
        utterance = voice.synth_phrases(list(script.phrases), list(script.pauses_s), seed)
        spoken += [p.symbol for p in utterance.phonemes if p.symbol != ipa.SILENCE]
    share = np.mean([ipa.features(symbol).is_bilabial for symbol in spoken])
    assert share > 0.09, share


def test_ipa_features_and_splitting():
    assert ipa.normalize("ˈɑː") == "ɑː" and ipa.normalize("ʧ") == "tʃ" and ipa.normalize("g") == "ɡ"
    assert ipa.features("mʲ").is_bilabial and ipa.features("pf").is_bilabial
    assert ipa.features("tʃ") == ipa.PhoneFeatures("affricate", "postalveolar")
    assert ipa.features("f").place == "labiodental" and ipa.features("w").place == "labiovelar"
    assert ipa.features("u").rounded and not ipa.features("i").rounded
    assert ipa.features("a").height > ipa.features("e").height > ipa.features("i").height
    assert ipa.features("o̞").rounded and ipa.features(ipa.SILENCE).manner == "silence"
    assert ipa.split_phonemes("kʲoː ˈɑːb") == ["kʲ", "oː", "ɑː", "b"]
    assert not ipa.is_known("ʲ")


def test_every_festival_phone_maps_to_known_ipa():
    for name, table in festival_phones.PHONE_SETS.items():
        for phone in table:
            assert ipa.is_known(festival_phones.to_ipa(phone, name)), (name, phone)
    assert festival_phones.to_ipa("a1", "italian") == "a"
    assert festival_phones.to_ipa("pau", "radio") == ipa.SILENCE
