"""Evaluate a model on held-out synthetic voices; write a report with numbers.

    .venv/bin/python -m meshtalk_blender.training.evaluate --model meshtalk_blender/assets/model \\
        --corpus /work/corpus --out runs/eval

For each validation sequence (voices the model never heard), the model animates the
sequence's audio alone, on the sequence's own identity, exactly as a user would run it
(core.pipeline), and is compared with the teacher's animation:
- lip vertex error (MeshTalk's definition, mm) and its squared variant (mm^2);
- FDD (upper-face dynamics deviation, mm^2);
- bilabial seal rate (inner lips within 1.5 mm during each p/b/m closure);
- mouth-closed-in-silence rate (frames of silences >= 0.3 s, 0.15 s from their edges);
- blink rate (per minute) and durations.
Baselines in the same table: the static template, and a loudness-driven jaw.
Then "resample the upper face" across seeds: the lips must stay while blinks change.

With --real (on by default when the Debian package pocketsphinx-testdata and the Python
package pocketsphinx are installed), the report gets a "Real human speech" section: ~40 s
of real recordings, force-aligned, against the teacher's animation of the alignment
(training.real_speech): inner-lip gap correlation, seal rate on real p/b/m, lip vertex
errors, for the model and the loudness jaw, with a figure.

Figures (PNG, beside report.md): the training curves (--training-log), blink durations,
the inner-lip gap of one held-out sequence, blink onsets across seeds, and the real-speech
lip gap.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from textwrap import shorten
from pathlib import Path

import numpy as np
import soundfile

from ..blender.take_data import blend_with_previous
from ..core import audio, pipeline
from ..core.checkpoints import load_model
from ..core.face import ARKIT_INDEX, load_bundled_head
from ..core.sampling import keep_mask
from ..core.model.config import MODEL_FPS
from . import lip_closure, metrics, report_plots
from .corpus.loader import load_corpus
from .dataset import Sequence
from .speech import ipa

SEAL_MM = 1.5
NO_REST = "model without the pause rest"
NO_SEAL = "model without the lip seal"
# The product's output closes the mouth in pauses (core.pauses) and on p/b/m
# (core.model.lip_closure); these rows show what each adds to the model's own motion.
VARIANTS = {NO_REST: {"rest_in_pauses": False}, NO_SEAL: {"seal_lips": False}}


def loudness_jaw_baseline(sequence: Sequence, jaw_delta: np.ndarray) -> np.ndarray:
    """The template with jawOpen following the audio's loudness (dB over 40 dB of range)."""
    frames = sequence.num_frames
    hop = audio.AUDIO_SAMPLE_RATE / MODEL_FPS
    centres = (np.arange(frames) * hop).astype(int)
    window = int(hop)
    power = np.array([np.mean(np.square(sequence.waveform[max(0, c - window):c + window])) + 1e-12 for c in centres])
    decibels = 10 * np.log10(power)
    openness = np.clip((decibels - (decibels.max() - 40)) / 40, 0, 1) * 0.6
    return sequence.template[None] + openness[:, None, None] * jaw_delta[None]


class Evaluator:
    def __init__(self, model_dir: Path, device: str = "auto", temperature: float | None = None):
        self.loaded = load_model(model_dir)
        self.temperature = self.loaded.temperature if temperature is None else temperature
        self.head = load_bundled_head()
        self.device = device
        sets = self.head.index_sets
        self.lip = sets["lip_keypoints"]
        self.upper_lip, self.lower_lip = sets["upper_inner_lip"], sets["lower_inner_lip"]
        self.upper_lid, self.lower_lid = sets["upper_eyelid"], sets["lower_eyelid"]
        self.upper_face = np.flatnonzero(self.head.masks["upper_face"] > 0.5)
        from ..core.face import arkit_deltas
        self.jaw_delta = arkit_deltas(self.head)[ARKIT_INDEX["jawOpen"]]
        self._folder = tempfile.TemporaryDirectory()

    def animate(self, sequence: Sequence, seed: int = 0, keep=None, **switches: bool) -> pipeline.Animation:
        """``switches``: AnimateOptions' on/off settings (rest_in_pauses, seal_lips, lock_lips)."""
        path = Path(self._folder.name) / f"{sequence.name}.wav"
        if not path.exists():
            soundfile.write(path, sequence.waveform, audio.AUDIO_SAMPLE_RATE, subtype="FLOAT")
        options = pipeline.AnimateOptions(fps=MODEL_FPS, seed=seed, temperature=self.temperature, device=self.device,
                                          keep_labels=None if keep is None else keep[0],
                                          keep_mask=None if keep is None else keep[1], **switches)
        return pipeline.animate(self.loaded, audio.AudioClip(path), options, template=sequence.template)

    def scores(self, predicted: np.ndarray, sequence: Sequence) -> dict:
        target = sequence.vertices
        frames = min(len(predicted), len(target))
        predicted, target = predicted[:frames], target[:frames]
        phonemes = sequence.metadata["phonemes"]
        gap = metrics.pair_gap(predicted, self.upper_lip, self.lower_lip)
        lids = metrics.pair_gap(predicted, self.upper_lid, self.lower_lid)
        blinks = metrics.blinks(lids, MODEL_FPS)
        return {
            "lip_vertex_error_mm": metrics.lip_vertex_error(predicted, target, self.lip),
            "lip_vertex_error_squared_mm2": metrics.lip_vertex_error_squared(predicted, target, self.lip),
            "fdd_mm2": metrics.fdd(predicted, target, sequence.template, self.upper_face),
            "bilabial_seals": metrics.bilabial_seals(gap, MODEL_FPS, metrics.bilabial_closures(phonemes), SEAL_MM),
            "closed_silent_frames": metrics.closed_silent_frames(
                gap, MODEL_FPS, metrics.silent_segments(phonemes, ipa.SILENCE), SEAL_MM),
            "blinks": blinks.count,
            "minutes": frames / MODEL_FPS / 60,
            "blink_durations_s": blinks.durations.tolist(),
        }


