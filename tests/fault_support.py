"""Real faults for tests: a tiny file system that fills up, and a read-only folder.

Both are real tmpfs mounts when the test runs as root with mount rights (CI and this
machine); otherwise the test is skipped with the reason, never silently passed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest


def _mount(folder: Path, options: str) -> bool:
    if os.geteuid() != 0:
        return False
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    return result.returncode == 0


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "256k"):
    """``folder`` as a file system of ``size`` bytes (e.g. "256k"): writes beyond it fail
    with ENOSPC, as on a full disk."""
    folder.mkdir(parents=True, exist_ok=True)
    if not _mount(folder, f"size={size}"):
        pytest.skip("needs root with mount rights for a real full disk (tmpfs)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@contextlib.contextmanager
def read_only_folder(folder: Path, files: dict[str, bytes] | None = None):
    """``folder`` as a read-only file system holding ``files`` (name -> bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not _mount(folder, "size=4m"):
        pytest.skip("needs root with mount rights for a real read-only folder (tmpfs)")
    try:
        for name, data in (files or {}).items():
            (folder / name).write_bytes(data)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
