"""A training corpus of real human speech: the speakers the real-speech report does not hold out.

    .venv/bin/python -m meshtalk_blender.training.real_corpus --data /work/realdata/x \\
        --transcriptions /work/realdata/transcripts/drascula_en.json --out /work/corpus_real

The synthetic corpus teaches the model what faces go with speech, but only from
synthesised voices; this one adds real voices (../shared/docs/synthetic-to-real.md: the
synthetic-to-real gap is the biggest lever known). Its labels are made exactly as the
synthetic corpus's: the teacher animates the utterance's phoneme timings on an identity
drawn from the sequence seed, so the only difference is where the timings come from
(forced alignment of a transcript instead of the synthesiser's own events).

- Clips: every clip of ``real_sources`` whose speaker is not in EVALUATION_SPEAKERS
  (asserted), aligned as the report aligns (pocketsphinx for English, espeak-ng + DTW
  for the others; cached in ``--out``/alignments.json, resumable); clips that do not
  align are dropped (e.g. Tux Paint clips that say only the stamp's name).
- Sequences: a speaker's aligned clips, in order, joined with pauses of 0.3-0.7 s into
  utterances of at least ``MIN_SECONDS`` (many clips are 1-2 s; the prior trains on
  2.1 s segments, and real speech has pauses between phrases), each clip brought to one
  loudness first. ``--max-minutes`` caps each speaker, so that no language dominates.
- Split: every ``VALIDATION_EVERY``-th utterance of each speaker is "validation": not
  trained on, it is where thresholds are tuned on real speech without touching the
  held-out speakers.
- Audio: half the utterances augmented exactly as the synthetic corpus (speech.augment,
  the teacher analysing the clean audio).

The folder has the synthetic corpus's layout (``corpus.storage`` files and a
``manifest.json`` written last), so ``corpus.loader.load_corpus`` reads it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from ..core.audio import frame_count
from ..core.face import ARKIT_NAMES, load_bundled_head
from ..core.face.identity import SPANS
from ..core.model.config import MODEL_FPS
from .corpus.manifest import MANIFEST_NAME, corpus_totals
from .corpus.plan import sequence_seed
from .corpus.storage import StoredSequence, write_sequence
from .corpus.worker import clean_audio_like
from .real_report import aligned_clips
from .real_sources import Clip, find_clips
from .speech import ipa
from .speech.augment import augment, speech_power
from .speech.utterance import SAMPLE_RATE, Utterance, join_phrases
from .teacher.sequence import teacher_sequence

MIN_SECONDS = 6.0  # an utterance is joined clips of at least this much audio ...
MAX_SECONDS = 14.0  # ... and at most this much (unless one clip is longer)
PAUSE_SECONDS = (0.3, 0.7)  # between joined clips
VALIDATION_EVERY = 10
AUGMENT_PROBABILITY = 0.5
ENGINE = "human"
TARGET_RMS = 0.05  # every clip of an utterance at one speech loudness before joining


def training_clips(clips: list[Clip]) -> list[Clip]:
    """The clips of speakers that are not held out; never one of EVALUATION_SPEAKERS."""
    chosen = [clip for clip in clips if not clip.held_out]
    assert not any(clip.held_out for clip in chosen)
    return chosen


def group_utterances(aligned: list[tuple[Clip, Utterance]], seed: int,
                     max_minutes: float | None = None) -> list[tuple[str, list[tuple[Clip, Utterance]]]]:
    """[(speaker, clips)] : each speaker's aligned clips in order, cut into runs whose
    audio adds up to MIN_SECONDS..MAX_SECONDS, at most ``max_minutes`` of audio per speaker
    (clips chosen at random by ``seed`` when capped, then kept in their order)."""
    by_speaker: dict[str, list[tuple[Clip, Utterance]]] = {}
    for clip, utterance in aligned:
        by_speaker.setdefault(clip.speaker, []).append((clip, utterance))
    groups = []
    for speaker in sorted(by_speaker):
        own = by_speaker[speaker]
        if max_minutes is not None:
            rng = np.random.default_rng([seed, sum(map(ord, speaker))])
            order, total, kept = rng.permutation(len(own)), 0.0, []
            for index in order:
                if total >= max_minutes * 60:
                    break
                kept.append(int(index))
                total += own[index][1].duration
            own = [own[i] for i in sorted(kept)]
        run, seconds = [], 0.0
        for item in own:
            if run and seconds + item[1].duration > MAX_SECONDS:
                groups.append((speaker, run))
                run, seconds = [], 0.0
            run.append(item)
            seconds += item[1].duration
            if seconds >= MIN_SECONDS:
                groups.append((speaker, run))
                run, seconds = [], 0.0
        if run:
            if groups and groups[-1][0] == speaker and seconds < MIN_SECONDS / 2:
                groups[-1] = (speaker, groups[-1][1] + run)  # a short tail joins the last one
            else:
                groups.append((speaker, run))
    return groups


def join_clips(speaker: str, clips: list[tuple[Clip, Utterance]], seed: int) -> Utterance:
    """One utterance (16 kHz audio, phonemes tiling it) of a speaker's clips with pauses."""
    rng = np.random.default_rng([seed, 31])
    phrases = []
    for _, utterance in clips:
        level = np.sqrt(max(speech_power(utterance.audio), 1e-12))
        audio = (utterance.audio * (TARGET_RMS / level)).astype(np.float32)
        phrases.append((audio, [tuple(p) for p in utterance.phonemes], []))
    pauses = [float(rng.uniform(*PAUSE_SECONDS)) for _ in phrases[1:]]
    audio, phonemes, _ = join_phrases(phrases, pauses)
    peak = float(np.abs(audio).max())
    if peak > 0.99:
        audio = audio * (0.99 / peak)
    first = clips[0][0]
    return Utterance(audio=audio.astype(np.float32), phonemes=phonemes, words=[],
                     text=" / ".join(clip.transcript for clip, _ in clips), voice_id=speaker,
                     language=first.language, seed=seed,
                     meta={"clips": [clip.name for clip, _ in clips], "source": first.source,
                           "licence": first.licence})


