"""Mouth heads: latent heads that the audio alone decides, so that a seed steers only the upper face.

MeshTalk's cross-modality loss asks that the mouth follow the audio, but leaves every
head free to carry both regions: measured on the bundled model, each head's effect was
42-73 % mouth, and two seeds moved the mouth by 0.19 mm on average and up to 7 mm on
real speech. Here the roles are made by construction (``HeadRoles``):

- head 0 is held at class 0: the prior's masks (as the original release's) let head h
  see only heads < h in every layer, so head 0 conditions on nothing, neither audio nor
  the past, and was a fresh random draw at every frame;
- the mouth heads (1..n) take their fusion logits from the audio code alone (the
  expression code replaced by zeros), so their labels are a function of the audio; the
  upper face's heads see both, as in MeshTalk (``fusion_log_probs``);
- when the cross-modality decode swaps in another sequence's expression, the mouth
  heads keep this sequence's draw, and the decoder is asked to leave the mouth where it
  was (``losses`` "mouth_invariance"): the upper heads must not move it;
- in the prior the mouth heads see only heads 0..n, now and in the past (the
  current-frame mask already lets head h see heads < h; the history convolutions' blocks
  from the upper heads into them are held at zero, ``isolate_mouth_context``), so their
  labels depend on the audio and nothing a seed draws;
- on export their logits are multiplied by ``SHARPENING`` (``sharpen_mouth_heads``): at
  temperature T the sampler draws them at T / 1000, their most likely label unless two
  are within ~T / 100 nats of each other.

Everything is in the weights: the sampler, the pipeline and the file format are those of
any MeshTalk bundle, and ``config.json``'s ``mouth_heads`` lists heads 0..n.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.model import MeshTalk
from ..core.model.prior import Prior

SHARPENING = 1000.0
FLOAT16_SAFE = 30000.0


@dataclass(frozen=True)
class HeadRoles:
    """Which latent heads are set apart; the rest carry the upper face (and nothing else).

    ``fixed``: held at class 0 in training, so the decoder learns to ignore them. Head 0
    of this prior (as in the original release: every layer's mask lets head h see heads
    < h only) conditions on nothing, neither audio nor the past: at inference it was a
    fresh random draw every frame (5 classes likely at temperature 0.6), and redrawing it
    alone moved the bundled model's mouth by 0.07-0.08 mm on average, several times any
    other single head (measured on three held-out lines).
    ``mouth``: their labels come from the audio alone (see the module's notes).
    Together they must be the leading heads 0..n-1."""

    fixed: tuple[int, ...] = ()
    mouth: tuple[int, ...] = ()

    def __post_init__(self):
        leading = tuple(self.fixed) + tuple(self.mouth)
        if leading != tuple(range(len(leading))):
            raise ValueError(f"fixed heads {self.fixed} then mouth heads {self.mouth} must be the first heads "
                             f"0..{len(leading) - 1}: the prior's mask lets head h see heads < h, so leading "
                             "heads see only each other")

    @property
    def audio_driven(self) -> tuple[int, ...]:
        """The heads a seed must not change: fixed and mouth."""
        return tuple(self.fixed) + tuple(self.mouth)

    def __bool__(self) -> bool:
        return bool(self.audio_driven)


def _selected(heads: tuple[int, ...], count: int, device) -> torch.Tensor:
    chosen = torch.zeros(count, dtype=torch.bool, device=device)
    chosen[list(heads)] = True
    return chosen[None, None, :, None]


def fusion_log_probs(model: MeshTalk, expression_code: torch.Tensor, audio_code: torch.Tensor,
                     roles: HeadRoles = HeadRoles()) -> torch.Tensor:
    """(B, T, E), (B, T, A) -> (B, T, H, C) log-probabilities; the mouth heads' from the
    audio alone, the fixed heads' certain of class 0."""
    log_probs = model.fusion(expression_code, audio_code)
    heads = log_probs.shape[2]
    if roles.mouth:
        from_audio = model.fusion(torch.zeros_like(expression_code), audio_code)
        log_probs = torch.where(_selected(roles.mouth, heads, log_probs.device), from_audio, log_probs)
    if roles.fixed:
        certain = torch.full_like(log_probs[0, 0, 0], -1e4)
        certain[0] = 0.0
        log_probs = torch.where(_selected(roles.fixed, heads, log_probs.device), certain, log_probs)
    return log_probs


def mix_heads(own: torch.Tensor, other: torch.Tensor, roles: HeadRoles) -> torch.Tensor:
    """(B, T, H, C) one-hots: the audio-driven heads of ``own``, the others of ``other``."""
    return torch.where(_selected(roles.audio_driven, own.shape[2], own.device), own, other)


@torch.no_grad()
def isolate_mouth_context(prior: Prior, roles: HeadRoles) -> None:
    """Zero the history convolutions' weights from upper-face heads into the audio-driven
    heads (call before stage 2 and after every optimizer step: a projected gradient)."""
    count = len(roles.audio_driven)
    if count == 0:
        return
    width = prior.config.prior_channels
    for layer in prior.context_layers:
        layer.historic.weight[:count * width, count * width:] = 0.0


@torch.no_grad()
def sharpen_mouth_heads(prior: Prior, roles: HeadRoles, factor: float = SHARPENING) -> None:
    """Multiply the audio-driven heads' output logits by ``factor`` (in place, for export)."""
    classes = prior.config.num_classes
    for head in roles.audio_driven:
        rows = slice(head * classes, (head + 1) * classes)
        weight, bias = prior.logits.masked_linear.weight[rows], prior.logits.masked_linear.bias[rows]
        largest = float(max(weight.abs().max(), bias.abs().max()))
        # The bundle stores float16 (largest 65,504): never sharpen a weight past half of it.
        scale = min(factor, FLOAT16_SAFE / max(largest, 1e-12))
        weight *= scale
        bias *= scale
