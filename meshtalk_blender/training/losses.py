"""MeshTalk's training losses.

Stage 1 (encoders, fusion, decoder):
- reconstruction: MSE over all vertices;
- eyelid: MSE on the eyelid keypoints (blinks carry no audio signal, so without this
  term the model learns to average them away);
- brow (not in the original; weight 0 reproduces it): MSE on the brow keypoints, for the
  same reason. Without it the bundled recipe's stage 1, decoding the true meshes,
  reproduces a quarter of the teacher's brow motion (0.118 of 0.450 mm standard
  deviation over time on held-out voices, `runs/bundled_r3`) while its eyelids move as
  the teacher's (0.774 of 0.800 mm). 1,500 more steps with the term at weight 20: 0.469
  mm (eyelids 0.765); at 5 or without it, 0.100 / 0.119. The recipe weighs it 20 after
  the warm-up (MODEL_CARD.md, "The model's own brows");
- cross-modality: decode (this audio, another sequence's expression) and compare with
  this target on the mouth; decode (this expression, another sequence's audio) and
  compare on the upper face. This is what makes lips follow audio while the upper face
  stays free.
- code diversity (not in the original; weight 0 reproduces it): one minus the perplexity
  of each head's class distribution averaged over the batch, as a fraction of the
  classes (wav2vec 2.0's diversity loss); logged as a diagnostic of how many classes the
  latent uses. As a loss (weight 1, bundled corpus) it did not cure a latent collapsed to
  one class per head: the fusion went uniform on every frame instead; the data
  initialisation (training/initialisation.py) is what got the latent used.
- lip contact (not in the original; weight 0 reproduces it): squared error of the
  vector between paired upper and lower inner-lip vertices, on the reconstruction and on
  the audio-driven decode. A p/b/m closure lasts 2-3 frames and moves few vertices, so
  the plain MSE averages it to a near miss. Measured on held-out voices, decoding the
  true meshes: without this term the lips sealed on 2 % of p/b/m (inner-lip gap r 0.71);
  with weight 1 in stage 1, 93 % (r 0.94) after 1,500 steps. A decoder-only fine-tune
  with it did not help (the latent must carry the closure), and a term on closed frames
  only closed the lips everywhere (gap r 0.50).
Stage 2 (the prior): negative log-likelihood of the stage-1 latent labels.

Every masked loss is normalised by the mask's total weight, so the terms' sizes do not
depend on how many vertices a region has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


# Losses are in millimetres squared, as the release's data (in mm) gives them. In metres
# squared they are ~1e-6, their gradients fall below Adam's epsilon (1e-8) and the
# encoders stop learning: measured here as a latent that collapsed to uniform.
LOSS_UNITS_PER_METRE = 1000.0


def masked_mse(predicted: torch.Tensor, target: torch.Tensor, vertex_weights: torch.Tensor) -> torch.Tensor:
    """(B, T, V, 3) twice (metres), (V,) weights >= 0 -> mean squared error per weighted
    coordinate, in mm^2."""
    squared = ((predicted - target) * LOSS_UNITS_PER_METRE).square().sum(dim=-1)  # (B, T, V)
    weighted = (squared * vertex_weights).sum(dim=-1)  # (B, T)
    return weighted.mean() / (3 * vertex_weights.sum().clamp(min=1e-12))


def keypoint_mse(predicted: torch.Tensor, target: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """MSE on a set of vertices, mm^2: (B, T, V, 3) twice (metres), (K,) indices."""
    return ((predicted[:, :, indices] - target[:, :, indices]) * LOSS_UNITS_PER_METRE).square().mean()


def code_diversity_loss(log_probs: torch.Tensor) -> torch.Tensor:
    """(B, T, H, C) fusion log-probabilities -> 1 - mean over heads of perplexity / C of
    the batch-averaged class distribution: 0 when every class is used equally, towards
    1 when one class takes every frame. Each frame may still be confident."""
    average = log_probs.exp().flatten(0, 1).mean(dim=0)  # (H, C)
    entropy = -(average * average.clamp(min=1e-12).log()).sum(dim=-1)
    return 1 - (entropy.exp() / log_probs.shape[-1]).mean()


def lip_contact_mse(predicted: torch.Tensor, target: torch.Tensor, upper: torch.Tensor,
                    lower: torch.Tensor) -> torch.Tensor:
    """mm^2: (B, T, V, 3) twice (metres), (P,) paired indices -> MSE of the upper-to-lower
    inner-lip vectors; 0 when there are no pairs."""
    if len(upper) == 0:
        return predicted.new_zeros(())
    gap = lambda v: (v[:, :, upper] - v[:, :, lower]) * LOSS_UNITS_PER_METRE  # noqa: E731
    return (gap(predicted) - gap(target)).square().mean()


def lip_shape_mse(predicted: torch.Tensor, target: torch.Tensor, masks: "RegionMasks") -> torch.Tensor:
    """mm^2: MSE of the inner-lip vertices' positions (both lips); 0 without lip vertices.
    The lip-contact term sees only the lips' relative position; a labiodental tuck (the
    lower lip lifted ~2 mm and rolled ~2 mm behind the upper) is mostly where the lower
    lip is: measured on held-out synthetic f/v, the bundled model's lower lip stayed
    0.7 mm under the rest pose where the teacher's rose 2.3 mm, and it tucked none."""
    if len(masks.upper_inner_lip) == 0:
        return predicted.new_zeros(())
    return keypoint_mse(predicted, target, torch.cat([masks.upper_inner_lip, masks.lower_inner_lip]))


