"""ARKit weights for game engines and other tools: Live Link Face CSV, JSON, and glTF.

- ``.csv``: the layout of Epic's Live Link Face app (what Unreal's LiveLinkFaceImporter
  and many DCC importers read): Timecode (HH:MM:SS:FF.mmm), BlendShapeCount (61), the
  52 ARKit shapes in the app's column order and PascalCase names, then the head and eye
  rotations, which MeshTalk does not make (written as 0; the eyes move through the
  eyeLook shapes).
- ``.json``: ``{"fps", "frame_count", "names": [52 ARKit names], "frames": [{"frame",
  "time", "weights": {name: value}}]}``.
- ``.glb``: the bundled head as a glTF 2.0 binary with the 52 shapes as morph targets
  (named in ``extras.targetNames``) and one animation of their weights (LINEAR, the
  output frame rate); Y up as glTF wants, the face toward +Z.

CSV and JSON stream frame by frame; the glTF holds the weights (52 floats a frame) until
the end. Every file goes to a temporary file and replaces the output only when complete.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

from .atomic_files import StagedFile
from .face.arkit_names import ARKIT_INDEX, ARKIT_NAMES

FORMATS = (".csv", ".json", ".glb")
ROTATION_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw",
                    "RightEyePitch", "RightEyeRoll")
# Live Link Face's column order (it differs from ARKit's documentation in a few pairs).
LIVE_LINK_FACE_SHAPES = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight", "jawForward", "jawRight", "jawLeft", "jawOpen", "mouthClose", "mouthFunnel",
    "mouthPucker", "mouthRight", "mouthLeft", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight",
    "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "browDownLeft",
    "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff", "cheekSquintLeft",
    "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)  # fmt: skip
LIVE_LINK_FACE_ORDER = np.array([ARKIT_INDEX[name] for name in LIVE_LINK_FACE_SHAPES])


def live_link_face_header() -> str:
    shapes = [name[0].upper() + name[1:] for name in LIVE_LINK_FACE_SHAPES]
    return ",".join(["Timecode", "BlendShapeCount", *shapes, *ROTATION_COLUMNS])


def timecode(frame: int, fps: float) -> str:
    """HH:MM:SS:FF.mmm of an output frame: FF the frame within its second, .mmm the part
    of a frame the frame's time falls past it (0 at whole-number rates)."""
    seconds = frame / fps
    whole = math.floor(seconds + 1e-9)
    within = (seconds - whole) * fps
    frames = math.floor(within + 1e-6)
    hours, rest = divmod(whole, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}:{frames:02d}.{round((within - frames) * 1000) % 1000:03d}"


class WeightsWriter:
    """Context manager: ``write(weights)`` chunks of (n, 52) ARKit weights in
    ARKIT_NAMES order, at ``fps`` from frame 0. ``head`` (for .glb): the neutral
    vertices (V, 3) in the project's space (Z up, face toward -Y), triangles (F, 3) and
    the 52 shapes' deltas (52, V, 3)."""

    def __init__(self, path: str | Path, fps: float, head: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None):
        self.path = Path(path)
        self.kind = self.path.suffix.lower()
        if self.kind not in FORMATS:
            raise ValueError(f"unknown weights format {self.kind}")
        if self.kind == ".glb" and head is None:
            raise ValueError("a .glb needs the head's geometry")
        self.fps, self.head = fps, head
        self.written = 0
        self._file = StagedFile(self.path, text=self.kind != ".glb")
        self._kept: list[np.ndarray] = []

    def __enter__(self) -> "WeightsWriter":
        handle = self._file.open()
        with self._file.guard():
            if self.kind == ".csv":
                handle.write(live_link_face_header() + "\n")
            elif self.kind == ".json":
                handle.write(f'{{"fps": {self.fps!r}, "names": {json.dumps(list(ARKIT_NAMES))}, "frames": [')
        return self

    def write(self, weights: np.ndarray) -> None:
        weights = np.asarray(weights, dtype=np.float32)
        if weights.ndim != 2 or weights.shape[1] != len(ARKIT_NAMES):
            raise ValueError(f"weights must be (n, {len(ARKIT_NAMES)}), got {weights.shape}")
        with self._file.guard():
            if self.kind == ".csv":
                zeros = ",0" * len(ROTATION_COLUMNS)
                lines = [f"{timecode(self.written + n, self.fps)},{len(LIVE_LINK_FACE_SHAPES) + len(ROTATION_COLUMNS)},"
                         + ",".join(f"{value:.6f}" for value in row[LIVE_LINK_FACE_ORDER]) + zeros
                         for n, row in enumerate(weights)]
                self._file.handle.write("\n".join(lines) + ("\n" if lines else ""))
            elif self.kind == ".json":
                for n, row in enumerate(weights):
                    frame = self.written + n
                    entry = {"frame": frame, "time": round(frame / self.fps, 6),
                             "weights": {name: round(float(value), 6) for name, value in zip(ARKIT_NAMES, row)}}
                    self._file.handle.write(("," if frame else "") + json.dumps(entry))
            else:
                self._kept.append(weights)
        self.written += len(weights)

    def __exit__(self, error_type, error, traceback) -> None:
        if self._file.handle is None:
            return
        if error_type is not None:
            self._file.discard()
            return
        with self._file.guard():
            if self.kind == ".json":
                self._file.handle.write(f'], "frame_count": {self.written}}}\n')
            elif self.kind == ".glb":
                weights = np.concatenate(self._kept) if self._kept else np.zeros((0, len(ARKIT_NAMES)), np.float32)
                self._file.handle.write(glb_bytes(*self.head, weights, self.fps))
        self._file.commit()


