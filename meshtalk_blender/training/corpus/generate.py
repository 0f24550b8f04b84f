"""Generate a corpus: run the jobs of ``plan`` on worker processes until the requested
size is reached, then write the manifest.

The corpus is the shortest prefix of the seeded job list that reaches the requested
minutes of speech (or exactly the requested number of utterances). Workers finish jobs
out of order, so jobs past the prefix may already be done when it is known; their files
are removed. The result does not depend on the number of workers.

The manifest is written last (atomically): a folder without ``manifest.json`` is an
interrupted run, never a corpus.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ...core.face import ARKIT_NAMES, load_bundled_head
from ...core.face.identity import SPANS
from ..speech.augment import change_speed, shift_pitch
from ..speech.split import HELD_OUT_LANGUAGE, HELD_OUT_VOICES, assert_no_held_out
from .manifest import MANIFEST_NAME, corpus_totals
from .plan import VoicePool, corpus_job
from .worker import make_sequence

IN_FLIGHT_PER_WORKER = 3


@dataclass(frozen=True)
class CorpusRequest:
    """How much to make: ``minutes`` of speech or a number of ``utterances`` (one of
    them), from ``seed``; the share of validation utterances and of augmented audio;
    optionally only some speech engines."""

    minutes: float | None = None
    utterances: int | None = None
    seed: int = 0
    validation_fraction: float = 0.1
    augment_probability: float = 0.5
    engines: tuple[str, ...] | None = None  # only voices of these engines (None: all)

    def __post_init__(self):
        if (self.minutes is None) == (self.utterances is None):
            raise ValueError("ask for either minutes of speech or a number of utterances")
        if self.minutes is not None and self.minutes <= 0 or self.utterances is not None and self.utterances <= 0:
            raise ValueError("the corpus size must be positive")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError("validation_fraction must be between 0 and 1")


def _prepare_folder(folder: Path, overwrite: bool) -> None:
    manifest = folder / MANIFEST_NAME
    sequences = folder / "sequences"
    if manifest.exists() or (sequences.exists() and any(sequences.iterdir())):
        if not overwrite:
            raise FileExistsError(f"{folder} already holds a corpus; pass --overwrite to replace it")
        manifest.unlink(missing_ok=True)
        shutil.rmtree(sequences, ignore_errors=True)
    sequences.mkdir(parents=True, exist_ok=True)


class _Progress:
    def __init__(self, report: Callable[[str], None], target_seconds: float | None, count: int | None):
        self.report, self.target_seconds, self.count = report, target_seconds, count
        self.started = time.perf_counter()
        self.seconds = 0.0
        self.done = 0
        self.last = 0.0

    def add(self, record: dict) -> None:
        self.done += 1
        self.seconds += record["duration"]
        now = time.perf_counter() - self.started
        if now - self.last >= 10.0 or self.done == self.count:
            self.last = now
            goal = f"/{self.target_seconds / 60:.1f}" if self.target_seconds else ""
            self.report(f"{self.done} sequences, {self.seconds / 60:.1f}{goal} min of speech, "
                        f"{now:.0f} s, {self.seconds / max(now, 1e-9):.1f} s of speech per s")


def generate_corpus(folder: Path, request: CorpusRequest, workers: int = 2, overwrite: bool = False,
                    report: Callable[[str], None] = print) -> dict:
    """Make the corpus in ``folder``; returns the manifest (also written to
    ``folder/manifest.json``). ``workers`` <= 1 runs everything in this process."""
    folder = Path(folder)
    pool = VoicePool(engines=request.engines)
    _prepare_folder(folder, overwrite)
    started = time.perf_counter()
    target_seconds = request.minutes * 60.0 if request.minutes is not None else None
    last_index = request.utterances - 1 if request.utterances is not None else None
    progress = _Progress(report, target_seconds, request.utterances)
    records: dict[int, dict] = {}

    def job(index):
        return corpus_job(index, request.seed, pool, request.validation_fraction, request.augment_probability)

    def prefix_end(covered: int, total: float) -> tuple[int, float, int | None]:
        """Extend the contiguous finished prefix; returns (covered, total, last index)."""
        while covered in records:
            total += records[covered]["duration"]
            covered += 1
            if total >= target_seconds:
                return covered, total, covered - 1
        return covered, total, None

    if workers <= 1:
        index, covered, total = 0, 0, 0.0
        while last_index is None or index <= last_index:
            records[index] = make_sequence(job(index), folder)
            progress.add(records[index])
            index += 1
            if target_seconds is not None:
                covered, total, last_index = prefix_end(covered, total)
    else:
        compile_numba_caches_once()
        context = multiprocessing.get_context("spawn")  # speech engines keep per-process state
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as executor:
            in_flight = {}
            next_index, covered, total = 0, 0, 0.0
            while True:
                while (last_index is None or next_index <= last_index) and \
                        len(in_flight) < workers * IN_FLIGHT_PER_WORKER:
                    in_flight[executor.submit(make_sequence, job(next_index), folder)] = next_index
                    next_index += 1
                if not in_flight:
                    break
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = in_flight.pop(future)
                    records[index] = future.result()
                    progress.add(records[index])
                if target_seconds is not None and last_index is None:
                    covered, total, last_index = prefix_end(covered, total)
                if last_index is not None:
                    for future, index in list(in_flight.items()):
                        if index > last_index and future.cancel():
                            del in_flight[future]
    for index in [i for i in records if i > last_index]:
        (folder / records.pop(index)["file"]).unlink(missing_ok=True)

    wall = time.perf_counter() - started
    sequences = [records[i] for i in sorted(records)]
    assert_no_held_out(record for record in sequences if record["split"] == "train")
    manifest = {
        "format": "meshtalk-blender-corpus",
        "version": 1,
        "request": asdict(request),
        "fps": 30,
        "sample_rate": 16000,
        "vertex_count": int(load_bundled_head().vertex_count),
        "arkit_names": list(ARKIT_NAMES),
        "identity_fields": list(SPANS),
        "held_out": {"language": HELD_OUT_LANGUAGE, "voices": sorted(HELD_OUT_VOICES)},
        "totals": corpus_totals(sequences),
        "generation": {
            "workers": workers,
            "wall_seconds": wall,
            "speech_seconds_per_wall_second": sum(r["duration"] for r in sequences) / wall,
        },
        "sequences": sequences,
    }
    partial = folder / (MANIFEST_NAME + ".partial")
    partial.write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    os.replace(partial, folder / MANIFEST_NAME)
    return manifest


def compile_numba_caches_once() -> None:
    """librosa's numba kernels (YIN for the teacher's pitch, the phase vocoder's overlap-add
    for augmentation) cache their machine code in site-packages. In a fresh environment
    spawned workers all compile them at once and write the same cache files concurrently;
    measured in CI: a worker crashed and a later in-process run segfaulted loading the
    mangled cache. Compiling them here first, alone, leaves the workers only reading it."""
    import librosa
    import numpy as np

    noise = np.random.default_rng(0).normal(scale=0.1, size=16000).astype(np.float32)
    librosa.yin(noise, fmin=60, fmax=400, sr=16000, frame_length=800, hop_length=160)
    change_speed(noise, [], [], 1.1, keep_pitch=True)
    shift_pitch(noise, 1.0)
