"""Commands and imports load only what they use: no torch at run time, no scipy.signal to start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")
HEAVY = ("torch", "scipy.signal", "onnxruntime", "matplotlib")


def _modules_after(code: str) -> set[str]:
    """Run ``code`` in a fresh interpreter; the heavy modules it left imported."""
    probe = code + f"\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _cli(*args: str) -> str:
    return ("import contextlib, io\nfrom semeq.cli import main\nwith contextlib.redirect_stdout(io.StringIO()), "
            f"contextlib.redirect_stderr(io.StringIO()):\n    try:\n        main({list(args)!r})\n"
            "    except SystemExit:\n        pass")


def test_import_semeq_loads_none_of_them():
    assert _modules_after("import semeq; semeq.EQParams; semeq.eq_response") == set()


@pytest.mark.parametrize("args", [("--help",), ("terms",), ("describe", "warm"), ("describe", "claro", "--json")])
def test_light_commands_load_none_of_them(args):
    assert _modules_after(_cli(*args)) == set()


def test_the_runtime_never_imports_torch():
    code = ("import numpy as np, semeq\nfrom semeq.adaptive import SemanticEQ\n"
            "eng = SemanticEQ()\nx = np.random.default_rng(0).standard_normal((2, 44100)) * 0.1\n"
            "eng.apply(x, 44100, 'warm', 0.5)\neng.profile(x, 44100, 3)")
    assert "torch" not in _modules_after(code)
