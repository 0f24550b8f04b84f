"""The real-speech report: models on held-out real voices, per speaker, condition and language.

    .venv/bin/python -m meshtalk_blender.training.real_report --data /work/realdata/x \\
        --transcriptions /work/realdata/transcripts/drascula_en.json --out runs/real_report \\
        --model meshtalk_blender/assets/model [--model runs/other/model ...]

Clips: every held-out speaker of ``real_sources`` (never trained on), at most
``--per-speaker`` clips each, drawn by a fixed seed. Timing: pocketsphinx forced
alignment for English, espeak-ng + DTW for the other languages (``espeak_alignment``),
cached in ``--cache``. Reference: the teacher's animation of the clean clip's timing on
the bundled neutral head (seed 0, as ``real_speech``). Conditions (``real_conditions``):
clean, telephone, outdoor, podcast, whisper, fast; the reference of the fast copy is the
clean one's timing scaled by the same factor.

Per group (language x condition, each speaker and each source package on clean audio,
all English), for each model and the loudness-driven jaw. The sources differ in quality
more than the conditions do: pocketsphinx-testdata's are studio reads and test
recordings, Drascula's 8-bit 11 kHz game audio, so the clean English pooled over them is
mostly the latter's (88 % of its frames at the defaults).
- ``gap_r``: Pearson r of the inner-lip gap against the reference's, pooled over frames;
- ``sealed``: the share of p/b/m with the inner lips within 1.5 mm (+-30 ms);
- ``false_closures``: the share of speech frames more than 60 ms from any p/b/m with the
  lips within 1.5 mm (the teacher's own share beside it);
- ``largest_step_mm`` and ``teacher_largest_step_mm``: the largest frame-to-frame change
  of the inner-lip gap at 30 fps; ``pops_per_minute``: frames whose change is larger than
  the teacher's largest on the same clip;
- ``tucked``: the share of f/v with the lower lip tucked to the upper lip's inner edge
  (``metrics.tucked_frames``); ``teeth_over_lip``: with the upper teeth showing over the
  tucked lower lip, which hides their edges (``metrics.teeth_over_lip_frames``);
- ``seed_mouth_mm`` (mean, and the largest over vertices and frames): how far the mouth
  region (mouth mask > 0.5) moves between seeds 0 and 1, on clean and fast speech, as a
  user gets it; ``unlocked_seed_mouth_mm``: the same without the pipeline's lip lock
  (``AnimateOptions.lock_lips``), what the model's own mouth heads achieve.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from ..core import audio as core_audio
from ..core import pipeline
from ..core.checkpoints import load_model
from ..core.face import ARKIT_INDEX, apply_arkit, arkit_deltas, load_bundled_head
from ..core.model.config import MODEL_FPS
from . import metrics
from .dataset import Sequence
from .espeak_alignment import align_with_espeak
from .evaluate import SEAL_MM, loudness_jaw_baseline
from .real_conditions import CONDITIONS
from .real_sources import Clip, find_clips, read_clip_audio
from .real_speech import AlignmentError, align_audio, make_decoder
from .speech import ipa
from .speech.utterance import SAMPLE_RATE, Phoneme, Utterance
from .teacher import animate

SEED_CONDITIONS = ("clean", "fast")
SAVE_EVERY = 200  # clips aligned between writes of the alignment cache
LOUDNESS = "loudness jaw"


def choose_clips(clips: list[Clip], per_speaker: int, seed: int = 0) -> list[Clip]:
    """At most ``per_speaker`` held-out clips per speaker, the same ones for a seed."""
    rng = np.random.default_rng(seed)
    chosen = []
    for speaker in sorted({c.speaker for c in clips if c.held_out}):
        own = [c for c in clips if c.speaker == speaker]
        picks = sorted(rng.choice(len(own), min(per_speaker, len(own)), replace=False))
        chosen += [own[i] for i in picks]
    return chosen


def aligned_clips(clips: list[Clip], cache: Path, log=print) -> tuple[list[tuple[Clip, Utterance]], dict[str, str]]:
    """(clip, utterance) for every clip that aligns, and {clip: reason} for the others;
    alignments are cached in ``cache/alignments.json`` (phonemes or the failure)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "alignments.json"
    stored = json.loads(path.read_text()) if path.is_file() else {}
    decoder = None
    aligned, failures = [], {}
    new_entries = 0
    for clip in clips:
        audio = read_clip_audio(clip.path)
        entry = stored.get(clip.name)
        if entry is None:
            new_entries += 1
            if new_entries % SAVE_EVERY == 0:  # thousands of clips: an interrupted run keeps its work
                path.write_text(json.dumps(stored))
                log(f"aligned {new_entries} new clips")
            try:
                if clip.language == "en":
                    decoder = decoder or make_decoder()
                    utterance = align_audio(clip.name, audio, clip.transcript, decoder)
                else:
                    utterance = align_with_espeak(clip.name, audio, clip.transcript, clip.language)
                entry = {"phonemes": [list(p) for p in utterance.phonemes]}
            except AlignmentError as error:
                entry = {"failed": str(error)}
            stored[clip.name] = entry
        if "failed" in entry:
            failures[clip.name] = entry["failed"]
            continue
        phonemes = [Phoneme(s, float(a), float(b)) for s, a, b in entry["phonemes"]]
        aligned.append((clip, Utterance(audio=audio, phonemes=phonemes, words=[], text=clip.transcript,
                                        voice_id=clip.speaker, language=clip.language, seed=0)))
    path.write_text(json.dumps(stored))
    log(f"{len(aligned)} clips aligned, {len(failures)} failed")
    return aligned, failures


