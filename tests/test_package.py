"""The package's promises about its own shape."""

import subprocess
import sys

from conftest import ROOT


def test_package_and_core_import_without_bpy():
    code = ("import sys, meshtalk_blender, meshtalk_blender.core.pipeline, meshtalk_blender.cli, "
            "meshtalk_blender.training.loops; assert 'bpy' not in sys.modules, 'bpy was imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_core_never_imports_bpy():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "meshtalk_blender" / "core").rglob("*.py")
                 for line in p.read_text(encoding="utf-8").splitlines()
                 if line.strip().startswith(("import bpy", "from bpy"))]
    assert offenders == []
