"""Which voices train and which validate: whole voices, and one whole language, held out.

Validation must answer "does it work on a voice (and a language) it never heard?", so
a held-out voice contributes no utterance at all to training. Held out: every Italian
voice (espeak-ng and festival), and single voices from each engine family that has
more than one: the natural-sounding festival HTS voice slt (as in the measurement in
docs/synthetic-to-real.md), a Czech festival voice, one Kokoro voice, one whole espeak
English accent, and one espeak Spanish variant. Piper has a single voice, which trains.
"""
from __future__ import annotations

from collections.abc import Iterable

HELD_OUT_LANGUAGE = "it"
HELD_OUT_VOICES = frozenset({
    "festival-slt-hts",
    "festival-cs-machac",
    "kokoro-ja-jf_nezumi",
    "espeak-en-gb-scotland-m2",
    "espeak-en-gb-scotland-f3",
    "espeak-en-gb-scotland-klatt3",
    "espeak-es-419-f1",
})


def is_held_out(voice_id: str, language: str) -> bool:
    """True when utterances of this voice belong to validation only."""
    return language == HELD_OUT_LANGUAGE or voice_id in HELD_OUT_VOICES


def split_voices(voices: Iterable) -> tuple[list[str], list[str]]:
    """(train voice ids, validation voice ids) for objects with ``.id`` and ``.language``
    (the catalogue's voices, or their cards)."""
    train, validation = [], []
    for voice in voices:
        (validation if is_held_out(voice.id, voice.language) else train).append(voice.id)
    return train, validation


class HeldOutVoiceError(AssertionError):
    """A training set contains speech from a voice or language kept for validation."""


def assert_no_held_out(records: Iterable) -> int:
    """Raise HeldOutVoiceError if any record (an Utterance, or anything with
    ``voice_id`` and ``language``, or a dict with those keys) is held out.

    Returns the number of records checked, so a caller can also assert it saw some.
    """
    offenders: dict[str, int] = {}
    count = 0
    for record in records:
        count += 1
        if isinstance(record, dict):
            voice_id, language = record["voice_id"], record["language"]
        else:
            voice_id, language = record.voice_id, record.language
        if is_held_out(voice_id, language):
            offenders[voice_id] = offenders.get(voice_id, 0) + 1
    if offenders:
        listing = ", ".join(f"{voice} ({n})" for voice, n in sorted(offenders.items()))
        raise HeldOutVoiceError(f"training data holds validation voices: {listing}")
    return count
