"""Brows drawn for a clip (core/brows.py) from its pitch accents (core/prosody.py): raises
on accents, free raises, raises in pauses, frowns; by seed; joined to the model's."""

import numpy as np
import pytest
import soundfile

from meshtalk_blender.core import audio, prosody
from meshtalk_blender.core.brows import (BROW_NAMES, TEACHER_BROW_STD, add_brows, clip_brows, draw_brow_events,
                                         drawn_share, speech_and_pauses, take_accents, take_brows)
from meshtalk_blender.core.face import ARKIT_INDEX, ARKIT_NAMES
from meshtalk_blender.core.prosody import PitchAccent

FPS = 30.0
RATE = 16000


def voice(f0: np.ndarray) -> np.ndarray:
    """(N,) a buzz with F0 `f0` (N,) Hz per sample: 10 harmonics, falling in level."""
    phase = 2.0 * np.pi * np.cumsum(f0) / RATE
    return (sum(np.sin(k * phase) / k for k in range(1, 11)) * 0.1).astype(np.float32)


def rising_voice(seconds: float = 4.0) -> tuple[np.ndarray, list[float]]:
    """(samples, times of the pitch peaks): 120 Hz with a rise to 160 Hz (5 semitones)
    peaking at 1.0 s and 2.8 s, silent from 3.3 s."""
    times = np.arange(int(seconds * RATE)) / RATE
    f0 = np.full_like(times, 120.0)
    peaks = [1.0, 2.8]
    for peak in peaks:
        rise = np.clip(1.0 - np.abs(times - peak) / 0.25, 0.0, 1.0)
        f0 += 40.0 * rise
    samples = voice(f0)
    samples[times >= 3.3] = 0.0
    return samples, peaks


def samples_for(samples: np.ndarray):
    def get(start: int, end: int) -> np.ndarray:
        out = np.zeros(end - start, dtype=np.float32)
        lo, hi = max(start, 0), min(end, len(samples))
        if hi > lo:
            out[lo - start:hi - start] = samples[lo:hi]
        return out

    return get


def test_a_rise_in_pitch_is_an_accent_and_noise_is_none():
    samples, peaks = rising_voice()
    times, semitones = prosody.clip_pitch_semitones(samples_for(samples), len(samples))
    accents = prosody.pitch_accents(times, semitones)
    assert [round(a.peak, 1) for a in accents] == peaks
    assert all(4.0 < a.rise < 5.5 and a.rise_start < a.peak for a in accents)  # 120 -> 160 Hz: 5 semitones
    assert np.isnan(semitones[times > 3.35]).all()  # silence is unvoiced
    noise = np.random.default_rng(0).normal(0.0, 0.1, 4 * RATE).astype(np.float32)
    assert prosody.pitch_accents(*prosody.clip_pitch_semitones(samples_for(noise), len(noise))) == []


def test_the_pitch_in_blocks_equals_the_pitch_in_one_go(monkeypatch):
    samples, _ = rising_voice()
    whole = prosody.clip_pitch_semitones(samples_for(samples), len(samples))
    monkeypatch.setattr(prosody, "BLOCK_SECONDS", 0.7)  # 6 blocks, joins in the rises
    blocks = prosody.clip_pitch_semitones(samples_for(samples), len(samples))
    np.testing.assert_array_equal(blocks[0], whole[0])
    np.testing.assert_allclose(blocks[1], whole[1], atol=1e-9)


def test_raises_come_with_accents_and_in_pauses_frowns_are_rare():
    speaking, pauses = [(0.0, 50.0)], [(50.0, 60.0)]
    accents = [PitchAccent(t, t + 0.2, 6.0) for t in np.arange(1.0, 49.0, 2.0)]  # big rises every 2 s
    events = [e for seed in range(10)
              for e in draw_brow_events(np.random.default_rng(seed), accents, speaking, pauses, 60.0)]
    kinds = [e.kind for e in events]
    assert kinds.count("accent") > kinds.count("free") > 0 and kinds.count("pause") > 0
    assert 0 < kinds.count("frown") < 0.1 * len(events)
    for event in events:
        if event.kind == "accent":  # starts a little before the rise, peaks near the accent's peak
            accent = min(accents, key=lambda a: abs(a.rise_start - event.onset))
            assert accent.rise_start - 0.2 <= event.onset < accent.rise_start
            assert abs(event.peak - accent.peak) < 0.25
        if event.kind == "pause":
            assert 50.0 <= event.onset < 60.0


