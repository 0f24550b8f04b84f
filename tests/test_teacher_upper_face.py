"""The teacher's upper face: blink rate, timing and shape over a long sequence; brow
raises that follow pitch accents more than chance; gaze in fixations and saccades; the
per-sequence identity."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import signal
from test_teacher_support import QUIET_STYLE, make_utterance

from meshtalk_blender.core.face import ARKIT_INDEX, build_head
from meshtalk_blender.core.prosody import pitch_accents
from meshtalk_blender.training.speech.utterance import Phoneme, Utterance
from meshtalk_blender.training.teacher.animate import animate
from meshtalk_blender.training.teacher.prosody import pitch_semitones
from meshtalk_blender.training.teacher.sequence import teacher_sequence
from meshtalk_blender.training.teacher.style import draw_style


def _long_conversation(minutes: float, seed: int = 0) -> Utterance:
    """Phrases of 1.5-6 s of alternating vowels and consonants, pauses of 0.3-1.5 s;
    silent audio (blinks do not listen)."""
    rng = np.random.default_rng(seed)
    phonemes, time = [Phoneme("sil", 0.0, 0.4)], 0.4
    while time < minutes * 60:
        end = time + rng.uniform(1.5, 6.0)
        while time < end:
            symbol = str(rng.choice(["a", "t", "i", "m", "o", "s", "e", "k"]))
            length = rng.uniform(0.06, 0.15)
            phonemes.append(Phoneme(symbol, time, time + length))
            time += length
        pause = rng.uniform(0.3, 1.5)
        phonemes.append(Phoneme("sil", time, time + pause))
        time += pause
    audio = np.zeros(int(time * 16000), np.float32)
    phonemes[-1] = Phoneme("sil", phonemes[-1].start, len(audio) / 16000)
    return Utterance(audio, phonemes, [], "", "test-voice", "xx", seed)


def test_blink_rate_timing_and_shape_over_ten_minutes():
    utterance = _long_conversation(10.0)
    style = dataclasses.replace(QUIET_STYLE, blink_rate=21.0)
    animation = animate(utterance, seed=3, style=style)
    blinks = animation.blinks
    minutes = utterance.duration / 60
    assert 0.8 * 21.0 < len(blinks) / minutes < 1.2 * 21.0

    durations = np.array([b.duration for b in blinks])
    assert durations.min() >= 0.08 and durations.max() <= 0.9
    assert 0.2 < np.median(durations) < 0.5
    closing, opening = np.array([b.close for b in blinks]), np.array([b.open for b in blinks])
    assert np.all(closing < opening)
    assert 1.5 < np.median(opening / closing) < 2.3  # closing 40-47 % faster
    incomplete = np.mean([b.amplitude < 1.0 for b in blinks])
    assert 0.1 < incomplete < 0.35

    # The frames show the same: as many lid closures, rising faster than they fall.
    lid = animation.arkit[:, ARKIT_INDEX["eyeBlinkLeft"]]
    peaks, _ = signal.find_peaks(lid, height=0.3, distance=5)
    assert abs(len(peaks) - len(blinks)) <= 0.1 * len(blinks)
    rises, falls = [], []
    for peak in peaks:
        start = peak
        while start > 0 and lid[start - 1] > 0.05:
            start -= 1
        end = peak
        while end + 1 < len(lid) and lid[end + 1] > 0.05:
            end += 1
        rises.append(peak - start)
        falls.append(end - peak)
    assert np.mean(rises) + 1.0 < np.mean(falls)

    # More blinks per minute in pauses than while speaking.
    speaking = np.zeros(len(animation.frame_times), bool)
    for p in utterance.phonemes:
        if p.symbol != "sil":
            speaking[int(np.ceil(p.start * 30)):int(np.ceil(p.end * 30))] = True
    onsets = np.array([min(int(b.onset * 30), len(speaking) - 1) for b in blinks])
    pause_rate = np.sum(~speaking[onsets]) / np.sum(~speaking)
    speech_rate = np.sum(speaking[onsets]) / np.sum(speaking)
    assert pause_rate > 1.5 * speech_rate


def test_blink_rates_across_speakers_are_log_normal_in_the_conversation_range():
    rates = np.array([draw_style(np.random.default_rng(seed)).blink_rate for seed in range(3000)])
    assert 19.0 < np.median(rates) < 23.0
    low, high = np.percentile(rates, [2.5, 97.5])
    assert 10.0 < low and high < 40.0
    assert abs(np.mean(np.log(rates)) - np.log(np.median(rates))) < 0.03  # symmetric in log


def _accented_speech(rise_semitones: float, rise_times: np.ndarray, duration: float = 60.0) -> Utterance:
    """A minute of vowels (with a pause every ~4 s) whose pitch rises by
    ``rise_semitones`` over 0.2 s at each of ``rise_times`` and falls back over 0.3 s."""
    plan, time, cycle = [("sil", 0.5)], 0.5, 0
    vowels = ["a", "ə", "i", "o", "e"]
    while time < duration - 1.0:
        if cycle % 26 == 25:
            plan.append(("sil", 0.4))
            time += 0.4
        else:
            plan.append((vowels[cycle % len(vowels)], 0.15))
            time += 0.15
        cycle += 1
    plan.append(("sil", duration - time))

    def f0(times):
        semitones = np.zeros_like(times)
        for start in rise_times:
            up = np.clip((times - start) / 0.2, 0, 1)
            down = np.clip((times - start - 0.25) / 0.3, 0, 1)
            semitones += rise_semitones * (up - down)
        return 110.0 * 2 ** (semitones / 12)

    return make_utterance(plan, f0=f0)


def test_pitch_accents_are_found_where_f0_rises():
    rise_times = np.sort(np.random.default_rng(0).choice(np.arange(2.0, 57.0, 2.7), 15, replace=False))
    utterance = _accented_speech(5.0, rise_times)
    accents = pitch_accents(*pitch_semitones(utterance.audio, utterance.phonemes))
    peaks = np.array([a.peak for a in accents])
    true_peaks = rise_times + 0.22
    found = [np.min(np.abs(peaks - t)) < 0.15 for t in true_peaks]
    assert np.mean(found) >= 0.8
    spurious = [np.min(np.abs(true_peaks - p)) > 0.3 for p in peaks]
    assert np.sum(spurious) <= 3
    flat = _accented_speech(0.0, rise_times)
    assert len(pitch_accents(*pitch_semitones(flat.audio, flat.phonemes))) <= 2


def test_brow_raises_follow_f0_rises_more_than_chance():
    rise_times = np.sort(np.random.default_rng(1).choice(np.arange(2.0, 57.0, 2.7), 15, replace=False))
    accented = _accented_speech(6.0, rise_times)
    flat = _accented_speech(0.0, rise_times)
    style = dataclasses.replace(QUIET_STYLE, accent_follow=0.7)
    near = np.zeros(len(np.arange(0, accented.duration, 1 / 30)) + 1, bool)
    times = np.arange(len(near)) / 30
    for start in rise_times:
        near |= (times > start - 0.3) & (times < start + 0.7)
    inside, outside, flat_inside = [], [], []
    for seed in range(8):
        brow = animate(accented, seed, style).arkit[:, ARKIT_INDEX["browInnerUp"]]
        window = near[:len(brow)]
        inside.append(brow[window].mean())
        outside.append(brow[~window].mean())
        flat_inside.append(animate(flat, seed, style).arkit[:len(brow), ARKIT_INDEX["browInnerUp"]][window].mean())
    assert np.mean(inside) > 2.0 * np.mean(outside)
    assert np.mean(inside) > 2.0 * np.mean(flat_inside)  # the same windows without the rises
    events = animate(accented, 0, style).brow_events
    accent_raises = [e for e in events if e.kind == "accent"]
    assert len(accent_raises) >= 5
    assert all(e.onset < e.peak for e in accent_raises)


def test_gaze_fixates_and_jumps():
    utterance = _long_conversation(2.0, seed=4)
    arkit = animate(utterance, seed=4, style=QUIET_STYLE).arkit
    turn = arkit[:, ARKIT_INDEX["eyeLookOutLeft"]] - arkit[:, ARKIT_INDEX["eyeLookInLeft"]]
    # Both eyes turn together (the listener is far away).
    np.testing.assert_allclose(turn, arkit[:, ARKIT_INDEX["eyeLookInRight"]] - arkit[:, ARKIT_INDEX["eyeLookOutRight"]])
    moving = np.abs(np.diff(turn)) > 0.01
    assert 0.02 < moving.mean() < 0.2  # mostly still, sometimes moving
    assert np.degrees(np.abs(turn).max() * np.radians(28.0)) < 16.0
    assert np.std(turn) > 0.05  # the eyes are not dead


def test_each_sequence_has_its_own_identity():
    utterance = make_utterance([("sil", 0.3), ("m", 0.08), ("a", 0.2), ("sil", 0.3)])
    first, second = teacher_sequence(utterance, 1), teacher_sequence(utterance, 2)
    assert first.identity != second.identity
    np.testing.assert_allclose(first.template, build_head(first.identity).vertices)
    assert first.vertices.shape == (len(first.animation.arkit), len(first.template), 3)
    assert np.abs(first.template - second.template).max() > 0.002
