"""Choosing where torch runs: CUDA, then Apple MPS, then the CPU.

The sampler always runs on the CPU (it is a compiled sequential kernel); the audio
encoder and the decoder run on the chosen device.
"""

from __future__ import annotations

import torch

from .errors import MeshTalkError

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


def choose_device(preference: str = "auto") -> torch.device:
    """The device for a preference in DEVICE_CHOICES; an explicit choice must exist."""
    preference = (preference or "auto").lower()
    if preference not in DEVICE_CHOICES:
        raise MeshTalkError(f"Unknown device '{preference}'; choose one of {', '.join(DEVICE_CHOICES)}.")
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise MeshTalkError("CUDA was requested but no CUDA GPU is usable here; choose 'auto' or 'cpu'.")
    if preference == "mps" and not _mps_available():
        raise MeshTalkError("Apple MPS was requested but is not available here; choose 'auto' or 'cpu'.")
    return torch.device(preference)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def is_gpu_failure(error: BaseException) -> bool:
    """True for errors a GPU run can hit that a CPU run would not (memory, driver)."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(
        marker in text for marker in ("cuda", "cudnn", "cublas", "mps", "out of memory", "device-side", "driver")
    )
