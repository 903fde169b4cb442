"""A script that streams and exits, with or without close(), ends cleanly every time (issue 11, item 8).

Before the fix about half of such runs ended with "terminate called without an active exception"
and exit status 134: the interpreter finalised while the daemon worker was inside torch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
RUNS = 20

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from semeq.streaming import StreamingAdaptiveEQ
    from semeq.adaptive import SemanticEQ

    how = sys.argv[1]
    x = 0.1 * np.random.default_rng(int(sys.argv[2])).standard_normal((2, 44100 * 4))
    engine = StreamingAdaptiveEQ(44100, 2, update_interval=1, analyzer=SemanticEQ())
    engine.set_target("warm", 0.7)

    def run():
        for i in range(0, 300 * 512, 512):  # free-running: the worker is busy when the script ends
            engine.process(x[:, i : i + 512])

    if how == "context":
        with engine:
            run()
    else:
        run()
        if how == "close":
            engine.close()
            engine.process(x[:, :512])  # still works after close()
    print("done")
""")


def test_scripts_exit_cleanly_every_time(tmp_path):
    try:
        import semeq.adaptive  # noqa: F401
        from semeq.adaptive import SemanticEQ

        SemanticEQ()
    except Exception as exc:  # the shipped models are what makes the worker run native threads
        pytest.skip(f"the shipped models cannot be loaded here: {exc}")
    script = tmp_path / "stream_and_exit.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    hows = ["drop"] * (RUNS - 4) + ["close", "close", "context", "context"]
    failures = []
    for start in range(0, RUNS, 2):  # two at a time
        procs = [(how, subprocess.Popen([sys.executable, str(script), how, str(start + k)], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
                 for k, how in enumerate(hows[start : start + 2])]
        for how, proc in procs:
            out, err = proc.communicate(timeout=300)
            if proc.returncode != 0 or err or out.strip() != "done":
                failures.append(f"{how}: exit {proc.returncode}, stderr {err.strip()[-300:]!r}")
    assert not failures, f"{len(failures)} of {RUNS} runs: " + "; ".join(failures)
