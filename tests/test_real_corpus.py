"""The real-speech training corpus: held-out speakers never in it, clips joined into
utterances, Flight of the Amazon Queen's resource file and its snapping."""

import struct

import numpy as np

from meshtalk_blender.training import fotaq_resource, real_corpus
from meshtalk_blender.training.real_sources import EVALUATION_SPEAKERS, Clip, snap_transcripts
from meshtalk_blender.training.speech import ipa
from meshtalk_blender.training.speech.utterance import Phoneme, Utterance, check_tiling


def clip(speaker, number, seconds, language="en"):
    rate = 16000
    audio = (0.1 * np.sin(np.arange(int(seconds * rate)) / 10)).astype(np.float32)
    phonemes = [Phoneme(ipa.SILENCE, 0.0, 0.1), Phoneme("m", 0.1, 0.2), Phoneme("a", 0.2, seconds - 0.1),
                Phoneme(ipa.SILENCE, seconds - 0.1, seconds)]
    made = Clip(f"{speaker}-{number}", speaker, language, "tuxpaint-stamps-default", None, "ma")
    return made, Utterance(audio, phonemes, [], "ma", speaker, language, 0)


def test_held_out_speakers_never_train():
    clips = [Clip("a", EVALUATION_SPEAKERS[0], "en", "x", None, "t"), Clip("b", "drascula-en-hero", "en", "x", None, "t")]
    assert [c.name for c in real_corpus.training_clips(clips)] == ["b"]


def test_clips_are_joined_into_utterances_of_a_few_seconds_per_speaker():
    aligned = [clip("one", i, 1.5) for i in range(9)] + [clip("two", i, 20.0) for i in range(2)]
    groups = real_corpus.group_utterances(aligned, seed=0)
    for speaker, members in groups:
        assert {c.speaker for c, _ in members} == {speaker}
    # 1.5 s clips: 6 s runs, the short tail joins the last run; a 20 s clip stands alone
    assert [(s, len(m)) for s, m in groups] == [("one", 4), ("one", 5), ("two", 1), ("two", 1)]
    capped = real_corpus.group_utterances(aligned, seed=0, max_minutes=0.05)  # 3 s per speaker
    assert sum(len(m) for s, m in capped if s == "one") == 2
    speaker, members = groups[0]
    joined = real_corpus.join_clips(speaker, members, seed=1)
    check_tiling(joined.phonemes, joined.duration)
    assert sum(p.symbol == "m" for p in joined.phonemes) == len(members)
    assert joined.duration > sum(u.duration for _, u in members) + 0.3 * (len(members) - 1) - 1e-6


def test_fotaq_table_speakers_and_lines(tmp_path):
    names = [b"020006J1.SB", b"020006P1.SB", b"JOE00841.SB", b"C41B_742.SB", b"APE.DOG"]
    payloads = [b"mp3-1", b"mp3-2", b"mp3-3", b"mp3-4",
                b"\x00\x01FLYou couldn't pilot your way out of a paper bag.*03\x00\x02Hi there, pal.*02"]
    header = b"QTBL" + b"CEM10\x00" + b"\x00\x00" + bytes([1]) + struct.pack(">H", len(names))
    offset = len(header) + 21 * len(names)
    table, data = b"", b""
    for name, payload in zip(names, payloads):
        table += name.ljust(12, b"\x00") + b"\x01" + struct.pack(">II", offset + len(data), len(payload))
        data += payload
    path = tmp_path / "queen.1c"
    path.write_bytes(header + table + data)
    version, compression, entries = fotaq_resource.read_table(path)
    assert (version, compression, len(entries)) == ("CEM10", 1, 5)
    assert fotaq_resource.entry_bytes(path, entries[2]) == b"mp3-3"
    assert [fotaq_resource.speaker(e.name) for e in fotaq_resource.speech_entries(entries)] == [
        "joe", "dialogue-02", "joe", "cutaway-41"]
    assert fotaq_resource.game_lines(path, entries) == ["You couldn't pilot your way out of a paper bag.",
                                                         "Hi there, pal."]
    assert fotaq_resource.clean_line("GThat's just a minor problem.") == "That's just a minor problem."


def test_snapping_with_a_shortlist_finds_the_same_line():
    lines = ["You couldn't pilot your way out of a paper bag.", "You got some nerve Anderson.",
             "At least my plane doesn't have training wheels.", "Now get out of my sight while you still can."]
    heard = {"a": "You couldn't pilot your way out of a piece of bag!", "b": "Now get out of my sight while you're still dead.",
             "c": "Something else entirely, nothing like it."}
    assert snap_transcripts(heard, lines, shortlist=2) == snap_transcripts(heard, lines) == {
        "a": lines[0], "b": lines[3]}
