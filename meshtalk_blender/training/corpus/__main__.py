"""Command line: ``python -m meshtalk_blender.training.corpus --out DIR --minutes 10``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .generate import CorpusRequest, generate_corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshtalk_blender.training.corpus",
                                     description="Generate the synthetic talking-face corpus.")
    parser.add_argument("--out", type=Path, required=True, help="corpus folder (created if missing)")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--minutes", type=float, help="minutes of speech (both splits together)")
    size.add_argument("--hours", type=float, help="hours of speech (both splits together)")
    size.add_argument("--utterances", type=int, help="number of utterances")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (1: run in this one)")
    parser.add_argument("--validation-fraction", type=float, default=0.1,
                        help="share of utterances spoken by held-out voices")
    parser.add_argument("--augment-probability", type=float, default=0.5,
                        help="share of utterances whose audio is augmented (noise, reverb, ...)")
    parser.add_argument("--engines", type=lambda text: tuple(text.split(",")), default=None,
                        help="only voices of these engines, comma-separated (espeak-ng,festival,piper,kokoro)")
    parser.add_argument("--overwrite", action="store_true", help="replace a corpus already in --out")
    args = parser.parse_args(argv)
    minutes = args.hours * 60.0 if args.hours is not None else args.minutes
    try:
        request = CorpusRequest(minutes=minutes, utterances=args.utterances, seed=args.seed,
                                validation_fraction=args.validation_fraction,
                                augment_probability=args.augment_probability, engines=args.engines)
        manifest = generate_corpus(args.out, request, workers=args.workers, overwrite=args.overwrite)
    except (ValueError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    totals, generation = manifest["totals"], manifest["generation"]
    for split in ("train", "validation"):
        t = totals[split]
        print(f"{split}: {t['sequences']} sequences, {t['hours'] * 60:.1f} min, {t['voices']} voices, "
              f"languages {', '.join(t['languages'])}")
    print(f"wall time {generation['wall_seconds']:.0f} s, "
          f"{generation['speech_seconds_per_wall_second']:.2f} s of speech per second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
