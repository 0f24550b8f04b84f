"""Checks that a tensor read from a user's file can be computed with.

A checkpoint with NaN weights, or integer tensors where the model multiplies floats,
loads without complaint in torch and then animates NaN (or wrong) vertices. Every
tensor read from a file passes here first, so a damaged file is refused with a message
naming it and its key, before any work.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import MeshTalkError


def check_values(file_name: str, key: str, tensor: torch.Tensor, advice: str = "Download it again.") -> None:
    """Refuses a tensor that is not floating-point, or that is not finite once in float32
    (a float64 value beyond float32's range becomes infinity when the model loads it)."""
    if not torch.is_floating_point(tensor):
        raise MeshTalkError(f"{file_name}: '{key}' holds {str(tensor.dtype).replace('torch.', '')} values where the "
                            f"model needs floating-point numbers; the file is damaged or not a MeshTalk model. {advice}")
    if not _finite_in_float32(tensor):
        raise MeshTalkError(f"{file_name}: '{key}' contains NaN or infinite values; the file is damaged. {advice}")


def _finite_in_float32(tensor: torch.Tensor) -> bool:
    # numpy's isfinite: torch's took 1.3 s on the bundled model's 13 M half floats here,
    # numpy's 17 ms (the whole load took 1.8 s).
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
        tensor = tensor.float()
    values = tensor.detach().cpu().numpy()
    if not np.isfinite(values).all():
        return False
    return values.dtype.itemsize <= 4 or not len(values.ravel()) or np.abs(values).max() <= np.finfo(np.float32).max
