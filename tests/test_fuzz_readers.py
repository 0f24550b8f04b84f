"""Fuzzing the readers of the user's files: mutated WAV, FLAC, OGG and MP3 files through
``audio.probe`` and a full read of the samples, and mutated OBJ templates through
``read_obj`` and ``read_template``. Each outcome must be a success with finite data or a
MeshTalkError (one clear message); any other exception (or a Python warning) is a bug
that the command line would report as an "internal error" (or print around its message).

Deterministic: mutation i of a file uses ``np.random.default_rng(SEED + i)``; a failure
prints the file, the index and the mutation, and ``mutated(...)`` rebuilds the bytes.
"""

from __future__ import annotations

import traceback
import warnings

import numpy as np
import pytest
import soundfile
from audio_fixtures import speech_like

from meshtalk_blender.core import audio
from meshtalk_blender.core.checkpoints import read_template
from meshtalk_blender.core.errors import MeshTalkError
from meshtalk_blender.core.obj_io import read_obj

SEED = 18_000
AUDIO_MUTATIONS = 150  # per format
OBJ_MUTATIONS = 400
EXTREMES = (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f", b"\x01\x00\x00\x00", b"\x00\x00\x00\x80")
OBJ_TOKENS = (b"nan", b"inf", b"-inf", b"1e39", b"-1e400", b"0", b"-1", b"999999", b"/", b"//", b"v", b"vt", b"f",
              b"\n", b" ", b"\t", b"#", b"\xff\xfe", b"1_0", b"0x10", b"", b"1.5", b"\x00")


def mutated(data: bytes, index: int, tokens=None) -> tuple[bytes, str]:
    """Mutation ``index`` of ``data`` and what it did."""
    rng = np.random.default_rng(SEED + index)
    kind = ("flip", "truncate", "insert", "delete", "field", "splice")[index % 6]
    # Half the edits land in the first 64 bytes, where headers are.
    where = int(rng.integers(0, min(64, len(data)))) if rng.random() < 0.5 else int(rng.integers(0, len(data)))
    if kind == "flip":
        out = bytearray(data)
        positions = sorted(int(p) for p in rng.integers(0, len(data), size=int(rng.integers(1, 8))))
        for position in positions:
            out[position] ^= 1 << int(rng.integers(0, 8))
        return bytes(out), f"flip a bit at {positions}"
    if kind == "truncate":
        return data[:where], f"truncate to {where} bytes"
    if kind == "insert":
        piece = tokens[int(rng.integers(0, len(tokens)))] if tokens else rng.bytes(int(rng.integers(1, 16)))
        return data[:where] + piece + data[where:], f"insert {piece!r} at {where}"
    if kind == "delete":
        count = int(rng.integers(1, 32))
        return data[:where] + data[where + count:], f"delete {count} bytes at {where}"
    if kind == "field":
        value = tokens[int(rng.integers(0, len(tokens)))] if tokens else EXTREMES[int(rng.integers(0, len(EXTREMES)))]
        return data[:where] + value + data[where + len(value):], f"overwrite {value!r} at {where}"
    start = int(rng.integers(0, len(data)))  # splice: repeat a stretch of the file elsewhere
    stretch = data[start:start + int(rng.integers(1, 200))]
    return data[:where] + stretch + data[where:], f"copy {len(stretch)} bytes from {start} to {where}"


def outcome(read) -> str:
    """"read" if ``read()`` succeeded, "refused" if it raised a MeshTalkError, else the
    traceback of what it raised. Warnings count as failures: on the command line they
    would be extra lines around the one-line message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            read()
    except MeshTalkError:
        return "refused"
    except Exception:  # noqa: BLE001 - exactly what the test looks for
        return traceback.format_exc(limit=-3)
    return "read"


def fuzz(name: str, data: bytes, path, check, count: int, tokens=None) -> None:
    """Writes ``count`` mutations of ``data`` to ``path`` and runs ``check(path)`` on each."""
    outcomes, failures = {"read": 0, "refused": 0}, []
    for index in range(count):
        mutation, what = mutated(data, index, tokens)
        path.write_bytes(mutation)
        result = outcome(lambda: check(path))
        if result in outcomes:
            outcomes[result] += 1
        else:
            failures.append(f"{name} mutation {index} ({what}):\n{result}")
    print(f"{name}: {count} mutations, {outcomes['read']} read, {outcomes['refused']} refused, {len(failures)} failed")
    assert not failures, "\n".join(failures)


def read_audio(path) -> None:
    info = audio.probe(audio.AudioClip(path))
    samples = audio.NormalisedSamples(info).get(0, info.num_samples)
    assert info.num_samples > 0 and len(samples) == info.num_samples
    assert np.isfinite(samples).all() and np.isfinite(info.mean_abs) and info.mean_abs > 0


AUDIO_FORMATS = {  # name: (extension, rate, channels, soundfile options)
    "wav": ("wav", 16000, 1, {"subtype": "PCM_16"}),
    "float wav": ("wav", 44100, 1, {"subtype": "FLOAT"}),  # flipped bits make NaN and infinite samples
    "flac": ("flac", 22050, 2, {}),
    "ogg": ("ogg", 16000, 1, {"subtype": "VORBIS"}),
    "mp3": ("mp3", 22050, 1, {}),
}


@pytest.mark.parametrize("name", list(AUDIO_FORMATS))
def test_mutated_audio_files_end_in_finite_samples_or_a_clear_message(tmp_path, name):
    extension, rate, channels, options = AUDIO_FORMATS[name]
    speech = speech_like(0.6, rate, seed=4)
    original = tmp_path / f"original.{extension}"
    soundfile.write(original, np.stack([speech] * channels, axis=1), rate, **options)
    read_audio(original)  # the unmutated file reads
    fuzz(name, original.read_bytes(), tmp_path / f"mutated.{extension}", read_audio, AUDIO_MUTATIONS)


def obj_text(vertices: int = 40) -> bytes:
    rng = np.random.default_rng(1)
    lines = ["# template", "o face"] + [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in rng.normal(size=(vertices, 3))]
    lines += [f"vt {u:.4f} {v:.4f}" for u, v in rng.random((vertices, 2))]
    lines += ["vn 0 0 1", "s off"]
    lines += [f"f {i + 1}/{i + 1}/1 {i + 2}/{i + 2}/1 {i + 3}/{i + 3}/1" for i in range(vertices - 2)]
    return ("\n".join(lines) + "\n").encode()


def read_template_file(path) -> None:
    mesh = read_obj(path)
    assert np.isfinite(mesh.vertices.astype(np.float32)).all()
    assert all(0 <= i < len(mesh.vertices) for face in mesh.faces for i in face)
    template = read_template(path, len(mesh.vertices))
    assert template.dtype == np.float32 and np.isfinite(template).all()


def test_mutated_obj_templates_end_in_finite_vertices_or_a_clear_message(tmp_path):
    (tmp_path / "original.obj").write_bytes(obj_text())
    read_template_file(tmp_path / "original.obj")  # the unmutated file reads
    fuzz("obj", obj_text(), tmp_path / "template.obj", read_template_file, OBJ_MUTATIONS, OBJ_TOKENS)
