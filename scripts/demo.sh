#!/usr/bin/env bash
# Set up a virtual environment (CPU torch) and run semeq's demo. The README's main-job command.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# These machines keep the CPU build of torch 2.13.0 in /opt/wheels: use it even where pip's
# configuration does not point there (an unpinned or index torch is a multi-GB CUDA build).
find_links=()
[ -d /opt/wheels ] && find_links=(--find-links /opt/wheels)
.venv/bin/python -m pip install -q "${find_links[@]}" -e .
exec .venv/bin/semeq demo --force "$@"   # the demo rewrites its own files in semeq-demo/
