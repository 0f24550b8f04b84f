"""The corpus manifest (``manifest.json``): what a corpus folder holds.

Top level: format, version, request (size, seed, fractions), fps, sample_rate,
vertex_count, arkit_names, identity_fields, held_out (language and voices kept for
validation), totals per split, generation (workers, wall time, throughput), and
``sequences``: one record per sequence with name, file (relative path), index, split,
seed, voice_id, engine, language, augmented, duration (s), frames, text, phonemes
(count), bilabials (count), blinks (count), bytes and worker timings.
"""
from __future__ import annotations

import json
from pathlib import Path

MANIFEST_NAME = "manifest.json"
SPLITS = ("train", "validation")


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: not a corpus folder, or its generation did not finish")
    return json.loads(path.read_text())


def corpus_totals(records: list[dict]) -> dict:
    """Per split and overall: sequences, hours, voices, languages."""
    totals = {}
    for split in (*SPLITS, "all"):
        chosen = [r for r in records if split == "all" or r["split"] == split]
        totals[split] = {
            "sequences": len(chosen),
            "hours": sum(r["duration"] for r in chosen) / 3600.0,
            "voices": len({r["voice_id"] for r in chosen}),
            "languages": sorted({r["language"] for r in chosen}),
        }
    return totals
