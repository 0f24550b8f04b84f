"""Real human recordings with transcripts, from Debian packages this machine can install.

Training-time only (nothing here is shipped or downloaded at run time). Each source is
a Debian package unpacked into one folder (``fetch_packages``: ``apt-get download`` then
``dpkg-deb -x``); ``find_clips`` lists every clip with its speaker, language, transcript
and licence. Sources:

- ``pocketsphinx-testdata`` (BSD-2; LibriVox's *Sense and Sensibility*, public domain,
  and CMU test recordings): 12 English recordings (``real_speech.find_recordings``).
- ``drascula`` / ``drascula-spanish`` (Drascula: The Vampire Strikes Back, Alcachofa
  Soft; freely redistributable, BSD-like, per the packages' copyright files): the
  game's voice acting, raw 8-bit 11,025 Hz clips. ``N.ALS`` is the hero's line N of the
  game's text table (``drascula.dat``, read here); the other characters' clips
  (``D12.ALS``: Drascula, ``VB3.ALS``: Von Braun, ...) have their lines in other tables
  whose order is not documented, so their transcripts come from a Whisper transcription
  snapped to the nearest line of the game's text (``snap_transcripts``; a clip whose
  transcription is not close to any line is dropped).
- ``tuxpaint-stamps-default`` (GPL-2): spoken descriptions of Tux Paint's stamps in
  many languages (``*_desc_fr.ogg``), the text in the stamp's ``.txt`` (``fr.utf8=``).
  One voice per language (contributed recordings; speakers are not named, so a language
  is treated as one speaker).
- ``flight-of-the-amazon-queen`` (Flight of the Amazon Queen licence: freely
  distributable and modifiable, John Passfield and Steven Stamatiadis): the CD version's
  English voice acting, 6,745 MP3 clips at 11,025 Hz inside ``queen.1c``
  (``fotaq_resource``), transcribed by Whisper and snapped to the game's text like
  Drascula's characters. Speakers by clip name (Joe, the person of each dialogue, each
  cutaway scene). Training only.

Speakers are named ``source-language-character``; ``EVALUATION_SPEAKERS`` are never
trained on.
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

from . import fotaq_resource
from .speech.utterance import SAMPLE_RATE

PACKAGES = ("pocketsphinx-testdata", "drascula", "drascula-spanish", "tuxpaint-stamps-default",
            "flight-of-the-amazon-queen")
DRASCULA_RATE = 11025
LICENCES = {
    "pocketsphinx-testdata": "BSD-2 (CMU Sphinx test data; the LibriVox excerpts are public domain)",
    "drascula": "Drascula licence (freely redistributable, BSD-like; Alcachofa Soft 1996-2008)",
    "tuxpaint-stamps-default": "GPL-2 (Tux Paint stamps and their spoken descriptions)",
    "flight-of-the-amazon-queen": "Flight of the Amazon Queen licence (free to distribute and modify, no fee for the "
                                  "game itself; John Passfield and Steven Stamatiadis 1995)",
}
# Drascula's characters by clip prefix (the engine's talk_* functions).
DRASCULA_CHARACTERS = {"": "hero", "B": "drunk", "BJ": "bj", "D": "drascula", "E": "e", "F": "f", "I": "igor",
                       "L": "werewolf", "P": "pianist", "S": "s", "T": "bartender", "VB": "vonbraun"}
# Held out of all training: the whole of pocketsphinx-testdata, five of Drascula's
# English characters and the Tux Paint voices of two languages.
EVALUATION_SPEAKERS = (
    "pocketsphinx-en-librivox", "pocketsphinx-en-cards", "pocketsphinx-en-goforward", "pocketsphinx-en-tidigits",
    "drascula-en-drascula", "drascula-en-vonbraun", "drascula-en-igor", "drascula-en-bj", "drascula-en-pianist",
    "tuxpaint-en-desc", "tuxpaint-fr-desc", "tuxpaint-ru-desc", "drascula-es-hero",
)
TUXPAINT_LANGUAGES = ("en", "fr", "es", "ru", "ro", "ca", "bg", "el", "be", "da")
MIN_SNAP_RATIO = 0.75  # transcription vs the game's line (difflib ratio of normalised words)


@dataclass
class Clip:
    name: str  # unique, file-name safe
    speaker: str
    language: str  # ISO 639-1
    source: str  # Debian package
    path: Path
    transcript: str

    @property
    def licence(self) -> str:
        return LICENCES["drascula" if self.source.startswith("drascula") else self.source]

    @property
    def held_out(self) -> bool:
        return self.speaker in EVALUATION_SPEAKERS


def fetch_packages(root: Path, packages: tuple[str, ...] = PACKAGES[1:]) -> None:
    """Unpack the Debian packages into ``root`` (``root/usr/share/...``); pocketsphinx-testdata
    is installed system-wide by scripts/setup.sh. Skips packages already unpacked."""
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for package in packages:
        marker = root / f".{package}.unpacked"
        if marker.exists():
            continue
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True, capture_output=True)
        deb = sorted(debs.glob(f"{package}_*.deb"))[-1]
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        marker.touch()


def read_clip_audio(path: Path) -> np.ndarray:
    """(N,) float32 at 16 kHz mono from a clip file (Drascula's raw 8-bit .ALS included)."""
    if path.suffix.upper() == ".ALS":
        samples = (np.frombuffer(path.read_bytes(), dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
        rate = DRASCULA_RATE
    elif path.suffix == ".raw":
        samples, rate = (np.fromfile(path, dtype="<i2") / 32768.0).astype(np.float32), SAMPLE_RATE
    else:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
        samples = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        samples = soxr.resample(samples, rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(samples, dtype=np.float32)


def normalise_words(text: str) -> str:
    """Lower-case words without punctuation (apostrophes kept): what an aligner reads."""
    text = text.lower().replace("\u2019", "'")
    return " ".join(re.findall(r"[^\W_]+(?:'[^\W_]+)*", text))


# --- Drascula -----------------------------------------------------------------------

def drascula_lines(dat: Path, language: str) -> list[str]:
    """The hero's lines (``_text``) of ``drascula.dat`` for English or Spanish: index N is
    the line of clip N.ALS. The table is a run of records [size byte][text, NUL, padding]
    (size includes itself), English first; an empty record opens each language."""
    data = dat.read_bytes()
    first = data.find(b"\x04\x00\x00\x00" + bytes([0x38]) + b"THAT'S THE SECOND BIGGEST DOOR")
    if first < 0:
        raise ValueError(f"{dat}: the English text table was not found")
    tables = []
    position = first
    for _ in range(2):
        lines = []
        while len(lines) < 501:
            size = data[position]
            lines.append(data[position + 1:position + size].split(b"\x00")[0].decode("latin-1"))
            position += size
        tables.append(lines)
        position += 4  # the next language's table header
    return tables[0 if language == "en" else 1]


def all_drascula_strings(dat: Path) -> list[str]:
    """Every upper-case English-looking string of the file: candidates for snapping."""
    strings = []
    for found in re.findall(rb"[\x20-\x7e]{3,}\x00", dat.read_bytes()):
        text = found[:-1]
        if text[0] % 4 == 0 and 0 <= text[0] - len(text) <= 8:
            text = text[1:]  # the record's size byte (a multiple of 4, just past the text) is printable
        if re.search(rb"[A-Z]{2}", text):
            strings.append(text.decode("latin-1"))
    return strings


def snap_transcripts(transcribed: dict[str, str], lines: list[str],
                     minimum: float = MIN_SNAP_RATIO, shortlist: int | None = None) -> dict[str, str]:
    """{clip: transcription} -> {clip: the game's line closest to it}, for the clips whose
    transcription is that close to one (difflib ratio of normalised words >= ``minimum``).
    ``shortlist``: compare only with the lines sharing the most words with it (thousands of
    clips against thousands of lines; None: every line)."""
    candidates = {normalise_words(line): line for line in lines if len(normalise_words(line).split()) >= 1}
    index: dict[str, set[str]] = {}
    if shortlist is not None:
        for candidate in candidates:
            for word in set(candidate.split()):
                index.setdefault(word, set()).add(candidate)
    snapped = {}
    for clip, text in transcribed.items():
        heard = normalise_words(text)
        if not heard:
            continue
        pool = candidates
        if shortlist is not None:
            shared: dict[str, int] = {}
            for word in set(heard.split()):
                for candidate in index.get(word, ()):
                    shared[candidate] = shared.get(candidate, 0) + 1
            pool = sorted(shared, key=lambda c: -shared[c])[:shortlist]
            if not pool:
                continue
        best = max(pool, key=lambda c: difflib.SequenceMatcher(None, heard, c).ratio())
        if difflib.SequenceMatcher(None, heard, best).ratio() >= minimum:
            snapped[clip] = candidates[best]
    return snapped


def drascula_clips(root: Path, language: str, transcriptions: dict[str, str] | None = None) -> list[Clip]:
    """Hero clips from the text table; other characters' (English) from ``transcriptions``
    ({"D12.ALS": text heard}) snapped to the game's lines."""
    folder = root / "usr/share/scummvm/drascula" / language
    dat = root / "usr/share/scummvm/drascula/en/drascula.dat"
    if not folder.is_dir() or not dat.is_file():
        return []
    lines = drascula_lines(dat, language)
    snapped = snap_transcripts(transcriptions or {}, all_drascula_strings(dat)) if language == "en" else {}
    clips = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        match = re.fullmatch(r"([A-Z]*)(\d+)\.ALS", path.name, flags=re.IGNORECASE)
        if not match or match.group(1).upper() not in DRASCULA_CHARACTERS:
            continue
        prefix, number = match.group(1).upper(), int(match.group(2))
        if prefix == "":
            text = lines[number] if number < len(lines) else ""
        else:
            text = snapped.get(path.name, "")
        words = normalise_words(text)
        if len(words.split()) < 2:
            continue
        character = DRASCULA_CHARACTERS[prefix]
        clips.append(Clip(f"drascula-{language}-{prefix or 'H'}{number}", f"drascula-{language}-{character}",
                          language, "drascula" if language == "en" else "drascula-spanish", path, words))
    return clips


# --- Tux Paint ----------------------------------------------------------------------

def tuxpaint_clips(root: Path, languages: tuple[str, ...] = TUXPAINT_LANGUAGES) -> list[Clip]:
    """Spoken stamp descriptions with their text (the .txt's ``LANG.utf8=`` line; English:
    the first line, spoken in ``*_desc.ogg``)."""
    folder = root / "usr/share/tuxpaint/stamps"
    clips = []
    for text_file in sorted(folder.rglob("*.txt")):
        entries = text_file.read_text(encoding="utf-8", errors="replace").splitlines()
        if not entries:
            continue
        translations = dict(line.split("=", 1) for line in entries[1:] if "=" in line)
        stem = text_file.with_suffix("")
        for language in languages:
            audio = Path(f"{stem}_desc.ogg") if language == "en" else Path(f"{stem}_desc_{language}.ogg")
            text = entries[0] if language == "en" else translations.get(f"{language}.utf8", "")
            words = normalise_words(text)
            if audio.is_file() and len(words.split()) >= 2:
                relative = stem.relative_to(folder).as_posix().replace("/", "-")
                clips.append(Clip(f"tuxpaint-{language}-{relative}", f"tuxpaint-{language}-desc", language,
                                  "tuxpaint-stamps-default", audio, words))
    return clips


# --- Flight of the Amazon Queen ----------------------------------------------------

FOTAQ_FOLDER = "fotaq-speech"  # where extract_fotaq_speech puts the clips, under the data root


def extract_fotaq_speech(root: Path) -> Path:
    """Write every speech clip of the game's ``queen.1c`` (unpacked under ``root``) as an
    MP3 file in ``root``/FOTAQ_FOLDER (once); returns that folder."""
    resource = root / fotaq_resource.RESOURCE
    folder = root / FOTAQ_FOLDER
    marker = folder / ".complete"
    if marker.exists() or not resource.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    _, compression, entries = fotaq_resource.read_table(resource)
    if compression != fotaq_resource.MP3:
        raise ValueError(f"{resource}: speech compression {compression}, expected MP3 (1)")
    for entry in fotaq_resource.speech_entries(entries):
        (folder / (entry.name.rsplit(".", 1)[0] + ".mp3")).write_bytes(fotaq_resource.entry_bytes(resource, entry))
    marker.touch()
    return folder


def fotaq_snap_lines(root: Path) -> list[str]:
    """The game's text as snapping candidates: each line, and each of its sentences and
    pairs of sentences (a cutaway's entry runs several lines of several speakers together)."""
    lines = []
    for text in fotaq_resource.game_lines(root / fotaq_resource.RESOURCE):
        sentences = [fotaq_resource.clean_line(s) for s in re.split(r"(?<=[.!?])\s+|(?<=[.!?])(?=[A-Z])", text)]
        sentences = [s for s in sentences if s]
        lines.append(text)
        lines += sentences
        lines += [" ".join(pair) for pair in zip(sentences, sentences[1:])]
    return lines


def fotaq_clips(root: Path, transcriptions: dict[str, str] | None) -> list[Clip]:
    """Speech clips of Flight of the Amazon Queen whose transcription ({"020006J1.SB": text
    heard}, ``scripts/train_transcribe_fotaq.py``) snaps to a line of the game's text."""
    if not transcriptions or not (root / fotaq_resource.RESOURCE).is_file():
        return []
    folder = extract_fotaq_speech(root)
    snapped = snap_transcripts(transcriptions, fotaq_snap_lines(root), shortlist=20)
    clips = []
    for name in sorted(snapped):
        words = normalise_words(snapped[name])
        path = folder / (name.rsplit(".", 1)[0] + ".mp3")
        if len(words.split()) < 2 or not path.is_file():
            continue
        clips.append(Clip(f"fotaq-en-{path.stem}", f"fotaq-en-{fotaq_resource.speaker(name)}", "en",
                          "flight-of-the-amazon-queen", path, words))
    return clips


# --- pocketsphinx-testdata ----------------------------------------------------------

def pocketsphinx_clips() -> list[Clip]:
    from .real_speech import DATA_FOLDER, find_recordings

    if not (DATA_FOLDER / "librivox" / "transcription").is_file():
        return []
    clips = []
    for recording in find_recordings():
        group = recording.name.split("-")[0]
        clips.append(Clip(f"pocketsphinx-{recording.name}", f"pocketsphinx-en-{group}", "en",
                          "pocketsphinx-testdata", recording.path, recording.transcript))
    return clips


def find_clips(root: Path, transcriptions: Path | None = None, fotaq_transcriptions: Path | None = None) -> list[Clip]:
    """Every clip with a transcript, from the packages unpacked in ``root`` (missing ones
    are skipped) and the system's pocketsphinx-testdata. ``transcriptions``: a JSON file
    {"D12.ALS": "text heard", ...} for Drascula's English characters other than the hero;
    ``fotaq_transcriptions``: the same for Flight of the Amazon Queen (no clip of it is
    held out: it only trains)."""
    read = lambda path: json.loads(path.read_text()) if path and path.is_file() else {}  # noqa: E731
    return (pocketsphinx_clips() + drascula_clips(root, "en", read(transcriptions)) + drascula_clips(root, "es")
            + tuxpaint_clips(root) + fotaq_clips(root, read(fotaq_transcriptions)))
