"""Make one corpus sequence: speech, (maybe) augmentation, teacher animation, file.

Runs inside a worker process; returns a small record for the manifest, so only a few
hundred bytes travel back to the parent.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ...core.face import ARKIT_NAMES
from ..speech import ipa
from ..speech.augment import augment, change_speed
from ..speech.parallel import SynthesisJob
from ..speech.utterance import Utterance
from ..speech.voices import get_voice
from ..teacher.sequence import teacher_sequence
from .fresh_speech import synthesize_fresh
from .plan import CorpusJob
from .storage import StoredSequence, write_sequence


def sequence_name(job: CorpusJob) -> str:
    return f"s{job.index:06d}-{job.voice_id}"


def clean_audio_like(clean: Utterance, augmented: Utterance) -> np.ndarray:
    """The clean speech with the augmented copy's timing (only speed moves time)."""
    audio = clean.audio
    for step in augmented.meta.get("augmentation", []):
        if step["op"] == "speed":
            audio, _, _ = change_speed(audio, clean.phonemes, clean.words, step["factor"], step["keep_pitch"])
    if len(audio) != len(augmented.audio):
        raise RuntimeError(f"clean audio has {len(audio)} samples, augmented {len(augmented.audio)}")
    return audio


def make_sequence(job: CorpusJob, folder: Path) -> dict:
    """Synthesise, animate and write job's sequence under ``folder``; returns its
    manifest record (name, file, split, voice, duration, counts, timings)."""
    started = time.perf_counter()
    clean = synthesize_fresh(SynthesisJob(job.voice_id, job.seed))
    synthesised = time.perf_counter()
    heard, analysis = clean, None
    if job.augment:
        heard = augment(clean, job.seed)
        analysis = clean_audio_like(clean, heard)
    sequence = teacher_sequence(heard, job.seed, analysis_audio=analysis)
    animation = sequence.animation
    name = sequence_name(job)
    info = {
        "name": name,
        "index": job.index,
        "seed": job.seed,
        "split": job.split,
        "voice_id": job.voice_id,
        "engine": get_voice(job.voice_id).card.engine,
        "language": heard.language,
        "text": heard.text,
        "augmented": job.augment,
        "augmentation": heard.meta.get("augmentation", []),
        "prosody": clean.meta.get("prosody", {}),
        "identity": sequence.identity.as_dict(),
        "style": animation.style.as_dict(),
        "events": animation.events(),
        "arkit_names": list(ARKIT_NAMES),
        "fps": 30,
        "sample_rate": heard.sample_rate,
    }
    stored = StoredSequence(
        audio=heard.audio,
        audio_clean=analysis,
        vertices=sequence.vertices,
        template=sequence.template,
        arkit=animation.arkit,
        identity=sequence.identity.as_vector(),
        phonemes=[(p.symbol, p.start, p.end) for p in heard.phonemes],
        info=info,
    )
    relative = Path("sequences") / f"{name}.npz"
    size = write_sequence(folder / relative, stored)
    return {
        "name": name,
        "file": relative.as_posix(),
        "index": job.index,
        "split": job.split,
        "seed": job.seed,
        "voice_id": job.voice_id,
        "engine": info["engine"],
        "language": heard.language,
        "augmented": job.augment,
        "duration": heard.duration,
        "frames": int(len(animation.arkit)),
        "text": heard.text,
        "phonemes": len(heard.phonemes),
        "bilabials": sum(ipa.is_known(p.symbol) and ipa.features(p.symbol).is_bilabial for p in heard.phonemes),
        "blinks": len(animation.blinks),
        "bytes": size,
        "seconds": {"synthesis": synthesised - started, "total": time.perf_counter() - started},
    }