# ---------------------------------------------------------------- glTF 2.0 binary

FLOAT, UNSIGNED_INT = 5126, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963


def to_gltf_axes(points: np.ndarray) -> np.ndarray:
    """The project's space (Z up, face toward -Y) -> glTF's (Y up, face toward +Z)."""
    points = np.asarray(points, dtype=np.float32)
    return np.stack([points[..., 0], points[..., 2], -points[..., 1]], axis=-1)


def glb_bytes(vertices: np.ndarray, triangles: np.ndarray, deltas: np.ndarray, weights: np.ndarray,
              fps: float) -> bytes:
    """A .glb: one mesh with (V, 3) ``vertices``, (F, 3) ``triangles``, the 52 (52, V, 3)
    ``deltas`` as morph targets, animated by (T, 52) ``weights`` at ``fps``."""
    blob = bytearray()
    views, accessors = [], []

    def add(array: np.ndarray, accessor: dict, target: int | None = None) -> int:
        while len(blob) % 4:
            blob.append(0)
        data = np.ascontiguousarray(array).tobytes()
        view = {"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        views.append(view)
        blob.extend(data)
        accessors.append({"bufferView": len(views) - 1, **accessor})
        return len(accessors) - 1

    def vec3(points: np.ndarray, target: int | None = ARRAY_BUFFER) -> int:
        points = np.asarray(points, dtype=np.float32)
        return add(points, {"componentType": FLOAT, "count": len(points), "type": "VEC3",
                            "min": points.min(axis=0).tolist(), "max": points.max(axis=0).tolist()}, target)

    positions = vec3(to_gltf_axes(vertices))
    normals = vec3(to_gltf_axes(_vertex_normals(vertices, triangles)))
    indices = add(np.asarray(triangles, dtype=np.uint32).ravel(),
                  {"componentType": UNSIGNED_INT, "count": int(np.size(triangles)), "type": "SCALAR"},
                  ELEMENT_ARRAY_BUFFER)
    targets = [{"POSITION": vec3(to_gltf_axes(delta))} for delta in deltas]
    times = (np.arange(len(weights)) / fps).astype(np.float32)
    animation = []
    if len(weights):
        time_accessor = add(times, {"componentType": FLOAT, "count": len(times), "type": "SCALAR",
                                    "min": [float(times[0])], "max": [float(times[-1])]})
        weight_accessor = add(np.asarray(weights, dtype=np.float32).ravel(),
                              {"componentType": FLOAT, "count": int(np.size(weights)), "type": "SCALAR"})
        animation = [{"name": "MeshTalk", "samplers": [{"input": time_accessor, "output": weight_accessor,
                                                        "interpolation": "LINEAR"}],
                      "channels": [{"sampler": 0, "target": {"node": 0, "path": "weights"}}]}]
    while len(blob) % 4:
        blob.append(0)
    document = {
        "asset": {"version": "2.0", "generator": "MeshTalk for Blender"},
        "scene": 0, "scenes": [{"nodes": [0]}],
        "nodes": [{"name": "MeshTalk Head", "mesh": 0}],
        "meshes": [{"name": "MeshTalk Head", "weights": [0.0] * len(targets),
                    "extras": {"targetNames": list(ARKIT_NAMES)},
                    "primitives": [{"attributes": {"POSITION": positions, "NORMAL": normals}, "indices": indices,
                                    "targets": targets}]}],
        "buffers": [{"byteLength": len(blob)}], "bufferViews": views, "accessors": accessors,
    }
    if animation:
        document["animations"] = animation
    text = json.dumps(document, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    return b"".join([struct.pack("<4sII", b"glTF", 2, total), struct.pack("<I4s", len(text), b"JSON"), text,
                     struct.pack("<I4s", len(blob), b"BIN\0"), bytes(blob)])


def _vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    vertices = np.asarray(vertices, dtype=np.float64)
    corners = vertices[np.asarray(triangles)]
    area = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices)
    for i in range(3):
        np.add.at(normals, np.asarray(triangles)[:, i], area)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def bundled_head_rig(template: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(neutral (V, 3), triangles (F, 3), deltas (52, V, 3)): the bundled head's ARKit rig
    around ``template`` (an identity of its topology), to solve a model's frames into
    ARKit weights and to draw them in a .glb."""
    from .errors import MeshTalkError
    from .face import arkit_deltas, load_bundled_head

    head = load_bundled_head()
    if len(template) != head.vertex_count:
        raise MeshTalkError(f"ARKit weights (.csv, .json, .glb) need a model of the MeshTalk head's topology "
                            f"({head.vertex_count} vertices); this one animates {len(template)}. Write .pc2, .mdd or "
                            ".npz instead.")
    return np.asarray(template, dtype=np.float32), triangulate(head.faces), arkit_deltas(head)


def triangulate(faces: list[list[int]]) -> np.ndarray:
    """(F, 3) triangles of polygons (fans; the head's polygons are convex quads)."""
    return np.array([[face[0], face[i], face[i + 1]] for face in faces for i in range(1, len(face) - 1)],
                    dtype=np.int64)
