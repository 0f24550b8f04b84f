"""ARKit weights for other tools: Live Link Face CSV, JSON, glTF (core/arkit_export.py),
and the command line writing them from a model on the MeshTalk head's topology."""

from __future__ import annotations

import csv
import json
import struct

import numpy as np
import pytest

from conftest import head_sized_bundle

from meshtalk_blender import cli
from meshtalk_blender.core import arkit_export
from meshtalk_blender.core.arkit_export import WeightsWriter, live_link_face_header, timecode
from meshtalk_blender.core.checkpoints import save_bundle
from meshtalk_blender.core.face import ARKIT_NAMES, arkit_deltas, load_bundled_head


def weights(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, size=(count, len(ARKIT_NAMES))).astype(np.float32)


def read_glb(path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    magic, version, total = struct.unpack_from("<4sII", data)
    assert (magic, version, total) == (b"glTF", 2, len(data))
    length, kind = struct.unpack_from("<I4s", data, 12)
    document = json.loads(data[20:20 + length])
    blob_length, blob_kind = struct.unpack_from("<I4s", data, 20 + length)
    assert (kind, blob_kind) == (b"JSON", b"BIN\0")
    return document, data[28 + length:28 + length + blob_length]


def accessor(document: dict, blob: bytes, index: int) -> np.ndarray:
    entry = document["accessors"][index]
    view = document["bufferViews"][entry["bufferView"]]
    width = {"SCALAR": 1, "VEC3": 3}[entry["type"]]
    dtype = {5126: np.float32, 5125: np.uint32}[entry["componentType"]]
    values = np.frombuffer(blob, dtype=dtype, count=entry["count"] * width, offset=view["byteOffset"])
    return values.reshape(entry["count"], width) if width > 1 else values


def test_live_link_face_csv_has_the_apps_columns_and_timecodes(tmp_path):
    path = tmp_path / "line.csv"
    values = weights(40)
    with WeightsWriter(path, 30.0) as writer:
        writer.write(values[:25])
        writer.write(values[25:])
    rows = list(csv.reader(path.open()))
    header = rows[0]
    assert header == live_link_face_header().split(",") and len(header) == 63
    assert header[2:5] == ["EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft"] and header[-9] == "HeadYaw"
    assert len(rows) == 41 and rows[1][:2] == ["00:00:00:00.000", "61"] and rows[31][0] == "00:00:01:00.000"
    for name in ("jawLeft", "jawRight", "mouthLeft", "tongueOut"):  # named columns, whatever their order
        column = header.index(name[0].upper() + name[1:])
        assert float(rows[8][column]) == pytest.approx(values[7, ARKIT_NAMES.index(name)], abs=1e-6)
    assert all(float(v) == 0.0 for v in rows[5][-9:])  # no head or eye rotations


def test_timecodes_at_fractional_rates():
    assert timecode(0, 29.97) == "00:00:00:00.000"
    assert timecode(30, 29.97) == "00:00:01:00.030"
    assert timecode(3600 * 24, 24.0) == "01:00:00:00.000"


def test_json_has_names_and_a_weight_per_name_and_frame(tmp_path):
    path = tmp_path / "line.json"
    values = weights(12)
    with WeightsWriter(path, 24.0) as writer:
        writer.write(values)
    document = json.loads(path.read_text())
    assert document["names"] == list(ARKIT_NAMES) and document["frame_count"] == 12 and document["fps"] == 24.0
    frame = document["frames"][5]
    assert frame["frame"] == 5 and frame["time"] == pytest.approx(5 / 24, abs=1e-6)
    assert frame["weights"]["jawOpen"] == pytest.approx(values[5, ARKIT_NAMES.index("jawOpen")], abs=1e-6)


def test_glb_is_the_head_with_52_morph_targets_and_their_animation(tmp_path):
    head = load_bundled_head()
    rig = (head.vertices, arkit_export.triangulate(head.faces), arkit_deltas(head))
    path = tmp_path / "line.glb"
    values = weights(20)
    with WeightsWriter(path, 30.0, head=rig) as writer:
        writer.write(values)
    document, blob = read_glb(path)
    primitive = document["meshes"][0]["primitives"][0]
    assert document["meshes"][0]["extras"]["targetNames"] == list(ARKIT_NAMES) and len(primitive["targets"]) == 52
    positions = accessor(document, blob, primitive["attributes"]["POSITION"])
    np.testing.assert_allclose(positions, arkit_export.to_gltf_axes(head.vertices), atol=1e-7)
    assert np.argmax(positions[:, 2]) == np.argmin(head.vertices[:, 1])  # the face (nose tip first) toward +Z
    assert np.argmax(positions[:, 1]) == np.argmax(head.vertices[:, 2])  # Y up
    jaw = accessor(document, blob, primitive["targets"][ARKIT_NAMES.index("jawOpen")]["POSITION"])
    np.testing.assert_allclose(jaw, arkit_export.to_gltf_axes(rig[2][ARKIT_NAMES.index("jawOpen")]), atol=1e-7)
    for index in [primitive["attributes"]["POSITION"]] + [t["POSITION"] for t in primitive["targets"]]:
        assert "min" in document["accessors"][index] and "max" in document["accessors"][index]  # the spec wants them
    sampler = document["animations"][0]["samplers"][0]
    np.testing.assert_allclose(accessor(document, blob, sampler["input"]), np.arange(20) / 30.0, atol=1e-6)
    np.testing.assert_array_equal(accessor(document, blob, sampler["output"]).reshape(20, 52), values)
    assert accessor(document, blob, primitive["indices"]).max() < len(head.vertices)


def test_a_failed_export_leaves_the_previous_file(tmp_path):
    path = tmp_path / "line.csv"
    path.write_text("previous")
    with pytest.raises(RuntimeError):
        with WeightsWriter(path, 30.0) as writer:
            writer.write(weights(3))
            raise RuntimeError("cancelled")
    assert path.read_text() == "previous" and [p.name for p in tmp_path.iterdir()] == ["line.csv"]


@pytest.fixture(scope="module")
def head_model(tmp_path_factory):
    return head_sized_bundle(tmp_path_factory.mktemp("head_model"), "head-sized test model")


@pytest.mark.parametrize("extension", [".csv", ".json", ".glb"])
def test_the_command_line_writes_arkit_weights(head_model, speech_wav, tmp_path, extension):
    out = tmp_path / f"line{extension}"
    assert cli.main(["animate", str(speech_wav), "--checkpoint", str(head_model), "--out", str(out), "--quiet",
                     "--duration", "1"]) == 0
    if extension == ".csv":
        assert len(list(csv.reader(out.open()))) == 1 + 31
    elif extension == ".json":
        frames = json.loads(out.read_text())["frames"]
        assert len(frames) == 31 and 0.0 <= min(min(f["weights"].values()) for f in frames)
    else:
        document, blob = read_glb(out)
        assert accessor(document, blob, document["animations"][0]["samplers"][0]["output"]).size == 31 * 52


def test_arkit_weights_need_the_heads_topology(speech_wav, tmp_path, template_vertices, capsys):
    from conftest import TINY, random_model

    save_bundle(tmp_path / "tiny", random_model(TINY), template_vertices, description="tiny", licence="MIT")
    assert cli.main(["animate", str(speech_wav), "--checkpoint", str(tmp_path / "tiny"),
                     "--out", str(tmp_path / "a.csv")]) == 2
    assert "need a model of the MeshTalk head's topology" in capsys.readouterr().err
    assert not (tmp_path / "a.csv").exists()


def test_the_command_lines_weights_have_blinks_that_close_and_brows_that_rise(tmp_path):
    """The bundled model on the sample line: its blinks, completed (core.blinks), reach
    eyeBlink >= 0.95 in the written file, as in the add-on's takes; brows rise on the
    line's pitch accents (core.brows), as the model alone does not."""
    from meshtalk_blender.blender.model_source import BUNDLED_MODEL_DIR
    from meshtalk_blender.core.blinks import blink_peaks

    out = tmp_path / "line.csv"
    assert cli.main(["animate", str(BUNDLED_MODEL_DIR.parent / "sample_speech.flac"), "--out", str(out), "--quiet",
                     "--seed", "1"]) == 0
    rows = list(csv.reader(out.open()))
    columns = [rows[0].index(name[0].upper() + name[1:]) for name in ARKIT_NAMES]
    weights = np.array([[float(row[c]) for c in columns] for row in rows[1:]])
    peaks = blink_peaks(weights, ARKIT_NAMES, 30.0)
    assert len(peaks) >= 1 and np.mean(peaks >= 0.95) >= 0.8
    inner = weights[:, ARKIT_NAMES.index("browInnerUp")]
    assert inner.max() - np.median(inner) > 0.15  # a visible raise (the model alone: under 0.05)