def test_clip_brows_fill_only_brow_columns_by_seed():
    levels = np.where((np.arange(900) / FPS % 5.0) < 4.0, -20.0, -70.0)  # 30 s, a 1 s pause every 5 s
    speaking, pauses = speech_and_pauses(levels, FPS)
    assert pauses[0] == pytest.approx((4.0, 5.0), abs=1.0 / FPS) and speaking[0] == (0.0, pauses[0][0])
    accents = [PitchAccent(t, t + 0.15, 4.0) for t in np.arange(0.5, 29.0, 1.3)]
    weights = clip_brows(levels, accents, FPS, 3, ARKIT_NAMES)
    assert weights.shape == (900, 52) and weights.dtype == np.float32
    others = [i for i, name in enumerate(ARKIT_NAMES) if name not in BROW_NAMES]
    assert not weights[:, others].any() and 0.0 <= weights.min() and weights.max() <= 1.0
    inner = weights[:, ARKIT_INDEX["browInnerUp"]]
    assert inner.max() > 0.3 and 0.03 < inner.std() < 0.3  # raises a few mm high, not a constant lift
    np.testing.assert_array_equal(weights, clip_brows(levels, accents, FPS, 3, ARKIT_NAMES))
    assert np.abs(weights - clip_brows(levels, accents, FPS, 4, ARKIT_NAMES)).max() > 0.1
    subset = clip_brows(levels, accents, FPS, 3, ["jawOpen", "browInnerUp"])
    np.testing.assert_array_equal(subset[:, 1], inner)
    assert not subset[:, 0].any()


def test_drawn_brows_join_the_models_without_passing_one():
    names = ["jawOpen", "browInnerUp", "browDownLeft"]
    model = np.array([[0.5, 0.1, 0.0], [0.5, 0.1, 0.9], [0.5, 0.1, 0.2]], dtype=np.float32)  # brows still
    drawn = np.array([[0.9, 0.5, 0.0], [0.0, 0.8, 0.9], [0.0, 0.0, 0.0]], dtype=np.float32)
    joined = add_brows(model, names, drawn)
    np.testing.assert_array_equal(joined[:, 0], model[:, 0])  # not a brow: untouched
    np.testing.assert_allclose(joined[:, 1], [0.55, 0.82, 0.1], atol=1e-6)
    assert joined.max() <= 1.0 and np.all(joined[:, 1:] >= np.maximum(model[:, 1:], drawn[:, 1:]) - 1e-6)


def test_a_model_that_moves_its_own_brows_gets_fewer_drawn_ones():
    """Drawn raises fill in for a model whose brows are still; one whose browInnerUp moves
    as much as the teacher's gets none on top, and one half as much half of them."""
    names = ["jawOpen", "browInnerUp"]
    t = np.arange(300) / 30.0
    drawn = np.zeros((300, 2), dtype=np.float32)
    drawn[:, 1] = 0.6 * (np.sin(2 * np.pi * 0.4 * t) > 0.8)
    for own_std, share in ((0.0, 1.0), (TEACHER_BROW_STD / 2, 0.5), (TEACHER_BROW_STD, 0.0), (0.3, 0.0)):
        model = np.zeros((300, 2), dtype=np.float32)
        wave = np.sin(2 * np.pi * 0.25 * t)
        model[:, 1] = 0.3 + own_std * wave / wave.std()
        assert drawn_share(model, names) == pytest.approx(share, abs=1e-3)
        joined = add_brows(model, names, drawn)
        expected = 1.0 - (1.0 - np.clip(model[:, 1], 0.0, 1.0)) * (1.0 - share * drawn[:, 1])
        np.testing.assert_allclose(joined[:, 1], expected, atol=1e-3)


def test_a_takes_brows_from_its_audio_file(tmp_path):
    samples, peaks = rising_voice()
    path = tmp_path / "line.wav"
    soundfile.write(path, samples, RATE)
    info = audio.probe(audio.AudioClip(path))
    accents = take_accents(info)
    assert len(accents) == 2 and all(abs(a.peak - p) < 0.05 for a, p in zip(accents, peaks))
    raised = [take_brows(info, 120, FPS, seed, ["browInnerUp"])[:, 0] for seed in range(12)]
    assert max(r.max() for r in raised) > 0.2  # some seeds raise the brows on the accents
