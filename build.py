"""Build the installable extension zips: package + manifest + wheels, validated by Blender.

    python build.py                                   # all platforms, Python 3.11 (Blender 4.2-5.0)
    python build.py --platform windows-x64 --python 3.11 3.13
    python build.py --no-wheels                       # for a Blender that already has the dependencies
    python build.py --platform linux-x64 --torch-index URL   # torch from another index (e.g. CPU-only or CUDA)

Steps: copy meshtalk_blender/ into build/stage/ with the top-level blender_manifest.toml
(the zip's root is the package); for each platform, resolve the exact closure of the
runtime dependencies (binary wheels only, that platform's tags, numpy left out because
Blender ships it), download the unmodified wheels into wheels/ (reused between builds,
ignored by git), list them in the staged manifest; then build with Blender's own
extension tool (blender_ext.py from the bpy module, or `blender --command extension
build` with --blender), one zip per platform, and validate every zip with Blender's
validator. The version comes from blender_manifest.toml only.

``link_for_development(folder)`` makes the same extension from this checkout without
copying (links), for an extension repository in a running Blender, the tests and the
demo.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PACKAGE = ROOT / "meshtalk_blender"
MANIFEST = ROOT / "blender_manifest.toml"
WHEELS = ROOT / "wheels"
RUNTIME_REQUIREMENTS = ROOT / "requirements-runtime.txt"
BUILD = ROOT / "build"
# Blender platform -> pip platform tags (newest first; pip accepts any of them).
PLATFORM_TAGS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_12_0_arm64", "macosx_11_0_arm64"],
}
# torch stopped publishing Intel-mac wheels after 2.2, so macos-x64 cannot be built with
# the pinned torch; it is refused with that reason instead of shipping an untested torch.
UNSUPPORTED = {"macos-x64": "torch 2.13 has no Intel-mac (macos-x64) wheels; Intel Macs are not supported"}
UV_PLATFORMS = {
    "linux-x64": "x86_64-manylinux_2_28",
    "windows-x64": "x86_64-pc-windows-msvc",
    "macos-arm64": "aarch64-apple-darwin",
}
SHIPPED_BY_BLENDER = {"numpy"}  # one shared site-packages: Blender's own copy must win


def normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def read_manifest() -> dict:
    with open(MANIFEST, "rb") as handle:
        return tomllib.load(handle)


def resolve(platform: str, python: str, torch_index: str | None) -> list[str]:
    """The exact pinned closure ("name==version") of the runtime requirements for that
    platform and Python, without what Blender ships. uv resolves with the target's own
    environment markers (pip would evaluate torch's Linux-only CUDA markers here)."""
    command = [sys.executable, "-m", "uv", "pip", "compile", str(RUNTIME_REQUIREMENTS), "--quiet", "--no-header",
               "--no-annotate", "--python-platform", UV_PLATFORMS[platform], "--python-version", python,
               "--only-binary", ":all:"]
    if python == "3.11":  # Blender 4.2-5.0 ship numpy 1.26: everything must work with it
        constraint = BUILD / "numpy-1.constraint.txt"
        constraint.parent.mkdir(parents=True, exist_ok=True)
        constraint.write_text("numpy<2\n")
        command += ["--constraint", str(constraint)]
    if torch_index:
        command += ["--extra-index-url", torch_index, "--index-strategy", "unsafe-best-match"]
    environment = {**os.environ, "MACOSX_DEPLOYMENT_TARGET": "14.0"}  # torch's arm64 wheels need macOS 14
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        raise SystemExit(f"build: could not resolve the dependencies for {platform} / Python {python}:\n"
                         f"{result.stderr.strip()[-2000:]}")
    pins = [line.split(";")[0].strip() for line in result.stdout.splitlines() if "==" in line]
    return [pin for pin in pins if normalise(pin.split("==")[0]) not in SHIPPED_BY_BLENDER]


def download(pins: list[str], platform: str, python: str, cache: Path, torch_index: str | None) -> list[Path]:
    """Unmodified binary wheels of exactly these pins into ``cache`` (reused between builds)."""
    folder = cache / f"{platform}-py{python}"
    folder.mkdir(parents=True, exist_ok=True)
    version = python.replace(".", "")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", python, "--implementation", "cp", "--abi", f"cp{version}", "--abi", "abi3",
               "--abi", "none", "--dest", str(folder), *pins]
    for tag in PLATFORM_TAGS[platform] + ["any"]:
        command += ["--platform", tag]
    if torch_index:
        command += ["--extra-index-url", torch_index]
    subprocess.run(command, check=True)
    wanted = {normalise(pin.split("==")[0]): pin.split("==")[1] for pin in pins}
    found = [p for p in folder.glob("*.whl")
             if wanted.get(normalise(p.name.split("-")[0])) == p.name.split("-")[1]]
    missing = set(wanted) - {normalise(p.name.split("-")[0]) for p in found}
    if missing:
        raise SystemExit(f"build: no wheel for {sorted(missing)} on {platform} / Python {python}")
    return sorted(found)


