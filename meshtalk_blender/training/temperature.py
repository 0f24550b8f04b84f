"""The sampling temperature a trained model is used at by default, measured rather than
guessed, and stored with it (config.json "temperature"; ``LoadedModel.temperature``).

How lively a model's upper face is at a given temperature depends on how it was trained:
the bundled model of 2cdd290 blinked 23 times a minute at 0.6 and 41 at 1, a model of the
same recipe trained on real speech as well 5.6 at 0.6 and 27 at 1 (MODEL_CARD.md). So the
recipe samples the held-out sequences at a few temperatures and keeps the one whose blink
rate comes nearest the teacher's on the same sequences (the teacher blinks as people do,
~21 a minute; ../shared/docs/face-motion-facts.md). The lips do not depend on it: the mouth
heads are sharpened, and the lip lock gives every seed the same lips.

    python -m meshtalk_blender.training.temperature --model runs/bundled/model \\
        --corpus /work/corpus [--real-corpus /work/corpus_real]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.checkpoints import CONFIG_FILE, store_temperature
from .dataset import Sequence
from .evaluate import Evaluator

# From the add-on's former default to a little past the paper's 1.
CANDIDATES = (0.6, 0.8, 1.0, 1.2)


def blink_rates(evaluator: Evaluator, sequences: list[Sequence], temperatures=CANDIDATES,
                seed: int = 0) -> dict[str, float]:
    """Blinks a minute of the model's output over ``sequences`` at each temperature
    ({"0.6": rate, ...}) and of the teacher's faces ("teacher"). Only the upper face
    matters: the lip contacts, the pause rest and the lip lock are off (faster)."""
    minutes = sum(s.num_frames for s in sequences) / 30.0 / 60.0
    rates = {"teacher": sum(evaluator.scores(s.vertices, s)["blinks"] for s in sequences) / minutes}
    for temperature in temperatures:
        evaluator.temperature = temperature
        count = sum(evaluator.scores(evaluator.animate(s, seed, seal_lips=False, rest_in_pauses=False,
                                                       lock_lips=False).vertices, s)["blinks"]
                    for s in sequences)
        rates[f"{temperature:g}"] = count / minutes
        print(f"temperature {temperature:g}: {rates[f'{temperature:g}']:.1f} blinks a minute "
              f"(teacher {rates['teacher']:.1f})", flush=True)
    return rates


def nearest_to_teacher(rates: dict[str, float]) -> float:
    """The temperature whose blink rate is nearest the teacher's (the lower one on a tie)."""
    teacher = rates["teacher"]
    candidates = sorted(float(key) for key in rates if key != "teacher")
    return min(candidates, key=lambda t: abs(rates[f"{t:g}"] - teacher))


def calibrate(model_dir: Path, sequences: list[Sequence], device: str = "auto") -> float:
    """Measures the model folder's blink rates on ``sequences`` (held out from training),
    stores the chosen temperature in its config.json (with the rates, in the metadata)
    and returns it."""
    rates = blink_rates(Evaluator(model_dir, device), sequences)
    chosen = nearest_to_teacher(rates)
    store_temperature(model_dir, chosen, {k: round(v, 2) for k, v in rates.items()})
    print(f"temperature {chosen:g} stored in {Path(model_dir) / CONFIG_FILE}", flush=True)
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshtalk_blender.training.temperature",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a trained model folder (its config.json is updated)")
    parser.add_argument("--corpus", type=Path, required=True, help="the synthetic corpus (its validation split)")
    parser.add_argument("--real-corpus", type=Path, action="append", default=[],
                        help="a training.real_corpus folder whose validation split counts too (repeatable)")
    parser.add_argument("--limit", type=int, help="only the first N sequences of each split")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    from .bundled import held_out_sequences  # which imports this module

    calibrate(args.model, held_out_sequences(args.corpus, tuple(args.real_corpus), args.limit), args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