def make_real_sequence(utterance: Utterance, index: int, seed: int, split: str, augmented: bool,
                       folder: Path) -> dict:
    """Teacher faces for ``utterance`` (augmented or not), written under ``folder``; returns
    the manifest record. Mirrors ``corpus.worker.make_sequence`` for synthetic speech."""
    # The clips, seed and augmentation in the name: a rerun with other settings never
    # takes a file of this one for its own (the files of a finished sequence are kept).
    key = zlib.crc32(json.dumps([utterance.meta["clips"], seed, augmented]).encode())
    name = f"r{index:06d}-{utterance.voice_id}-{key:08x}"
    relative = Path("sequences") / f"{name}.npz"
    heard, analysis = utterance, None
    if augmented:
        heard = augment(utterance, seed)
        analysis = clean_audio_like(utterance, heard)
    if not (folder / relative).is_file():  # resumable: a finished file is kept as it is
        sequence = teacher_sequence(heard, seed, analysis_audio=analysis)
        animation = sequence.animation
        info = {
            "name": name, "index": index, "seed": seed, "split": split, "voice_id": utterance.voice_id,
            "engine": ENGINE, "language": utterance.language, "text": utterance.text, "augmented": augmented,
            "augmentation": heard.meta.get("augmentation", []), "prosody": {},
            "identity": sequence.identity.as_dict(), "style": animation.style.as_dict(),
            "events": animation.events(), "arkit_names": list(ARKIT_NAMES), "fps": 30,
            "sample_rate": SAMPLE_RATE, "clips": utterance.meta["clips"], "source": utterance.meta["source"],
            "licence": utterance.meta["licence"],
        }
        write_sequence(folder / relative, StoredSequence(
            audio=heard.audio, audio_clean=analysis, vertices=sequence.vertices, template=sequence.template,
            arkit=animation.arkit, identity=sequence.identity.as_vector(),
            phonemes=[(p.symbol, p.start, p.end) for p in heard.phonemes], info=info))
    return {
        "name": name, "file": relative.as_posix(), "index": index, "split": split, "seed": seed,
        "voice_id": utterance.voice_id, "engine": ENGINE, "language": utterance.language, "augmented": augmented,
        "duration": heard.duration, "frames": frame_count(heard.duration, MODEL_FPS), "text": heard.text,
        "phonemes": len(heard.phonemes),
        "bilabials": sum(ipa.is_known(p.symbol) and ipa.features(p.symbol).is_bilabial for p in heard.phonemes),
        "clips": utterance.meta["clips"], "source": utterance.meta["source"], "licence": utterance.meta["licence"],
    }


