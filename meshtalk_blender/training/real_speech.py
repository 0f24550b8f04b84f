"""Lip metrics on real human speech: recordings -> aligned utterances -> teacher references.

The corpus is synthetic speech; this measures how a model does on real voices. The
recordings come from the Debian package ``pocketsphinx-testdata`` (CMU Sphinx's test
data, installed under /usr/share/pocketsphinx/test/data; BSD-2 per its copyright file):

- ``librivox/``: five sentences of *Sense and Sensibility* ch. 1 read by a LibriVox
  volunteer (LibriVox recordings are public domain), transcript in ``transcription``;
- ``cards/``: five card names ("ten of clubs", ...), transcript in ``cards.transcription``;
- ``goforward.raw``: "go forward ten meters", the sentence of the package's
  ``goforward.gram`` (rule ``<move>``) that the recording is made for;
- ``tidigits/dhd.2934z.raw``: a TIDIGITS-style digit string; TIDIGITS names encode the
  digits spoken ("2934z" = two nine three four zero, as ``tidigits.lsn`` spells them).

``numbers.raw`` and ``something.raw`` have no transcript and are left out (a transcript
guessed by a recogniser would make the reference circular).

Each recording is force-aligned to its transcript with pocketsphinx (its bundled en-us
acoustic model and CMU dictionary; phone level, 10 ms frames). The ARPAbet phones map to
the project's IPA with festival's ``radio`` table (the same ARPAbet set), the teacher
animates the utterance (``teacher.animate``) on the bundled neutral head, and that is
the reference. ``real_speech_report`` compares a model's animation with it:
- Pearson r of the inner-lip gap per frame, model vs reference, pooled over recordings;
- the share of real p/b/m segments where the model's lips seal (``evaluate``'s seal:
  inner lips within SEAL_MM at some frame of the segment, +-30 ms);
- lip vertex error (MeshTalk's, mm, and the squared variant, mm^2) against the reference;
and the same numbers for the loudness-driven jaw and the static template.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile

from ..core.audio import normalise_waveform
from ..core.face import ARKIT_INDEX, apply_arkit, arkit_deltas, load_bundled_head
from ..core.model.config import MODEL_FPS
from . import metrics
from .dataset import Sequence
from .evaluate import SEAL_MM, loudness_jaw_baseline
from .speech import ipa
from .speech.festival_phones import to_ipa
from .speech.utterance import SAMPLE_RATE, Utterance, Word, check_tiling, tile_phonemes
from .teacher import animate

APT_PACKAGE = "pocketsphinx-testdata"
DATA_FOLDER = Path("/usr/share/pocketsphinx/test/data")
COPYRIGHT_FILE = Path("/usr/share/doc/pocketsphinx-testdata/copyright")
SOURCE = ("Debian package pocketsphinx-testdata (CMU Sphinx test data; BSD-2 licence, "
          "Carnegie Mellon University 1995-2014 and Alpha Cephei 2014-2015, per "
          "/usr/share/doc/pocketsphinx-testdata/copyright). librivox/: Sense and Sensibility "
          "ch. 1 read for LibriVox (public domain); cards/, goforward.raw, tidigits/dhd.2934z.raw: "
          "CMU test recordings. Timing: pocketsphinx forced alignment of the transcripts.")

TARGET_R = 0.8
TARGET_SEAL = 0.8
LOUDNESS_R_REFERENCE = 0.61  # loudness openness r on real speech, docs synthetic-to-real.md

# pocketsphinx's filler phones (silence, noises) carry no mouth shape.
_FILLER = re.compile(r"^(SIL|\+.*\+)$")
_TIDIGITS_WORDS = {"1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
                   "7": "seven", "8": "eight", "9": "nine", "z": "zero", "o": "oh"}


class AlignmentError(Exception):
    """A recording that pocketsphinx could not align to its transcript."""


@dataclass
class Recording:
    name: str  # unique, file-name safe: "librivox-0870"
    path: Path  # .wav (any rate) or .raw (16 kHz int16 little-endian mono)
    transcript: str  # lower-case words separated by spaces


def read_audio(path: Path) -> np.ndarray:
    """(N,) float32 in [-1, 1] at 16 kHz mono."""
    if path.suffix == ".raw":
        return (np.fromfile(path, dtype="<i2") / 32768.0).astype(np.float32)
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path}: {rate} Hz; the test data is 16 kHz")
    return samples.mean(axis=1)


def _transcriptions(path: Path) -> dict[str, str]:
    """Sphinx transcription file ("<s> words </s> (id)" per line) -> {id: words}."""
    entries = {}
    for line in path.read_text().splitlines():
        match = re.match(r"\s*(.*?)\s*\(([^)]+)\)\s*$", line)
        if match:
            words = [w for w in match.group(1).split() if w not in ("<s>", "</s>")]
            entries[match.group(2)] = " ".join(words).lower()
    return entries


def find_recordings(folder: Path = DATA_FOLDER) -> list[Recording]:
    """Every recording of the package that has a transcript, in a fixed order."""
    if not (folder / "librivox" / "transcription").is_file():
        raise FileNotFoundError(
            f"no real speech recordings in {folder}: install the Debian package {APT_PACKAGE} "
            f"(apt-get install {APT_PACKAGE}; scripts/setup.sh does it)")
    recordings = []
    for sub, transcription in (("librivox", "transcription"), ("cards", "cards.transcription")):
        for key, words in _transcriptions(folder / sub / transcription).items():
            path = folder / sub / f"{key}.wav"
            short = key.rsplit("-", 1)[-1]
            recordings.append(Recording(f"{sub}-{short}", path, words))
    # The grammar's sentence; pocketsphinx's own recogniser hears the same words.
    recordings.append(Recording("goforward", folder / "goforward.raw", "go forward ten meters"))
    digits = folder / "tidigits" / "dhd.2934z.raw"
    spoken = " ".join(_TIDIGITS_WORDS[c] for c in digits.name.split(".")[1])
    recordings.append(Recording("tidigits-2934z", digits, spoken))
    missing = [str(r.path) for r in recordings if not r.path.is_file()]
    if missing:
        raise FileNotFoundError(f"{APT_PACKAGE} is incomplete, missing: {', '.join(missing)}")
    return recordings


def missing_requirements(folder: Path = DATA_FOLDER) -> str | None:
    """Why the real-speech evaluation cannot run here, or None when it can."""
    if not (folder / "librivox" / "transcription").is_file():
        return f"the Debian package {APT_PACKAGE} is not installed"
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return "the Python package pocketsphinx is not installed"
    return None


def make_decoder():
    """A pocketsphinx decoder with the wheel's en-us model and dictionary (nothing downloaded)."""
    try:
        import pocketsphinx
    except ImportError as error:
        raise ImportError("real-speech alignment needs the PyPI package pocketsphinx "
                          "(pinned in requirements.txt)") from error
    return pocketsphinx.Decoder(samprate=SAMPLE_RATE, loglevel="ERROR")


