"""ABX listening tests: the trial protocol, the SQLite record and the statistics.

Protocol
    For each trial the server draws X from {A, B} with :func:`secrets.randbelow` (the operating
    system's CSPRNG) and keeps it to itself; the page receives X only as audio and learns nothing
    of X until it has answered every trial: no route, header, history row or CSV line shows a
    result (correct answers, X of a trial, a p-value) of an unfinished session. Answers must come
    in order, once each.
Presentation
    Every fetch of A, B or X is a new rendering of its source (:func:`presentation_wav`): a random
    level offset in [-0.1, -0.05] dB, a random circular delay of 0.25 to 0.75 samples (at most
    17 us at 44.1 kHz) and independent TPDF dither to 16 bits. No listener can hear these (two
    presentations differ in level by at most 0.05 dB, far below the smallest level step heard on
    music, and a sub-sample delay applies to both channels alike),
    and none of them depends on whether X is A or B. They stop the trivial attack (X equal to its
    source within 2 LSB, thousands of LSB from the other), not a determined one: a script in the
    page that aligns X with A and B and fits the gain still tells them apart by the EQ's
    difference, as any listener's software could. The blinding guarantees that the server never
    SAYS what X is before the end; it cannot stop audio that reaches a browser from being
    compared.
Statistics
    Under the null hypothesis (the listener cannot hear a difference) the number correct ``k`` of
    ``n`` trials is Binomial(n, 1/2); the one-sided p-value is ``P(K >= k) = sum_{i>=k} C(n, i) / 2^n``.
Storage
    One SQLite file (default ``<user data dir>/semeq/abx.sqlite3``), WAL journal, schema version in
    ``PRAGMA user_version``. Table ``sessions``: one row per test (id, time, file name and SHA-256,
    settings JSON, region, number of trials, completion time). Table ``trials``: one row per
    answer (session id, trial number from 1, X, answer, correct, time the trial was presented and
    answered, response time in ms).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import secrets
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import DataError, ParameterError

__all__ = ["SCHEMA_VERSION", "AbxStore", "AbxSession", "binomial_p_value", "default_db_path", "format_table",
           "presentation_wav", "PRESENTATION_LEVEL_DB", "PRESENTATION_DELAY_SAMPLES"]

SCHEMA_VERSION = 1
DEFAULT_TRIALS = 16
MAX_TRIALS = 100
PRESENTATION_LEVEL_DB = (0.05, 0.1)
"""Each presentation is lowered by a random amount in this range of dB (never raised: no clipping;
never less than 0.05 dB, so that no presentation is its source within a few LSB)."""
PRESENTATION_DELAY_SAMPLES = (0.25, 0.75)
"""Each presentation is delayed (circularly, over the loop) by a random number of samples in this range."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    settings_json TEXT NOT NULL,
    region_start_s REAL NOT NULL,
    region_end_s REAL NOT NULL,
    n_trials INTEGER NOT NULL,
    completed_at TEXT
);
CREATE TABLE IF NOT EXISTS trials (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    trial INTEGER NOT NULL,
    x TEXT NOT NULL CHECK (x IN ('A', 'B')),
    answer TEXT NOT NULL CHECK (answer IN ('A', 'B')),
    correct INTEGER NOT NULL CHECK (correct IN (0, 1)),
    presented_at TEXT NOT NULL,
    answered_at TEXT NOT NULL,
    response_ms REAL NOT NULL,
    PRIMARY KEY (session_id, trial)
);
"""


def binomial_p_value(correct: int, total: int) -> float:
    """One-sided p-value of ``correct`` of ``total`` under guessing: ``P(K >= correct)``, K ~ Bin(total, 1/2).

    Examples
    --------
    >>> binomial_p_value(16, 16) == 2.0 ** -16
    True
    >>> binomial_p_value(0, 16)
    1.0
    """
    if total < 1 or not 0 <= correct <= total:
        raise ParameterError(f"need 0 <= correct <= total and total >= 1, got {correct} of {total}")
    return math.fsum(math.comb(total, i) for i in range(correct, total + 1)) / 2.0**total


def default_db_path() -> Path:
    """``<user data dir>/semeq/abx.sqlite3``: $XDG_DATA_HOME or ~/.local/share on Linux,
    ~/Library/Application Support on macOS, %APPDATA% on Windows."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "semeq" / "abx.sqlite3"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class AbxStore:
    """The SQLite record of ABX sessions (one connection per call, safe across threads)."""

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        if self.path.is_dir():
            raise DataError(f"{self.path}: is a folder; give the ABX database a file name")
        if not create and not self.path.exists():
            raise DataError(f"{self.path}: no ABX database here (run a test in 'semeq web' first)")
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DataError(f"{self.path.parent}: cannot create the folder for the ABX database ({exc.strerror})") from None
        with self._connect() as con:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise DataError(f"{self.path}: ABX database schema {version} is newer than this semeq's ({SCHEMA_VERSION})")
            if version < SCHEMA_VERSION:
                if not create:
                    raise DataError(f"{self.path}: not a semeq ABX database")
                con.executescript(_SCHEMA)
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _connect(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(str(self.path), timeout=10.0)
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{self.path}: not a usable SQLite database ({exc})") from None
        con.row_factory = sqlite3.Row
        return con

    def _run(self, fn):
        con = self._connect()
        try:
            with con:
                return fn(con)
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{self.path}: database error ({exc})") from None
        finally:
            con.close()

    def journal_mode(self) -> str:
        return self._run(lambda con: con.execute("PRAGMA journal_mode").fetchone()[0])

    def create_session(self, *, session_id: str, file_name: str, file_sha256: str, settings: dict,
                       region_start_s: float, region_end_s: float, n_trials: int) -> None:
        self._run(lambda con: con.execute(
            "INSERT INTO sessions (id, created_at, file_name, file_sha256, settings_json, region_start_s, region_end_s, n_trials)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, _now(), file_name, file_sha256, json.dumps(settings, sort_keys=True), float(region_start_s),
             float(region_end_s), int(n_trials))))

    def record_trial(self, *, session_id: str, trial: int, x: str, answer: str, presented_at: str, answered_at: str,
                     response_ms: float, complete: bool) -> None:
        def write(con):
            con.execute("INSERT INTO trials (session_id, trial, x, answer, correct, presented_at, answered_at, response_ms)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (session_id, int(trial), x, answer, int(x == answer), presented_at, answered_at, float(response_ms)))
            if complete:
                con.execute("UPDATE sessions SET completed_at = ? WHERE id = ?", (answered_at, session_id))

        self._run(write)

    def sessions(self) -> list[dict]:
        """Every session, newest first. A complete one has correct / total and the p-value; an
        unfinished one only how many trials were answered (``correct`` and ``p_value`` None)."""
        rows = self._run(lambda con: con.execute(
            "SELECT s.*, COUNT(t.trial) AS answered, COALESCE(SUM(t.correct), 0) AS correct,"
            " AVG(t.response_ms) AS mean_response_ms"
            " FROM sessions s LEFT JOIN trials t ON t.session_id = s.id GROUP BY s.id ORDER BY s.created_at DESC").fetchall())
        out = []
        for r in rows:
            settings = json.loads(r["settings_json"])
            answered, done = int(r["answered"]), r["completed_at"] is not None
            correct = int(r["correct"]) if done else None
            out.append({"session": r["id"], "created_at": r["created_at"], "completed_at": r["completed_at"],
                        "complete": done, "file_name": r["file_name"], "file_sha256": r["file_sha256"],
                        "settings": settings, "region_start_s": r["region_start_s"], "region_end_s": r["region_end_s"],
                        "n_trials": int(r["n_trials"]), "answered": answered, "correct": correct,
                        "p_value": binomial_p_value(correct, answered) if done and answered else None,
                        "mean_response_ms": None if r["mean_response_ms"] is None or not done
                        else round(float(r["mean_response_ms"]), 1)})
        return out

    def trials(self, session_id: str | None = None) -> list[dict]:
        """The answered trials of complete sessions (an unfinished session's are never read back)."""
        query = ("SELECT t.* FROM trials t JOIN sessions s ON s.id = t.session_id WHERE s.completed_at IS NOT NULL"
                 + (" AND t.session_id = ?" if session_id else "") + " ORDER BY t.session_id, t.trial")
        rows = self._run(lambda con: con.execute(query, (session_id,) if session_id else ()).fetchall())
        return [dict(r) for r in rows]

    def export_csv(self) -> str:
        """One line per answered trial of every complete session, with its settings (CSV with a header)."""
        sessions = {s["session"]: s for s in self.sessions()}
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["session", "session_created_at", "file_name", "file_sha256", "target", "mode", "intensity", "blend",
                    "alpha", "region_start_s", "region_end_s", "n_trials", "trial", "x", "answer", "correct",
                    "presented_at", "answered_at", "response_ms"])
        for t in self.trials():
            s = sessions[t["session_id"]]
            st = s["settings"]
            w.writerow([t["session_id"], s["created_at"], s["file_name"], s["file_sha256"], st.get("target"), st.get("mode"),
                        st.get("intensity"), st.get("blend") or "", st.get("alpha"), s["region_start_s"], s["region_end_s"],
                        s["n_trials"], t["trial"], t["x"], t["answer"], t["correct"], t["presented_at"], t["answered_at"],
                        round(float(t["response_ms"]), 1)])
        return buf.getvalue()


