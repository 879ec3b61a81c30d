#!/usr/bin/env bash
# Create .venv and install bbcompress with its test extras (idempotent).
# torch/torchvision are pinned to the CPU-usable builds these machines hold on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

say() { echo "setup: $*"; }
trap 'echo "setup: failed (status $?): see the lines above" >&2' ERR

# pip warns "WARNING: Location ... is ignored" about this machine's configuration; the
# rest of what it prints is the progress worth seeing. grep exits 1 when it keeps no
# line at all, which is no failure; pipefail still passes on pip's own status.
without_location_warnings() { grep --line-buffered -v "^WARNING: Location" || [ $? -eq 1 ]; }

if [ -x .venv/bin/python ]; then
  say "using the existing .venv"
else
  say "creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
say "installing torch 2.14.1, torchvision 0.29.1 and bbcompress[test,train] (editable) into .venv:" \
    "a few minutes, mostly torch"
.venv/bin/pip install --disable-pip-version-check torch==2.14.1 torchvision==0.29.1 -e ".[test,train]" 2>&1 \
  | without_location_warnings
say "checking that bbcompress, torch and constriction import"
.venv/bin/python -c "import bbcompress, torch, constriction"
say "done: .venv is ready (try .venv/bin/bbcompress demo, or .venv/bin/pytest -q)"