def _decode(decoder, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def align(recording: Recording, decoder) -> Utterance:
    """Force-align one recording: phonemes (IPA, tiling the audio) and words from pocketsphinx."""
    return align_audio(recording.name, read_audio(recording.path), recording.transcript, decoder,
                       {"source": str(recording.path)})


def align_audio(name: str, audio: np.ndarray, transcript: str, decoder, meta: dict | None = None) -> Utterance:
    """Force-align English ``audio`` (N,) at 16 kHz to ``transcript`` (lower-case words).

    Two passes, as pocketsphinx needs: word alignment to the transcript, then phone
    alignment inside those words. Raises AlignmentError when either fails.
    """
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    frame_s = 1.0 / float(decoder.config["frate"])
    try:
        decoder.set_align_text(transcript)
        _decode(decoder, pcm)
        # hyp() only after the word pass: pocketsphinx 5.1.1 crashes on it after the phone pass
        if decoder.hyp() is None:
            raise AlignmentError(f"{name}: no alignment path for {transcript!r}")
        decoder.set_alignment()
        _decode(decoder, pcm)
        alignment = decoder.get_alignment()
    except RuntimeError as error:  # unknown word, or no path through the audio
        raise AlignmentError(f"{name}: {error}") from error
    if alignment is None:
        raise AlignmentError(f"{name}: pocketsphinx returned no phone alignment")
    duration = len(audio) / SAMPLE_RATE
    segments = []
    for phone in alignment.phones():
        start, end = phone.start * frame_s, (phone.start + phone.duration) * frame_s
        symbol = ipa.SILENCE if _FILLER.match(phone.name) else to_ipa(phone.name.lower(), "radio")
        segments.append((symbol, start, end))
    words = [Word(re.sub(r"\(\d+\)$", "", w.name), w.start * frame_s, (w.start + w.duration) * frame_s)
             for w in alignment.words() if not w.name.startswith("<")]
    phonemes = tile_phonemes(segments, duration)
    check_tiling(phonemes, duration)
    return Utterance(audio=audio, phonemes=phonemes, words=words, text=transcript,
                     voice_id=f"real-{name}", language="en", seed=0, meta=dict(meta or {}))


def align_all(recordings: list[Recording]) -> tuple[list[Utterance], dict[str, str]]:
    """Align every recording; returns the utterances and {name: reason} for the failures."""
    decoder = make_decoder()
    utterances, failures = [], {}
    for recording in recordings:
        try:
            utterances.append(align(recording, decoder))
        except AlignmentError as error:
            failures[recording.name] = str(error)
    return utterances, failures


def reference_sequence(utterance: Utterance, head, deltas: np.ndarray, seed: int = 0) -> Sequence:
    """The teacher's animation of ``utterance`` on ``head`` as an evaluation Sequence.

    One seed for every recording, so every reference has the same style (jaw gain,
    articulation) and the pooled correlation is not blurred by style changes between
    recordings. ``deltas`` (52, V, 3) from ``arkit_deltas(head)``.
    """
    animation = animate(utterance, seed)
    vertices = apply_arkit(head, animation.arkit, deltas)  # (T, V, 3)
    template = head.vertices.astype(np.float32)
    return Sequence(
        waveform=normalise_waveform(utterance.audio),
        offsets=(vertices - template).astype(np.float32),
        template=template,
        name=utterance.voice_id,
        metadata={"voice_id": utterance.voice_id, "engine": "human", "language": "en",
                  "text": utterance.text, "phonemes": [tuple(p) for p in utterance.phonemes],
                  "words": [tuple(w) for w in utterance.words], "arkit": animation.arkit,
                  "source": utterance.meta["source"]},
    )


def load_real_sequences(folder: Path = DATA_FOLDER, seed: int = 0) -> tuple[list[Sequence], dict[str, str]]:
    """Every aligned recording as a reference Sequence, and {name: reason} of the failures."""
    utterances, failures = align_all(find_recordings(folder))
    head = load_bundled_head()
    deltas = arkit_deltas(head)
    return [reference_sequence(u, head, deltas, seed) for u in utterances], failures


def _pooled(values: list[float], weights: list[float]) -> float:
    return float(np.average(values, weights=weights)) if weights and sum(weights) > 0 else float("nan")


def score_animations(predicted: list[np.ndarray], sequences: list[Sequence]) -> dict:
    """Lip metrics of animations (T_i, V, 3) against the sequences' references.

    Returns r (pooled per-frame inner-lip gap correlation), sealed/bilabials counts and
    their share, and both lip vertex errors averaged over all frames.
    """
    head = load_bundled_head()
    sets = head.index_sets
    upper, lower, lip = sets["upper_inner_lip"], sets["lower_inner_lip"], sets["lip_keypoints"]
    gaps, reference_gaps, errors, squared, frames = [], [], [], [], []
    sealed = bilabials = 0
    for vertices, sequence in zip(predicted, sequences):
        count = min(len(vertices), sequence.num_frames)
        vertices, target = vertices[:count].astype(np.float32), sequence.vertices[:count]
        gap = metrics.pair_gap(vertices, upper, lower)
        gaps.append(gap)
        reference_gaps.append(metrics.pair_gap(target, upper, lower))
        seals = metrics.bilabial_seals(gap, MODEL_FPS, metrics.bilabial_closures(sequence.metadata["phonemes"]), SEAL_MM)
        sealed += seals[0]
        bilabials += seals[1]
        errors.append(metrics.lip_vertex_error(vertices, target, lip))
        squared.append(metrics.lip_vertex_error_squared(vertices, target, lip))
        frames.append(count)
    r = metrics.correlation(np.concatenate(gaps), np.concatenate(reference_gaps))
    seal_rate = metrics.rate((sealed, bilabials))
    return {
        "lip_gap_r": r,
        "bilabial_seal_rate": seal_rate,
        "sealed_bilabials": sealed,
        "bilabials": bilabials,
        "lip_vertex_error_mm": _pooled(errors, frames),
        "lip_vertex_error_squared_mm2": _pooled(squared, frames),
        # nan (a curve that never moves) compares False: a static face cannot pass
        "meets_targets": bool(r >= TARGET_R and seal_rate >= TARGET_SEAL),
    }


def _predictor(model) -> Callable[[Sequence], np.ndarray]:
    """An Evaluator (anything with ``animate(sequence).vertices``) or a function
    Sequence -> (T, V, 3) vertices."""
    if hasattr(model, "animate"):
        return lambda sequence: model.animate(sequence).vertices
    return model


def real_speech_report(model, sequences: list[Sequence], failures: dict[str, str] | None = None,
                       plot_sequence: str | None = None,
                       variants: dict[str, Callable[[Sequence], np.ndarray]] | None = None) -> dict:
    """The real-speech section of the evaluation report.

    ``model``: an ``evaluate.Evaluator`` or a function Sequence -> (T, V, 3). The rows are
    the model, a row per entry of ``variants`` (name: Sequence -> (T, V, 3)), the
    loudness-driven jaw (``evaluate.loudness_jaw_baseline``) and the static template.
    ``plot`` holds the inner-lip gap curves (mm) of one recording (the longest unless
    ``plot_sequence`` names one) for a figure.
    """
    predict = _predictor(model)
    jaw_delta = arkit_deltas(load_bundled_head())[ARKIT_INDEX["jawOpen"]]
    animations = {
        "model": [predict(s) for s in sequences],
        **{name: [variant(s) for s in sequences] for name, variant in (variants or {}).items()},
        "loudness jaw": [loudness_jaw_baseline(s, jaw_delta) for s in sequences],
        "static template": [np.repeat(s.template[None], s.num_frames, axis=0) for s in sequences],
    }
    rows = {name: score_animations(vertices, sequences) for name, vertices in animations.items()}
    phonemes = [p for s in sequences for p in s.metadata["phonemes"]]
    if plot_sequence is None:
        chosen = max(range(len(sequences)), key=lambda i: sequences[i].num_frames) if sequences else None
    else:
        chosen = [s.name for s in sequences].index(plot_sequence)
    plot = {}
    if chosen is not None:
        sets = load_bundled_head().index_sets
        gap = lambda v: metrics.pair_gap(v.astype(np.float32), sets["upper_inner_lip"],  # noqa: E731
                                         sets["lower_inner_lip"]).round(3).tolist()
        sequence = sequences[chosen]
        plot = {"sequence": sequence.name, "text": sequence.metadata["text"], "fps": MODEL_FPS,
                "reference": gap(sequence.vertices),
                **{name: gap(animations[name][chosen]) for name in ("model", "loudness jaw")},
                "bilabials": metrics.bilabial_closures(sequence.metadata["phonemes"])}
    return {
        "source": SOURCE,
        "recordings": len(sequences),
        "failed_to_align": dict(failures or {}),
        "seconds": float(sum(len(s.waveform) for s in sequences) / SAMPLE_RATE),
        "phones": sum(1 for p in phonemes if p[0] != ipa.SILENCE),
        "bilabial_segments": rows["model"]["bilabials"],
        "targets": {"lip_gap_r": TARGET_R, "bilabial_seal_rate": TARGET_SEAL,
                    "loudness_r_in_docs": LOUDNESS_R_REFERENCE},
        "rows": rows,
        "plot": plot,
    }
