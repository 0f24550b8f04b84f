"""Point-cache files on disk: where MeshTalk may write them, and when they are deleted.

Where: the Cache Folder is stored in the .blend, so a file someone sends could point
writes anywhere. Writes go only to a folder inside the .blend's own folder (``//...``;
a relative path without ``//`` means the same) or to an absolute folder the user chose
in this Blender (set in the panel, or given to the batch command); a folder that came
with the file is refused with a message until the user picks it.

When: a take's cache must outlive the take as long as Undo can bring the take back,
and as long as a saved .blend uses it. So a cache this Blender wrote is deleted when
nothing can reach it any more: when another file is opened or Blender quits (the undo
history ends), if no .blend saved in this session, nor the file as it was opened, uses
it. Caches of earlier sessions are never deleted behind the user's back (another copy
of the .blend may use them): the panel shows how many unused ones the folder holds and
how much disk they take, and Clean Unused Caches deletes them on request.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path

import bpy

from ..core.errors import MeshTalkError
from . import addon, playback

DEFAULT_FOLDER = "//meshtalk_cache/"
CACHE_NAME = re.compile(r"^.+_[0-9a-f]{8}\.pc2$")  # what new_cache_file names them

_created: set[str] = set()  # caches this Blender wrote (absolute, resolved)
_saved_uses: dict[str, set[str]] = {}  # .blend path -> the caches it uses as saved (or opened)
_session_approved: set[str] = set()  # absolute folders chosen here when preferences are unavailable


# ---------------------------------------------------------------- where


def approve_folder(folder: str) -> None:
    """Records that the user chose ``folder`` in this Blender (the panel's Cache Folder
    was edited, or the batch command was given it): absolute folders are allowed once
    chosen, and the choice is kept in the add-on preferences, never in a .blend."""
    if not folder or folder.startswith("//") or not os.path.isabs(folder):
        return
    path = str(Path(folder).resolve())
    prefs = addon.preferences()
    if prefs is None:
        _session_approved.add(path)
        return
    approved = set(json.loads(prefs.approved_cache_folders or "[]"))
    if path not in approved:
        prefs.approved_cache_folders = json.dumps(sorted(approved | {path}))


def _is_approved(directory: Path) -> bool:
    prefs = addon.preferences()
    approved = set(json.loads(prefs.approved_cache_folders or "[]")) if prefs is not None else set()
    return str(directory) in approved | _session_approved


def cache_directory(folder: str) -> Path:
    """The absolute folder a Cache Folder setting writes to; a MeshTalkError that says
    what to do when MeshTalk may not write there."""
    folder = folder or DEFAULT_FOLDER
    if not folder.startswith("//") and not os.path.isabs(folder):
        folder = "//" + folder  # relative to the .blend, never to Blender's working directory
    if folder.startswith("//"):
        if not bpy.data.filepath:
            raise MeshTalkError("Save the .blend file first: the mesh cache is written next to it (or choose an "
                                "absolute Cache Folder).")
        base = Path(bpy.path.abspath("//")).resolve()
        directory = Path(bpy.path.abspath(folder)).resolve()
        if directory == base or base in directory.parents:
            return directory
    else:
        directory = Path(folder).resolve()
    if not _is_approved(directory):
        raise MeshTalkError(f"The Cache Folder {directory} came with the .blend file; MeshTalk only writes caches "
                            "next to the .blend (//) or in a folder you choose. Choose it again in Cache Folder "
                            "if you want caches there.")
    return directory


def new_cache_file(folder: str, object_name: str) -> tuple[Path, str]:
    """(absolute path, path to store) of a new point cache. A new name every time: Undo
    may bring back a take whose file must still be there."""
    directory = cache_directory(folder)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MeshTalkError(f"Cannot create the cache folder {directory} ({error.strerror}); choose another.") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise MeshTalkError(f"The cache folder {directory} is not writable; choose another Cache Folder.")
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", object_name).strip("_") or "mesh"
    path = directory / f"{stem}_{secrets.token_hex(4)}.pc2"
    folder = folder or DEFAULT_FOLDER
    next_to_the_blend = folder.startswith("//") or not os.path.isabs(folder)  # stored relative: it travels along
    return path, bpy.path.relpath(str(path)) if next_to_the_blend else str(path)


# ---------------------------------------------------------------- which files are used


def _take_cache_paths() -> set[str]:
    """Every point cache a take or a MeshTalk Mesh Cache modifier of this file uses."""
    used = set()
    for obj in bpy.data.objects:
        if obj.type != "MESH" or not hasattr(obj, "meshtalk"):
            continue
        for take in obj.meshtalk.takes:
            if take.cache_file:
                used.add(_absolute(take.cache_file, obj))
        names = list(playback.line_modifiers(obj).values()) + [obj.meshtalk.modifier_name]
        for modifier in (obj.modifiers.get(name) for name in names if name):
            if modifier is not None and modifier.type == "MESH_CACHE" and modifier.filepath:
                used.add(_absolute(modifier.filepath, obj))
    return used


def _absolute(stored: str, obj) -> str:
    return str(Path(bpy.path.abspath(stored, library=obj.library)).resolve())


def record_created(path: str | Path) -> None:
    _created.add(str(Path(path).resolve()))


def remember_saved_uses(*_args) -> None:
    """load_post / save_post: what the .blend on disk uses now."""
    if bpy.data.filepath:
        _saved_uses[str(Path(bpy.data.filepath).resolve())] = _take_cache_paths()


def delete_unreachable(*_args) -> list[str]:
    """load_pre / exit / a failed batch output: deletes the caches this Blender wrote that
    no saved .blend uses (Undo cannot reach them once the file is closed). Returns them."""
    kept = set().union(*_saved_uses.values()) if _saved_uses else set()
    deleted = []
    for path in sorted(_created - kept):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError:
            continue  # left to Clean Unused Caches
        deleted.append(path)
        _created.discard(path)
    return deleted


# ---------------------------------------------------------------- unused caches (panel, Clean)


_scan_memo: dict[tuple, tuple[float, list[Path]]] = {}
SCAN_SECONDS = 2.0  # the panel redraws often; the folder is listed at most this often


def unused_caches(folder: str) -> tuple[list[Path], list[Path]]:
    """MeshTalk point caches in the Cache Folder (and the folders of this file's takes)
    that no take of this file uses: (deletable, kept for Undo). Those this Blender wrote
    are kept while Undo may bring their takes back (they go when the file is closed).
    Cheap enough for the panel."""
    used = _take_cache_paths()
    folders = {str(Path(p).parent) for p in used}
    try:
        folders.add(str(cache_directory(folder)))
    except MeshTalkError:
        pass
    key = (tuple(sorted(folders)), tuple(sorted(used)))
    now = time.monotonic()
    memo = _scan_memo.get(key)
    if memo is not None and now - memo[0] < SCAN_SECONDS:
        return memo[1]
    found = []
    for directory in sorted(folders):
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        found += [Path(e.path) for e in entries if e.is_file(follow_symlinks=False) and CACHE_NAME.match(e.name)
                  and str(Path(e.path).resolve()) not in used]
    result = ([p for p in found if str(p.resolve()) not in _created], [p for p in found if str(p.resolve()) in _created])
    _scan_memo.clear()
    _scan_memo[key] = (now, result)
    return result


def forget_scans() -> None:
    _scan_memo.clear()


def total_bytes(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        try:
            total += path.stat().st_size
        except OSError:
            pass
    return total


def describe_size(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"
