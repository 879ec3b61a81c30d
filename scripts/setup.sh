#!/usr/bin/env bash
# Create .venv and install bbcompress with its test extras (idempotent).
# torch/torchvision are pinned to the CPU-usable builds these machines hold on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check torch==2.14.1 torchvision==0.29.1 -e ".[test,train]" 2>&1 \
  | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import bbcompress, torch, constriction" 