def summarise(rows: list[dict]) -> dict:
    minutes = sum(r["minutes"] for r in rows)
    durations = [d for r in rows for d in r["blink_durations_s"]]
    mean = lambda key: float(np.nanmean([r[key] for r in rows]))  # noqa: E731
    # The targets are shares of all closures and of all silent frames: pooled
    # over utterances, not a mean of per-utterance rates (which weighs one closure of a
    # short line as much as twenty of a long one).
    pooled = lambda key: metrics.rate(np.sum([r[key] for r in rows], axis=0))  # noqa: E731
    return {
        "lip_vertex_error_mm": mean("lip_vertex_error_mm"),
        "lip_vertex_error_squared_mm2": mean("lip_vertex_error_squared_mm2"),
        "fdd_mm2": mean("fdd_mm2"),
        "bilabial_seal_rate": pooled("bilabial_seals"),
        "closed_in_silence_rate": pooled("closed_silent_frames"),
        "blinks_per_minute": sum(r["blinks"] for r in rows) / max(minutes, 1e-9),
        "blink_duration_median_s": float(np.median(durations)) if durations else float("nan"),
    }


def seed_study(evaluator: Evaluator, sequence: Sequence, seeds: int) -> dict:
    """Resample the upper face with ``seeds`` seeds, as the add-on does: keep the mouth
    heads' labels, redraw the others, keep the lips with the pipeline's lip lock and the
    mouth-mask blend. Lip error between seeds (of the final mesh, and of the model's own
    lips: without the lock and the blend) vs blink onsets."""
    first = evaluator.animate(sequence, seed=0)
    mouth_heads = evaluator.loaded.mouth_heads
    config = evaluator.loaded.config
    redraw = [h for h in range(config.num_heads) if h not in mouth_heads]
    keep = keep_mask(len(first.labels), config.num_heads, redraw_heads=redraw)
    lips = evaluator.loaded.vertex_masks.get("mouth", evaluator.head.masks["mouth"])
    lip_errors, own_errors, onsets = [], [], []
    for seed in range(1, seeds + 1):
        other = evaluator.animate(sequence, seed=seed, keep=(first.labels, keep))
        final = blend_with_previous(other.vertices, first.vertices, np.ones(len(first.vertices)), lips)
        lip_errors.append(metrics.lip_vertex_error(final, first.vertices, evaluator.lip))
        own = evaluator.animate(sequence, seed=seed, keep=(first.labels, keep), lock_lips=False).vertices
        own_errors.append(metrics.lip_vertex_error(own, first.vertices, evaluator.lip))
        lids = metrics.pair_gap(final, evaluator.upper_lid, evaluator.lower_lid)
        onsets.append(metrics.blinks(lids, MODEL_FPS).onsets.round(2).tolist())
    return {"sequence": sequence.name, "mouth_heads": list(mouth_heads),
            "lip_vertex_error_between_seeds_mm": float(np.mean(lip_errors)),
            "lip_vertex_error_between_seeds_model_alone_mm": float(np.mean(own_errors)),
            "blink_onsets_s": onsets}


