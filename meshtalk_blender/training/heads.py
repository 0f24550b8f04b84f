"""Which latent heads move the mouth, and which the upper face?

MeshTalk's cross-modality loss pushes audio-driven motion into some heads and the rest
into others, but does not say which. We measure it through the decoder: for real latent
sequences, replace one head's labels by other classes and see where the mesh moves.
Heads that move the mouth region more than the upper face (per unit of mask weight) are
the mouth heads; "resample the upper face" keeps them and redraws the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.model import MeshTalk
from .dataset import SegmentBatcher, Sequence
from .loops import audio_codes


@dataclass
class HeadInfluence:
    mouth: np.ndarray  # (H,) mean displacement (m) per unit mouth-mask weight
    upper_face: np.ndarray  # (H,) the same on the upper-face mask

    @property
    def mouth_share(self) -> np.ndarray:
        """(H,) in [0, 1]: how much of a head's effect lands on the mouth."""
        return self.mouth / np.maximum(self.mouth + self.upper_face, 1e-12)

    def mouth_heads(self, share: float = 0.5) -> tuple[int, ...]:
        return tuple(int(h) for h in np.flatnonzero(self.mouth_share > share))


@torch.no_grad()
def measure_head_influence(model: MeshTalk, sequences: list[Sequence], mouth_mask: np.ndarray,
                           upper_mask: np.ndarray, batches: int = 4, batch_size: int = 8,
                           segment_frames: int = 64, seed: int = 0) -> HeadInfluence:
    model.eval()
    device = next(model.parameters()).device
    batcher = SegmentBatcher(sequences, segment_frames, batch_size, seed, model.config.audio_normalisation)
    generator = torch.Generator().manual_seed(seed)
    mouth = torch.from_numpy(mouth_mask).to(device)
    upper = torch.from_numpy(upper_mask).to(device)
    heads, classes = model.config.num_heads, model.config.num_classes
    totals = np.zeros((heads, 2))
    for _ in range(batches):
        batch = batcher.next_batch().to(device)
        labels = model.fusion(model.expression_encoder(batch.vertices, batch.templates[:, None]), audio_codes(model, batch)).argmax(-1)
        templates = batch.templates[:, None]

        def decode(latent):
            return model.decoder(templates, torch.nn.functional.one_hot(latent, classes).float())

        base = decode(labels)
        for head in range(heads):
            changed = labels.clone()
            shift = torch.randint(1, classes, changed[..., head].shape, generator=generator).to(device)
            changed[..., head] = (changed[..., head] + shift) % classes
            moved = (decode(changed) - base).norm(dim=-1).mean(dim=(0, 1))  # (V,)
            totals[head] += [float((moved * mouth).sum() / mouth.sum()), float((moved * upper).sum() / upper.sum())]
    return HeadInfluence(totals[:, 0] / batches, totals[:, 1] / batches)