@dataclass
class Case:
    """One clip in one condition: the audio the models hear and the reference."""

    clip: Clip
    condition: str
    audio: np.ndarray  # (N,) 16 kHz
    phonemes: list[Phoneme]
    reference: np.ndarray  # (T, V, 3) the teacher's animation
    template: np.ndarray  # (V, 3)

    @property
    def sequence(self) -> Sequence:
        return Sequence(waveform=core_audio.normalise_waveform(self.audio),
                        offsets=(self.reference - self.template).astype(np.float32), template=self.template,
                        name=f"{self.clip.name}-{self.condition}")


def make_cases(aligned: list[tuple[Clip, Utterance]], conditions: tuple[str, ...]) -> list[Case]:
    head = load_bundled_head()
    deltas = arkit_deltas(head)
    template = head.vertices.astype(np.float32)
    cases = []
    for clip, utterance in aligned:
        for condition in conditions:
            rng = np.random.default_rng(zlib.crc32(f"{clip.name}/{condition}".encode()))
            processed, scale = CONDITIONS[condition](utterance.audio, rng)
            duration = len(processed) / SAMPLE_RATE
            phonemes = [Phoneme(p.symbol, p.start * scale, p.end * scale) for p in utterance.phonemes]
            phonemes[-1] = Phoneme(phonemes[-1].symbol, phonemes[-1].start, duration)
            clean_audio = utterance.audio if scale == 1.0 else CONDITIONS["fast"](utterance.audio, rng)[0]
            timed = Utterance(audio=processed, phonemes=phonemes, words=[], text=utterance.text,
                              voice_id=utterance.voice_id, language=utterance.language, seed=0)
            arkit = animate(timed, 0, analysis_audio=clean_audio).arkit
            cases.append(Case(clip, condition, processed, phonemes, apply_arkit(head, arkit, deltas), template))
    return cases


class ModelRunner:
    """Animates a case's audio with a model folder through the whole pipeline, as a user would."""

    def __init__(self, model_dir: Path, temperature: float | None = None, **switches):
        self.loaded = load_model(model_dir)
        self.temperature = self.loaded.temperature if temperature is None else temperature
        self.switches = switches
        self._folder = tempfile.TemporaryDirectory()
        self._written: Case | None = None  # the case whose audio clip.wav holds

    def animate(self, case: Case, seed: int = 0, lock_lips: bool = True) -> np.ndarray:
        path = Path(self._folder.name) / "clip.wav"
        if self._written is not case:  # a case is animated up to three times (seeds, lock) in a row
            soundfile.write(path, core_audio.normalise_waveform(case.audio), SAMPLE_RATE, subtype="FLOAT")
            self._written = case
        options = pipeline.AnimateOptions(fps=MODEL_FPS, seed=seed, temperature=self.temperature,
                                          lock_lips=lock_lips, **self.switches)
        return pipeline.animate(self.loaded, core_audio.AudioClip(path), options, template=case.template).vertices


@dataclass
class Spread:
    """How far one animation's vertices are from another's (mm): each clip's mean, and
    the largest over clips, vertices and frames."""

    means: list = field(default_factory=list)
    largest: float = 0.0

    def add(self, moved: np.ndarray) -> None:
        self.means.append(float(moved.mean()))
        self.largest = max(self.largest, float(moved.max()))

    def summary(self, name: str) -> dict:
        nan = float("nan")
        return {f"{name}_mm": float(np.mean(self.means)) if self.means else nan,
                f"{name}_max_mm": self.largest if self.means else nan}


