#!/usr/bin/env bash
# Set up a virtual environment (CPU torch) and run semeq's demo. The README's main-job command.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q -e .
exec .venv/bin/semeq demo --force "$@"   # the demo rewrites its own files in semeq-demo/
