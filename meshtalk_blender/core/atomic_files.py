"""Writing a user's file so that it is either the old file or the complete new one.

Every output goes to a temporary file beside its destination (same folder, so the final
``os.replace`` is one atomic rename on the same file system), with a name no other run
can pick: two runs writing the same output never share a temporary file, and the last
to finish wins with a complete file. A failure, Ctrl-C or a full disk deletes the
temporary file and leaves whatever was at the destination untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator

from .errors import MeshTalkError

TEMPORARY_MARK = ".meshtalk-partial"


def temporary_path(destination: str | Path) -> Path:
    """A fresh hidden name beside ``destination`` (pid + random token: unique per run)."""
    destination = Path(destination)
    return destination.with_name(f".{destination.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMPORARY_MARK}")


def is_temporary(path: str | Path) -> bool:
    return Path(path).name.endswith(TEMPORARY_MARK)


@contextlib.contextmanager
def replacing(destination: str | Path) -> Iterator[Path]:
    """``with replacing(out) as temporary: write(temporary)``: on success the temporary
    file becomes ``out`` (one rename); on any exception it is deleted and ``out`` stays
    as it was. OS errors (full disk, no permission) become a MeshTalkError that names
    the file."""
    destination = Path(destination)
    temporary = temporary_path(destination)
    try:
        yield temporary
        os.replace(temporary, destination)
    except OSError as error:
        remove_quietly(temporary)
        raise write_failed(destination, error) from None
    except BaseException:
        remove_quietly(temporary)
        raise


class StagedFile:
    """An output written through its own temporary file: ``open()`` it, write to the
    handle, then ``commit()`` (the one rename: the output is complete) or ``discard()``
    (the temporary file goes; the output stays as it was). OS errors (a full disk, a
    folder made read-only meanwhile) discard and become the MeshTalkError of
    ``write_failed``; ``guard()`` wraps writes the same way."""

    def __init__(self, destination: str | Path, text: bool = False):
        self.destination = Path(destination)
        self.temporary = temporary_path(self.destination)
        self.text = text
        self.handle = None

    def open(self):
        with self.guard():
            self.handle = (open(self.temporary, "w", encoding="utf-8", newline="") if self.text
                           else open(self.temporary, "w+b"))  # binary: read back too (CacheWriter.adjust)
        return self.handle

    @contextlib.contextmanager
    def guard(self):
        try:
            yield
        except OSError as error:
            self.discard()
            raise write_failed(self.destination, error) from None

    def commit(self) -> None:
        with self.guard():
            self.handle.close()
            os.replace(self.temporary, self.destination)
        self.handle = None

    def discard(self) -> None:
        if self.handle is not None:
            with contextlib.suppress(OSError):  # closing flushes, which fails again on a full disk
                self.handle.close()
            self.handle = None
        remove_quietly(self.temporary)


def write_failed(destination: str | Path, error: OSError) -> MeshTalkError:
    """The user's message for a write to ``destination`` that failed with ``error``."""
    return MeshTalkError(f"Cannot write {destination} ({describe_os_error(error)}); nothing was written. "
                         "Free some space or choose another folder.")


def remove_quietly(path: str | Path) -> None:
    """Deletes a temporary file if it is there (cleaning up must not hide the real error)."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def describe_os_error(error: OSError) -> str:
    """A short reason for a failed write: 'the disk is full', 'permission denied', ..."""
    import errno

    reasons = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
               errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.EROFS: "the file system is read-only", errno.EISDIR: "it is a folder",
               errno.ENOENT: "the folder does not exist"}
    return reasons.get(error.errno, error.strerror or type(error).__name__)


def check_writable_output(destination: str | Path, inputs: tuple[str | Path, ...] = ()) -> Path:
    """Checks, before any work, that ``destination`` can be written as a new file: its
    folder exists and is writable, it is not a folder itself, and it is none of the
    ``inputs`` (the run would read a file it replaces). Returns the destination."""
    destination = Path(destination)
    folder = destination.parent
    if destination.is_dir():
        raise MeshTalkError(f"The output {destination} is a folder; give a file name inside it.")
    if not folder.resolve().is_dir():
        raise MeshTalkError(f"The output folder {folder} does not exist; create it first.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MeshTalkError(f"The output folder {folder} is not writable; choose another folder.")
    for source in inputs:
        if source is not None and _same_file(destination, Path(source)):
            raise MeshTalkError(f"The output {destination} is also an input of this run; writing it would destroy "
                                "the input. Choose another output name.")
    return destination


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()

