"""Flight of the Amazon Queen's resource file (``queen.1c``): its speech clips and its text.

The Debian package ``flight-of-the-amazon-queen`` ships the game's CD version rebuilt
into one file (ScummVM's "QTBL" layout): a header ('QTBL', the 6-byte version such as
"CEM10\\0", two unused bytes, the audio compression: 1 = MP3), then a big-endian uint16
count of entries, each a 12-byte file name, a bundle byte, a uint32 offset and a uint32
size. Speech is one MP3 (11,025 Hz) per ``*.SB`` entry; the spoken lines are in the
dialogue (``*.DOG``), cutaway (``*.CUT``) and ``*.JAS`` entries as plain text, but no
table says which clip speaks which line, so ``real_sources`` snaps a transcription of
each clip to the nearest line (``scripts/train_transcribe_fotaq.py``).

Clip names say who speaks: ``DDxxxxJn.SB`` is Joe (the hero) in dialogue DD,
``DDxxxxPn.SB`` the other person of that dialogue, ``JOEnnnnn.SB`` Joe's remarks, and
``CnnX_mmm.SB`` a line of cutaway scene nn (any character).

Only the standard library here: the transcription script imports this from another
Python environment.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

RESOURCE = Path("usr/share/scummvm/flight-of-the-amazon-queen/queen.1c")
MP3 = 1


@dataclass(frozen=True)
class Entry:
    name: str
    offset: int
    size: int


def read_table(path: Path) -> tuple[str, int, list[Entry]]:
    """(version, compression, entries) of a rebuilt ``queen.1c``."""
    with open(path, "rb") as handle:
        header = handle.read(15)
        if header[:4] != b"QTBL":
            raise ValueError(f"{path}: not a rebuilt FOTAQ resource file (no QTBL header)")
        version = header[4:10].split(b"\0")[0].decode("ascii")
        compression = header[12]
        (count,) = struct.unpack(">H", header[13:15])
        entries = []
        for _ in range(count):
            record = handle.read(21)
            name = record[:12].split(b"\0")[0].decode("ascii")
            offset, size = struct.unpack(">II", record[13:21])
            entries.append(Entry(name, offset, size))
    return version, compression, entries


def entry_bytes(path: Path, entry: Entry) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(entry.offset)
        return handle.read(entry.size)


def speech_entries(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.name.upper().endswith(".SB")]


def speaker(name: str) -> str:
    """Who speaks a clip, from its name: 'joe', 'dialogue-DD' or 'cutaway-nn'."""
    stem = name.upper().rsplit(".", 1)[0]
    if stem.startswith("JOE"):
        return "joe"
    match = re.fullmatch(r"(\d\d)[0-9A-Z]{4}([A-Z])[0-9A-Z]", stem)
    if match:
        return "joe" if match.group(2) == "J" else f"dialogue-{match.group(1)}"
    match = re.fullmatch(r"C(\d+)", stem.split("_")[0][:3])
    return f"cutaway-{match.group(1)}" if match else "other"


def game_lines(path: Path, entries: list[Entry] | None = None) -> list[str]:
    """Every line of text in the dialogue, cutaway and JAS entries: candidates for snapping."""
    if entries is None:
        entries = read_table(path)[2]
    lines = []
    for entry in entries:
        if entry.name.upper().rsplit(".", 1)[-1] not in ("DOG", "CUT", "JAS"):
            continue
        for found in re.findall(rb"[\x20-\x7e]{4,}", entry_bytes(path, entry)):
            text = re.sub(r"\*\d\d", " ", found.decode("latin-1"))  # *NN: the line's speaker/gesture codes
            text = clean_line(text)
            if len(re.findall(r"[A-Za-z]{2,}", text)) >= 2:
                lines.append(text)
    return lines


def clean_line(text: str) -> str:
    """A line without the record bytes that are printable and stick to its start: control
    characters, up to three letters before the capital a line starts with ("fYou ..."),
    or up to three capitals before a capitalised word ("FLYou ...", "GThat's ...")."""
    text = re.sub(r"^[^A-Za-z\"']+", "", text)
    text = re.sub(r"^[^A-Z\"'0-9]{1,3}(?=[A-Z\"'])", "", text)
    text = re.sub(r"^[A-Z]{1,3}(?=[A-Z][a-z])", "", text)
    return text.strip()
