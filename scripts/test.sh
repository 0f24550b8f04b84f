#!/usr/bin/env bash
# The whole test suite (core, training smoke runs, real-Blender tests), under a time limit.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1
exec timeout 1500 .venv/bin/python -m pytest -q -p no:cacheprovider --timeout=600 tests "$@"
