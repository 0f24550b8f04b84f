"""The two training stages of MeshTalk, resumable, on any device.

Stage 1 trains the audio encoder, expression encoder, fusion and decoder with the
reconstruction, eyelid and cross-modality losses (segments of 32 frames in the release).
Stage 2 freezes them, takes the argmax of the fusion output as the latent labels of each
segment and trains the prior teacher-forced with NLL (segments of 64 frames).

Checkpoints are plain dicts of tensors and numbers, read back with weights_only=True.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..core.device import choose_device
from ..core.model import MeshTalk
from ..core.model.fusion import quantize
from ..core.model.meshtalk import codes_at_positions
from .dataset import Batch, SegmentBatcher, Sequence, template_statistics, vertex_statistics
from .initialisation import initialise_from_data
from .losses import RegionMasks, Stage1Weights, masked_mse, prior_nll, stage1_losses
from .mouth_heads import HeadRoles, fusion_log_probs, isolate_mouth_context, mix_heads


@dataclass
class TrainSettings:
    steps: int
    batch_size: int = 8
    segment_frames: int = 32
    learning_rate: float = 1e-4
    decay_at: float = 0.8  # fraction of the steps after which the learning rate is x0.1
    seed: int = 0
    device: str = "auto"
    log_every: int = 50
    checkpoint_every: int = 500
    gumbel_tau: float = 1.0
    weights: Stage1Weights = field(default_factory=Stage1Weights)
    # Stage 1 only: weights for the first ``warmup_steps`` steps instead of ``weights``.
    warmup_weights: Stage1Weights | None = None
    warmup_steps: int = 0
    # Heads held constant or driven by the audio alone (training.mouth_heads); both stages.
    roles: HeadRoles = field(default_factory=HeadRoles)


def stage1_weights_at(settings: TrainSettings, step_index: int) -> dict[str, float]:
    """The loss weights of stage 1 at a 0-based step."""
    if settings.warmup_weights is not None and step_index < settings.warmup_steps:
        return asdict(settings.warmup_weights)
    return asdict(settings.weights)


LogCallback = Callable[[dict], None]
ValidateCallback = Callable[[MeshTalk], dict]


def set_vertex_statistics(model: MeshTalk, sequences: list[Sequence]) -> None:
    """The encoders and the decoder work on vertices normalised by the data's per-vertex
    mean and std (as the release); computed once, before stage 1. In the "offsets"
    vertex space the meshes are offsets from their templates, and the decoder's template
    input is normalised by the templates' own statistics."""
    def put(buffers: list[torch.Tensor], statistics: tuple[np.ndarray, np.ndarray]) -> None:
        for buffer, values in zip(buffers, statistics):
            buffer.copy_(torch.from_numpy(values).view(buffer.shape))

    encoder, decoder = model.expression_encoder, model.decoder
    if model.config.vertex_space == "offsets":
        offsets = vertex_statistics(sequences, "offsets")
        put([encoder.mean, encoder.stddev], offsets)
        put([decoder.offset_mean, decoder.offset_stddev], offsets)
        put([decoder.mean, decoder.stddev], template_statistics(sequences))
    else:
        absolute = vertex_statistics(sequences)
        put([encoder.mean, encoder.stddev], absolute)
        put([decoder.mean, decoder.stddev], absolute)


def prepare_stage1(model: MeshTalk, sequences: list[Sequence], seed: int = 0) -> None:
    """Before the first step of stage 1 (not on resume): statistics, then initialisation."""
    set_vertex_statistics(model, sequences)
    initialise_from_data(model, sequences, seed=seed)


def audio_codes(model: MeshTalk, batch: Batch) -> torch.Tensor:
    """(B, T, A) audio codes at the batch's frame times."""
    return codes_at_positions(model.audio_encoder(batch.log_mel), batch.code_positions)


def stage1_forward(model: MeshTalk, batch: Batch, masks: RegionMasks, tau: float,
                   roles: HeadRoles = HeadRoles()) -> dict[str, torch.Tensor]:
    audio_code = audio_codes(model, batch)
    templates = batch.templates[:, None]  # (B, 1, V, 3): one identity per sequence
    expression = model.expression_encoder(batch.vertices, templates)

    def one_hot(expression_code, audio_code_):
        log_probs = fusion_log_probs(model, expression_code, audio_code_, roles)
        return quantize(log_probs, tau), log_probs

    own, log_probs = one_hot(expression, audio_code)
    predicted = model.decoder(templates, own)
    # Another sequence of the batch supplies the swapped modality (needs B >= 2).
    other_expression = one_hot(expression.roll(1, dims=0), audio_code)[0]
    if roles:
        # The audio-driven heads are this audio's in both decodes: keep the same draw.
        other_expression = mix_heads(own, other_expression, roles)
    audio_swapped = model.decoder(templates, other_expression)
    terms = stage1_losses(
        predicted,
        batch.vertices,
        audio_swapped,
        model.decoder(templates, one_hot(expression, audio_code.roll(1, dims=0))[0]),
        masks,
        log_probs,
    )
    if roles.mouth:
        # The upper face's heads must not move the mouth: the same mouth heads with
        # another sequence's upper heads decode the same mouth.
        terms["mouth_invariance"] = masked_mse(audio_swapped, predicted, masks.mouth)
    return terms


