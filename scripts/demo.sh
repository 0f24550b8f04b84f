#!/usr/bin/env bash
# The README's main job: set everything up, then in headless Blender add the MeshTalk
# head, animate it from the bundled sample speech, save out/demo.blend and write a
# preview (out/demo_contact_sheet.png, out/demo.mp4). Arguments go to scripts/demo.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
timeout 900 .venv/bin/python scripts/demo.py "$@"
