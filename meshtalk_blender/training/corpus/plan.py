"""Which utterances a corpus holds: a seeded, endless list of jobs.

Job i is fully described by (corpus seed, i): its split, voice, sequence seed and
whether its audio is augmented. A corpus of any size is a prefix of this list, so a
bigger corpus with the same seed contains the smaller one, and any job can be redone
alone.

Every ``1 / validation_fraction``-th job is a validation job and speaks with a voice
held out from training (speech.split: whole voices and the whole Italian language);
the others use training voices only. Within a split, the engine family is drawn first
(weights below: the measurement in synthetic-to-real.md found voice variety worth more
than naturalness, and the neural voices are the slowest), then a voice of that family.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..speech.split import split_voices
from ..speech.voices import all_voices

ENGINE_WEIGHTS = {"espeak-ng": 0.45, "festival": 0.32, "piper": 0.15, "kokoro": 0.08}
TRAIN, VALIDATION = "train", "validation"


class CorpusJob(NamedTuple):
    index: int
    split: str
    voice_id: str
    seed: int  # the sequence seed: script, prosody, augmentation, teacher, identity
    augment: bool


def sequence_seed(corpus_seed: int, index: int) -> int:
    """A 31-bit seed for job ``index`` of the corpus with ``corpus_seed``."""
    return int(np.random.SeedSequence([int(corpus_seed), int(index)]).generate_state(1)[0] >> 1)


def is_validation_index(index: int, validation_fraction: float) -> bool:
    """Spreads validation jobs evenly: job i is one when floor((i + 1) f) > floor(i f)."""
    return int(np.floor((index + 1) * validation_fraction)) > int(np.floor(index * validation_fraction))


class VoicePool:
    """The voices of each split grouped by engine, from the catalogue on this machine
    (or ``voices``), optionally only those of some ``engines`` ('espeak-ng', ...)."""

    def __init__(self, voices=None, engines: tuple[str, ...] | None = None):
        voices = all_voices() if voices is None else voices
        if engines is not None:
            unknown = set(engines) - {voice.card.engine for voice in voices}
            if unknown:
                raise ValueError(f"no voices of engine(s) {sorted(unknown)} on this machine")
            voices = [voice for voice in voices if voice.card.engine in engines]
        train_ids, validation_ids = split_voices(voices)
        engine_of = {voice.id: voice.card.engine for voice in voices}
        self.engine_of = engine_of
        self.by_split: dict[str, dict[str, list[str]]] = {}
        for split, ids in ((TRAIN, train_ids), (VALIDATION, validation_ids)):
            families: dict[str, list[str]] = {}
            for voice_id in ids:
                families.setdefault(engine_of[voice_id], []).append(voice_id)
            self.by_split[split] = families
        if not self.by_split[TRAIN] or not self.by_split[VALIDATION]:
            raise ValueError("need voices for both training and validation (is espeak-ng installed? "
                             "does the engine choice hold out any voice?)")

    def draw(self, split: str, rng: np.random.Generator) -> str:
        families = self.by_split[split]
        engines = sorted(families)
        weights = np.array([ENGINE_WEIGHTS.get(engine, 0.1) for engine in engines])
        engine = engines[int(rng.choice(len(engines), p=weights / weights.sum()))]
        return families[engine][int(rng.integers(len(families[engine])))]


def corpus_job(index: int, corpus_seed: int, pool: VoicePool, validation_fraction: float,
               augment_probability: float) -> CorpusJob:
    """Job ``index`` of the corpus with ``corpus_seed``."""
    rng = np.random.default_rng([int(corpus_seed), int(index), 7])
    split = VALIDATION if is_validation_index(index, validation_fraction) else TRAIN
    voice_id = pool.draw(split, rng)
    augment = bool(rng.random() < augment_probability)
    return CorpusJob(index, split, voice_id, sequence_seed(corpus_seed, index), augment)
