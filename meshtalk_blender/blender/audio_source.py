"""Where the speech comes from: a sound strip of the scene's sequencer, placed in time.

The animation's frame 0 is the strip's first audible frame (``frame_final_start``); the
clip starts as far into the file as the strip is trimmed (plus its sound offset) and
lasts as long as the strip shows. Scene time is ``frame / (fps / fps_base)``, so 29.97
and other rates line up with what Blender plays.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import bpy

from ..core.atomic_files import replacing
from ..core.errors import MeshTalkError

if TYPE_CHECKING:
    from ..core.audio import AudioClip


@dataclass(frozen=True)
class AudioPlacement:
    strip_name: str
    clip: AudioClip  # absolute path, seconds into the file, seconds long
    start_frame: int  # the scene frame of the animation's first frame
    fps: float  # the scene's frame rate
    sound_name: str  # the Sound datablock


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base


def all_strips(scene: bpy.types.Scene) -> list:
    editor = scene.sequence_editor
    if editor is None:
        return []
    # `strips_all` since Blender 4.4; `sequences_all` before (removed in 5.0).
    strips = getattr(editor, "strips_all", None)
    return list(strips if strips is not None else editor.sequences_all)


def sound_strips(scene: bpy.types.Scene) -> list:
    return sorted((s for s in all_strips(scene) if s.type == "SOUND"), key=lambda s: (s.frame_final_start, s.channel))


def is_muted(scene: bpy.types.Scene, strip) -> bool:
    """The strip, or its channel, is muted: it does not play."""
    channels = getattr(scene.sequence_editor, "channels", None)  # per-channel mute since Blender 3.3
    channel = channels[strip.channel] if channels is not None and strip.channel < len(channels) else None
    return bool(strip.mute or (channel is not None and channel.mute))


def default_strip(scene: bpy.types.Scene):
    """The active strip if it is a sound, else the first selected sound, else the first;
    muted strips are passed over (they do not play)."""
    editor = scene.sequence_editor
    sounds = [s for s in sound_strips(scene) if not is_muted(scene, s)]
    active = getattr(editor, "active_strip", None) if editor is not None else None
    if active is not None and active in sounds:
        return active
    return next((s for s in sounds if s.select), sounds[0] if sounds else None)


def chosen_strip(scene: bpy.types.Scene, name: str):
    """The strip named in the panel (empty: the default one); a clear error otherwise."""
    if name:
        strip = next((s for s in all_strips(scene) if s.name == name), None)
        if strip is None:
            raise MeshTalkError(f"The sound strip '{name}' is not in this scene any more; pick another strip "
                                "or load an audio file.")
        if strip.type != "SOUND":
            raise MeshTalkError(f"'{name}' is a {strip.type.lower()} strip, not sound; pick a sound strip.")
        if is_muted(scene, strip):
            raise MeshTalkError(f"The sound strip '{name}' is muted, so it does not play; unmute it (or its channel) "
                                "in the Video Sequencer, or pick another strip.")
        return strip
    strip = default_strip(scene)
    if strip is None and sound_strips(scene):
        raise MeshTalkError("Every sound strip of the scene is muted; unmute the dialogue strip in the Video "
                            "Sequencer, or load an audio file.")
    if strip is None:
        raise MeshTalkError("The scene has no sound strip: click 'Load Audio File' (or add a sound strip in the "
                            "Video Sequencer) first.")
    return strip


def placement(scene: bpy.types.Scene, strip) -> AudioPlacement:
    from ..core.audio import AudioClip  # soundfile, soxr, torch: loaded when first needed

    sound = strip.sound
    if sound is None:
        raise MeshTalkError(f"The strip '{strip.name}' has no sound data; load the audio file again.")
    fps = scene_fps(scene)
    path = sound_file(sound)
    _check_length(strip, path, fps)
    trimmed_seconds = (strip.frame_final_start - strip.frame_start) / fps + float(getattr(strip, "sound_offset", 0.0))
    duration = (strip.frame_final_end - strip.frame_final_start) / fps
    if duration <= 0:
        raise MeshTalkError(f"The strip '{strip.name}' is trimmed to nothing; make it longer.")
    return AudioPlacement(strip.name, AudioClip(path, max(0.0, trimmed_seconds), duration),
                          int(strip.frame_final_start), fps, sound.name)


def _check_length(strip, path: Path, fps: float) -> None:
    """A strip at normal speed lasts as long as its sound (to a frame). One that does not
    is retimed (it has retiming keys), or its file changed on disk since the strip was
    made (e.g. cut short). Unreadable files are left to the audio check, which explains
    them."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception:  # noqa: BLE001
        return
    file_frames = info.frames / info.samplerate * fps
    if abs(strip.frame_duration - file_frames) <= 1.5:
        return
    if len(getattr(strip, "retiming_keys", ())):
        raise MeshTalkError(f"The strip '{strip.name}' plays faster or slower than its sound (retimed); MeshTalk "
                            "needs the sound at its normal speed. Reset its retiming, or mix the audio to a file.")
    raise MeshTalkError(f"{path.name} holds {info.frames / info.samplerate:.2f} s of audio, but its strip '{strip.name}' "
                        f"was made for {strip.frame_duration / fps:.2f} s: the file changed on disk (or is cut short). "
                        "Reload the strip's sound (Sequencer: Strip > Reload), or re-export the audio.")


