"""How fully the bundled model's blinks close, before and after core/blinks.py.

    .venv/bin/python bench/blink_report.py AUDIO [AUDIO ...] [--seeds 3]

For each file and seed: animate with the bundled model, solve the 52 ARKit weights as
the add-on does, find the blinks (eyes' mean eyeBlink peaks) and print their rate and
how many peak at >= 0.95, from the solve alone and after `complete_blinks`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshtalk_blender.blender.model_source import BUNDLED_MODEL_DIR  # noqa: E402
from meshtalk_blender.core import audio, pipeline  # noqa: E402
from meshtalk_blender.core.blinks import blink_peaks, complete_blinks  # noqa: E402
from meshtalk_blender.core.checkpoints import load_model  # noqa: E402
from meshtalk_blender.core.face import ARKIT_NAMES, arkit_deltas, load_bundled_head  # noqa: E402
from meshtalk_blender.core.retarget import BlendshapeSolver  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("audio", nargs="+", type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    head = load_bundled_head()
    deltas = arkit_deltas(head)
    loaded = load_model(BUNDLED_MODEL_DIR)
    before, after, seconds = [], [], 0.0
    for path in args.audio:
        for seed in range(args.seeds):
            animation = pipeline.animate(loaded, audio.AudioClip(path), pipeline.AnimateOptions(seed=seed, device="cpu"))
            weights = BlendshapeSolver(deltas, ARKIT_NAMES).solve(animation.vertices - head.vertices)
            before += blink_peaks(weights, ARKIT_NAMES, animation.fps).tolist()
            after += blink_peaks(complete_blinks(weights, ARKIT_NAMES, animation.fps), ARKIT_NAMES, animation.fps).tolist()
            seconds += len(weights) / animation.fps
    before, after = np.array(before), np.array(after)
    print(f"{len(args.audio)} files x {args.seeds} seeds, {seconds:.0f} s: {len(before)} blinks "
          f"({len(before) / seconds * 60:.1f} a minute)")
    for label, peaks in (("model's solve", before), ("completed", after)):
        print(f"  {label:14s} peaks >= 0.95: {np.mean(peaks >= 0.95) * 100:5.1f} %   median peak {np.median(peaks):.2f}")
    print(f"  half blinks kept: {np.round(np.sort(after[after < 0.95]), 2).tolist()}")


if __name__ == "__main__":
    main()