def stage(wheel_files: list[Path], platforms: list[str]) -> Path:
    """build/stage/meshtalk_blender: the package, the wheels and the manifest listing them."""
    target = BUILD / "stage" / PACKAGE.name
    shutil.rmtree(target.parent, ignore_errors=True)
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    text = MANIFEST.read_text(encoding="utf-8")
    if wheel_files:
        (target / "wheels").mkdir()
        for path in wheel_files:
            shutil.copy2(path, target / "wheels" / path.name)
        listed = ",\n".join(f'  "./wheels/{p.name}"' for p in sorted(set(wheel_files)))
        text = text.replace("\n[permissions]", f"\nplatforms = {json.dumps(platforms)}\nwheels = [\n{listed},\n]\n\n"
                                              "[permissions]", 1)
    (target / "blender_manifest.toml").write_text(text, encoding="utf-8")
    return target


def link_for_development(folder: Path) -> Path:
    """folder/meshtalk_blender: the extension as Blender sees an installed one (the
    package's files and the manifest), made of links to this checkout, so edits show at
    once. Refreshed on every call (files added to the package get their link)."""
    target = folder / PACKAGE.name
    if target.is_symlink():  # the older layout linked the whole package
        target.unlink()
    target.mkdir(parents=True, exist_ok=True)
    wanted = {path.name: path for path in PACKAGE.iterdir() if path.name != "__pycache__"}
    wanted[MANIFEST.name] = MANIFEST
    for entry in target.iterdir():
        if entry.name not in wanted or not entry.is_symlink() or entry.resolve() != wanted[entry.name].resolve():
            entry.unlink() if entry.is_symlink() or entry.is_file() else shutil.rmtree(entry)
    for name, source in wanted.items():
        if not (target / name).is_symlink():
            (target / name).symlink_to(source, target_is_directory=source.is_dir())
    return target


def extension_tool() -> list[str]:
    import bpy  # noqa: F401  (only to find the bundled tool; no Blender session is used)

    scripts = next(p for p in Path(bpy.__file__).parents if (p / "addons_core" / "bl_pkg").is_dir())
    return [sys.executable, str(scripts / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py")], scripts


def build_zips(source: Path, out: Path, split: bool, blender: str | None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.glob("*.zip"))
    if blender:
        command = [blender, "--factory-startup", "--command", "extension", "build",
                   "--source-dir", str(source), "--output-dir", str(out)]
        validate = lambda zip_path: [blender, "--factory-startup", "--command", "extension", "validate", str(zip_path)]  # noqa: E731
    else:
        tool, scripts = extension_tool()
        tags = scripts / "modules" / "_bpy_internal" / "extensions" / "tags.py"
        command = tool + ["build", "--source-dir", str(source), "--output-dir", str(out), f"--valid-tags={tags}"]
        validate = lambda zip_path: tool + ["validate", str(zip_path), f"--valid-tags={tags}"]  # noqa: E731
    if split:
        command.append("--split-platforms")
    subprocess.run(command, check=True)
    zips = sorted(set(out.glob("*.zip")) - before) or sorted(out.glob("*.zip"))
    for zip_path in zips:
        subprocess.run(validate(zip_path), check=True)
        print(f"build: {zip_path.name} ({zip_path.stat().st_size / 1e6:.1f} MB) validated", flush=True)
    return zips


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", nargs="+", choices=sorted(PLATFORM_TAGS) + sorted(UNSUPPORTED),
                        default=sorted(PLATFORM_TAGS))
    parser.add_argument("--python", nargs="+", default=["3.11"], help="3.11 for Blender 4.2-5.0, 3.13 for 5.1+")
    parser.add_argument("--no-wheels", action="store_true", help="no bundled dependencies (one zip)")
    parser.add_argument("--torch-index", help="an extra package index for torch (e.g. a CUDA build)")
    parser.add_argument("--blender", help="a Blender binary to build and validate with (default: the bpy module)")
    parser.add_argument("--wheel-cache", type=Path, default=WHEELS)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    version = read_manifest()["version"]
    refused = [f"{p}: {UNSUPPORTED[p]}" for p in args.platform if p in UNSUPPORTED]
    if refused and not args.no_wheels:
        raise SystemExit("build: " + "; ".join(refused))
    if args.no_wheels:
        zips = build_zips(stage([], []), args.out, split=False, blender=args.blender)
    else:
        wheel_files = []
        for platform in args.platform:
            for python in args.python:
                pins = resolve(platform, python, args.torch_index)
                wheel_files += download(pins, platform, python, args.wheel_cache, args.torch_index)
        zips = build_zips(stage(wheel_files, args.platform), args.out, split=True, blender=args.blender)
    print(f"build: MeshTalk {version}: {', '.join(str(z) for z in zips)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
