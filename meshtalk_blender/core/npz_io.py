"""The command line's .npz output, streamed: an hour of animation never sits in memory.

An uncompressed .npz is a zip archive of .npy files. The ``vertices`` entry is written
chunk by chunk: its .npy header carries the shape, known before the first frame (the
run's frame count), and zip64 lets it pass 4 GB. The small arrays follow once the run has
made them (the latent labels exist only after the last chunk). ``np.load`` reads the
result as it read ``np.savez``'s.

Like the point caches, the archive goes to a temporary file beside the output, unique to
this run, and replaces the output only when complete.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from pathlib import Path

import numpy as np

from .atomic_files import remove_quietly, temporary_path, write_failed
from .cache_io import checked_chunk


class NpzWriter:
    """Context manager: ``write(frames)`` chunks of (n, V, 3) float32 ``vertices``, then
    ``finish(**arrays)`` with the other entries; checks the frame total on exit."""

    def __init__(self, path: str | Path, num_frames: int, num_vertices: int):
        self.path = Path(path)
        self.num_frames, self.num_vertices = num_frames, num_vertices
        self.written = 0
        self._temporary = temporary_path(self.path)
        self._archive: zipfile.ZipFile | None = None
        self._entry = None
        self._finished = False

    def __enter__(self) -> "NpzWriter":
        with self._os_errors():
            self._archive = zipfile.ZipFile(self._temporary, "w", zipfile.ZIP_STORED)
            self._entry = self._archive.open("vertices.npy", "w", force_zip64=True)
            header = {"descr": "<f4", "fortran_order": False, "shape": (self.num_frames, self.num_vertices, 3)}
            np.lib.format.write_array_header_1_0(self._entry, header)
        return self

    def write(self, frames: np.ndarray) -> None:
        frames = checked_chunk(frames, self.num_vertices, self.written, self.num_frames)
        with self._os_errors():
            self._entry.write(frames.astype("<f4", copy=False).tobytes())
        self.written += len(frames)

    def finish(self, **arrays) -> None:
        """Ends ``vertices`` and adds each of ``arrays`` as an entry (as ``np.savez`` would)."""
        if self.written != self.num_frames:
            raise ValueError(f"wrote {self.written} frames, header says {self.num_frames}")
        with self._os_errors():
            self._entry.close()
            self._entry = None
            for name, value in arrays.items():
                with self._archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, np.asanyarray(value), allow_pickle=False)
        self._finished = True

    def __exit__(self, error_type, error, traceback) -> None:
        if self._archive is None:  # already discarded
            return
        if error_type is not None:
            self._discard()
            return
        if not self._finished:
            self._discard()
            raise ValueError("NpzWriter closed before finish()")
        with self._os_errors():
            self._archive.close()
            self._archive = None
            os.replace(self._temporary, self.path)

    @contextlib.contextmanager
    def _os_errors(self):
        try:
            yield
        except OSError as error:  # a full disk, a folder made read-only meanwhile
            self._discard()
            raise write_failed(self.path, error) from None

    def _discard(self) -> None:
        for part in (self._entry, self._archive):
            if part is not None:
                with contextlib.suppress(Exception):  # closing writes what is buffered: it may fail again
                    part.close()
        self._entry = self._archive = None
        remove_quietly(self._temporary)