def evaluate(model_dir: Path, corpus: Path, out: Path, count: int = 40, seeds: int = 10,
             device: str = "auto", real: bool | None = None, training_log: Path | None = None,
             temperature: float | None = None) -> dict:
    """Write report.json and report.md to ``out``; ``real`` None: the real-speech section
    when it can run here (else the report says why not), True: required, False: left out."""
    out.mkdir(parents=True, exist_ok=True)
    evaluator = Evaluator(model_dir, device, temperature)
    sequences = load_corpus(corpus, "validation", limit=count)
    rows = {"model": [], **{name: [] for name in VARIANTS}, "static template": [], "loudness jaw": []}
    figures = {}
    for index, sequence in enumerate(sequences):
        predicted = evaluator.animate(sequence).vertices
        if index == 0:
            figures["lip gap"] = synthetic_lip_gap_figure(evaluator, sequence, predicted, out)
        static = np.repeat(sequence.template[None], sequence.num_frames, axis=0)
        rows["model"].append(evaluator.scores(predicted, sequence))
        for name, switches in VARIANTS.items():
            rows[name].append(evaluator.scores(evaluator.animate(sequence, **switches).vertices, sequence))
        rows["static template"].append(evaluator.scores(static, sequence))
        rows["loudness jaw"].append(evaluator.scores(loudness_jaw_baseline(sequence, evaluator.jaw_delta), sequence))
        print(f"{index + 1}/{len(sequences)} {sequence.name}: "
              f"LVE {rows['model'][-1]['lip_vertex_error_mm']:.2f} mm", flush=True)
    teacher = [evaluator.scores(s.vertices, s) for s in sequences]
    report = {
        "model": str(model_dir), "corpus": str(corpus), "validation_sequences": len(sequences),
        "temperature": evaluator.temperature,
        "voices": sorted({s.metadata["voice_id"] for s in sequences}),
        "summary": {name: summarise(r) for name, r in rows.items()} | {"teacher (reference)": summarise(teacher)},
        "seeds": seed_study(evaluator, sequences[0], seeds) if sequences else {},
    }
    if evaluator.loaded.lip_closure is not None:
        report["lip_closure_detector"] = lip_closure.detection_report(evaluator.loaded.lip_closure, sequences,
                                                                      encoder=evaluator.loaded.speech_encoder)
    durations = {name: [d for row in scored for d in row["blink_durations_s"]]
                 for name, scored in (("teacher (reference)", teacher), ("model", rows["model"]))}
    report_plots.blink_durations(durations, out / "blink_durations.png")
    figures["blink durations"] = "blink_durations.png"
    if report["seeds"]:
        report_plots.seed_blinks(report["seeds"]["blink_onsets_s"], sequences[0].num_frames / MODEL_FPS,
                                 report["seeds"]["lip_vertex_error_between_seeds_mm"], out / "seed_blinks.png")
        figures["blinks across seeds"] = "seed_blinks.png"
    if training_log is not None:
        report_plots.training_curves(training_log, out / "training_curves.png")
        figures["training curves"] = "training_curves.png"
    report["figures"] = figures
    if real is not False:
        report["real_speech"] = real_speech_section(evaluator, out, required=bool(real))
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(report))
    return report


def synthetic_lip_gap_figure(evaluator: Evaluator, sequence: Sequence, predicted: np.ndarray, out: Path) -> str:
    gap = lambda v: metrics.pair_gap(v, evaluator.upper_lip, evaluator.lower_lip)  # noqa: E731
    curves = {"teacher (reference)": gap(sequence.vertices), "model": gap(predicted),
              "loudness jaw": gap(loudness_jaw_baseline(sequence, evaluator.jaw_delta))}
    report_plots.lip_gap(MODEL_FPS, curves, metrics.bilabial_closures(sequence.metadata["phonemes"]), SEAL_MM,
                         f"Held-out voice {sequence.metadata['voice_id']}: {sequence.name}", out / "lip_gap.png")
    return "lip_gap.png"


def real_speech_section(evaluator: Evaluator, out: Path, required: bool) -> dict:
    """The real-speech numbers (training.real_speech) and their figure in ``out``; when
    not ``required`` and the data or aligner is missing, {"skipped": reason}."""
    from . import real_speech  # imported here: it needs pocketsphinx and imports this module

    reason = real_speech.missing_requirements()
    if reason is not None:
        if required:
            raise SystemExit(f"--real: {reason} (scripts/setup.sh installs both)")
        return {"skipped": reason}
    sequences, failures = real_speech.load_real_sequences()
    section = real_speech.real_speech_report(
        evaluator, sequences, failures,
        variants={name: lambda sequence, switches=switches: evaluator.animate(sequence, **switches).vertices
                  for name, switches in VARIANTS.items()})
    plot = section["plot"]
    if plot:
        curves = {name: np.asarray(plot[name]) for name in ("reference", "model", "loudness jaw")}
        title = f'Real speech, {plot["sequence"]}: "{shorten(plot["text"], 70, placeholder="...")}"'
        report_plots.lip_gap(plot["fps"], curves, plot["bilabials"], SEAL_MM, title, out / "real_speech_lip_gap.png")
        section["figure"] = "real_speech_lip_gap.png"
    return section


