#!/usr/bin/env bash
# Sets up what this project needs. Idempotent: when nothing changed it returns in about
# a second.
#   bash scripts/setup.sh               .venv with the pinned Python packages (Blender as
#                                       the bpy module, torch): all the demo needs
#   bash scripts/setup.sh --with-tests  also the Debian speech tools the tests and the
#                                       corpus use, and .venv-bpy5 (the tests run the
#                                       add-on in Blender 4.5 and 5.0)
set -euo pipefail
cd "$(dirname "$0")/.."
with_tests=false
[ "${1:-}" = "--with-tests" ] && with_tests=true
started=$SECONDS

python_bin=${PYTHON:-python3.11}
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3

# Debian packages for the tests and the corpus (only when missing; needs root or sudo).
install_debian_packages() {
    local apt_packages missing="" sudo_cmd=""
    apt_packages=$(grep -v '^#' scripts/apt-packages.txt | xargs)
    for package in $apt_packages; do
        dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
    done
    [ -n "$missing" ] || return 0
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    echo "setup: installing Debian speech tools for the tests (about a minute):$missing"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $missing >/dev/null
    echo "setup: Debian packages ready ($((SECONDS - started)) s so far)"
}

# install_venv DIR REQUIREMENTS...: creates DIR with $python_bin, then installs the
# requirement files; reinstalls only when one of them changed since the last success.
install_venv() {
    local venv=$1
    shift
    if [ ! -x "$venv/bin/python" ]; then
        echo "setup: creating $venv with $python_bin"
        "$python_bin" -m venv "$venv"
    fi
    local stamp="$venv/.requirements-sha256"
    local wanted
    wanted=$(cat "$@" | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        echo "setup: installing pinned Python packages into $venv: torch, Blender as the bpy module and" \
             "their dependencies, about 2 GB (first time: 2-5 minutes, quiet while pip works)"
        local args=()
        for file in "$@"; do args+=(-r "$file"); done
        "$venv/bin/pip" install -q --disable-pip-version-check "${args[@]}" 2>&1 \
            | grep -v "^WARNING: Location" || true
        "$venv/bin/python" -c "import torch, bpy, librosa, numba, soundfile, safetensors" \
            || { echo "setup: the packages in $venv do not import; see the messages above" >&2; exit 1; }
        echo "$wanted" > "$stamp"
        echo "setup: $venv ready ($((SECONDS - started)) s so far)"
    fi
}

install_venv .venv requirements.txt
if $with_tests; then
    install_debian_packages
    # The second Blender: bpy 5.0 with the same pins as .venv except bpy itself.
    mkdir -p .venv-bpy5
    grep -v '^bpy==' requirements.txt > .venv-bpy5/requirements-without-bpy.txt
    install_venv .venv-bpy5 .venv-bpy5/requirements-without-bpy.txt requirements-bpy5.txt
fi
