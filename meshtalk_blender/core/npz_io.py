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
import zipfile
from pathlib import Path

import numpy as np

from .atomic_files import StagedFile
from .cache_io import checked_chunk


class NpzWriter:
    """Context manager: ``write(frames)`` chunks of (n, V, 3) float32 ``vertices``, then
    ``finish(**arrays)`` with the other entries; checks the frame total on exit."""

    def __init__(self, path: str | Path, num_frames: int, num_vertices: int):
        self.path = Path(path)
        self.num_frames, self.num_vertices = num_frames, num_vertices
        self.written = 0
        self._file = StagedFile(self.path)
        self._archive: zipfile.ZipFile | None = None
        self._entry = None
        self._finished = False

    def __enter__(self) -> "NpzWriter":
        handle = self._file.open()
        with self._guard():
            self._archive = zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED)
            self._entry = self._archive.open("vertices.npy", "w", force_zip64=True)
            header = {"descr": "<f4", "fortran_order": False, "shape": (self.num_frames, self.num_vertices, 3)}
            np.lib.format.write_array_header_1_0(self._entry, header)
        return self

    def write(self, frames: np.ndarray) -> None:
        frames = checked_chunk(frames, self.num_vertices, self.written, self.num_frames)
        with self._guard():
            self._entry.write(frames.astype("<f4", copy=False).tobytes())
        self.written += len(frames)

    def finish(self, **arrays) -> None:
        """Ends ``vertices`` and adds each of ``arrays`` as an entry (as ``np.savez`` would)."""
        if self.written != self.num_frames:
            raise ValueError(f"wrote {self.written} frames, header says {self.num_frames}")
        with self._guard():
            self._entry.close()
            self._entry = None
            for name, value in arrays.items():
                with self._archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, np.asanyarray(value), allow_pickle=False)
        self._finished = True

    def __exit__(self, error_type, error, traceback) -> None:
        if self._file.handle is None:  # already discarded
            return
        if error_type is not None or not self._finished:
            self._close_archive()
            self._file.discard()
            if error_type is None:
                raise ValueError("NpzWriter closed before finish()")
            return
        with self._guard():
            self._archive.close()  # writes the zip's directory into the file
        self._archive = None
        self._file.commit()

    @contextlib.contextmanager
    def _guard(self):
        """The staged file's guard, with the archive closed before the file it writes
        into is discarded (else it tries to finish the file later, on its own)."""
        with self._file.guard():
            try:
                yield
            except OSError:
                self._close_archive()
                raise

    def _close_archive(self) -> None:
        for part in (self._entry, self._archive):
            if part is not None:
                with contextlib.suppress(Exception):  # closing writes what is buffered: it may fail again
                    part.close()
        self._entry = self._archive = None
