"""Augmentation: timings follow a speed change; the other transforms keep time."""
import numpy as np
import pytest

from meshtalk_blender.training.speech import augment
from meshtalk_blender.training.speech.utterance import SAMPLE_RATE, Phoneme, Utterance, Word, check_tiling


def _bursts():
    """Tone bursts at known times, labelled 'a', with silence 'sil' between: (audio, phonemes)."""
    edges = [0.0, 0.3, 0.55, 0.9, 1.0, 1.4, 1.75, 2.1]
    audio = np.zeros(int(edges[-1] * SAMPLE_RATE), np.float32)
    phonemes = []
    for index, (start, end) in enumerate(zip(edges, edges[1:])):
        loud = index % 2 == 1
        if loud:
            t = np.arange(int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)) / SAMPLE_RATE
            audio[int(start * SAMPLE_RATE): int(start * SAMPLE_RATE) + len(t)] = 0.5 * np.sin(2 * np.pi * 220 * t)
        phonemes.append(Phoneme("a" if loud else "sil", start, end))
    return audio, phonemes


def _energy_inside(audio, phonemes, symbol, margin=0.015):
    total = 0.0
    for p in phonemes:
        if p.symbol == symbol:
            piece = audio[int((p.start + margin) * SAMPLE_RATE): int((p.end - margin) * SAMPLE_RATE)]
            total += float(np.sum(piece**2))
    return total


@pytest.mark.parametrize("factor", [0.88, 1.12])
@pytest.mark.parametrize("keep_pitch", [False, True])
def test_speed_change_moves_timings_with_the_sound(factor, keep_pitch):
    audio, phonemes = _bursts()
    words = [Word("x", 0.3, 0.55)]
    fast, new_phonemes, new_words = augment.change_speed(audio, phonemes, words, factor, keep_pitch)
    duration = len(fast) / SAMPLE_RATE
    assert duration == pytest.approx(len(audio) / SAMPLE_RATE / factor, abs=0.01)
    check_tiling(new_phonemes, duration)
    assert new_words[0].start == pytest.approx(0.3 / factor, abs=1e-3)
    # Nearly all energy is inside the (rescaled) 'a' segments, none in the silences.
    margin = 0.015
    loud = _energy_inside(fast, new_phonemes, "a", margin)
    quiet = _energy_inside(fast, new_phonemes, "sil", margin)
    assert quiet < 0.01 * loud
    # The old timings would be wrong: silences would hold tone energy.
    wrong = [Phoneme(p.symbol, p.start, min(p.end, duration)) for p in phonemes if p.start < duration]
    assert _energy_inside(fast, wrong, "sil", margin) > 10 * quiet


def _closure_between_vowels(gap_s: float = 0.07):
    """A 200 Hz vowel-like tone, a silent gap as long as a lip closure, the tone again:
    (audio, (first, stop) sample range of the gap)."""
    t = np.arange(int(0.3 * SAMPLE_RATE)) / SAMPLE_RATE
    vowel = (0.3 * np.sin(2 * np.pi * 200 * t) + 0.1 * np.sin(2 * np.pi * 600 * t)).astype(np.float32)
    gap = np.zeros(int(gap_s * SAMPLE_RATE), np.float32)
    return np.concatenate([vowel, gap, vowel]), (len(vowel), len(vowel) + len(gap))


@pytest.mark.parametrize("transform", ["pitch", "stretch"])
def test_phase_vocoder_keeps_a_closure_silent(transform):
    """The silence of a p/b/m is what a listener and the detector hear it by: the
    vocoder's frame must be short enough not to fill 70 ms with the vowels around it
    (librosa's default, 128 ms at 16 kHz, did)."""
    audio, (first, stop) = _closure_between_vowels()
    if transform == "pitch":
        changed = augment.shift_pitch(audio, 3.0)
    else:
        changed, _, _ = augment.change_speed(audio, [], [], 0.9, keep_pitch=True)
        first, stop = round(first / 0.9), round(stop / 0.9)
    inside = changed[first + int(0.015 * SAMPLE_RATE): stop - int(0.015 * SAMPLE_RATE)]
    vowel = changed[int(0.05 * SAMPLE_RATE): first - int(0.05 * SAMPLE_RATE)]
    assert 10 * np.log10(np.mean(inside**2) / np.mean(vowel**2)) < -30


def test_other_transforms_keep_length_and_timing():
    audio, phonemes = _bursts()
    rng = np.random.default_rng(0)
    for transformed in (
        augment.shift_pitch(audio, 3.0),
        augment.add_reverb(audio, 0.4, 5.0, rng),
        augment.band_limit(audio, 300, 3400),
        augment.random_eq(audio, rng),
    ):
        assert transformed.shape == audio.shape and transformed.dtype == np.float32
        # The first burst still starts at 0.3 s: no transform delays the sound.
        onset = np.argmax(np.abs(transformed) > 0.05) / SAMPLE_RATE
        assert onset == pytest.approx(0.3, abs=0.012)


def test_noise_reaches_the_requested_snr():
    audio, _ = _bursts()
    for snr in (5.0, 20.0):
        noisy = augment.add_noise(audio, snr, np.random.default_rng(1), "pink")
        measured = 10 * np.log10(augment.speech_power(audio) / np.mean((noisy - audio) ** 2))
        assert measured == pytest.approx(snr, abs=0.5)


def test_telephone_band_cuts_low_and_high_frequencies():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    for frequency, passes in ((100, False), (1000, True), (6000, False)):
        tone = np.sin(2 * np.pi * frequency * t).astype(np.float32)
        ratio = np.std(augment.band_limit(tone, 300, 3400)[2000:-2000]) / np.std(tone)
        assert (ratio > 0.8) if passes else (ratio < 0.3), (frequency, ratio)


def test_augment_is_seeded_and_keeps_timings_consistent():
    audio, phonemes = _bursts()
    utterance = Utterance(audio, phonemes, [], "x", "test-voice", "en", seed=0)
    results = [augment.augment(utterance, seed) for seed in (5, 5, 6)]
    assert np.array_equal(results[0].audio, results[1].audio)
    assert results[0].meta["augmentation"] == results[1].meta["augmentation"]
    assert results[0].meta["augmentation"] != results[2].meta["augmentation"] or not np.array_equal(
        results[0].audio, results[2].audio)
    for seed in range(12):
        result = augment.augment(utterance, seed)
        check_tiling(result.phonemes, result.duration)
        assert np.isfinite(result.audio).all() and np.abs(result.audio).max() <= 1.0
