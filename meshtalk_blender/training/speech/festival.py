"""Festival voices (diphone, cluster-unit and HTS) with festival's own segment timings.

One ``festival -b`` run synthesises all phrases of an utterance: it writes each phrase's
wave file and prints every segment and word with its start and end. Festival starts in
about 0.1 s, so one process per utterance costs little. Older voices read text in an
8-bit encoding (Finnish and Italian Latin-1, Czech Latin-2), so each voice knows its own.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from . import festival_phones
from .utterance import Word
from .voice import RenderedPhrase, Voice, VoiceCard

_DUMP_FUNCTION = """
(define (meshtalk-dump utt index wave-path)
  (utt.save.wave utt wave-path 'riff)
  (format t "PHRASE %d\\n" index)
  (mapcar (lambda (s) (format t "SEG %s %f %f\\n" (item.name s)
                              (item.feat s "segment_start") (item.feat s "segment_end")))
          (utt.relation.items utt 'Segment))
  (mapcar (lambda (w) (format t "WORD %s %f %f\\n" (item.name w)
                              (item.feat w "word_start") (item.feat w "word_end")))
          (utt.relation.items utt 'Word))
  t)
"""


def festival_available() -> bool:
    """True when the festival program is on PATH."""
    return shutil.which("festival") is not None


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class FestivalVoice(Voice):
    """One festival voice, selected by its scheme function (``voice_kal_diphone``)."""

    def __init__(self, voice_id: str, language: str, scheme_voice: str, phone_set: str,
                 licence: str, encoding: str = "ascii", description: str = ""):
        self.scheme_voice = scheme_voice
        self.phone_set = phone_set
        self.encoding = encoding
        self.card = VoiceCard(
            id=voice_id,
            engine="festival",
            language=language,
            licence=licence,
            timing="engine segment times (festival Segment relation)",
            description=description or f"festival {scheme_voice}",
        )

    def _draw_prosody(self, rng: np.random.Generator) -> dict:
        # Festival's duration model takes a global stretch; pitch varies later, in
        # augmentation, since each voice's intonation model has its own parameters.
        return {"duration_stretch": float(rng.uniform(0.85, 1.2))}

    def _render_phrase(self, text: str, prosody: dict) -> RenderedPhrase:
        return self._render_phrases([text], prosody)[0]

    def _render_phrases(self, texts: list[str], prosody: dict) -> list[RenderedPhrase]:
        with tempfile.TemporaryDirectory(prefix="meshtalk-festival-") as folder:
            folder_path = Path(folder)
            lines = [
                _DUMP_FUNCTION,
                f"({self.scheme_voice})",
                f"(Parameter.set 'Duration_Stretch {prosody['duration_stretch']:.4f})",
            ]
            for index, text in enumerate(texts):
                wave = folder_path / f"{index}.wav"
                lines.append(
                    f"(meshtalk-dump (utt.synth (Utterance Text {_scheme_string(text)})) {index} \"{wave}\")"
                )
            script = folder_path / "script.scm"
            script.write_bytes("\n".join(lines).encode(self.encoding, errors="strict"))
            result = subprocess.run(
                ["festival", "-b", str(script)], capture_output=True, timeout=120
            )
            output = result.stdout.decode(self.encoding, errors="replace")
            if result.returncode != 0 or "PHRASE" not in output:
                raise RuntimeError(
                    f"festival {self.scheme_voice} failed on {texts!r}: "
                    f"{result.stderr.decode(errors='replace')[-500:]}"
                )
            return self._parse(output, folder_path, len(texts))

    def _parse(self, output: str, folder: Path, count: int) -> list[RenderedPhrase]:
        segments: dict[int, list] = {index: [] for index in range(count)}
        words: dict[int, list] = {index: [] for index in range(count)}
        current = -1
        for line in output.splitlines():
            fields = line.split(" ")
            if fields[0] == "PHRASE":
                current = int(fields[1])
            elif fields[0] == "SEG" and len(fields) == 4:
                symbol = festival_phones.to_ipa(fields[1], self.phone_set)
                segments[current].append((symbol, float(fields[2]), float(fields[3])))
            elif fields[0] == "WORD" and len(fields) == 4:
                words[current].append(Word(fields[1], float(fields[2]), float(fields[3])))
        phrases = []
        for index in range(count):
            audio, sample_rate = soundfile.read(folder / f"{index}.wav", dtype="float32")
            if audio.ndim > 1:
                audio = audio.mean(axis=1)
            phrases.append(RenderedPhrase(audio, sample_rate, segments[index], words[index]))
        return phrases
