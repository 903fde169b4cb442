"""`semeq abx-report` and `semeq web`'s command line: tables, CSV, one-line errors."""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from semeq.cli import main
from semeq.web.abx import AbxStore, binomial_p_value

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def db(tmp_path):
    store = AbxStore(tmp_path / "abx.sqlite3")
    store.create_session(session_id="a" * 32, file_name="song", file_sha256="0" * 64,
                         settings={"target": "warm", "intensity": 0.7, "mode": "toward", "blend": None, "alpha": 0.0},
                         region_start_s=1.0, region_end_s=16.0, n_trials=16)
    for trial in range(1, 17):
        x = "A" if trial % 2 else "B"
        answer = x if trial <= 13 else ("B" if x == "A" else "A")  # 13 of 16
        store.record_trial(session_id="a" * 32, trial=trial, x=x, answer=answer, presented_at=f"t{trial:02d}a",
                           answered_at=f"t{trial:02d}b", response_ms=1500.0 + trial, complete=trial == 16)
    store.create_session(session_id="b" * 32, file_name="other", file_sha256="1" * 64,
                         settings={"target": "claro", "intensity": None, "mode": "toward", "blend": "warm", "alpha": 0.3},
                         region_start_s=0.0, region_end_s=10.0, n_trials=16)
    store.record_trial(session_id="b" * 32, trial=1, x="A", answer="A", presented_at="u1", answered_at="u2",
                       response_ms=900.0, complete=False)
    return store.path


def test_abx_report_table(db, capsys):
    assert main(["abx-report", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "song" in ln)
    assert "warm" in line and "13/16" in line and f"{binomial_p_value(13, 16):.4f}" in line
    partial = next(ln for ln in out.splitlines() if "other" in ln)
    assert "unfinished: 1 of 16 answered, no result" in partial and "auto" in partial and "claro+warm" in partial
    assert "1/1" not in partial  # no result of an unfinished session, even here


def test_abx_report_csv_and_json(db, capsys):
    assert main(["abx-report", "--db", str(db), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 16 and {r["file_name"] for r in rows} == {"song"}  # the unfinished session's trial stays out
    song = [r for r in rows if r["file_name"] == "song"]
    assert [int(r["trial"]) for r in song] == list(range(1, 17)) and sum(int(r["correct"]) for r in song) == 13
    assert main(["abx-report", "--db", str(db), "--json"]) == 0
    sessions = json.loads(capsys.readouterr().out)["sessions"]
    assert {s["file_name"]: s["p_value"] for s in sessions}["song"] == pytest.approx(binomial_p_value(13, 16))
    other = next(s for s in sessions if s["file_name"] == "other")
    assert other["answered"] == 1 and other["correct"] is None and other["p_value"] is None


@pytest.mark.parametrize("case", ["missing", "folder", "not-sqlite"])
def test_abx_report_bad_db_is_one_line(tmp_path, capsys, case):
    path = {"missing": tmp_path / "none.sqlite3", "folder": tmp_path}[case] if case != "not-sqlite" else tmp_path / "x.db"
    if case == "not-sqlite":
        path.write_text("not a database, just text " * 100)
    assert main(["abx-report", "--db", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("semeq: error:") and "Traceback" not in err


def test_abx_db_schema_version_is_checked(tmp_path):
    import sqlite3

    path = tmp_path / "abx.sqlite3"
    AbxStore(path)
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    from semeq.errors import DataError

    with pytest.raises(DataError, match="schema 99 is newer"):
        AbxStore(path)


def _run_web(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "semeq.cli", "web", "--no-browser", *args], capture_output=True, text=True,
                          timeout=timeout, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})


def test_web_busy_port_and_public_host_warning(tmp_path):
    pytest.importorskip("uvicorn", reason="the web extra is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = _run_web("--port", str(port), "--db", str(tmp_path / "a.sqlite3"))
        assert r.returncode == 2 and r.stderr.strip() == f"semeq: error: port {port} on 127.0.0.1 is in use: choose another with --port"
        r = _run_web("--host", "0.0.0.0", "--port", str(port), "--db", str(tmp_path / "a.sqlite3"))
    assert "warning: listening on 0.0.0.0" in r.stderr  # said before anything else happens
    r = _run_web("--port", "70000")
    assert r.returncode == 2 and "--port must be in [0, 65535]" in r.stderr
    r = _run_web("--max-temp-mb", "0")
    assert r.returncode == 2 and "--max-temp-mb must be positive" in r.stderr


def test_web_socket_is_tcp_without_nagle():
    """Accepted connections get TCP_NODELAY from asyncio only when the listening socket says IPPROTO_TCP:
    without it every keep-alive request of the page (previews, /api/understand) waited ~40 ms."""
    pytest.importorskip("uvicorn", reason="the web extra is not installed")
    from semeq.cli.web import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()


def test_web_warms_up_the_unseen_word_map_at_start(tmp_path):
    """`semeq web` loads the models and the unseen-word map in the background as it starts (GET
    /api/info says so under "ready"), before anyone types an unseen word."""
    import time
    import urllib.request

    pytest.importorskip("uvicorn", reason="the web extra is not installed")
    from semeq.text_embedding import embedding_available

    if not embedding_available():
        pytest.skip("the text embedding package (wordllama) is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "semeq.cli", "web", "--no-browser", "--port", str(port),
                             "--db", str(tmp_path / "abx.sqlite3")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    try:
        assert "serving on" in proc.stdout.readline()
        deadline, ready = time.monotonic() + 90, None
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info", timeout=30) as r:
                ready = json.loads(r.read())["ready"]
            if ready["unseen_words"]:
                break
            time.sleep(0.1)
        assert ready == {"models": True, "unseen_words": True}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
