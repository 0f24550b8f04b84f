"""Synthesise many utterances on several processes.

A job is (voice id, seed): the seed picks the script (``textgen.make_script`` in the
voice's language) and the voice's prosody, so a job list fully describes its corpus and
any job can be redone alone. espeak-ng and the ONNX voices keep per-process state, so
workers are started fresh ("spawn") and each loads what it uses once.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import NamedTuple

from .textgen import make_script
from .utterance import Utterance
from .voices import get_voice


class SynthesisJob(NamedTuple):
    voice_id: str
    seed: int


def synthesize_job(job: SynthesisJob) -> Utterance:
    """Speak the seeded script for ``job`` with its voice (same job -> same utterance)."""
    voice = get_voice(job.voice_id)
    script = make_script(voice.language, job.seed)
    utterance = voice.synth_phrases(list(script.phrases), list(script.pauses_s), job.seed)
    utterance.meta["kinds"] = list(script.kinds)
    return utterance


def synthesize_many(jobs: list[SynthesisJob], workers: int = 2) -> Iterator[Utterance]:
    """Utterances for ``jobs``, in job order; ``workers`` <= 1 runs in this process."""
    if workers <= 1:
        for job in jobs:
            yield synthesize_job(job)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as executor:
        yield from executor.map(synthesize_job, jobs, chunksize=2)
