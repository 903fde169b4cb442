#!/usr/bin/env bash
# Set up a virtual environment and run semeq's demo. The README's main-job command.
# The run time needs no torch (NumPy + ONNX Runtime); a .venv made by scripts/test.sh, which
# also has the train extra, is reused as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# Keep /opt/wheels in reach where it exists (scripts/test.sh installs torch from there).
find_links=()
[ -d /opt/wheels ] && find_links=(--find-links /opt/wheels)
.venv/bin/python -m pip install -q "${find_links[@]}" -e .
exec .venv/bin/semeq demo --force "$@"   # the demo rewrites its own files in semeq-demo/