def prior_nll(log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B, T, H, C) log-probabilities, (B, T, H) labels -> mean negative log-likelihood."""
    return -torch.gather(log_probs, -1, labels.unsqueeze(-1)).mean()


@dataclass(frozen=True)
class Stage1Weights:
    reconstruction: float = 1.0
    eyelid: float = 1.0
    cross_modality: float = 1.0
    brow: float = 0.0
    diversity: float = 0.0
    lip_contact: float = 0.0  # on the reconstruction (this expression, this audio)
    audio_lip_contact: float = 0.0  # on the audio-driven decode (another expression, this audio)
    # With mouth heads (training.mouth_heads): the mouth of that decode against this
    # sequence's own decode, so that the upper face's heads do not move the mouth.
    mouth_invariance: float = 0.0
    lip_shape: float = 0.0  # inner-lip vertices' positions, on the reconstruction
    audio_lip_shape: float = 0.0  # the same on the audio-driven decode


@dataclass
class RegionMasks:
    """Per-vertex weights of the face regions the losses need, on the training device."""

    mouth: torch.Tensor  # (V,)
    upper_face: torch.Tensor  # (V,)
    eyelid_keypoints: torch.Tensor  # (K,) vertex indices
    # (P,) vertex indices of paired inner-lip vertices (upper[i] meets lower[i] when the
    # lips close); empty: no lip contact term
    upper_inner_lip: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    lower_inner_lip: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
    brow_keypoints: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))  # empty: no term

    def to(self, device) -> "RegionMasks":
        return RegionMasks(*(t.to(device) for t in (self.mouth, self.upper_face, self.eyelid_keypoints,
                                                     self.upper_inner_lip, self.lower_inner_lip,
                                                     self.brow_keypoints)))


def stage1_losses(predicted: torch.Tensor, target: torch.Tensor, audio_swapped: torch.Tensor,
                  expression_swapped: torch.Tensor, masks: RegionMasks,
                  log_probs: torch.Tensor) -> dict[str, torch.Tensor]:
    """predicted: decoded from (this expression, this audio); audio_swapped: from (other
    expression, this audio); expression_swapped: from (this expression, other audio).
    All (B, T, V, 3). log_probs: (B, T, H, C), the fusion output behind ``predicted``.
    Returns the named terms (unweighted)."""
    return {
        "diversity": code_diversity_loss(log_probs),
        "reconstruction": masked_mse(predicted, target, torch.ones_like(masks.mouth)),
        "eyelid": keypoint_mse(predicted, target, masks.eyelid_keypoints),
        "brow": (keypoint_mse(predicted, target, masks.brow_keypoints) if len(masks.brow_keypoints)
                 else predicted.new_zeros(())),
        "cross_modality": masked_mse(audio_swapped, target, masks.mouth)
        + masked_mse(expression_swapped, target, masks.upper_face),
        "lip_contact": lip_contact_mse(predicted, target, masks.upper_inner_lip, masks.lower_inner_lip),
        "audio_lip_contact": lip_contact_mse(audio_swapped, target, masks.upper_inner_lip, masks.lower_inner_lip),
        "lip_shape": lip_shape_mse(predicted, target, masks),
        "audio_lip_shape": lip_shape_mse(audio_swapped, target, masks),
    }