def format_p(p: float) -> str:
    """A p-value as people read it: 0.0384, or 1.5e-05 below 0.001 (never "0.0000")."""
    return f"{p:.4f}" if p >= 0.001 else f"{p:.1e}"


def presentation_wav(audio: np.ndarray, sample_rate: int, rng: np.random.Generator | None = None) -> bytes:
    """One presentation of a source as a 16-bit WAV: a fresh rendering no listener can tell from another.

    A random level offset of minus :data:`PRESENTATION_LEVEL_DB` dB, a random circular delay of
    :data:`PRESENTATION_DELAY_SAMPLES` samples (a linear phase applied to the loop's spectrum:
    exact band-limited interpolation of the looped signal), both uniform in their ranges, and
    independent TPDF dither of +-1 LSB.
    See the module notes for what this does and does not guarantee.

    Parameters
    ----------
    audio : ndarray [shape=(channels, samples)]
        The source, loudness-matched as A or B.
    rng : numpy Generator, optional
        Default: seeded from the operating system's CSPRNG (a test passes its own).
    """
    from .engine import wav_header

    rng = np.random.default_rng(secrets.randbits(128)) if rng is None else rng
    audio = np.asarray(audio, dtype=np.float64)
    n = audio.shape[1]
    gain = 10.0 ** (-rng.uniform(*PRESENTATION_LEVEL_DB) / 20.0)
    delay = rng.uniform(*PRESENTATION_DELAY_SAMPLES)
    spectrum = np.fft.rfft(audio, axis=-1)  # (channels, n // 2 + 1)
    spectrum *= np.exp(-2j * np.pi * np.arange(spectrum.shape[-1]) * (delay / n))
    x = np.fft.irfft(spectrum, n, axis=-1) * (gain * 32767.0)
    x += rng.random(x.shape) - rng.random(x.shape)  # TPDF, +-1 LSB
    pcm = np.clip(np.round(x), -32768, 32767).astype("<i2")
    return wav_header(n, audio.shape[0], int(sample_rate), bytes_per_sample=2) + np.ascontiguousarray(pcm.T).tobytes()