@dataclass
class Tally:
    """What a group of cases adds up to, for one animation source."""

    gaps: list = field(default_factory=list)
    references: list = field(default_factory=list)
    sealed: int = 0
    bilabials: int = 0
    false_frames: int = 0
    teacher_false_frames: int = 0
    speech_frames: int = 0
    largest_step: float = 0.0
    teacher_largest_step: float = 0.0
    pops: int = 0
    frames: int = 0
    tucked: int = 0
    teeth_over_lip: int = 0
    labiodentals: int = 0
    seed_mouth: Spread = field(default_factory=Spread)
    unlocked_seed_mouth: Spread = field(default_factory=Spread)

    def summary(self) -> dict:
        gap, reference = np.concatenate(self.gaps), np.concatenate(self.references)
        rate = lambda a, b: a / b if b else float("nan")  # noqa: E731
        return {
            "frames": self.frames, "gap_r": metrics.correlation(gap, reference),
            "sealed": rate(self.sealed, self.bilabials), "bilabials": self.bilabials,
            "false_closures": rate(self.false_frames, self.speech_frames),
            "teacher_false_closures": rate(self.teacher_false_frames, self.speech_frames),
            "largest_step_mm": self.largest_step, "teacher_largest_step_mm": self.teacher_largest_step,
            "pops_per_minute": rate(self.pops, self.frames / MODEL_FPS / 60),
            "tucked": rate(self.tucked, self.labiodentals),
            "teeth_over_lip": rate(self.teeth_over_lip, self.labiodentals), "labiodentals": self.labiodentals,
            **self.seed_mouth.summary("seed_mouth"), **self.unlocked_seed_mouth.summary("unlocked_seed_mouth"),
        }


class Scorer:
    def __init__(self):
        head = load_bundled_head()
        sets = head.index_sets
        self.upper, self.lower = sets["upper_inner_lip"], sets["lower_inner_lip"]
        self.mouth = np.flatnonzero(head.masks["mouth"] > 0.5)
        self.jaw_delta = arkit_deltas(head)[ARKIT_INDEX["jawOpen"]]

    def add(self, tally: Tally, case: Case, vertices: np.ndarray, other_seeds: tuple[np.ndarray, np.ndarray] = ()) -> None:
        """``other_seeds``: the case animated with another seed, with and without the lip lock."""
        count = min(len(vertices), len(case.reference))
        vertices, reference = vertices[:count].astype(np.float32), case.reference[:count]
        gap = metrics.pair_gap(vertices, self.upper, self.lower)
        reference_gap = metrics.pair_gap(reference, self.upper, self.lower)
        tally.gaps.append(gap)
        tally.references.append(reference_gap)
        phonemes = [tuple(p) for p in case.phonemes]
        sealed, total = metrics.bilabial_seals(gap, MODEL_FPS, metrics.bilabial_closures(phonemes), SEAL_MM)
        tally.sealed += sealed
        tally.bilabials += total
        away = metrics.speech_frames_away_from_bilabials(phonemes, MODEL_FPS, count, ipa.SILENCE)
        tally.speech_frames += int(away.sum())
        tally.false_frames += int((away & (gap < SEAL_MM)).sum())
        tally.teacher_false_frames += int((away & (reference_gap < SEAL_MM)).sum())
        steps, teacher_steps = metrics.largest_steps(gap), metrics.largest_steps(reference_gap)
        teacher_largest = float(teacher_steps.max(initial=0.0))
        tally.largest_step = max(tally.largest_step, float(steps.max(initial=0.0)))
        tally.teacher_largest_step = max(tally.teacher_largest_step, teacher_largest)
        tally.pops += int((steps > teacher_largest).sum())
        tally.frames += count
        labiodentals = metrics.labiodentals(phonemes)
        tucked = metrics.tucked_frames(vertices, case.template, self.upper, self.lower)
        hits, segments = metrics.tucked_labiodentals(tucked, MODEL_FPS, labiodentals)
        tally.tucked += hits
        tally.labiodentals += segments
        teeth = metrics.teeth_over_lip_frames(vertices, case.template, self.upper, self.lower)
        tally.teeth_over_lip += metrics.tucked_labiodentals(teeth, MODEL_FPS, labiodentals)[0]
        for spread, other in zip((tally.seed_mouth, tally.unlocked_seed_mouth), other_seeds):
            spread.add(np.linalg.norm(other[:count, self.mouth] - vertices[:, self.mouth], axis=-1) * metrics.MM)


def groups_of(case: Case) -> list[str]:
    """The report's groups a case belongs to."""
    clip = case.clip
    names = [f"{clip.language} / {case.condition}", f"all / {case.condition}"]
    names.append("en / all conditions" if clip.language == "en" else "other languages / all conditions")
    if case.condition == "clean":
        names += [f"{clip.language} / clean / {clip.source}", f"speaker {clip.speaker} / clean"]
    return names


