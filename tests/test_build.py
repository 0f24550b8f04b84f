"""build.py: the zip validates, installs into a real Blender and animates; wheel closure."""

import os
import subprocess
import sys
import zipfile

import pytest
from audio_fixtures import speech_like
from conftest import ROOT, head_sized_bundle

sys.path.insert(0, str(ROOT))
import build  # noqa: E402


INSTALL_AND_ANIMATE = r"""
import importlib, os, sys
import bpy
zip_path, wav, model, out = sys.argv[-4:]
status = 1
try:
    bpy.ops.extensions.package_install_files(repo="user_default", filepath=zip_path, enable_on_install=True)
    batch = importlib.import_module("bl_ext.user_default.meshtalk_blender.blender.batch")
    bpy.ops.meshtalk.add_head()
    face = next(o for o in bpy.data.objects if o.type == "MESH" and o.data.shape_keys
                and "jawOpen" in o.data.shape_keys.key_blocks)
    status = batch.main(["animate", "--object", face.name, "--audio", wav, "--model", model, "--save", out])
    keys = bpy.data.objects[face.name].data.shape_keys
    if status == 0 and not (keys.animation_data and keys.animation_data.nla_tracks
                            and keys.animation_data.nla_tracks[0].strips):
        print("no take playing on the head's shape keys", file=sys.stderr)
        status = 4
finally:
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(status)
"""


def test_no_wheel_zip_validates_installs_and_animates_the_bundled_head(tmp_path):
    import soundfile

    assert build.main(["--no-wheels", "--out", str(tmp_path / "dist")]) == 0
    (zip_path,) = (tmp_path / "dist").glob("*.zip")
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert not any(n.startswith("training/") or "__pycache__" in n or n.endswith(".whl") for n in names)
    wav = tmp_path / "line.wav"
    soundfile.write(wav, speech_like(2.0, seed=3), 16000)
    environment = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "blender-user")}
    result = subprocess.run(
        [sys.executable, "-c", INSTALL_AND_ANIMATE, str(zip_path), str(wav), str(head_sized_bundle(tmp_path / "model")),
         str(tmp_path / "scene.blend")], env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert (tmp_path / "scene.blend").is_file()


def test_windows_wheels_are_the_exact_closure_without_numpy(tmp_path):
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = build.resolve("windows-x64", "3.11", None)
    wheels = build.download(pins, "windows-x64", "3.11", build.WHEELS, None)
    names = [canonicalize_name(path.name.split("-")[0]) for path in wheels]
    assert len(names) == len(set(names)) == len(pins), "every dependency exactly once"
    assert "numpy" not in names and "torch" in names
    environment = {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt",
                   "platform_machine": "AMD64", "python_version": "3.11", "python_full_version": "3.11.9",
                   "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
    for path in wheels:
        with zipfile.ZipFile(path) as archive:
            metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            lines = archive.read(metadata).decode("utf-8", "replace").splitlines()
        for line in lines:
            if not line.startswith("Requires-Dist:"):
                continue
            requirement = Requirement(line.split(":", 1)[1].strip())
            if requirement.marker is None or requirement.marker.evaluate(environment):
                name = canonicalize_name(requirement.name)
                assert name in names or name == "numpy", f"{path.name} needs {requirement} which is not bundled"


def test_intel_macs_are_refused_with_the_reason():
    with pytest.raises(SystemExit, match="no Intel-mac"):
        build.main(["--platform", "macos-x64"])
