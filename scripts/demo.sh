#!/usr/bin/env bash
# The README's main job: set everything up, then animate the bundled sample.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python scripts/demo.py
