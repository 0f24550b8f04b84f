"""Training the bundled model: the exact settings and the command that reproduces it.

    bash scripts/train_bundled.sh          # everything, from the corpora to the detector
    .venv/bin/python -m meshtalk_blender.training.bundled --corpus /work/corpus \
        --real-corpus /work/corpus_real --out runs/bundled      # the training step alone

The run writes, under --out: stage1.pt / stage2.pt (resumable checkpoints: run the same
command again to continue), log.jsonl (one line per logged step, both stages, with
validation on held-out voices), heads.json (which latent heads move the mouth), and
model/ (the bundle: model.safetensors + config.json, then lip_closure.safetensors, the
detector of p/b/m that training.lip_closure trains, lip_tuck.safetensors, the f/v of
training.lip_tuck (both on the features of speech_encoder.safetensors where the folder
has it: scripts/train_bundled.sh writes it first with training.speech_encoder_weights),
and tongue.safetensors, the tongue's places that training.tongue trains, and with the
speech encoder lip_gap.safetensors, the inner-lip gap that training.lip_gap trains; on a
CPU with two cores or more they train in a second process while the model trains, and a
run stopped during one trains it again); last, config.json gets the sampling temperature
whose blinks on the held-out voices come nearest the teacher's (training.temperature).
--install copies model/ into meshtalk_blender/assets/model, where the add-on and the
command line find it.

Sizes are chosen so that the training takes about two hours on one CPU core; it runs
unchanged on CUDA or MPS (--device).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from ..core.checkpoints import save_bundle
from ..core.device import choose_device
from ..core.face import ARKIT_INDEX, arkit_deltas, load_bundled_head
from ..core.model import MeshTalk, MeshTalkConfig
from ..core.lip_tuck import TUCK_FILE
from ..core.model.lip_closure import CLOSURE_FILE
from ..core.model.speech_encoder import SPEECH_ENCODER_FILE, load_speech_encoder
from ..core.tongue import TONGUE_FILE
from ..core.lip_gap import GAP_FILE
from . import lip_closure, lip_gap, lip_tuck, temperature, tongue
from .corpus.loader import load_corpus
from .dataset import SegmentBatcher, Sequence
from .heads import measure_head_influence
from .loops import TrainSettings, stage1_forward, stage2_forward, train_stage1, train_stage2
from .losses import RegionMasks, Stage1Weights
from .mouth_heads import HeadRoles, sharpen_mouth_heads

INSTALL_DIR = Path(__file__).resolve().parents[1] / "assets" / "model"
LICENCE = ("MIT (code and weights of this project). Trained only on speech synthesised by this project "
           "(espeak-ng, festival voices, Piper joe, Kokoro) with faces animated by its own teacher; "
           "see MODEL_CARD.md.")
LICENCE_WITH_REAL_SPEECH = (
    "MIT (code and weights of this project). Trained on speech synthesised by this project (espeak-ng, festival "
    "voices, Piper joe, Kokoro) and on real recordings from Debian packages (Drascula, Tux Paint stamps, Flight of "
    "the Amazon Queen; none of them is in the weights), with faces animated by its own teacher; see MODEL_CARD.md.")


def bundled_config(num_vertices: int) -> MeshTalkConfig:
    """The original architecture, narrower where width costs most on a CPU: the decoder's
    vertex layers and the prior (16 heads x 64 classes, 32 channels per head)."""
    return MeshTalkConfig(
        num_vertices=num_vertices, num_heads=16, num_classes=64, audio_channels=128,
        expression_widths=(128, 128), expression_code=128, fusion_width=256,
        decoder_widths=(256, 128, 128), prior_channels=32, audio_normalisation="utterance",
        vertex_space="offsets",
    )


# Stage 1 at lr 1e-3 saturated the fusion on one class per head and never recovered
# (measured twice); 3e-4 with the data initialisation learns, slowly, so the decay is late.
# The lip-contact term is what makes the lips seal: without it the stage-1 model decoded
# from the true meshes closed the lips on 2 % of held-out p/b/m (inner-lip gap r 0.71 with
# the teacher); with weight 1 from the start, 93 % and r 0.94 after 1,500 steps, but the
# eyelid term never left its no-blink level (0.28 mm^2 at step 1,500; 0.06 without the
# term, where blinks form within ~500 steps). So the first 1,000 steps train without it.
# Where the term acts decides what the prior can learn. On the reconstruction only, the
# lips' closures ride in the expression's part of the latent, which the prior must guess
# from audio: weights (1, audio 1) sealed 74 % of held-out p/b/m through the prior but
# followed real speech's openness at r 0.65. On the audio-driven decode, the latent's
# mouth part comes from audio and is easier to predict (held-out prior NLL 0.35 instead
# of 0.50): (0.5, audio 2) follows real speech at r 0.83 and seals 83 % of real p/b/m,
# 56-57 % of held-out synthetic ones; (0, audio 2) sealed 49 % / 66 %.
# Head 0 is held constant (the prior cannot condition it on anything) and heads 1-8 are
# the mouth's, decided by the audio alone; 9-15 carry the upper face (training.mouth_heads).
ROLES = HeadRoles(fixed=(0,), mouth=tuple(range(1, 9)))
# The brows have their own term after the warm-up, as the eyelids have theirs: without it
# the model sampled a seventh of the teacher's brow motion; with it, all of it, different
# for every seed, and its blinks did not suffer. From the first step it kept the blinks from
# forming (MODEL_CARD.md, "The model's own brows"; measured on 3,000 + 1,500-step pilots).
BROW_WEIGHT = 20.0
MOUTH_INVARIANCE = 10.0
SYNTHETIC_REPEATS = 2  # with real speech: the synthetic corpus's share of the segments, see training_sequences
STAGE1 = TrainSettings(steps=10000, batch_size=8, segment_frames=32, learning_rate=3e-4, decay_at=0.9,
                       log_every=50, checkpoint_every=250,
                       weights=Stage1Weights(1.0, 5.0, 1.0, brow=BROW_WEIGHT, lip_contact=0.5, audio_lip_contact=2.0,
                                             mouth_invariance=MOUTH_INVARIANCE, lip_shape=1.0, audio_lip_shape=2.0),
                       warmup_weights=Stage1Weights(1.0, 5.0, 1.0, mouth_invariance=MOUTH_INVARIANCE),
                       warmup_steps=1000, roles=ROLES)
# The eyelid term weighs 5, so that blinks form in the warm-up and survive the jolt when
# the lip terms start (lip contact ~4 -> ~65 mm^2 for a few steps). At weight 1, whether
# they formed hung on the exact numerics (one thread instead of two: still the no-blink
# eyelid loss, 0.29 mm^2, at step 1,300; two threads on the corpus regenerated with 16 ms
# vocoder frames: 0.28 at step 1,000), and at 5 in the warm-up only they formed by step
# 200 but were lost at the jolt (0.27 from step 1,200 to 4,650). At 5 throughout, on one
# thread: 0.08 at step 200, 0.49 for a moment at 1,050, 0.05 from 1,200 (measured).
# The run still warns when the warm-up ends without blinks.
BLINKS_FORMED_EYELID = 0.15  # mm^2: held-out no-blink level ~0.28, with blinks ~0.08 at 1,000 steps
STAGE2 = TrainSettings(steps=3000, batch_size=8, segment_frames=64, learning_rate=1e-3, decay_at=0.75,
                       log_every=50, checkpoint_every=250, roles=ROLES)
QUICK_STEPS = 20  # --quick: a smoke run of the whole recipe


BROW_KEYS = ("browInnerUp", "browOuterUpLeft", "browOuterUpRight", "browDownLeft", "browDownRight")
BROW_KEYPOINT_MM = 2.0  # a brow keypoint moves at least this far under one of BROW_KEYS at weight 1


def brow_keypoints(head) -> np.ndarray:
    """(K,) the vertices the head's brow keys move by BROW_KEYPOINT_MM or more."""
    deltas = arkit_deltas(head)
    moved = np.stack([np.linalg.norm(deltas[ARKIT_INDEX[name]], axis=-1) for name in BROW_KEYS]).max(axis=0)
    return np.flatnonzero(moved * 1000.0 >= BROW_KEYPOINT_MM)


