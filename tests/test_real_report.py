"""The real-speech report's pieces: sources, conditions, DTW alignment and the new lip measures."""

import numpy as np
import pytest

from meshtalk_blender.core.face import ARKIT_INDEX, apply_arkit, arkit_deltas, load_bundled_head
from meshtalk_blender.training import metrics
from meshtalk_blender.training.real_conditions import CONDITIONS, FAST_FACTOR
from meshtalk_blender.training.real_sources import drascula_lines, normalise_words, snap_transcripts
from meshtalk_blender.training.speech import ipa


def speech_like(seconds=2.0, rate=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (envelope * (np.sin(2 * np.pi * 150 * t) + 0.3 * rng.standard_normal(len(t))) * 0.1).astype(np.float32)


@pytest.mark.parametrize("name", list(CONDITIONS))
def test_every_condition_gives_finite_audio_of_the_expected_length(name):
    audio = speech_like()
    processed, scale = CONDITIONS[name](audio, np.random.default_rng(1))
    assert np.isfinite(processed).all() and processed.dtype == np.float32
    assert len(processed) == pytest.approx(len(audio) * scale, abs=2)
    assert scale == (pytest.approx(1 / FAST_FACTOR, rel=0.01) if name == "fast" else 1.0)
    if name != "clean":
        assert not np.allclose(processed[:len(audio)], audio[:len(processed)])


def test_snapping_keeps_close_transcriptions_and_drops_the_rest():
    lines = ["THAT'S THE SECOND BIGGEST DOOR I'VE SEEN IN MY LIFE", "NOT REALLY"]
    heard = {"1.ALS": "It's the second biggest door I've seen in my life.", "2.ALS": "Hello there, pirate."}
    assert snap_transcripts(heard, lines) == {"1.ALS": lines[0]}
    assert normalise_words("Don\u2019t, PLEASE!") == "don't please"


def test_drascula_text_table_is_read_by_record_sizes(tmp_path):
    def record(text):
        body = text.encode("latin-1") + b"\x00"
        size = 1 + len(body)
        size += -size % 4
        return bytes([size]) + body + b"\x00" * (size - 1 - len(body))

    english = [""] + ["THAT'S THE SECOND BIGGEST DOOR I'VE SEEN IN MY LIFE"] + [f"LINE {i}" for i in range(2, 501)]
    spanish = [""] + [f"linea {i}" for i in range(1, 501)]
    dat = tmp_path / "drascula.dat"
    dat.write_bytes(b"HEADER" + b"".join(map(record, english)) + b"K\x1a\x00\x00" + b"".join(map(record, spanish)))
    assert drascula_lines(dat, "en")[1].startswith("THAT'S") and drascula_lines(dat, "en")[500] == "LINE 500"
    assert drascula_lines(dat, "es")[7] == "linea 7"


def test_false_closure_frames_are_speech_away_from_bilabials():
    phonemes = [(ipa.SILENCE, 0.0, 0.5), ("a", 0.5, 1.0), ("m", 1.0, 1.1), ("a", 1.1, 2.0)]
    away = metrics.speech_frames_away_from_bilabials(phonemes, 30.0, 60, ipa.SILENCE)
    times = np.arange(60) / 30
    assert not away[times < 0.5].any()
    assert not away[(times > 0.95) & (times < 1.15)].any()
    assert away[(times > 0.6) & (times < 0.9)].all() and away[times > 1.2].all()


def test_a_tuck_is_told_from_closed_and_open_lips():
    head = load_bundled_head()
    deltas = arkit_deltas(head)
    sets = head.index_sets

    def pose(**weights):
        w = np.zeros((1, 52), np.float32)
        for name, value in weights.items():
            w[0, ARKIT_INDEX[name]] = value
        return apply_arkit(head, w, deltas)

    lifted = dict(mouthUpperUpLeft=0.7, mouthUpperUpRight=0.7)
    poses = np.concatenate([pose(jawOpen=0.03, mouthRollLower=0.6, mouthShrugLower=0.4), pose(),
                            pose(jawOpen=0.2, mouthClose=0.2), pose(jawOpen=0.3),
                            pose(jawOpen=0.03, mouthRollLower=0.6, mouthShrugLower=0.4, **lifted),
                            pose(**lifted), pose(jawOpen=0.05)])
    lips = sets["upper_inner_lip"], sets["lower_inner_lip"]
    # To the upper lip's edge: with the upper lip lifted as well they part by 3.3 mm, past that measure's 3 mm.
    assert metrics.tucked_frames(poses, head.vertices, *lips).tolist() == [True, False, False, False,
                                                                          False, False, False]
    # The upper teeth show over the lower lip only when it is tucked and the upper lip lifted:
    # not over lips just parted, nor with the upper lip lifted alone.
    assert metrics.teeth_over_lip_frames(poses, head.vertices, *lips).tolist() == [False, False, False, False,
                                                                                   True, False, False]
    assert metrics.tucked_labiodentals(np.array([False, True, False]), 30.0, [(0.03, 0.04), (0.5, 0.6)]) == (1, 2)


def test_espeak_dtw_finds_the_bilabials_of_another_voice_at_another_pace():
    from meshtalk_blender.training.espeak_alignment import align_with_espeak, synthesise
    from meshtalk_blender.training.speech.espeak import _Library

    text = "maybe the big boat will pass by the bay"
    library = _Library.get()
    samples, events = library.synthesize(text, "en-gb-scotland", 120, 30, 40)  # another voice, slower
    from meshtalk_blender.training.speech.espeak import _segments_and_words
    from meshtalk_blender.training.speech.utterance import to_16k

    truth, _ = _segments_and_words(text, len(samples), library.sample_rate, events)
    audio = to_16k(samples.astype(np.float32) / 32768.0, library.sample_rate)
    audio = np.concatenate([np.zeros(4000, np.float32), audio])  # 0.25 s more lead-in
    aligned = align_with_espeak("test", audio, text, "en")
    expected = [(s + 0.25, e + 0.25) for symbol, s, e in truth if ipa.is_known(symbol) and ipa.features(symbol).is_bilabial]
    found = metrics.bilabial_closures(aligned.phonemes)
    assert len(found) == len(expected) == 7
    errors = [abs((a + b) / 2 - (c + d) / 2) for (a, b), (c, d) in zip(found, expected)]
    assert np.median(errors) < 0.04 and max(errors) < 0.1
    assert synthesise(text, "en", 160)[0].dtype == np.float32
