#!/usr/bin/env bash
# Sets up everything this project needs: the .venv with the pinned Python packages and
# the Debian tools the tests and the corpus use. Idempotent: when nothing changed it
# returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin=${PYTHON:-python3.11}
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3

# Debian packages (only when missing; needs root or sudo).
apt_packages=$(grep -v '^#' scripts/apt-packages.txt | xargs)
missing=""
for package in $apt_packages; do
    dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
    sudo_cmd=""
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    echo "setup: installing Debian packages:$missing"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $python_bin"
    "$python_bin" -m venv .venv
fi

# Reinstall only when requirements.txt changed since the last successful install.
stamp=.venv/.requirements-sha256
wanted=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "setup: installing pinned Python packages (first time: about a minute)"
    .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt 2>&1 \
        | grep -v "^WARNING: Location" || true
    .venv/bin/python -c "import torch, bpy, librosa, numba, soundfile, safetensors" \
        || { echo "setup: the installed packages do not import; see the messages above" >&2; exit 1; }
    echo "$wanted" > "$stamp"
fi