def _require_readable_audio(path: Path) -> None:
    """Refuses a file the audio reader cannot decode before it becomes a strip (Blender
    would add a silent strip for a text file, and animating it would fail later)."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception as error:  # libsndfile reports every kind of unreadable file this way
        raise MeshTalkError(f"{path.name} is not audio MeshTalk can read ({str(error).splitlines()[0][:120]}); "
                            "choose a WAV, FLAC, OGG or MP3 file, or convert it to WAV.") from None
    if info.frames <= 0:
        raise MeshTalkError(f"{path.name} holds no audio; choose another file.")


def sound_file(sound: bpy.types.Sound) -> Path:
    """A readable file with the sound: its own file, or a copy of the packed data."""
    if sound.packed_file is not None:
        return packed_copy(sound.packed_file.data, Path(sound.filepath).suffix or ".wav")
    return Path(bpy.path.abspath(sound.filepath, library=sound.library))


def packed_copy_path(data: bytes, suffix: str) -> Path:
    """Where ``packed_copy`` keeps the copy of these bytes (named by their hash)."""
    return _private_folder() / f"{hashlib.sha256(data).hexdigest()}{suffix}"


def packed_copy(data: bytes, suffix: str) -> Path:
    """A file holding exactly ``data`` (a packed sound), for the audio reader. It lives in
    a folder only this user can read, is written atomically (a symlink planted at its
    name is replaced, never followed) and is checked byte for byte before it is reused
    (a copy cut short by a crash is written again, not trusted)."""
    path = packed_copy_path(data, suffix)
    if _holds(path, data):
        return path
    with replacing(path) as temporary:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
    return path


def _holds(path: Path, data: bytes) -> bool:
    try:
        status = os.lstat(path)
        if not stat.S_ISREG(status.st_mode) or status.st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


_fallback_folder: list[Path] = []


def _private_folder() -> Path:
    """The add-on's own user folder (Blender's extension storage), readable by this user
    only; a fresh private temporary folder when the package is not an installed extension."""
    from . import ADDON_ID

    try:
        folder = Path(bpy.utils.extension_path_user(ADDON_ID, path="packed_sounds", create=True))
    except (ValueError, RuntimeError, AttributeError):
        if not _fallback_folder:
            _fallback_folder.append(Path(tempfile.mkdtemp(prefix="meshtalk_packed_sounds-")))
        folder = _fallback_folder[0]
    os.chmod(folder, 0o700)
    return folder


def add_sound_strip(scene: bpy.types.Scene, filepath: str, frame: int):
    """A new sound strip at ``frame`` on the lowest free channel; relative path when the
    .blend is saved, so the file travels with it."""
    path = Path(bpy.path.abspath(filepath))
    if path.is_dir():
        raise MeshTalkError(f"{path} is a folder; choose an audio file inside it.")
    if not path.is_file():
        raise MeshTalkError(f"Audio file not found: {path}. Choose an existing file.")
    _require_readable_audio(path)
    editor = scene.sequence_editor or scene.sequence_editor_create()
    strips = getattr(editor, "strips", None)
    strips = strips if strips is not None else editor.sequences
    stored = bpy.path.relpath(str(path)) if bpy.data.filepath else str(path)
    used = {s.channel for s in all_strips(scene) if s.frame_final_end > frame}
    channel = next(c for c in range(1, 129) if c not in used)
    try:
        strip = strips.new_sound(name=path.stem, filepath=stored, channel=channel, frame_start=int(frame))
    except RuntimeError as error:
        raise MeshTalkError(f"Blender cannot read {path.name} as sound ({str(error).strip()}); "
                            "convert it to WAV or FLAC.") from None
    return strip
