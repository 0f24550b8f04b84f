"""Checks that a tensor read from a user's file can be computed with.

A checkpoint with NaN weights, or integer tensors where the model multiplies floats,
loads without complaint in torch and then animates NaN (or wrong) vertices. Every
tensor read from a file passes here first, so a damaged file is refused with a message
naming it and its key, before any work.
"""

from __future__ import annotations

import torch

from .errors import MeshTalkError


def check_values(file_name: str, key: str, tensor: torch.Tensor, advice: str = "Download it again.") -> None:
    """Refuses a tensor that is not floating-point, or that is not finite once in float32
    (a float64 value beyond float32's range becomes infinity when the model loads it)."""
    if not torch.is_floating_point(tensor):
        raise MeshTalkError(f"{file_name}: '{key}' holds {str(tensor.dtype).replace('torch.', '')} values where the "
                            f"model needs floating-point numbers; the file is damaged or not a MeshTalk model. {advice}")
    if not torch.isfinite(tensor.float()).all():
        raise MeshTalkError(f"{file_name}: '{key}' contains NaN or infinite values; the file is damaged. {advice}")