def region_masks(head) -> RegionMasks:
    return RegionMasks(
        mouth=torch.from_numpy(head.masks["mouth"]),
        upper_face=torch.from_numpy(head.masks["upper_face"]),
        eyelid_keypoints=torch.from_numpy(head.index_sets["eyelid_keypoints"]),
        upper_inner_lip=torch.from_numpy(head.index_sets["upper_inner_lip"]),
        lower_inner_lip=torch.from_numpy(head.index_sets["lower_inner_lip"]),
        brow_keypoints=torch.from_numpy(brow_keypoints(head)),
    )


def validation_callback(sequences: list[Sequence], masks: RegionMasks, stage: int, batches: int = 4,
                        roles: HeadRoles = HeadRoles()):
    """Fixed held-out-voice segments; returns the stage's losses on them."""
    def validate(model: MeshTalk) -> dict:
        device = next(model.parameters()).device
        batcher = SegmentBatcher(sequences, 32 if stage == 1 else 64, 8, seed=1234,
                                 audio_normalisation=model.config.audio_normalisation)
        totals: dict[str, float] = {}
        for _ in range(batches):
            batch = batcher.next_batch().to(device)
            terms = (stage1_forward(model, batch, masks.to(device), 1.0, roles) if stage == 1
                     else stage2_forward(model, batch, roles))
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + float(value) / batches
        return totals
    return validate


