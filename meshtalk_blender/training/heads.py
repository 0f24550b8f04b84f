"""Which latent heads move the mouth, and which the upper face?

MeshTalk's cross-modality loss pushes audio-driven motion into some heads and the rest
into others, but does not say which. We measure it through the decoder: for real latent
sequences, give one head the labels of another sequence of the batch (labels the model
really uses) and see where the mesh moves. Each region's displacement is divided by how
much that region moves in the data (the mouth moves ~20x more than the upper face), so
that the shares compare like with like. Heads whose effect lands mostly on the mouth
(share > 0.8) are the mouth heads; "resample the upper face" keeps them and redraws the
others, and the mouth-mask blend keeps the lips exact in any case. A model whose heads
all mix mouth and upper face (measured for the bundled model) gets no mouth heads: the
upper face is then redrawn from all heads and the lips come from the blend alone.
Since training.mouth_heads the recipe makes the roles by construction (head 0 held,
heads 1-8 decided by the audio); this measurement then checks them (``roles`` gives the
labels the way the recipe made them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.model import MeshTalk
from .dataset import SegmentBatcher, Sequence
from .loops import audio_codes
from .mouth_heads import HeadRoles, fusion_log_probs


@dataclass
class HeadInfluence:
    mouth: np.ndarray  # (H,) mean displacement (m) per unit mouth-mask weight
    upper_face: np.ndarray  # (H,) the same on the upper-face mask
    mouth_motion: float  # the data's own mean displacement from the segment mean (m), mouth
    upper_face_motion: float  # the same on the upper face

    @property
    def mouth_share(self) -> np.ndarray:
        """(H,) in [0, 1]: how much of a head's effect, relative to each region's own
        motion, lands on the mouth."""
        mouth = self.mouth / self.mouth_motion
        upper = self.upper_face / self.upper_face_motion
        return mouth / np.maximum(mouth + upper, 1e-12)

    def mouth_heads(self, share: float = 0.8) -> tuple[int, ...]:
        return tuple(int(h) for h in np.flatnonzero(self.mouth_share > share))


@torch.no_grad()
def measure_head_influence(model: MeshTalk, sequences: list[Sequence], mouth_mask: np.ndarray,
                           upper_mask: np.ndarray, batches: int = 4, batch_size: int = 8,
                           segment_frames: int = 64, seed: int = 0, roles: HeadRoles = HeadRoles()) -> HeadInfluence:
    model.eval()
    device = next(model.parameters()).device
    batcher = SegmentBatcher(sequences, segment_frames, batch_size, seed, model.config.audio_normalisation)
    mouth = torch.from_numpy(mouth_mask).to(device)
    upper = torch.from_numpy(upper_mask).to(device)
    heads, classes = model.config.num_heads, model.config.num_classes
    totals = np.zeros((heads, 2))
    motion = np.zeros(2)
    region = lambda moved, mask: float((moved * mask).sum() / mask.sum())  # noqa: E731
    for _ in range(batches):
        batch = batcher.next_batch().to(device)
        templates = batch.templates[:, None]
        expression = model.expression_encoder(batch.vertices, templates)
        labels = fusion_log_probs(model, expression, audio_codes(model, batch), roles).argmax(-1)

        def decode(latent):
            return model.decoder(templates, torch.nn.functional.one_hot(latent, classes).float())

        base = decode(labels)
        for head in range(heads):
            changed = labels.clone()
            changed[..., head] = labels[..., head].roll(1, dims=0)  # another sequence's labels
            moved = (decode(changed) - base).norm(dim=-1).mean(dim=(0, 1))  # (V,)
            totals[head] += [region(moved, mouth), region(moved, upper)]
        own = (batch.vertices - batch.vertices.mean(dim=1, keepdim=True)).norm(dim=-1).mean(dim=(0, 1))
        motion += [region(own, mouth), region(own, upper)]
    return HeadInfluence(totals[:, 0] / batches, totals[:, 1] / batches, motion[0] / batches, motion[1] / batches)
