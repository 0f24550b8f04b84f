"""Sweep the mouth's post-processing (lip seal, pause rest) on real speech of training speakers.

    .venv/bin/python -m meshtalk_blender.training.seal_sweep --model meshtalk_blender/assets/model \\
        --corpus /work/corpus_real --split validation --out runs/sweep

The pipeline closes the mouth by the larger of two weights: the pause rest
(``core.pauses``, from the audio's level) and the lip seal (``core.model.lip_closure``,
from the p/b/m detector, with its approach and release). Both are functions of the audio
alone and are blended on top of the model's own motion, so one animation per clip with
both switched off, the detector's probabilities and the frame levels are enough to
replay any setting of their thresholds exactly (the smoother never touches the lips).

Measured per setting, pooled over the clips, against the teacher's animation of the
clip's alignment (the corpus's own faces): the share of p/b/m sealed, the share of speech
frames away from any p/b/m with the lips sealed (false closures), the inner-lip gap's r
and the largest frame-to-frame step. Use it on speakers the real-speech report does not
hold out (``real_corpus``'s "validation" split is trained on by nobody).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch

from ..core import audio as core_audio
from ..core import pauses, pipeline
from ..core.checkpoints import load_model
from ..core.model import lip_closure
from ..core.model.config import AUDIO_SAMPLE_RATE, MODEL_FPS
from ..core.model.meshtalk import clip_mel_statistics, log_mel_window
from ..core.face import load_bundled_head
from . import metrics
from .corpus.loader import load_corpus
from .evaluate import SEAL_MM
from .speech import ipa


@dataclass
class ClipTrace:
    """What the replay needs of one clip (T frames at 30 fps, P inner-lip pairs)."""

    upper: np.ndarray  # (T, P, 3) the model's upper inner lip, nothing closed
    lower: np.ndarray  # (T, P, 3) its lower inner lip
    rest_upper: np.ndarray  # (P, 3) the template's (the closed rest)
    rest_lower: np.ndarray  # (P, 3)
    mask_upper: np.ndarray  # (P,) the mouth mask on them
    mask_lower: np.ndarray  # (P,)
    probabilities: np.ndarray  # (T,) the detector's, read as the pipeline reads them
    levels_db: np.ndarray  # (T,) the pause rest's frame levels
    reference_gap: np.ndarray  # (T,) mm, the teacher's
    phonemes: list  # [(symbol, start_s, end_s)]
    seal_thresholds: tuple[float, float]  # the detector's own, as the pipeline uses them


def trace_clip(loaded, waveform: np.ndarray, template: np.ndarray, reference_gap: np.ndarray, phonemes: list,
               folder: Path, seed: int = 0, temperature: float | None = None) -> ClipTrace:
    head = load_bundled_head()
    upper, lower = head.index_sets["upper_inner_lip"], head.index_sets["lower_inner_lip"]
    path = folder / "clip.wav"
    soundfile.write(path, waveform, AUDIO_SAMPLE_RATE, subtype="FLOAT")
    clip = core_audio.AudioClip(path)
    options = pipeline.AnimateOptions(fps=MODEL_FPS, seed=seed, temperature=temperature, seal_lips=False,
                                      rest_in_pauses=False)
    vertices = pipeline.animate(loaded, clip, options, template=template).vertices
    info = core_audio.probe(clip)
    count = min(len(vertices), len(reference_gap))
    times = np.arange(len(vertices)) / MODEL_FPS
    if loaded.lip_closure.inputs == "speech":  # it hears the whole clip's speech features, as in the pipeline
        heard = pipeline.HeardInSpeech(loaded.speech_encoder, [loaded.lip_closure])
        heard.listen(info, lambda: False)
        probabilities = heard.closure_probabilities(loaded.lip_closure, None, times)
    else:
        with torch.inference_mode():
            statistics = clip_mel_statistics(loaded.model, core_audio.NormalisedSamples(info).get, info.num_samples)
            window = log_mel_window(loaded.model, core_audio.NormalisedSamples(info).get, times, statistics)
            probabilities = lip_closure.closure_probabilities(loaded.lip_closure, window, times)
    levels = pauses.frame_levels_db(core_audio.NormalisedSamples(info).get, AUDIO_SAMPLE_RATE, len(vertices),
                                    MODEL_FPS)
    mouth = loaded.vertex_masks["mouth"]
    return ClipTrace(vertices[:count, upper], vertices[:count, lower], template[upper], template[lower],
                     mouth[upper], mouth[lower], probabilities[:count], levels[:count], reference_gap[:count],
                     [tuple(p) for p in phonemes], loaded.lip_closure.thresholds)


@dataclass(frozen=True)
class Setting:
    # None: the detector's own thresholds (calibrated when it was trained), as the pipeline.
    seal_from: float | None = None
    seal_full: float | None = None
    seal: bool = True
    rest: bool = True
    min_pause: float = pauses.MIN_PAUSE_SECONDS
    floor_margin_db: float = pauses.FLOOR_MARGIN_DB
    nearest_db: float = pauses.SPEECH_MARGINS_DB[0]


def closing_weights(trace: ClipTrace, setting: Setting) -> np.ndarray:
    """(T,) the mouth's rest weights as the pipeline makes them under ``setting``."""
    count = len(trace.probabilities)
    weights = np.zeros(count, np.float32)
    if setting.seal:
        thresholds = trace.seal_thresholds if setting.seal_from is None else (setting.seal_from, setting.seal_full)
        frame = lip_closure.seal_weights(trace.probabilities, thresholds)
        weights = np.maximum(weights, lip_closure.closure_envelope(frame, 0, count))
    if setting.rest:
        levels = trace.levels_db
        speech, floor = pauses.speech_and_floor_db(levels)
        threshold = np.clip(floor + setting.floor_margin_db, speech - pauses.SPEECH_MARGINS_DB[1],
                            speech - setting.nearest_db)
        quiet = levels < threshold
        edges = np.diff(quiet.astype(np.int8), prepend=0, append=0)
        spans = [(int(s), int(e)) for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))
                 if (e - s) / MODEL_FPS >= setting.min_pause]
        weights = np.maximum(weights, pauses.rest_weights(spans, count, MODEL_FPS))
    return weights