def format_table(sessions: list[dict]) -> str:
    """The history as a plain-text table (the page shows the same columns)."""
    header = f"{'date (UTC)':<17} {'file':<24} {'word':<12} {'mode':<7} {'int.':>5} {'correct':>8} {'p-value':>8}  session"
    lines = [header]
    for s in sessions:
        st = s["settings"]
        word = str(st.get("target")) + (f"+{st.get('blend')}" if st.get("blend") else "")
        intensity = "auto" if st.get("intensity") is None else f"{float(st['intensity']):.2f}"
        p = "-" if s["p_value"] is None else format_p(s["p_value"])
        done = f"{s['correct']}/{s['answered']}" if s["complete"] else "-"
        status = "" if s["complete"] else f"  unfinished: {s['answered']} of {s['n_trials']} answered, no result"
        lines.append(f"{s['created_at'][:16].replace('T', ' '):<17} {s['file_name'][:24]:<24} {word[:12]:<12} "
                     f"{str(st.get('mode'))[:7]:<7} {intensity:>5} {done:>8} {p:>8}  {s['session'][:8]}{status}")
    return "\n".join(lines)


@dataclass(eq=False)
class AbxSession:
    """One running test: the audio of A and B, and X for the trial in progress (server-side only)."""

    id: str
    upload_id: str
    n_trials: int
    a_audio: object
    b_audio: object
    sample_rate: int
    settings: dict
    trial: int = 1
    """The trial awaiting an answer (1-based); n_trials + 1 when done."""
    _x: dict = field(default_factory=dict)
    _presented: dict = field(default_factory=dict)
    correct: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> bool:
        return self.trial > self.n_trials

    def x_for(self, trial: int) -> str:
        """X of the current trial, drawn once with the CSPRNG; marks the trial presented."""
        with self.lock:
            if trial != self.trial:
                raise ParameterError(f"trial {trial} is not the current trial ({self.trial})")
            self.last_used = time.monotonic()
            if trial not in self._x:
                self._x[trial] = "AB"[secrets.randbelow(2)]
                self._presented[trial] = (_now(), time.monotonic())
            return self._x[trial]

    def answer(self, trial: int, answer: str) -> tuple[str, str, str, float]:
        """Record an answer; returns (x, presented_at, answered_at, response_ms)."""
        with self.lock:
            if answer not in ("A", "B"):
                raise ParameterError(f"answer must be 'A' or 'B', got {answer!r}")
            if trial != self.trial:
                raise ParameterError(f"trial {trial} is not the current trial ({self.trial})"
                                     if not self.done else "this session is complete")
            if trial not in self._x:
                raise ParameterError(f"trial {trial} has not been played yet: fetch its X first")
            x = self._x.pop(trial)
            presented_at, t0 = self._presented.pop(trial)
            self.trial += 1
            self.correct += int(x == answer)
            self.last_used = time.monotonic()
            return x, presented_at, _now(), 1000.0 * (time.monotonic() - t0)
