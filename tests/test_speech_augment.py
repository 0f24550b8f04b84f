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
    # The phase vocoder (keep_pitch) smears edges by up to half its 128 ms window.
    margin = 0.07 if keep_pitch else 0.015
    loud = _energy_inside(fast, new_phonemes, "a", margin)
    quiet = _energy_inside(fast, new_phonemes, "sil", margin)
    assert quiet < 0.01 * loud
    # The old timings would be wrong: silences would hold tone energy.
    wrong = [Phoneme(p.symbol, p.start, min(p.end, duration)) for p in phonemes if p.start < duration]
    assert _energy_inside(fast, wrong, "sil", margin) > 10 * quiet


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