def build_real_corpus(data: Path, transcriptions: Path | None, out: Path, seed: int = 0,
                      max_minutes: float | None = None, log=print, fotaq_transcriptions: Path | None = None) -> dict:
    """Align, group, animate and write; returns the manifest (also ``out``/manifest.json)."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    clips = training_clips(find_clips(data, transcriptions, fotaq_transcriptions))
    log(f"{len(clips)} clips of {len({c.speaker for c in clips})} training speakers")
    aligned, failures = aligned_clips(clips, out, log)
    groups = group_utterances(aligned, seed, max_minutes)
    records = []
    counts: dict[str, int] = {}
    for index, (speaker, members) in enumerate(groups):
        sequence_index = counts.get(speaker, 0)
        counts[speaker] = sequence_index + 1
        split = "validation" if sequence_index % VALIDATION_EVERY == VALIDATION_EVERY - 1 else "train"
        item_seed = sequence_seed(seed + 1000, index)  # not the synthetic corpus's seeds
        rng = np.random.default_rng([seed, index, 7])
        utterance = join_clips(speaker, members, item_seed)
        records.append(make_real_sequence(utterance, index, item_seed, split,
                                          bool(rng.random() < AUGMENT_PROBABILITY), out))
        if (index + 1) % 50 == 0:
            log(f"{index + 1}/{len(groups)} sequences, {time.perf_counter() - started:.0f} s")
    manifest = {
        "format": "meshtalk-blender-corpus", "version": 1,
        "request": {"kind": "real speech", "data": str(data), "seed": seed, "max_minutes_per_speaker": max_minutes,
                    "validation_every": VALIDATION_EVERY, "augment_probability": AUGMENT_PROBABILITY},
        "fps": 30, "sample_rate": SAMPLE_RATE, "vertex_count": int(load_bundled_head().vertex_count),
        "arkit_names": list(ARKIT_NAMES), "identity_fields": list(SPANS),
        "held_out": {"speakers": "real_sources.EVALUATION_SPEAKERS (none of them is here)"},
        "alignment_failures": len(failures),
        "sources": sorted({f"{c.source}: {c.licence}" for c, _ in aligned}),
        "totals": corpus_totals(records),
        "generation": {"wall_seconds": time.perf_counter() - started},
        "sequences": records,
    }
    partial = out / (MANIFEST_NAME + ".partial")
    partial.write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    os.replace(partial, out / MANIFEST_NAME)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshtalk_blender.training.real_corpus",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/realdata/x"),
                        help="folder the Debian packages are unpacked in (real_sources.fetch_packages)")
    parser.add_argument("--transcriptions", type=Path, help="JSON of Drascula's non-hero clips heard by Whisper")
    parser.add_argument("--fotaq-transcriptions", type=Path,
                        help="JSON of Flight of the Amazon Queen's clips heard by Whisper (scripts/train_transcribe_fotaq.py)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-minutes", type=float, help="at most this much audio per speaker")
    args = parser.parse_args(argv)
    manifest = build_real_corpus(args.data, args.transcriptions, args.out, args.seed, args.max_minutes,
                                 lambda line: print(line, flush=True), args.fotaq_transcriptions)
    for split in ("train", "validation"):
        t = manifest["totals"][split]
        print(f"{split}: {t['sequences']} sequences, {t['hours'] * 60:.1f} min, {t['voices']} speakers, "
              f"languages {', '.join(t['languages'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