def run_report(models: list[Path], cases: list[Case], log=print, **switches) -> dict:
    """{group: {source: summary}} for the models, the loudness jaw and the teacher;
    ``switches``: AnimateOptions' on/off settings for every model (seal_lips, rest_in_pauses)."""
    scorer = Scorer()
    results: dict[str, dict[str, Tally]] = {}

    def tally(group: str, source: str) -> Tally:
        return results.setdefault(group, {}).setdefault(source, Tally())

    for case in cases:
        loudness = loudness_jaw_baseline(case.sequence, scorer.jaw_delta)
        for group in groups_of(case):
            scorer.add(tally(group, LOUDNESS), case, loudness)
            scorer.add(tally(group, "teacher (reference)"), case, case.reference)
    for model_dir in models:
        runner = ModelRunner(model_dir, **switches)
        started = time.perf_counter()
        for number, case in enumerate(cases):
            vertices = runner.animate(case, seed=0)
            others = ((runner.animate(case, seed=1), runner.animate(case, seed=1, lock_lips=False))
                      if case.condition in SEED_CONDITIONS else ())
            for group in groups_of(case):
                scorer.add(tally(group, str(model_dir)), case, vertices, others)
            if (number + 1) % 200 == 0:
                log(f"{model_dir}: {number + 1}/{len(cases)} cases, {time.perf_counter() - started:.0f} s")
    return {group: {source: t.summary() for source, t in sources.items()} for group, sources in results.items()}


def markdown(report: dict) -> str:
    lines = ["# Real-speech report", "", report["description"], "",
             f"Clips: {report['clips']} ({report['seconds']:.0f} s of clean speech) from "
             f"{len(report['speakers'])} held-out speakers; failed to align: {report['failed_to_align']}.", ""]
    keys = [("gap_r", "{:.3f}"), ("sealed", "{:.1%}"), ("false_closures", "{:.1%}"),
            ("largest_step_mm", "{:.1f}"), ("pops_per_minute", "{:.1f}"), ("tucked", "{:.0%}"),
            ("teeth_over_lip", "{:.0%}"),
            ("seed_mouth_mm", "{:.3f}"), ("seed_mouth_max_mm", "{:.2f}"),
            ("unlocked_seed_mouth_mm", "{:.3f}"), ("unlocked_seed_mouth_max_mm", "{:.2f}")]
    for group, sources in report["groups"].items():
        teacher = sources.get("teacher (reference)", {})
        lines += [f"## {group}", "",
                  f"{teacher.get('frames', 0) / MODEL_FPS:.0f} s, {teacher.get('bilabials', 0)} p/b/m, "
                  f"{teacher.get('labiodentals', 0)} f/v; the teacher's largest step "
                  f"{teacher.get('largest_step_mm', float('nan')):.1f} mm, its own false closures "
                  f"{teacher.get('false_closures', float('nan')):.1%}.", "",
                  "| source | " + " | ".join(k for k, _ in keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for source, values in sources.items():
            if source == "teacher (reference)":
                continue
            cells = []
            for key, form in keys:
                value = values.get(key, float("nan"))
                cells.append("-" if value != value else form.format(value))
            lines.append(f"| {source} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshtalk_blender.training.real_report",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", required=True, help="a model folder (repeatable)")
    parser.add_argument("--data", type=Path, default=Path("/work/realdata/x"),
                        help="folder the Debian packages are unpacked in (real_sources.fetch_packages)")
    parser.add_argument("--transcriptions", type=Path, help="JSON of Drascula's non-hero clips heard by Whisper")
    parser.add_argument("--cache", type=Path, default=Path("runs/real_cache"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-speaker", type=int, default=30)
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    parser.add_argument("--no-lip-seal", action="store_true", help="animate without the p/b/m seal")
    parser.add_argument("--no-pause-rest", action="store_true", help="animate without the mouth's rest in pauses")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    clips = choose_clips(find_clips(args.data, args.transcriptions), args.per_speaker)
    aligned, failures = aligned_clips(clips, args.cache)
    cases = make_cases(aligned, tuple(args.conditions))
    print(f"{len(cases)} cases made in {time.perf_counter() - started:.0f} s", flush=True)
    report = {
        "description": __doc__.split("\n\n")[1].replace("\n", " "),
        "clips": len(aligned), "seconds": sum(len(u.audio) for _, u in aligned) / SAMPLE_RATE,
        "speakers": sorted({c.speaker for c, _ in aligned}),
        "languages": sorted({c.language for c, _ in aligned}),
        "failed_to_align": len(failures), "failures": failures,
        "sources": sorted({f"{c.source}: {c.licence}" for c, _ in aligned}),
        "switches": {"seal_lips": not args.no_lip_seal, "rest_in_pauses": not args.no_pause_rest},
        "groups": run_report(args.model, cases, lambda line: print(line, flush=True), seal_lips=not args.no_lip_seal,
                             rest_in_pauses=not args.no_pause_rest),
        "wall_seconds": None,
    }
    report["wall_seconds"] = round(time.perf_counter() - started)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "report.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
