#!/usr/bin/env bash
# Set up a virtual environment and run the test suite. The README's test command (CI runs it too).
# It installs the "train" extra (CPU torch, onnx: the training tests and the checks of the
# torch-free runtime against the torch models), the "web" extra, and Debian's Chromium, which
# the web end-to-end test drives through Playwright (Playwright never downloads a browser here),
# lsp-plugins-lv2 and lilv-utils, through which tests/test_export.py renders the exported LV2
# preset (LSP Parametric Equalizer, lv2apply, liblilv). Each step is skipped when its result is
# already there.
set -euo pipefail
cd "$(dirname "$0")/.."
apt_missing=()
command -v chromium >/dev/null 2>&1 || apt_missing+=(chromium)
command -v lv2apply >/dev/null 2>&1 || apt_missing+=(lilv-utils)
[ -f /usr/lib/lv2/lsp-plugins.lv2/para_equalizer_x16_stereo.ttl ] || apt_missing+=(lsp-plugins-lv2)
if [ ${#apt_missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi
python3 -m venv .venv
# These machines keep the CPU build of torch 2.13.0 in /opt/wheels: use it even where pip's
# configuration does not point there (an unpinned or index torch is a multi-GB CUDA build).
find_links=()
[ -d /opt/wheels ] && find_links=(--find-links /opt/wheels)
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# torch==2.13.0 is pinned in the train extra: on these machines it is the local CPU build.
.venv/bin/python -m pip install -q "${find_links[@]}" -e ".[test,train,web,dask]"
exec .venv/bin/python -m pytest "$@"
