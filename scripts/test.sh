#!/usr/bin/env bash
# The whole test suite, under time limits: the core and training tests, then the
# add-on's real-Blender tests (tests/test_blender_*.py) on bpy 4.5 LTS (.venv) and on
# bpy 5.0 (.venv-bpy5), so an API that 5.0 removed fails here and not for a user.
# Extra arguments go to every pytest run (e.g. -k NAME, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1
bash scripts/setup.sh

# pytest exits with 5 when a -k filter leaves nothing to run in one of the runs.
run() { "$@" || { status=$?; [ "$status" -eq 5 ] || exit "$status"; }; }

run timeout 1500 .venv/bin/python -m pytest -q -p no:cacheprovider --timeout=600 tests \
    --ignore-glob='tests/test_blender_*' "$@"
for venv in .venv .venv-bpy5; do
    echo "Blender tests with bpy $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("bpy"))')"
    # -p blender_support: the session ends with os._exit (a bpy process can hang at exit).
    run env PYTHONPATH=tests timeout 900 "$venv/bin/python" -m pytest -q -p no:cacheprovider -p blender_support \
        --timeout=300 tests/test_blender_*.py "$@"
done
