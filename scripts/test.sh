#!/usr/bin/env bash
# The whole test suite, under time limits: the core and training tests, then the
# add-on's real-Blender tests (tests/test_blender_*.py) on bpy 4.5 LTS (.venv) and on
# bpy 5.0 (.venv-bpy5), so an API that 5.0 removed fails here and not for a user.
# Every part runs even when an earlier one fails; the summary at the end names each
# part's result, and the exit status is non-zero if any failed.
# Extra arguments go to every pytest run (e.g. -k NAME, -x).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1
bash scripts/setup.sh --with-tests || exit 1

summary=()
failed=0
# run NAME COMMAND...: pytest exits with 5 when a -k filter leaves nothing to run.
run() {
    local name=$1
    shift
    local started=$SECONDS status=0
    "$@" || status=$?
    if [ "$status" -eq 0 ] || [ "$status" -eq 5 ]; then
        summary+=("passed  $name ($((SECONDS - started)) s)")
    else
        summary+=("FAILED  $name (exit $status, $((SECONDS - started)) s)")
        failed=1
    fi
}

# One torch (OpenMP) thread for the core suite: its training tests take tiny steps, and two
# threads fighting any other process for a core of a 2-core machine made them 3-30 times
# slower (a CI run timed out). The pipeline's own thread handling is tested with two
# threads (tests/test_pipeline.py) and in every Blender test.
run "core and training tests" env OMP_NUM_THREADS=1 timeout 1500 .venv/bin/python -m pytest -q -p no:cacheprovider --timeout=600 tests \
    --ignore-glob='tests/test_blender_*' "$@"
for venv in .venv .venv-bpy5; do
    version=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("bpy"))')
    echo "Blender tests with bpy $version"
    # -p blender_support: the session ends with os._exit (a bpy process can hang at exit).
    run "Blender tests, bpy $version" env PYTHONPATH=tests timeout 900 "$venv/bin/python" -m pytest -q \
        -p no:cacheprovider -p blender_support --timeout=300 tests/test_blender_*.py "$@"
done

echo
echo "test summary:"
printf '  %s\n' "${summary[@]}"
exit $failed
