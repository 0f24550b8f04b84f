"""Point-cache files that Blender's Mesh Cache modifier reads: PC2 and MDD.

PC2 (little-endian): b"POINTCACHE2\\0", int32 version 1, int32 vertex count, float32
start frame, float32 sample rate, int32 sample count, then samples x vertices x 3 float32.
MDD (big-endian): int32 frames, int32 vertices, float32 time of each frame (seconds),
then frames x vertices x 3 float32.

Writers stream: the header is written first (the frame count is known in advance), then
frames chunk by chunk, so an hour of animation never has to sit in memory. A writer that
is not finished (error, cancel, full disk) deletes its temporary file; the destination is
replaced only by a complete file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .atomic_files import StagedFile
from .errors import MeshTalkError

PC2_MAGIC = b"POINTCACHE2\0"
PC2_HEADER = struct.Struct("<12siiffi")


class CacheWriter:
    """Context manager: ``write(frames)`` chunks of (n, V, 3); checks the total on exit.

    The frames go to a temporary file beside ``path`` whose name is unique to this run
    (two runs writing the same cache never share it), renamed to ``path`` only when every
    frame is there. A failure, cancel or full disk deletes it and leaves ``path`` as it
    was; OS errors become a MeshTalkError that names the file."""

    def __init__(self, path: str | Path, num_frames: int, num_vertices: int, fps: float, start_frame: float = 0.0):
        self.path = Path(path)
        self.kind = self.path.suffix.lower()
        if self.kind not in (".pc2", ".mdd"):
            raise MeshTalkError(f"Unknown point-cache extension '{self.path.suffix}'; use .pc2 or .mdd.")
        self.num_frames, self.num_vertices, self.fps, self.start_frame = num_frames, num_vertices, fps, start_frame
        self.written = 0
        self._file = StagedFile(self.path)

    def __enter__(self) -> "CacheWriter":
        handle = self._file.open()
        with self._file.guard():
            if self.kind == ".pc2":
                handle.write(PC2_HEADER.pack(PC2_MAGIC, 1, self.num_vertices, self.start_frame, 1.0, self.num_frames))
            else:
                handle.write(struct.pack(">ii", self.num_frames, self.num_vertices))
                handle.write((np.arange(self.num_frames) / self.fps).astype(">f4").tobytes())
        return self

    def write(self, frames: np.ndarray) -> None:
        frames = checked_chunk(frames, self.num_vertices, self.written, self.num_frames)
        with self._file.guard():  # a full disk shows here or at the close
            self._file.handle.write(frames.astype("<f4" if self.kind == ".pc2" else ">f4", copy=False).tobytes())
        self.written += len(frames)

    def adjust(self, offsets_for, block: int = 256) -> None:
        """Adds ``offsets_for(first, count)`` ((count, V, 3), or None for no change) to
        the frames written so far, in blocks, before the file is committed."""
        handle = self._file.handle
        dtype = np.dtype("<f4" if self.kind == ".pc2" else ">f4")
        header = PC2_HEADER.size if self.kind == ".pc2" else 8 + 4 * self.num_frames
        frame_bytes = self.num_vertices * 3 * dtype.itemsize
        with self._file.guard():
            for first in range(0, self.written, block):
                count = min(block, self.written - first)
                offsets = offsets_for(first, count)
                if offsets is None:
                    continue
                handle.seek(header + first * frame_bytes)
                frames = np.frombuffer(handle.read(count * frame_bytes), dtype=dtype).reshape(count, -1, 3)
                handle.seek(header + first * frame_bytes)
                handle.write((frames.astype(np.float32) + offsets).astype(dtype).tobytes())
            handle.seek(0, 2)

    def __exit__(self, error_type, error, traceback) -> None:
        if self._file.handle is None:  # already discarded (a failed write, or an abort called twice)
            return
        if error_type is not None:
            self._file.discard()
            return
        if self.written != self.num_frames:
            self._file.discard()
            raise ValueError(f"wrote {self.written} frames, header says {self.num_frames}")
        self._file.commit()


def checked_chunk(frames: np.ndarray, num_vertices: int, written: int, num_frames: int) -> np.ndarray:
    """(n, V, 3) float32 frames that fit after ``written`` of the ``num_frames`` a streamed
    file's header announced (a bug otherwise: the header would lie)."""
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 3 or frames.shape[1:] != (num_vertices, 3):
        raise ValueError(f"frames must be (n, {num_vertices}, 3), got {frames.shape}")
    if written + len(frames) > num_frames:
        raise ValueError("more frames than the header announced")
    return frames


def write_cache(path: str | Path, vertices: np.ndarray, fps: float, start_frame: float = 0.0) -> None:
    """(N, V, 3) vertices -> a .pc2 or .mdd file."""
    with CacheWriter(path, len(vertices), vertices.shape[1], fps, start_frame) as writer:
        writer.write(vertices)


def read_cache(path: str | Path) -> np.ndarray:
    """A .pc2 or .mdd file -> (N, V, 3) float32."""
    path = Path(path)
    data = path.read_bytes()
    if path.suffix.lower() == ".pc2":
        magic, _version, vertices, _start, _rate, frames = PC2_HEADER.unpack_from(data)
        if magic != PC2_MAGIC:
            raise MeshTalkError(f"{path.name} is not a PC2 file.")
        body = np.frombuffer(data, dtype="<f4", offset=PC2_HEADER.size)
    else:
        frames, vertices = struct.unpack_from(">ii", data)
        body = np.frombuffer(data, dtype=">f4", offset=8 + 4 * frames)
    if body.size != frames * vertices * 3:
        raise MeshTalkError(f"{path.name} is truncated.")
    return body.reshape(frames, vertices, 3).astype(np.float32)
