#!/usr/bin/env bash
# Set up a virtual environment and run the test suite. The README's test command.
# It installs the "train" extra (CPU torch, onnx): the training tests and the checks of the
# torch-free runtime against the torch models need it.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# These machines keep the CPU build of torch 2.13.0 in /opt/wheels: use it even where pip's
# configuration does not point there (an unpinned or index torch is a multi-GB CUDA build).
find_links=()
[ -d /opt/wheels ] && find_links=(--find-links /opt/wheels)
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# torch==2.13.0 is pinned in the train extra: on these machines it is the local CPU build.
.venv/bin/python -m pip install -q "${find_links[@]}" -e ".[test,train]"
exec .venv/bin/python -m pytest "$@"