def replay_lips(trace: ClipTrace, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, P, 3) upper and lower inner lips with the mouth blended to its rest by ``weights``."""
    w = weights[:, None, None]
    upper = trace.upper + w * trace.mask_upper[None, :, None] * (trace.rest_upper[None] - trace.upper)
    lower = trace.lower + w * trace.mask_lower[None, :, None] * (trace.rest_lower[None] - trace.lower)
    return upper, lower


def tucked(upper: np.ndarray, lower: np.ndarray, rest_lower: np.ndarray) -> np.ndarray:
    """(T,) bool: ``metrics.tucked_frames`` on the inner lips alone."""
    gap = np.linalg.norm(upper - lower, axis=-1).mean(axis=1) * metrics.MM
    lift = (lower[..., 2] - rest_lower[None, :, 2]).mean(axis=1) * metrics.MM
    behind = (lower[..., 1] - upper[..., 1]).mean(axis=1) * metrics.MM
    return (gap < metrics.TUCK_GAP_MM) & (lift > metrics.TUCK_LIFT_MM) & (behind > metrics.TUCK_BEHIND_MM)


def score(traces: list[ClipTrace], setting: Setting) -> dict:
    sealed = bilabials = false = speech = tucks = labiodentals = 0
    gaps, references, largest = [], [], 0.0
    for trace in traces:
        upper, lower = replay_lips(trace, closing_weights(trace, setting))
        gap = np.linalg.norm(upper - lower, axis=-1).mean(axis=1) * metrics.MM
        count = len(gap)
        hits, segments = metrics.tucked_labiodentals(tucked(upper, lower, trace.rest_lower), MODEL_FPS,
                                                     metrics.labiodentals(trace.phonemes))
        tucks, labiodentals = tucks + hits, labiodentals + segments
        hit, total = metrics.bilabial_seals(gap, MODEL_FPS, metrics.bilabial_closures(trace.phonemes), SEAL_MM)
        sealed, bilabials = sealed + hit, bilabials + total
        away = metrics.speech_frames_away_from_bilabials(trace.phonemes, MODEL_FPS, count, ipa.SILENCE)
        false += int((away & (gap < SEAL_MM)).sum())
        speech += int(away.sum())
        gaps.append(gap)
        references.append(trace.reference_gap)
        largest = max(largest, float(metrics.largest_steps(gap).max(initial=0.0)))
    return {"sealed": sealed / max(bilabials, 1), "false_closures": false / max(speech, 1),
            "gap_r": metrics.correlation(np.concatenate(gaps), np.concatenate(references)),
            "largest_step_mm": largest, "bilabials": bilabials, "tucked": tucks / max(labiodentals, 1),
            "labiodentals": labiodentals}


def trace_corpus(model: Path, corpus: Path, split: str, limit: int | None = None, seed: int = 0,
                 temperature: float | None = None) -> list[ClipTrace]:
    loaded = load_model(model)
    head = load_bundled_head()
    upper, lower = head.index_sets["upper_inner_lip"], head.index_sets["lower_inner_lip"]
    traces = []
    with tempfile.TemporaryDirectory() as folder:
        for sequence in load_corpus(corpus, split, limit=limit):
            reference_gap = metrics.pair_gap(sequence.vertices, upper, lower)
            traces.append(trace_clip(loaded, sequence.waveform, sequence.template, reference_gap,
                                     sequence.metadata["phonemes"], Path(folder), seed, temperature))
    return traces


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshtalk_blender.training.seal_sweep",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True, help="a real_corpus folder")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    traces = trace_corpus(args.model, args.corpus, args.split, args.limit)
    rows = []
    stages = [Setting(seal=False, rest=False), Setting(seal=False), Setting(rest=False), Setting()]
    grid = [Setting(seal_from=a, seal_full=b, min_pause=p, floor_margin_db=f, nearest_db=n)
            for a, b in ((0.3, 0.6), (0.4, 0.7), (0.5, 0.8), (0.6, 0.9), (0.7, 0.95), (0.8, 0.97))
            for p, f, n in itertools.product((0.3, 0.45), (10.0, 6.0), (15.0, 20.0))]
    for setting in stages + grid:
        rows.append({**setting.__dict__, **score(traces, setting)})
        print(json.dumps(rows[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sweep.json").write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
