"""The head built as Blender objects, checked in a real (headless) Blender process."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from meshtalk_blender.core.face import ARKIT_NAMES, apply_arkit, arkit_deltas, eye_rotations, load_bundled_head
from meshtalk_blender.core.face.mouth_parts import build_mouth_parts
from meshtalk_blender.core.tongue import TONGUE_KEYS

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import bpy
import numpy as np
from meshtalk_blender.blender.head_builder import build_head_objects
report = {}
try:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    face, eyes = build_head_objects()
    keys = face.data.shape_keys.key_blocks
    report["keys"] = [k.name for k in keys]
    report["vertices"] = len(face.data.vertices)
    report["faces"] = len(face.data.polygons)
    report["uv_layers"] = len(face.data.uv_layers)
    co = np.zeros(len(face.data.vertices) * 3, dtype=np.float32)
    keys["jawOpen"].data.foreach_get("co", co)
    report["jaw_open"] = co.reshape(-1, 3)[::97].tolist()
    keys["eyeLookUpLeft"].value = 1.0
    keys["eyeLookInRight"].value = 1.0
    bpy.context.view_layer.update()
    report["eyes"] = [[list(row) for row in eye.matrix_world.to_3x3()] for eye in eyes]
    report["eye_parents"] = [eye.parent.name for eye in eyes]
    # The mouth's parts: where the evaluated lower teeth and tongue are with jawOpen at
    # 0.5 and tongueOut at 1 set on the face only (their drivers do the rest).
    from meshtalk_blender.blender.head_builder import mouth_parts
    keys["jawOpen"].value = 0.5
    keys["tongueOut"].value = 1.0
    bpy.context.view_layer.update()
    graph = bpy.context.evaluated_depsgraph_get()
    report["parts"] = {}
    for part in mouth_parts(face):
        mesh = part.evaluated_get(graph).data
        co = np.zeros(len(mesh.vertices) * 3, dtype=np.float32)
        mesh.vertices.foreach_get("co", co)
        materials = sorted({part.material_slots[p.material_index].material.name for p in part.data.polygons})
        report["parts"][part.name[len(face.name) + 1:]] = {
            "co": co.reshape(-1, 3)[::7].tolist(), "parent": part.parent.name, "materials": materials}
except Exception as error:
    report["error"] = repr(error)
print("REPORT" + json.dumps(report))
sys.stdout.flush()
os._exit(0)
"""


@pytest.fixture(scope="module")
def blender_report():
    pytest.importorskip("bpy")
    env = dict(os.environ, BLENDER_USER_RESOURCES=tempfile.mkdtemp(prefix="meshtalk-test-"))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT)], capture_output=True, text=True, timeout=180, env=env
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT")]
    assert lines, result.stderr[-2000:]
    report = json.loads(lines[-1][len("REPORT"):])
    assert "error" not in report, report.get("error")
    return report


def test_face_object_has_the_52_arkit_keys_and_the_tongue_controls_on_a_basis(blender_report):
    head = load_bundled_head()
    assert blender_report["keys"] == ["Basis", *ARKIT_NAMES, *TONGUE_KEYS]
    assert blender_report["vertices"] == head.vertex_count
    assert blender_report["faces"] == len(head.faces)
    assert blender_report["uv_layers"] == 1


def test_shape_key_positions_equal_the_rig(blender_report):
    head = load_bundled_head()
    weights = np.zeros(52, dtype=np.float32)
    weights[ARKIT_NAMES.index("jawOpen")] = 1.0
    expected = apply_arkit(head, weights, arkit_deltas(head))[::97]
    assert np.abs(np.array(blender_report["jaw_open"]) - expected).max() < 1e-6


def test_eyes_turn_with_the_look_keys(blender_report):
    assert len(blender_report["eye_parents"]) == 2
    weights = np.zeros(52, dtype=np.float32)
    weights[ARKIT_NAMES.index("eyeLookUpLeft")] = 1.0
    weights[ARKIT_NAMES.index("eyeLookInRight")] = 1.0
    expected = eye_rotations(weights)
    assert np.abs(np.array(blender_report["eyes"]) - expected).max() < 1e-5


def test_teeth_and_tongue_follow_the_face_keys(blender_report):
    """The face's jawOpen (0.5) and tongueOut (1) move the lower teeth and tongue exactly
    as their deltas say; the upper teeth stay where they were built."""
    parts = {part.name: part for part in build_mouth_parts(load_bundled_head())}
    assert set(blender_report["parts"]) == set(parts)
    for name, part in parts.items():
        built = blender_report["parts"][name]
        expected = part.vertices.astype(np.float64).copy()
        expected += 0.5 * part.key_deltas.get("jawOpen", 0.0) + part.key_deltas.get("tongueOut", 0.0)
        assert np.abs(np.array(built["co"]) - expected[::7]).max() < 1e-6, name
        assert built["parent"] == "MeshTalk Head"
    assert blender_report["parts"]["Teeth Lower"]["materials"] == ["MeshTalk Gums", "MeshTalk Teeth"]
    assert blender_report["parts"]["Tongue"]["materials"] == ["MeshTalk Tongue"]
    moved = np.abs(np.array(blender_report["parts"]["Teeth Lower"]["co"]) - parts["Teeth Lower"].vertices[::7]).max()
    assert moved > 0.005  # half open: the lower incisors drop by more than 5 mm