def stage2_forward(model: MeshTalk, batch: Batch, roles: HeadRoles = HeadRoles()) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        audio_code = audio_codes(model, batch)
        expression = model.expression_encoder(batch.vertices, batch.templates[:, None])
        labels = fusion_log_probs(model, expression, audio_code, roles).argmax(dim=-1)
    one_hot = torch.nn.functional.one_hot(labels, model.config.num_classes).float()
    log_probs = model.prior(one_hot, audio_code)
    return {"nll": prior_nll(log_probs, labels)}


def train_stage1(model: MeshTalk, sequences: list[Sequence], masks: RegionMasks, settings: TrainSettings,
                 checkpoint: str | Path | None = None, log: LogCallback | None = None,
                 validate: ValidateCallback | None = None, validate_every: int = 0) -> list[dict]:
    if settings.batch_size < 2:
        raise ValueError("stage 1 needs batch_size >= 2 (the cross-modality loss swaps within the batch)")
    device = choose_device(settings.device)
    masks = masks.to(device)

    def step(batch: Batch, step_index: int) -> tuple[torch.Tensor, dict]:
        terms = stage1_forward(model, batch, masks, settings.gumbel_tau, settings.roles)
        weights = stage1_weights_at(settings, step_index)
        total = sum(weights[name] * value for name, value in terms.items())
        return total, {name: float(value.detach()) for name, value in terms.items()}

    modules = [model.audio_encoder, model.expression_encoder, model.fusion, model.decoder]
    return _train("stage1", model, sequences, modules, step, settings, device, checkpoint, log, validate,
                  validate_every, before_start=lambda: prepare_stage1(model, sequences, settings.seed))


def train_stage2(model: MeshTalk, sequences: list[Sequence], settings: TrainSettings,
                 checkpoint: str | Path | None = None, log: LogCallback | None = None,
                 validate: ValidateCallback | None = None, validate_every: int = 0) -> list[dict]:
    device = choose_device(settings.device)

    def step(batch: Batch, step_index: int) -> tuple[torch.Tensor, dict]:
        terms = stage2_forward(model, batch, settings.roles)
        return terms["nll"], {"nll": float(terms["nll"].detach())}

    def isolate() -> None:
        isolate_mouth_context(model.prior, settings.roles)

    isolate()
    return _train("stage2", model, sequences, [model.prior], step, settings, device,
                  checkpoint, log, validate, validate_every, after_step=isolate)


def _train(stage, model, sequences, trained_modules, step, settings: TrainSettings, device, checkpoint, log,
           validate, validate_every, before_start=None, after_step=None) -> list[dict]:
    """Runs the optimisation; only ``trained_modules`` learn (and use dropout); the rest
    of the model stays frozen in eval mode."""
    model.to(device)
    optimizer = torch.optim.Adam([p for m in trained_modules for p in m.parameters()], lr=settings.learning_rate)
    decay_step = max(1, int(math.ceil(settings.decay_at * settings.steps)))
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[decay_step], gamma=0.1)
    batcher = SegmentBatcher(sequences, settings.segment_frames, settings.batch_size, settings.seed,
                             model.config.audio_normalisation)
    history: list[dict] = []
    first_step = 0
    checkpoint = Path(checkpoint) if checkpoint else None
    if checkpoint is not None and checkpoint.is_file():
        first_step, history = _resume(checkpoint, stage, model, optimizer, scheduler, batcher)
        # The decay follows the settings of this run, so that a finished or interrupted run
        # can be extended by running it again with more steps.
        scheduler.milestones = Counter({decay_step: 1})
        if first_step < decay_step:
            for group in optimizer.param_groups:
                group["lr"] = settings.learning_rate
    elif before_start is not None:
        before_start()
    torch.manual_seed(settings.seed + first_step)  # Gumbel noise and dropout
    log = log or _print_log

    def train_mode() -> None:
        model.eval()
        for module in trained_modules:
            module.train()

    train_mode()
    started = time.perf_counter()
    running: dict[str, list[float]] = {}
    for step_index in range(first_step, settings.steps):
        batch = batcher.next_batch().to(device)
        loss, terms = step(batch, step_index)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()
        scheduler.step()
        for name, value in terms.items():
            running.setdefault(name, []).append(value)
        done = step_index + 1
        if done % settings.log_every == 0 or done == settings.steps:
            entry = {"stage": stage, "step": done, "seconds": round(time.perf_counter() - started, 2),
                     "lr": scheduler.get_last_lr()[0], **{k: float(np.mean(v)) for k, v in running.items()}}
            running = {}
            if validate is not None and validate_every and (done % validate_every == 0 or done == settings.steps):
                model.eval()
                with torch.no_grad():
                    entry.update({f"val_{k}": v for k, v in validate(model).items()})
                train_mode()
            history.append(entry)
            log(entry)
        if checkpoint is not None and (done % settings.checkpoint_every == 0 or done == settings.steps):
            _save(checkpoint, stage, done, model, optimizer, scheduler, batcher, history)
    model.eval()
    return history


def _save(path: Path, stage, step, model, optimizer, scheduler, batcher, history) -> None:
    state = {
        "stage": stage, "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "batcher_rng": batcher.rng.bit_generator.state, "history": history,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    torch.save(state, temporary)
    temporary.replace(path)  # a crash while saving never leaves a broken checkpoint


def _resume(path: Path, stage, model, optimizer, scheduler, batcher) -> tuple[int, list[dict]]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state["stage"] != stage:
        raise ValueError(f"{path} is a {state['stage']} checkpoint, not {stage}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    batcher.rng.bit_generator.state = state["batcher_rng"]
    return int(state["step"]), list(state["history"])


def _print_log(entry: dict) -> None:
    values = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items())
    print(values, flush=True)