def recipe_settings(device: str = "auto", quick: bool = False, steps: tuple[int, int] | None = None,
                    mouth_heads: bool = True, lip_shape: bool = True,
                    brow_weight: float | None = None, seed: int = 0) -> list[TrainSettings]:
    """[stage 1, stage 2] settings of the recipe with ``train_bundled``'s switches."""
    roles = ROLES if mouth_heads else HeadRoles()
    settings = [replace(s, device=device, roles=roles, seed=seed) for s in (STAGE1, STAGE2)]
    if not mouth_heads:
        settings[0] = replace(settings[0], weights=replace(settings[0].weights, mouth_invariance=0.0),
                              warmup_weights=replace(settings[0].warmup_weights, mouth_invariance=0.0))
    if not lip_shape:
        settings[0] = replace(settings[0], weights=replace(settings[0].weights, lip_shape=0.0, audio_lip_shape=0.0))
    if brow_weight is not None:  # after the warm-up, as the recipe's
        settings[0] = replace(settings[0], weights=replace(settings[0].weights, brow=brow_weight))
    if quick:
        settings = [replace(s, steps=QUICK_STEPS, warmup_steps=min(s.warmup_steps, QUICK_STEPS // 2), log_every=5,
                            checkpoint_every=10) for s in settings]
    elif steps is not None:  # a shorter pilot of the same recipe (the bundled model uses the defaults)
        settings = [replace(s, steps=n) for s, n in zip(settings, steps)]
    return settings


def train_bundled(corpus: Path, out: Path, device: str = "auto", quick: bool = False,
                  limit: int | None = None, steps: tuple[int, int] | None = None,
                  real_corpora: tuple[Path, ...] = (), mouth_heads: bool = True, lip_shape: bool = True,
                  brow_weight: float | None = None, detectors_beside: bool | None = None, seed: int = 0) -> Path:
    """``real_corpora``: ``training.real_corpus`` folders whose "train" split joins the
    synthetic one (their "validation" split is left for tuning: the detectors' thresholds
    and reports take it beside the synthetic one). For comparisons with the
    recipe before: ``mouth_heads`` False, the latent without heads held or decided by the
    audio alone; ``lip_shape`` False, no inner-lip position terms; ``brow_weight``, the
    brow keypoints' term after the warm-up instead of the recipe's BROW_WEIGHT (0: the
    recipe before). ``detectors_beside``: train the detectors in a second process while
    the model trains (by default on a CPU with two cores or more); the files are the same
    either way. ``seed``: the model's start, its initialisation from the data, the order of
    the segments and the sampling noise (0, the shipped model's; another, to measure how far
    a retrain lands from it)."""
    out.mkdir(parents=True, exist_ok=True)
    head = load_bundled_head()
    masks = region_masks(head)
    started = time.perf_counter()
    train, validation = training_sequences(corpus, real_corpora, limit)
    print(f"corpus: {len(train)} training and {len(validation)} validation sequences "
          f"({sum(s.num_frames for s in train) / 30 / 60:.1f} + {sum(s.num_frames for s in validation) / 30 / 60:.1f} "
          f"min), loaded in {time.perf_counter() - started:.0f} s", flush=True)
    if detectors_beside is None:
        detectors_beside = choose_device(device).type == "cpu" and (os.cpu_count() or 1) >= 2
    beside = None
    if detectors_beside:  # the detectors need only the corpora: they train on the other core meanwhile
        # Daemonic: if the model's training fails, the run ends at once and does not wait
        # for them (a finished detector file is kept for the next run).
        beside = multiprocessing.get_context("spawn").Process(
            target=_train_detectors_on_threads, daemon=True,
            args=(torch.get_num_threads(), corpus, real_corpora, limit, out / "model", device, quick))
        beside.start()
    config = bundled_config(len(head.vertices))
    torch.manual_seed(seed)
    model = MeshTalk(config)
    settings = recipe_settings(device, quick, steps, mouth_heads, lip_shape, brow_weight, seed)
    roles = settings[0].roles
    log_path = out / "log.jsonl"

    def log(entry: dict) -> None:
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items()), flush=True)
        with open(log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        if (entry["stage"] == "stage1" and entry["step"] == settings[0].warmup_steps and not quick
                and entry.get("eyelid", 0.0) > BLINKS_FORMED_EYELID):
            print(f"warning: the eyelid loss is still {entry['eyelid']:.3g} mm^2 at the end of the warm-up: blinks "
                  "have not formed, and will not once the lip-contact term starts (see this module's notes). "
                  "Stop the run and start it again on another number of threads or device.", flush=True)

    every = settings[0].log_every * 5
    train_stage1(model, train, masks, settings[0], out / "stage1.pt", log,
                 validation_callback(validation, masks, 1, roles=roles), every)
    train_stage2(model, train, settings[1], out / "stage2.pt", log,
                 validation_callback(validation, masks, 2, roles=roles), every)
    influence = measure_head_influence(model, validation or train, head.masks["mouth"], head.masks["upper_face"],
                                       roles=roles)
    # With roles the mouth's heads are made so (and the fixed head too is the same for
    # every seed); without, the measured ones (none, for the models trained before).
    mouth_heads = roles.audio_driven if roles else influence.mouth_heads()
    (out / "heads.json").write_text(json.dumps({
        "mouth_heads": list(mouth_heads),
        "mouth_share": [round(float(v), 4) for v in influence.mouth_share],
        "mouth_mm": [round(float(v) * 1000, 4) for v in influence.mouth],
        "upper_face_mm": [round(float(v) * 1000, 4) for v in influence.upper_face],
        "region_motion_mm": {"mouth": round(influence.mouth_motion * 1000, 4),
                             "upper_face": round(influence.upper_face_motion * 1000, 4)},
    }, indent=2) + "\n")
    print(f"mouth heads: {mouth_heads}; measured mouth share per head: "
          f"{[round(float(v), 2) for v in influence.mouth_share]}", flush=True)
    model.cpu()
    sharpen_mouth_heads(model.prior, roles)  # after every measurement: only the exported prior
    save_bundle(
        out / "model", model, head.vertices, description="MeshTalk for Blender, bundled model (bundled head)",
        licence=LICENCE_WITH_REAL_SPEECH if real_corpora else LICENCE, inference_only=True, half_precision=True, mouth_heads=mouth_heads,
        vertex_masks={"smoothing": np.maximum(head.masks["forehead"], head.masks["neck"]),
                      "mouth": head.masks["mouth"]},
        metadata={"stage1": asdict(settings[0]), "stage2": asdict(settings[1]), "corpus": str(corpus),
                  "real_corpora": [str(p) for p in real_corpora], "head_roles": asdict(roles),
                  "train_sequences": len(train), "validation_sequences": len(validation),
                  "wall_seconds": round(time.perf_counter() - started)},
    )
    if beside is None:
        train_detectors(corpus, real_corpora, limit, out / "model", device, quick, train)
    else:
        beside.join()
        if beside.exitcode != 0:
            raise RuntimeError(f"training the detectors beside the model failed (exit code {beside.exitcode}); "
                               "run the same command again: it keeps what is done")
    # Last, when no detector file is still being written: the temperature it is used at.
    temperature.calibrate(out / "model", held_out_sequences(corpus, real_corpora, limit), device)
    return out / "model"


def training_sequences(corpus: Path, real_corpora: tuple[Path, ...] = (), limit: int | None = None
                       ) -> tuple[list[Sequence], list[Sequence]]:
    """(training, validation) sequences of the recipe, loaded lazily: the synthetic
    corpus's and every real corpus's "train" split, and the synthetic "validation" split."""
    train = load_corpus(corpus, "train", limit=limit, lazy=True)
    if real_corpora:
        # Listed twice: its exact timings keep a third of the segments against ~3x as much
        # real speech, whose alignments are off by 10-40 ms (same objects: no memory).
        train = train * SYNTHETIC_REPEATS
    for real in real_corpora:
        train += load_corpus(real, "train", limit=limit, lazy=True)
    return train, load_corpus(corpus, "validation", limit=limit, lazy=True)


def held_out_sequences(corpus: Path, real_corpora: tuple[Path, ...] = (), limit: int | None = None) -> list[Sequence]:
    """The recipe's held-out voices, which the detectors' thresholds and the temperature
    are measured on: the synthetic corpus's and every real corpus's "validation" split."""
    return [sequence for folder in (corpus, *real_corpora)
            for sequence in load_corpus(folder, "validation", limit=limit, lazy=True)]


def train_detectors(corpus: Path, real_corpora: tuple[Path, ...], limit: int | None, model_dir: Path,
                    device: str = "auto", quick: bool = False,
                    loaded: list[Sequence] | None = None) -> None:
    """The detectors beside the weights in ``model_dir``, each by the lip seal's recipe,
    trained on the recipe's training sequences (``loaded``, or loaded here) and calibrated
    on every held-out split; one a stopped run had finished is kept. They do not depend on
    the model, so ``train_bundled`` runs this in a second process on a second core."""
    train = loaded if loaded is not None else training_sequences(corpus, real_corpora, limit)[0]
    held_out = held_out_sequences(corpus, real_corpora, limit)
    # The p/b/m and f/v detectors read the speech encoder's features where the folder has
    # the encoder (scripts/train_bundled.sh writes it first), the log-mel otherwise.
    speech = model_dir / SPEECH_ENCODER_FILE
    if speech.is_file():
        closure = tuck = (lip_closure.SPEECH_SETTINGS, {"encoder": load_speech_encoder(speech)})
    else:
        closure, tuck = (lip_closure.SETTINGS, {}), (lip_closure.EVENT_SETTINGS, {})
    trained = [(CLOSURE_FILE, lip_closure.train_and_save, closure), (TUCK_FILE, lip_tuck.train_and_save, tuck),
               (TONGUE_FILE, tongue.train_and_save, (lip_closure.EVENT_SETTINGS, {}))]
    if speech.is_file():  # the lip-gap regressor reads only the speech encoder's features
        trained.append((GAP_FILE, lip_gap.train_and_save, (lip_gap.SETTINGS, closure[1])))
    for name, train_and_save, (recipe, inputs) in trained:
        if not (model_dir / name).is_file():
            settings = replace(recipe, steps=QUICK_STEPS, log_every=5) if quick else recipe
            train_and_save(train, held_out, model_dir / name, settings, device,
                           log=lambda line: print(line, flush=True), **inputs)


def _train_detectors_on_threads(threads: int, *args) -> None:
    torch.set_num_threads(threads)  # the parent's: the same numbers, the same files
    train_detectors(*args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshtalk_blender.training.bundled", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps per stage (a smoke run)")
    parser.add_argument("--limit", type=int, help="use only the first N sequences of each split")
    parser.add_argument("--steps", type=int, nargs=2, metavar=("STAGE1", "STAGE2"),
                        help="a shorter pilot run (default: the recipe's steps)")
    parser.add_argument("--real-corpus", type=Path, action="append", default=[],
                        help="a training.real_corpus folder to train on as well (repeatable)")
    parser.add_argument("--no-mouth-heads", action="store_true",
                        help="the latent without fixed or audio-driven heads (the recipe before; for comparison)")
    parser.add_argument("--no-lip-shape", action="store_true",
                        help="without the inner-lip position terms (the recipe before; for comparison)")
    parser.add_argument("--brow-weight", type=float,
                        help=f"weight of the brow keypoints' term in stage 1 after the warm-up (the recipe: "
                             f"{BROW_WEIGHT:g}; 0, the recipe before; for comparison)")
    parser.add_argument("--seed", type=int, default=0,
                        help="the model's start, the order of the segments and the sampling noise (the recipe: 0)")
    parser.add_argument("--install", action="store_true", help="copy the trained model into assets/model")
    args = parser.parse_args(argv)
    model_dir = train_bundled(args.corpus, args.out, args.device, args.quick, args.limit,
                              tuple(args.steps) if args.steps else None, tuple(args.real_corpus),
                              not args.no_mouth_heads, not args.no_lip_shape, args.brow_weight, seed=args.seed)
    if args.install:
        install(model_dir)
    return 0


def install(model_dir: Path) -> None:
    """Replace the shipped weights and config; the hand-written MODEL_CARD.md beside them stays."""
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("model.safetensors", "config.json", CLOSURE_FILE, TUCK_FILE, TONGUE_FILE):
        shutil.copy2(model_dir / name, INSTALL_DIR / name)
    for name in (SPEECH_ENCODER_FILE, GAP_FILE):
        if (model_dir / name).is_file():
            shutil.copy2(model_dir / name, INSTALL_DIR / name)
        else:  # the installed detectors read the log-mel: no encoder (or gap regressor) of an earlier install stays
            (INSTALL_DIR / name).unlink(missing_ok=True)
    print(f"installed {INSTALL_DIR}")


if __name__ == "__main__":
    sys.exit(main())
