"""Speech for the synthetic corpus: many voices, exact phoneme timings, augmentation.

Blender-free and training-time only (none of this ships in the add-on).

- ``voices``: the catalogue; ``get_voice(id).synth(text, seed)`` -> ``Utterance``
- ``utterance``: ``Utterance`` (16 kHz float32 audio, IPA phonemes tiling it, words)
- ``ipa``: the phoneme representation and ``features(symbol)`` for viseme tables
- ``textgen``: seeded scripts (phrases + pauses) in every voice language
- ``augment``: speed (rescales timings), pitch, gain, noise, reverb, band limit, EQ
- ``split``: held-out voices and language for validation
- ``parallel``: many utterances on several processes
"""
from .utterance import SAMPLE_RATE, Phoneme, Utterance, Word

__all__ = ["SAMPLE_RATE", "Phoneme", "Utterance", "Word"]
