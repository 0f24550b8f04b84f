"""Seconds of speech synthesised per wall-clock second, per engine and for a mixed corpus.

    .venv/bin/python bench/speech_throughput.py [--seconds 60] [--workers 2]

Per engine: one process, voices of that engine in turn, seeded scripts, until at
least ``--seconds`` of speech. Mixed: every voice in the catalogue in turn on a pool of
``--workers`` processes (start-up included), then the time a 2-hour corpus would take.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshtalk_blender.training.speech import parallel, voices  # noqa: E402


def engine_speed(engine: str, seconds: float) -> tuple[float, float]:
    """(speech seconds, wall seconds) for one engine in this process, after a warm-up."""
    ids = [v.id for v in voices.all_voices() if v.card.engine == engine]
    for voice_id in ids:  # load models and libraries before timing
        parallel.synthesize_job(parallel.SynthesisJob(voice_id, 0))
    speech, started = 0.0, time.perf_counter()
    for seed, voice_id in zip(itertools.count(1), itertools.cycle(ids)):
        speech += parallel.synthesize_job(parallel.SynthesisJob(voice_id, seed)).duration
        if speech >= seconds:
            break
    return speech, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="speech per engine")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mixed-jobs", type=int, default=0, help="0: one per voice, twice")
    arguments = parser.parse_args()
    engines = sorted({v.card.engine for v in voices.all_voices()})
    print(f"{'engine':10s} {'speech s':>9s} {'wall s':>7s} {'x real time':>12s}")
    rates = {}
    for engine in engines:
        speech, wall = engine_speed(engine, arguments.seconds)
        rates[engine] = speech / wall
        print(f"{engine:10s} {speech:9.1f} {wall:7.1f} {speech / wall:12.1f}")
    ids = voices.voice_ids()
    count = arguments.mixed_jobs or 2 * len(ids)
    jobs = [parallel.SynthesisJob(ids[i % len(ids)], 1000 + i) for i in range(count)]
    started = time.perf_counter()
    speech = sum(u.duration for u in parallel.synthesize_many(jobs, arguments.workers))
    wall = time.perf_counter() - started
    print(f"mixed corpus, every voice equally often, {arguments.workers} workers: "
          f"{speech:.0f} s speech in {wall:.1f} s = {speech / wall:.1f}x real time; "
          f"2 hours would take {7200 / (speech / wall) / 60:.1f} min")


if __name__ == "__main__":
    main()
