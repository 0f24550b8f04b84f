"""espeak-ng through its C library: audio plus exact phoneme events, in IPA.

The command line prints phonemes but not their times; the library reports, for every
phoneme, the sample at which it starts. We load ``libespeak-ng.so.1`` with ctypes, ask
for synchronous output with phoneme events named in IPA, and collect the audio and the
events in a callback. The library keeps global state (one voice, one synthesis at a
time), so one process runs one synthesis at a time; use processes for parallelism.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

import numpy as np

from . import ipa
from .utterance import Word
from .voice import RenderedPhrase, Voice, VoiceCard

# Constants from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4

LICENCE = "GPL-3.0-or-later (espeak-ng program and voice data, Debian package espeak-ng)"


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT (40 bytes on 64-bit Linux)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass
class _RawEvent:
    kind: int  # _EVENT_WORD or _EVENT_PHONEME
    sample: int  # sample index (at the library's rate) where it starts
    name: str  # IPA name for phonemes ('' for a pause)
    text_position: int  # 1-based character index of a word in the text
    length: int  # characters of a word


class _Library:
    """The process-wide espeak-ng library, initialised once."""

    _instance: _Library | None = None

    def __init__(self):
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(path)
        except OSError as error:
            raise RuntimeError(
                "libespeak-ng is missing: run `bash scripts/setup.sh` (it installs espeak-ng)"
            ) from error
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int,
        ]
        options = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, options)
        if self.sample_rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise (is espeak-ng-data installed?)")
        self._chunks: list[np.ndarray] = []
        self._events: list[_RawEvent] = []
        # Keep a reference: the library calls back into this object for every buffer.
        self._callback = _SynthCallback(self._on_buffer)
        self.lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> _Library:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def _on_buffer(self, wav, sample_count, events) -> int:
        if sample_count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (sample_count,)).copy())
        index = 0
        while events[index].type != _EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type in (_EVENT_WORD, _EVENT_PHONEME):
                name = event.id.string.decode("utf-8", "replace") if event.type == _EVENT_PHONEME else ""
                self._events.append(
                    _RawEvent(event.type, event.sample, name, event.text_position, event.length)
                )
            index += 1
        return 0  # 0 = go on synthesising

    def synthesize(self, text: str, voice_name: str, rate: int, pitch: int, pitch_range: int):
        """Speak ``text``; returns (int16 samples (N,), events) at ``self.sample_rate``."""
        if self.lib.espeak_SetVoiceByName(voice_name.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice_name!r}")
        self.lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
        self.lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        self.lib.espeak_SetParameter(_PARAM_RANGE, pitch_range, 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        status = self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        if status != 0:
            raise RuntimeError(f"espeak-ng failed ({status}) on {text!r}")
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return audio, list(self._events)


def _segments_and_words(text: str, audio_length: int, sample_rate: int, events: list[_RawEvent]):
    """Phoneme events -> (IPA segments, words) in seconds.

    A phoneme lasts until the next phoneme event. A word spans its spoken phonemes:
    those that start between its word event and the next one (the word event itself
    comes a little early, at the start of a preceding pause or phoneme).
    """
    phoneme_events = [e for e in events if e.kind == _EVENT_PHONEME]
    segments = []
    for index, event in enumerate(phoneme_events):
        end_sample = phoneme_events[index + 1].sample if index + 1 < len(phoneme_events) else audio_length
        symbol = ipa.normalize(event.name) or ipa.SILENCE
        end = end_sample / sample_rate
        if symbol != ipa.SILENCE and not ipa.base_letters(symbol) and segments and segments[-1][0] != ipa.SILENCE:
            # A lone modifier (Russian and Polish palatalisation 'ʲ' comes as its own
            # event) belongs to the phoneme before it.
            previous_symbol, previous_start, _ = segments[-1]
            segments[-1] = (previous_symbol + symbol, previous_start, end)
            continue
        segments.append((symbol, event.sample / sample_rate, end))
    word_events = [e for e in events if e.kind == _EVENT_WORD]
    words = []
    for index, event in enumerate(word_events):
        start = event.sample / sample_rate
        limit = word_events[index + 1].sample / sample_rate if index + 1 < len(word_events) else audio_length / sample_rate
        spoken = [(seg_start, seg_end) for symbol, seg_start, seg_end in segments
                  if symbol != ipa.SILENCE and start <= seg_start < limit]
        if not spoken:
            continue
        word_text = text[event.text_position - 1: event.text_position - 1 + event.length]
        words.append(Word(word_text, spoken[0][0], spoken[-1][1]))
    return segments, words


class EspeakVoice(Voice):
    """An espeak-ng voice: a language voice plus a variant (``en-us+f3``)."""

    def __init__(self, voice_id: str, language: str, espeak_name: str, description: str = ""):
        self.espeak_name = espeak_name
        self.card = VoiceCard(
            id=voice_id,
            engine="espeak-ng",
            language=language,
            licence=LICENCE,
            timing="engine phoneme events (exact sample positions)",
            description=description or f"espeak-ng voice {espeak_name}",
        )

    def _draw_prosody(self, rng: np.random.Generator) -> dict:
        return {
            "rate_wpm": int(rng.integers(130, 211)),
            "pitch": int(rng.integers(30, 71)),
            "pitch_range": int(rng.integers(25, 91)),
        }

    def _render_phrase(self, text: str, prosody: dict) -> RenderedPhrase:
        library = _Library.get()
        audio, events = library.synthesize(
            text, self.espeak_name, prosody["rate_wpm"], prosody["pitch"], prosody["pitch_range"]
        )
        segments, words = _segments_and_words(text, len(audio), library.sample_rate, events)
        return RenderedPhrase(audio.astype(np.float32) / 32768.0, library.sample_rate, segments, words)


def text_to_ipa(text: str, espeak_name: str, separator: str = "") -> str:
    """espeak-ng's IPA transcription of ``text``: words separated by spaces, with stress.

    With a ``separator`` character, it also stands between the phonemes of a word, so a
    caller can tell ``aɪ`` (one phoneme) from ``a`` + ``ɪ``. Punctuation is not kept.
    Neural voices trained on espeak-ng phonemes (Piper) take this as their input.
    """
    library = _Library.get()
    if library.lib.espeak_SetVoiceByName(espeak_name.encode()) != 0:
        raise ValueError(f"espeak-ng has no voice {espeak_name!r}")
    # Phoneme mode: bit 1 asks for IPA; bits 8-23 hold the separator character.
    mode = 0x02 | (ord(separator) << 8 if separator else 0)
    pointer = ctypes.pointer(ctypes.c_char_p(text.encode("utf-8")))
    clauses = []
    # Each call transcribes one clause and advances the pointer (NULL at the end).
    while pointer.contents.value:
        clause = library.lib.espeak_TextToPhonemes(pointer, _CHARS_UTF8, mode)
        if clause:
            clauses.append(clause.decode("utf-8"))
    return " ".join(clauses)