def real_speech_markdown(section: dict) -> list[str]:
    lines = ["", "## Real human speech", ""]
    if "skipped" in section:
        return lines + [f"Not measured: {section['skipped']}."]
    targets = section["targets"]
    lines += [f"Source: {section['source']}", "",
              f"{section['recordings']} recordings, {section['seconds']:.1f} s, {section['phones']} phones, "
              f"{section['bilabial_segments']} p/b/m segments; failed to align: "
              + (", ".join(f"{k} ({v})" for k, v in section["failed_to_align"].items()) or "none") + ".",
              "Reference: the teacher's animation of the forced alignment on the bundled neutral head.",
              f"Targets: inner-lip gap r >= {targets['lip_gap_r']} (a loudness curve reaches "
              f"~{targets['loudness_r_in_docs']} on openness, docs/synthetic-to-real), lips sealed on "
              f">= {targets['bilabial_seal_rate']:.0%} of real p/b/m.", "",
              "| | inner-lip gap r | p/b/m sealed | lip_vertex_error_mm | lip_vertex_error_squared_mm2 | targets met |",
              "|---|---|---|---|---|---|"]
    for name, row in section["rows"].items():
        lines.append(f"| {name} | {row['lip_gap_r']:.3f} | {row['sealed_bilabials']}/{row['bilabials']} "
                     f"({row['bilabial_seal_rate']:.0%}) | {row['lip_vertex_error_mm']:.3g} | "
                     f"{row['lip_vertex_error_squared_mm2']:.3g} | {'yes' if row['meets_targets'] else 'no'} |")
    if section.get("figure"):
        lines += ["", f"![Inner-lip gap over time on {section['plot']['sequence']}: reference, model and "
                      f"loudness jaw]({section['figure']})"]
    return lines


def markdown(report: dict) -> str:
    keys = ["lip_vertex_error_mm", "lip_vertex_error_squared_mm2", "fdd_mm2", "bilabial_seal_rate",
            "closed_in_silence_rate", "blinks_per_minute", "blink_duration_median_s"]
    lines = [f"# Evaluation of {report['model']}", "",
             f"{report['validation_sequences']} held-out sequences; voices: {', '.join(report['voices'])}. "
             f"Sampling temperature {report.get('temperature', 1.0):g}.", "",
             "| | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, values in report["summary"].items():
        lines.append(f"| {name} | " + " | ".join(f"{values[k]:.3g}" for k in keys) + " |")
    lines += ["", "bilabial_seal_rate and closed_in_silence_rate are shares of all the p/b/m and of all the "
                  "silent frames of these sequences (pooled, not averaged per sequence)."]
    seeds = report.get("seeds") or {}
    if seeds:
        lines += ["", f"Upper face resampled with {len(seeds['blink_onsets_s'])} seeds on {seeds['sequence']} "
                      f"(mouth heads {seeds['mouth_heads']}): lip vertex error between seeds "
                      f"{seeds['lip_vertex_error_between_seeds_mm']:.3f} mm in the final mesh "
                      f"({seeds['lip_vertex_error_between_seeds_model_alone_mm']:.3f} mm the model's own, without the "
                      "lip lock and the mouth-mask blend); blink onsets per seed (s):"]
        lines += [f"- {onsets}" for onsets in seeds["blink_onsets_s"]]
    detector = report.get("lip_closure_detector")
    if detector:
        shares = ", ".join(f"{key} {value:.1%}" for key, value in detector.items() if key != "bilabials")
        lines += ["", f"Lip-closure detector on these sequences ({detector['bilabials']} p/b/m; heard = over the "
                      f"threshold within 30 ms, false alarms = frames more than 60 ms from any p/b/m): {shares}. "
                      "Compare detectors by the share heard at a fixed false-alarm rate."]
    for title, name in report.get("figures", {}).items():
        lines += ["", f"![{title}]({name})"]
    if "real_speech" in report:
        lines += real_speech_markdown(report["real_speech"])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshtalk_blender.training.evaluate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sequences", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--temperature", type=float,
                        help="the prior's sampling temperature (default: the model's own, as the add-on)")
    parser.add_argument("--training-log", type=Path, help="log.jsonl of the training run, for the curves figure")
    parser.add_argument("--real", action=argparse.BooleanOptionalAction, default=None,
                        help="add the 'Real human speech' section (real recordings of the Debian package "
                             "pocketsphinx-testdata, force-aligned with pocketsphinx). Default: on when both "
                             "are installed, otherwise the report says why it is missing; --real makes them "
                             "required, --no-real leaves the section out")
    args = parser.parse_args(argv)
    report = evaluate(args.model, args.corpus, args.out, args.sequences, args.seeds, args.device, args.real,
                      args.training_log, args.temperature)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
