"""The upper face the add-on's ARKit output gets from the bundled model: blinks, gaze,
brows, and the head motion the add-on adds.

    .venv/bin/python bench/upper_face_report.py AUDIO [AUDIO ...] [--seeds 3] [--model FOLDER] [--temperature T]

For each file and seed: animate with the bundled model, solve the 52 ARKit weights as
the add-on does, then print
- blinks (the eyes' mean eyeBlink peaks): their rate and how many peak at >= 0.95, from
  the solve alone and after core/blinks.py completes them;
- gaze (core/gaze.py, drawn for the seed from the clip's phrases): saccades a minute
  (jumps of more than 2 degrees between frames), the share of time looking more than
  3 degrees away, the largest eyeLook weight;
- brows, the model's own and with the raises core/brows.py draws on the pitch accents:
  standard deviation and largest value of browInnerUp and browOuterUpLeft, raises a
  minute (browInnerUp rising above 0.15), and the share of browInnerUp's peaks within
  0.2 s of the peak of a pitch accent of 4 semitones or more (core/prosody.py) beside the
  share of all frames that are (chance);
- head motion (core/head_motion.py, drawn for the seed from the clip's level): the
  standard deviation of pitch, yaw and roll, the largest angle, and nods a minute
  (pitch down by more than 1.5 degrees within 0.3 s).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.signal import find_peaks

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshtalk_blender.blender.model_source import BUNDLED_MODEL_DIR  # noqa: E402
from meshtalk_blender.core import audio, pipeline  # noqa: E402
from meshtalk_blender.core import brows as drawn_brows  # noqa: E402
from meshtalk_blender.core import gaze  # noqa: E402
from meshtalk_blender.core.head_motion import head_motion  # noqa: E402
from meshtalk_blender.core.pauses import clip_levels_db  # noqa: E402
from meshtalk_blender.core.blinks import blink_peaks, complete_blinks  # noqa: E402
from meshtalk_blender.core.checkpoints import load_model  # noqa: E402
from meshtalk_blender.core.face import ARKIT_INDEX, ARKIT_NAMES, arkit_deltas, load_bundled_head  # noqa: E402
from meshtalk_blender.core.retarget import BlendshapeSolver  # noqa: E402


ACCENT_REACH = 0.2  # s: a brow peak this near a large pitch accent's peak is on it
LARGE_ACCENT = 4.0  # semitones: real read speech has about two accents a second, a third of them this large


def near_accent(count: int, fps: float, accents) -> np.ndarray:
    """(count,) bool: the frames within ACCENT_REACH of a large pitch accent's peak."""
    times = np.arange(count) / fps
    near = np.zeros(count, dtype=bool)
    for accent in accents:
        if accent.rise >= LARGE_ACCENT:
            near |= np.abs(times - accent.peak) <= ACCENT_REACH
    return near


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("audio", nargs="+", type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL_DIR, help="a model folder (default: the bundled one)")
    parser.add_argument("--temperature", type=float,
                        help="the prior's sampling temperature (default: the model's own, as the add-on's)")
    args = parser.parse_args()
    head = load_bundled_head()
    deltas = arkit_deltas(head)
    loaded = load_model(args.model)
    before, after, seconds = [], [], 0.0
    saccades, away, look_max, brows, joined, heads, nods, nears = 0, [], 0.0, [], [], [], 0, []
    for path in args.audio:
        for seed in range(args.seeds):
            clip = audio.AudioClip(path)
            animation = pipeline.animate(loaded, clip, pipeline.AnimateOptions(seed=seed, device="cpu",
                                                                                    temperature=args.temperature))
            weights = BlendshapeSolver(deltas, ARKIT_NAMES).solve(animation.vertices - head.vertices)
            before += blink_peaks(weights, ARKIT_NAMES, animation.fps).tolist()
            after += blink_peaks(complete_blinks(weights, ARKIT_NAMES, animation.fps), ARKIT_NAMES, animation.fps).tolist()
            seconds += len(weights) / animation.fps
            info = audio.probe(clip)
            levels = clip_levels_db(info, len(weights), animation.fps)
            looks = gaze.clip_gaze(levels, animation.fps, seed, ARKIT_NAMES)
            turn = looks[:, ARKIT_INDEX["eyeLookOutLeft"]] - looks[:, ARKIT_INDEX["eyeLookInLeft"]]
            lift = (looks[:, ARKIT_INDEX["eyeLookUpLeft"]] * gaze.EYE_PITCH_UP
                    - looks[:, ARKIT_INDEX["eyeLookDownLeft"]] * gaze.EYE_PITCH_DOWN)
            degrees = np.degrees(np.stack([turn * gaze.EYE_YAW, lift], axis=1))
            saccades += int((np.linalg.norm(np.diff(degrees, axis=0), axis=1) > 2.0).sum())
            away += (np.linalg.norm(degrees, axis=1) > 3.0).tolist()
            look_max = max(look_max, float(looks.max()))
            columns = [ARKIT_INDEX["browInnerUp"], ARKIT_INDEX["browOuterUpLeft"]]
            brows.append(weights[:, columns])
            accents = drawn_brows.take_accents(info)
            drawn = drawn_brows.clip_brows(levels, accents, animation.fps, seed, ARKIT_NAMES)
            joined.append(drawn_brows.add_brows(weights, ARKIT_NAMES, drawn)[:, columns])
            nears.append(near_accent(len(weights), animation.fps, accents))
            heads.append(np.degrees(head_motion(levels, animation.fps, seed)))
            lag = max(1, int(0.3 * animation.fps))
            dips = heads[-1][lag:, 0] - heads[-1][:-lag, 0] > 1.5  # pitch: positive turns the face down
            nods += int((np.diff(dips.astype(int)) == 1).sum())
    before, after = np.array(before), np.array(after)
    print(f"{len(args.audio)} files x {args.seeds} seeds, {seconds:.0f} s: {len(before)} blinks "
          f"({len(before) / seconds * 60:.1f} a minute)")
    for label, peaks in (("model's solve", before), ("completed", after)):
        print(f"  {label:14s} peaks >= 0.95: {np.mean(peaks >= 0.95) * 100:5.1f} %   median peak {np.median(peaks):.2f}")
    print(f"  half blinks kept: {np.round(np.sort(after[after < 0.95]), 2).tolist()}")
    print(f"gaze: {saccades / seconds * 60:.0f} saccades a minute, looking away {np.mean(away) * 100:.0f} % of the "
          f"time, largest eyeLook weight {look_max:.2f}")
    chance = np.mean(np.concatenate(nears))
    for label, takes in (("the model's", brows), ("with drawn raises", joined)):
        values = np.concatenate(takes)
        raises = int((np.diff((values[:, 0] > 0.15).astype(int)) == 1).sum())
        peaks = np.concatenate([near[find_peaks(take[:, 0], height=0.15, prominence=0.08)[0]]
                                for near, take in zip(nears, takes)])
        print(f"brows ({label}): browInnerUp std {values[:, 0].std():.3f} max {values[:, 0].max():.2f}; "
              f"browOuterUpLeft std {values[:, 1].std():.3f} max {values[:, 1].max():.2f}; "
              f"{raises / seconds * 60:.0f} raises a minute; {peaks.mean() * 100 if peaks.size else 0:.0f} % of "
              f"{peaks.size} browInnerUp peaks within {ACCENT_REACH:g} s of a large pitch accent's peak "
              f"(chance {chance * 100:.0f} %)")
    heads = np.concatenate(heads)
    print(f"head motion: std pitch {heads[:, 0].std():.1f}, yaw {heads[:, 1].std():.1f}, roll {heads[:, 2].std():.1f} "
          f"degrees, largest {np.abs(heads).max():.1f}; {nods / seconds * 60:.0f} nods a minute")


if __name__ == "__main__":
    main()
