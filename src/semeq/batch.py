"""Many files through the one pipeline: inputs, output names, the ledger, resume, and the engine.

``semeq batch`` and the folder mode of ``semeq apply`` are thin front ends over this module;
each file is processed by :func:`semeq.pipeline.apply_file` with the one
:class:`~semeq.request.EQRequest` the front end built, so a batch output is, byte for byte, what
``semeq apply`` writes for that file.

The engine
----------
:func:`run_batch` runs the files on **Dask distributed** (``pip install "semeq[dask]"``): a
``LocalCluster`` of ``workers`` single-threaded processes, or the user's cluster through
``scheduler="tcp://HOST:PORT"``. Each worker loads the models once (:func:`worker_engine` caches
them per process) and holds a few hundred MB whatever the track length (``apply_file`` works in
constant memory). Paths travel as absolute paths, so every worker must see them at the same
place: a shared filesystem. Without Dask installed the same driver runs the files one after the
other in this process (the documented local fallback; ``executor="local"``): one engine, two
places to run its tasks.

Faults
------
- A worker that dies mid-file: Dask runs the task again on another worker (up to the scheduler's
  ``distributed.scheduler.allowed-failures``, 3 by default; past that the file is ``failed``).
  Outputs are written to a temporary file in the output folder and renamed into place only by
  the attempt that completes (:class:`semeq.io.AudioWriter`), so there is never a partial output
  and one output per input; the temporary file a dead worker leaves is removed at the end.
- A file that cannot be processed (corrupt, silent, unwritable): a ``failed`` record naming the
  reason; every other file goes on.
- KeyboardInterrupt (Ctrl-C) in the driver: running tasks are told to stop (a Dask ``Event``
  they poll between blocks), queued ones cancelled, a local cluster's workers stopped; the
  temporary files of unfinished outputs are removed, as is an output renamed into place whose
  report never reached the driver, so every output left has its record. The summary says what
  was done, failed and not done.

The ledger
----------
``OUTDIR/semeq-batch.jsonl`` (:data:`LEDGER_NAME`), append-only, one JSON line per input per
attempt that reached the driver, written only by the driver (workers return their results):
each line goes out in a single ``os.write`` on an ``O_APPEND`` descriptor followed by ``fsync``,
so lines never interleave and a crash loses at most the line being written. Fields: see
:func:`ledger_line`.

Resume (exactly once)
---------------------
An input is skipped, its output untouched, when its latest ``done`` or ``failed`` line (``skipped``
lines only record a rerun) is ``done`` with the same output path and the same settings
(:meth:`BatchSettings.to_dict`), its output still exists, and its SHA-256 is still the recorded
one (checked on the worker, which reads the file anyway). ``force=True`` redoes everything. An
output folder with a ledger belongs to ``semeq batch``: an existing output there that is not
skipped is redone (its attempt was cut off, or the settings changed); in a folder without a
ledger an existing output is refused before any work unless ``force``.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Literal, Sequence

from .errors import AudioFileError, ParameterError, SemeqError

if TYPE_CHECKING:
    from .adaptive import SemanticEQ
    from .io import AudioInfo
    from .request import EQRequest

__all__ = ["AUDIO_SUFFIXES", "MANIFEST_SUFFIXES", "LEDGER_NAME", "BatchInput", "BatchItem", "BatchSettings",
           "BatchSummary", "Ledger", "auto_name", "audio_info", "dask_available", "find_inputs", "read_manifest",
           "worker_engine", "plan_batch", "process_one", "run_batch", "ledger_line", "read_report"]

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".aif", ".aiff", ".mp3"}
"""Suffixes taken as audio without reading the file (a corrupt one is then reported, not ignored)."""
MANIFEST_SUFFIXES = {".txt", ".csv"}
"""An input with one of these suffixes is a manifest: a list of paths (see :func:`read_manifest`)."""
LEDGER_NAME = "semeq-batch.jsonl"
STOP_POLL_S = 0.5
"""How often a running task asks whether the batch was stopped (between blocks)."""
LOCAL_STOP_TIMEOUT_S = 5.0
"""How long a stopped local cluster may take to close before its worker processes are killed."""
REMOTE_STOP_GRACE_S = 1.0
"""After a stop, how long the running tasks of a remote cluster get to notice before the cleanup."""
_SUFFIX_BY_FORMAT = {"WAV": ".wav", "FLAC": ".flac", "OGG": ".ogg", "AIFF": ".aiff", "MP3": ".mp3"}
_MANIFEST_COLUMNS = ("path", "input", "file", "filename")
Executor = Literal["auto", "dask", "local"]


# -- names ---------------------------------------------------------------------------------------
def auto_name(input_path: Path, out_dir: Path, request: "EQRequest") -> Path:
    """``NAME_WORD_I.ext`` (``NAME_WORD_auto.ext`` with auto-intensity; ``_match``, ``_static`` or
    ``_latent`` after the word in those modes): known before any work."""
    input_path = Path(input_path)
    word = request.target.slug.lower()
    if request.blend is not None:
        word += f"_{request.blend.slug.lower()}{round(request.alpha * 100):02d}"
    word += "" if request.mode == "toward" else f"_{request.mode}"
    amount = "auto" if request.intensity is None else f"{request.intensity:.2f}".replace(".", "_")
    return Path(out_dir) / (f"{input_path.stem}_{word}_{amount}" + input_path.suffix)


@functools.lru_cache(maxsize=2)
def worker_engine(models: str | None) -> "SemanticEQ":
    """The engine of this worker process (the shipped models, or those in the folder ``models``),
    loaded for its first file and kept for the next ones."""
    from .adaptive import SemanticEQ

    return SemanticEQ.load(models)


def audio_info(path: str | os.PathLike) -> "AudioInfo | None":
    """The file's format as soundfile reads it from the header; None when it is not readable audio."""
    import soundfile as sf

    from .io import AudioInfo

    try:
        i = sf.info(str(path))
    except Exception:  # not audio, unreadable, missing: the pipeline reports it with its own message
        return None
    return AudioInfo(sample_rate=int(i.samplerate), channels=int(i.channels), frames=int(i.frames),
                     format=i.format, subtype=i.subtype)


# -- inputs --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchInput:
    """One input file and where its output goes below the output folder.

    ``subdir`` is the file's folder relative to a folder given as input (so ``a/x.wav`` and
    ``b/x.wav`` get different outputs); empty for files named directly or in a manifest.
    """

    path: Path
    subdir: Path = Path()
    info: "AudioInfo | None" = field(default=None, compare=False, repr=False)


def read_manifest(path: str | os.PathLike) -> list[Path]:
    """The paths a manifest lists, relative ones taken from the manifest's folder.

    A ``.txt`` manifest holds one path a line (blank lines and lines starting with ``#`` are
    skipped). A ``.csv`` manifest takes the column named ``path``, ``input``, ``file`` or
    ``filename`` when the first row names one, else the first column.

    Raises
    ------
    AudioFileError
        The manifest cannot be read.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise AudioFileError(f"{path}: cannot read the manifest ({reason})") from None
    if path.suffix.lower() == ".csv":
        rows = [r for r in csv.reader(text.splitlines()) if r and any(c.strip() for c in r)]
        column = 0
        if rows:
            header = [c.strip().lower() for c in rows[0]]
            named = [i for i, c in enumerate(header) if c in _MANIFEST_COLUMNS]
            if named:
                column, rows = named[0], rows[1:]
        entries = [r[column].strip() for r in rows if len(r) > column and r[column].strip()]
    else:
        entries = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [p if p.is_absolute() else path.parent / p for p in map(Path, entries)]


def _is_audio(path: Path, by_content: bool) -> tuple[bool, "AudioInfo | None"]:
    if path.suffix.lower() in AUDIO_SUFFIXES:
        return True, audio_info(path) if by_content else None
    if not by_content:
        return False, None
    info = audio_info(path)
    return info is not None, info


def _within(path: Path, folders: Sequence[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved == f or f in resolved.parents for f in folders)


def find_inputs(paths: Iterable[str | os.PathLike], *, recursive: bool = True, by_content: bool = True,
                exclude: Iterable[str | os.PathLike] = ()) -> list[BatchInput]:
    """The input files that ``paths`` name: files, folders and manifests.

    Parameters
    ----------
    paths : iterable of paths
        A file is an input as it is; a ``.txt`` or ``.csv`` file is a manifest
        (:func:`read_manifest`), each entry a file or folder; a folder contributes its audio
        files, in its subfolders too when ``recursive``.
    recursive : bool
    by_content : bool
        In folders, audio is recognised by content (soundfile reads its header) besides the
        audio suffixes (:data:`AUDIO_SUFFIXES`: a corrupt ``.wav`` is an input, reported as
        failed, not silently left out); otherwise by suffix only. Hidden files are skipped.
    exclude : iterable of paths
        Folders whose files are never inputs (the output folder, when it lies inside an input).

    Returns
    -------
    list of BatchInput
        In the order given, each folder's files sorted; a file named twice comes once.

    Raises
    ------
    AudioFileError
        A path given (not one listed in a manifest) does not exist, or a manifest is unreadable.
    """
    excluded = [Path(e).resolve() for e in exclude]
    found: list[BatchInput] = []
    seen: set[str] = set()

    def add(item: BatchInput) -> None:
        key = os.path.realpath(item.path)
        if key not in seen:
            seen.add(key)
            found.append(item)

    def walk(folder: Path) -> None:
        if excluded and _within(folder, excluded):
            return
        for root, dirs, files in os.walk(folder):
            root_path = Path(root)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                             and not (excluded and _within(root_path / d, excluded)))
            if not recursive:
                dirs[:] = []
            for name in sorted(files):
                if name.startswith("."):
                    continue
                p = root_path / name
                ok, info = _is_audio(p, by_content)
                if ok:
                    add(BatchInput(p, p.parent.relative_to(folder), info))

    def visit(p: Path, *, listed: bool) -> None:
        if p.is_dir():
            walk(p)
        elif p.suffix.lower() in MANIFEST_SUFFIXES and not listed:
            for entry in read_manifest(p):
                visit(entry, listed=True)
        elif p.exists() or listed:
            add(BatchInput(p))  # a missing manifest entry is reported as that file's failure
        else:
            raise AudioFileError(f"{p}: no such file or folder")

    for p in paths:
        visit(Path(p), listed=False)
    return found


# -- settings and the plan -----------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class BatchSettings:
    """What every file of a batch is given besides its paths: built once, sent to every worker."""

    request: "EQRequest"
    subtype: str | None = None
    """Output sample format; None keeps each input's."""
    models: str | None = None
    """Folder of trained models (visible to every worker); None: the shipped ones."""

    def __post_init__(self) -> None:
        # Workers elsewhere have another working directory: every path they open is absolute.
        if self.models is not None:
            object.__setattr__(self, "models", os.path.abspath(self.models))
        if self.request.reference is not None and not self.request.reference.is_absolute():
            object.__setattr__(self, "request", self.request.replace(reference=self.request.reference.absolute()))

    def to_dict(self) -> dict[str, Any]:
        """The settings as the ledger records them (a rerun with equal settings may skip)."""
        d = {"request": self.request.to_dict(), "subtype": self.subtype, "models": self.models}
        return json.loads(json.dumps(d))  # as a line read back compares


@dataclass(frozen=True, kw_only=True)
class BatchItem:
    """One file to process: input, output (as given) and, on a rerun, the hash that lets it skip."""

    input: Path
    output: Path
    expect_sha256: str | None = None
    """Skip (touching nothing) when the input still has this SHA-256 and the output exists."""


def plan_batch(inputs: Sequence[BatchInput], out_dir: str | os.PathLike, settings: BatchSettings, *,
               force: bool = False, ledger: "Ledger | None" = None) -> list[BatchItem]:
    """Every output's path, checked before any file is processed; all problems in one message.

    Outputs are named by :func:`auto_name` (in the input's format; a file recognised as audio
    by its content, with another suffix, in its container's format, else WAV). Output folders
    below ``out_dir`` (for inputs found in subfolders) are created. With a ``ledger``, inputs
    recorded as done with these settings are planned to skip (module notes).

    Raises
    ------
    AudioFileError
        Some outputs cannot be written (two inputs with one output, an output that would
        replace its input or a file that is not ours without ``force``, an unknown format...);
        nothing was processed.
    """
    out_dir = Path(out_dir)
    request = settings.request
    settings_d = settings.to_dict()
    latest = ledger.latest() if ledger is not None and not force else {}
    ours = ledger is not None and ledger.path.exists()
    from .io import check_audio_output

    items: list[BatchItem] = []
    problems: list[str] = []
    owner: dict[str, Path] = {}
    for inp in inputs:
        info = inp.info if inp.info is not None else audio_info(inp.path)
        out = auto_name(inp.path, out_dir / inp.subdir, request)
        if inp.path.suffix.lower() not in AUDIO_SUFFIXES and info is not None:
            out = out.with_suffix(_SUFFIX_BY_FORMAT.get(info.format, ".wav"))  # audio found by content
        key = os.path.abspath(out)
        if key in owner:
            problems.append(f"{inp.path} and {owner[key]} would both be written to {out}")
            continue
        owner[key] = inp.path
        if inp.subdir != Path():
            out.parent.mkdir(parents=True, exist_ok=True)
        expect = None
        line = latest.get(os.path.abspath(inp.path))
        if line is not None and line.get("status") == "done" and line.get("output") == key \
                and line.get("settings") == settings_d and line.get("input_sha256") and os.path.lexists(out):
            expect = line["input_sha256"]
        try:
            check_audio_output(out, force=force or ours, inputs=(inp.path,), subtype=settings.subtype, like=info)
        except AudioFileError as exc:
            problems.append(str(exc))
        items.append(BatchItem(input=inp.path, output=out, expect_sha256=expect))
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise AudioFileError(f"{len(problems)} of {len(inputs)} outputs cannot be written, nothing was processed: "
                             + "; ".join(problems[:3]) + more)
    return items


# -- the ledger ----------------------------------------------------------------------------------
class Ledger:
    """``OUTDIR/semeq-batch.jsonl``: append-only, one JSON line per input per attempt.

    Only the driver writes it. :meth:`append` writes a whole line with one ``os.write`` on an
    ``O_APPEND`` descriptor and ``fsync``s it. While open, the file holds an exclusive
    ``flock``: a second batch on the same folder is refused.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd: int | None = None

    @classmethod
    def in_folder(cls, out_dir: str | os.PathLike) -> "Ledger":
        return cls(Path(out_dir) / LEDGER_NAME)

    def open(self) -> None:
        """Create the file if needed and take the folder's lock."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as exc:
            raise AudioFileError(f"{self.path}: cannot write the ledger ({exc.strerror or exc})") from None
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SemeqError(f"{self.path}: another semeq batch is writing to this folder") from None
        except (ImportError, OSError):  # no flock here (Windows, some network filesystems): unlocked
            pass
        self._fd = fd

    def append(self, line: dict[str, Any]) -> None:
        """Write one line, whole, and make it durable."""
        if self._fd is None:
            self.open()
        data = (json.dumps(line, allow_nan=False, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            written = os.write(self._fd, data)
            if written != len(data):  # a regular file takes a whole write unless the disk is full
                raise OSError(28, f"short write ({written} of {len(data)} bytes)")
            os.fsync(self._fd)
        except OSError as exc:
            raise AudioFileError(f"{self.path}: cannot write the ledger ({exc.strerror or exc})") from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None

    def lines(self) -> list[dict[str, Any]]:
        """Every line, oldest first; a line torn by a crash (not JSON) is left out."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise AudioFileError(f"{self.path}: cannot read the ledger ({exc.strerror or exc})") from None
        out = []
        for text in raw.decode("utf-8", errors="replace").splitlines():
            try:
                line = json.loads(text)
            except ValueError:
                continue
            if isinstance(line, dict) and "input" in line and "status" in line:
                out.append(line)
        return out

    def latest(self) -> dict[str, dict[str, Any]]:
        """Each input's (absolute path) latest ``done`` or ``failed`` line: what a rerun goes by."""
        latest: dict[str, dict[str, Any]] = {}
        for line in self.lines():
            if line["status"] in ("done", "failed"):
                latest[line["input"]] = line
        return latest


def ledger_line(record: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The ledger's line for a record of :func:`run_batch`.

    Fields: ``time`` (UTC, ISO 8601), ``input``, ``output`` (absolute paths), ``status``
    (``done`` | ``failed`` | ``skipped``), ``error`` (the reason, for ``failed``), ``input_sha256``,
    ``settings`` (:meth:`BatchSettings.to_dict`), ``target`` and ``blend`` (as the user would name
    them), ``intensity`` (as applied; chosen when auto),
    ``bands`` (the five bands applied: the 13 values of :class:`semeq.params.EQParams`; null for a
    bypass), ``fit_error_db`` (RMS error of that setting against the designed curve),
    ``output_gain_db``, ``sample_rate``,
    ``loudness_in_lufs``, ``loudness_out_lufs``, ``true_peak_out_dbtp``, ``duration_s`` (of the
    audio), ``seconds`` (the task's time on its worker, hashing included), ``worker``
    (``host:pid``), ``worker_peak_rss_mb`` (the worker process's peak resident memory so far),
    ``semeq_version``.
    """
    from . import __version__

    facts = record.get("facts") or {}
    eq = facts.get("eq") or {}
    cascade = eq.get("cascade") or []
    applied = cascade[0] if len(cascade) == 1 else None  # the one 5-band setting applied; none for a bypass
    fit = eq.get("fit_5band") or {}
    before, after = facts.get("before") or {}, facts.get("after") or {}
    request = settings.get("request") or {}
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "input": record["input_abs"], "output": record["output_abs"], "status": record["status"],
        "error": record.get("error"), "input_sha256": record.get("input_sha256"), "settings": settings,
        "target": eq.get("target", (request.get("target") or {}).get("label")),
        "blend": eq.get("blend", (request.get("blend") or {}).get("label")), "intensity": eq.get("intensity"),
        "bands": None if applied is None else {k: round(v, 4) for k, v in applied.items()},
        "fit_error_db": None if applied is None else fit.get("rms_error_db"),
        "output_gain_db": facts.get("output_gain_db"), "sample_rate": facts.get("sample_rate"),
        "loudness_in_lufs": before.get("loudness_lufs"), "loudness_out_lufs": after.get("loudness_lufs"),
        "true_peak_out_dbtp": after.get("true_peak_dbtp"), "duration_s": facts.get("duration_s"),
        "seconds": record.get("seconds"), "worker": record.get("worker"),
        "worker_peak_rss_mb": record.get("worker_peak_rss_mb"), "semeq_version": __version__,
    }


# -- one file, on a worker -----------------------------------------------------------------------
class BatchStopped(Exception):
    """Raised inside a running task when its batch was stopped (Ctrl-C in the driver)."""


class _StopCheck:
    """A progress callback that raises :class:`BatchStopped` once the batch's Dask Event is set."""

    def __init__(self, event_name: str):
        self.event_name = event_name
        self._event = None
        self._next = 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + STOP_POLL_S
        if self._event is None:
            from distributed import Event

            self._event = Event(self.event_name)
        if self._event.is_set():
            raise BatchStopped()


def _sha256(path: str) -> str:
    from .io import sha256_file

    return sha256_file(path)


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20) if sys.platform == "darwin" else peak / 1024, 1)  # bytes on macOS, KiB elsewhere


def process_one(src: str, dst: str, settings: BatchSettings, expect_sha256: str | None = None,
                stop: str | None = None) -> dict[str, Any]:
    """One file of a batch, where it runs (a Dask worker, or this process); never raises for a file.

    Returns a record: ``status`` (``done``, ``failed``, ``skipped``, or ``stopped`` when the batch
    was stopped), ``error``, ``input_sha256``, ``facts`` (:meth:`ApplyFileResult.to_dict`, for
    ``done``), ``seconds``, ``worker``, ``worker_peak_rss_mb``. The output is written with
    ``force`` (the driver decided, before any work, that this file may be (re)written; an output
    already there can only be this file's own, from an attempt whose worker died after the
    rename: the same bytes).
    """
    from .pipeline import apply_file

    started = time.perf_counter()
    record: dict[str, Any] = {"status": "failed", "error": None, "input_sha256": None,
                              "worker": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        record["input_sha256"] = _sha256(src)
    except OSError:
        pass  # apply_file names the reason
    if expect_sha256 is not None and record["input_sha256"] == expect_sha256 and os.path.lexists(dst):
        record["status"] = "skipped"
    else:
        try:
            result = apply_file(src, dst, settings.request, engine=worker_engine(settings.models), force=True,
                                subtype=settings.subtype, progress=_StopCheck(stop) if stop else False)
            record.update(status="done", facts=result.to_dict())
        except BatchStopped:
            record["status"] = "stopped"
        except SemeqError as exc:
            record["error"] = str(exc)
        except Exception as exc:  # one file's surprise must not stop the batch
            record["error"] = f"internal error: {type(exc).__name__}: {exc}"
    record["seconds"] = round(time.perf_counter() - started, 3)
    record["worker_peak_rss_mb"] = _peak_rss_mb()
    return record


# -- where the tasks run -------------------------------------------------------------------------
def dask_available() -> bool:
    """Whether Dask distributed is installed (the ``dask`` extra)."""
    import importlib.util

    return importlib.util.find_spec("distributed") is not None


def _quiet_closed_loop_finalisers() -> None:
    """After Ctrl-C, a Dask client caught half-built or half-closed can be finalised at exit on
    its closed loop: Python then prints its RuntimeError as "Exception ignored". That one error,
    from that one finaliser, is dropped; every other unraisable exception is reported as usual."""
    previous = sys.unraisablehook
    if getattr(previous, "_semeq_quiet", False):
        return

    def hook(unraisable) -> None:
        where = getattr(getattr(unraisable, "object", None), "__qualname__", "")
        if isinstance(unraisable.exc_value, RuntimeError) and "IOLoop is closed" in str(unraisable.exc_value) \
                and where.endswith("Client.__del__"):
            return
        previous(unraisable)

    hook._semeq_quiet = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


@contextlib.contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """SIGINT ignored meanwhile (main thread only): a second Ctrl-C while stopping is not a hang,
    and processes started meanwhile inherit the ignored disposition."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _dask_worker_plugin():
    from distributed import WorkerPlugin

    class QuietOnCtrlC(WorkerPlugin):
        """On a local cluster's workers: Ctrl-C reaches the whole process group, and the driver
        alone decides (a worker interrupted on its own prints tracebacks and loses its file)."""

        name = "semeq-ignore-sigint"

        def setup(self, worker) -> None:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return QuietOnCtrlC()


class _LocalTasks:
    """The fallback without Dask: the files one after the other, in this process."""

    n_workers = 1
    where = "in this process"

    def run(self, items: Sequence[BatchItem], settings: BatchSettings) -> Iterator[tuple[int, dict]]:
        for i, item in enumerate(items):
            yield i, process_one(os.path.abspath(item.input), os.path.abspath(item.output), settings,
                                 item.expect_sha256)

    def stop(self) -> None:
        pass  # KeyboardInterrupt already ended the file in progress (its temporary file removed)

    def close(self) -> None:
        pass


class _DaskTasks:
    """The files as Dask tasks, on a LocalCluster of ``workers`` processes or at ``scheduler``."""

    def __init__(self, workers: int, scheduler: str | None):
        import logging

        try:
            from distributed import Client, Event, LocalCluster
        except ImportError as exc:
            raise SemeqError(f"batch processing on Dask needs the dask extra: pip install \"semeq[dask]\" "
                             f"({exc.name} is missing)") from None
        self.cluster = None
        self.notes: list[str] = []
        self._worker_pids: list[int] = []
        self._futures: list = []
        token = uuid.uuid4().hex[:12]
        self._token = token
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise SemeqError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
            try:
                self.client.wait_for_workers(1, timeout=60)
            except TimeoutError:
                self.client.close()
                raise SemeqError(f"no Dask worker is connected to the scheduler at {scheduler}") from None
            self.where = f"on the Dask cluster at {scheduler}"
            self._check_workers(scheduler)
        else:
            import dask

            # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also pins glibc's
            # mmap threshold: every block-sized array is then mapped and zero-filled afresh, and a
            # file takes twice as long (bench_batch.py). Our workers start without it; the nanny
            # also copies the variable into this process's environment: put back what was there.
            self._trim_env = os.environ.pop(_TRIM_VARIABLE, None)
            try:
                with _interrupts_ignored(), \
                        dask.config.set({f"distributed.nanny.pre-spawn-environ.{_TRIM_VARIABLE}": None}):
                    # The workers start with Ctrl-C ignored (the plugin keeps it so for restarted ones).
                    self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                dashboard_address=None, silence_logs=logging.ERROR,
                                                env={"OMP_NUM_THREADS": "1"})
                    self.client = Client(self.cluster)
                    self.client.register_plugin(_dask_worker_plugin())
            except BaseException:
                if self.cluster is not None:
                    self.cluster.close()
                self._restore_trim_env()
                raise
            self._worker_pids = [n.process.pid for n in self.cluster.workers.values()
                                 if getattr(n, "process", None) is not None and n.process.pid]
            self.where = f"on a local Dask cluster of {workers} worker{'s' if workers > 1 else ''}"
        self.n_workers = len(self.client.nthreads())
        self.stop_name = f"semeq-batch-stop-{token}"
        self._event = Event(self.stop_name, client=self.client)

    def _check_workers(self, scheduler: str) -> None:
        """Every worker must import this very version of semeq: another could write other bytes."""
        from . import __version__

        try:
            found = self.client.run(_worker_facts)
        except Exception as exc:
            self.client.close()
            raise SemeqError(f"the workers at {scheduler} cannot run semeq ({type(exc).__name__}: {exc}): "
                             f"install semeq {__version__} on every worker") from None
        other = sorted({version for version, _ in found.values() if version != __version__})
        if other:
            self.client.close()
            raise SemeqError(f"the workers at {scheduler} run semeq {', '.join(other)}, this is {__version__}: "
                             "install the same version everywhere")
        trimmed = sum(1 for _, trim in found.values() if trim is not None)
        if trimmed:
            self.notes.append(f"{trimmed} of {len(found)} workers run with {_TRIM_VARIABLE} set (Dask's nanny "
                              "sets 65536), which makes semeq about twice as slow: start them without it "
                              "(see docs/batch.md)")

    def run(self, items: Sequence[BatchItem], settings: BatchSettings) -> Iterator[tuple[int, dict]]:
        import asyncio

        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        # The settings travel as a task of their own: every file depends on it, the graph holds
        # them once, and Dask recomputes it if the worker holding it dies.
        shared = self.client.submit(_identity, settings, key=f"semeq-settings-{self._token}", pure=False)
        keys = [f"semeq-file-{self._token}-{i}" for i in range(len(items))]
        index = {k: i for i, k in enumerate(keys)}
        self._futures = self.client.map(
            process_one, [os.path.abspath(it.input) for it in items], [os.path.abspath(it.output) for it in items],
            [shared] * len(items), [it.expect_sha256 for it in items], stop=self.stop_name, key=keys, pure=False)
        for fut in as_completed(self._futures):
            i = index[fut.key]
            try:
                yield i, fut.result()
            except KilledWorker as exc:
                yield i, {"status": "failed", "error": f"the workers processing it died, too many times: {exc}"}
            except asyncio.CancelledError:  # cancelled elsewhere (the scheduler restarted...): not done
                continue
            except Exception as exc:  # the task could not run (a worker without semeq...)
                yield i, {"status": "failed", "error": f"internal error: {type(exc).__name__}: {exc}"}
            finally:
                fut.release()

    def stop(self) -> None:
        """Tell running tasks to stop, cancel the queued ones; for a remote cluster, give the
        running ones a moment to remove their temporary files."""
        with contextlib.suppress(Exception):
            self._event.set()
        with contextlib.suppress(Exception):
            self.client.cancel([f for f in self._futures if not f.done()])
        if self.cluster is None:
            time.sleep(REMOTE_STOP_GRACE_S)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._event.clear()
        with contextlib.suppress(Exception):
            self.client.close(timeout=LOCAL_STOP_TIMEOUT_S)
        if getattr(self.client, "status", "closed") != "closed":
            # A close cut short by Ctrl-C: the cluster's loop goes next, and the client's own
            # finaliser would then try again at exit on a closed loop and print a traceback.
            self.client.status = "closed"
        _quiet_closed_loop_finalisers()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=LOCAL_STOP_TIMEOUT_S)
            for pid in self._worker_pids:  # our own worker processes, should one not have ended
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            self._restore_trim_env()

    def _restore_trim_env(self) -> None:
        if self._trim_env is None:
            os.environ.pop(_TRIM_VARIABLE, None)
        else:
            os.environ[_TRIM_VARIABLE] = self._trim_env


_TRIM_VARIABLE = "MALLOC_TRIM_THRESHOLD_"


def _identity(x):
    return x


def _worker_facts() -> tuple[str, str | None]:
    """On a worker: its semeq version and its malloc trim setting."""
    from . import __version__

    return __version__, os.environ.get(_TRIM_VARIABLE)


# -- the driver ----------------------------------------------------------------------------------
@dataclass(kw_only=True)
class BatchSummary:
    """What :func:`run_batch` did."""

    records: list[dict[str, Any]]
    """One per file that reached an end (done, failed, skipped), in the order of the items."""
    not_done: list[BatchItem]
    """Files neither done nor failed: the batch was interrupted."""
    interrupted: bool
    seconds: float
    """Wall time of the whole batch (the cluster's start and stop included)."""
    n_workers: int
    where: str
    """Where the files ran ("on a local Dask cluster of 2 workers", "in this process"...)."""
    ledger: Path | None = None
    notes: list[str] = field(default_factory=list)
    """What the user should know about where it ran (a slow worker setting...)."""

    def of(self, status: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == status]

    @property
    def audio_s(self) -> float:
        """Seconds of audio processed (done files)."""
        return sum(r["duration_s"] for r in self.of("done"))

    @property
    def work_s(self) -> float:
        """Sum of the tasks' own times on their workers."""
        return sum(r.get("seconds") or 0.0 for r in self.records)

    def to_dict(self) -> dict[str, Any]:
        return {"done": len(self.of("done")), "skipped": len(self.of("skipped")), "failed": len(self.of("failed")),
                "not_done": len(self.not_done), "interrupted": self.interrupted, "seconds": round(self.seconds, 3),
                "audio_hours": round(self.audio_s / 3600.0, 4), "work_seconds": round(self.work_s, 3),
                "workers": self.n_workers, "where": self.where, "notes": self.notes,
                "ledger": None if self.ledger is None else str(self.ledger),
                "failures": [{"input": r["input"], "error": r["error"]} for r in self.of("failed")],
                "not_done_inputs": [str(it.input) for it in self.not_done]}


def _make_tasks(executor: Executor, workers: int, scheduler: str | None):
    if executor not in ("auto", "dask", "local"):
        raise ParameterError(f"executor must be auto, dask or local, got {executor!r}")
    if scheduler and executor == "local":
        raise ParameterError("a scheduler address goes with the dask executor")
    if executor == "local" or (executor == "auto" and not scheduler and not dask_available()):
        return _LocalTasks()
    return _DaskTasks(workers, scheduler)


def _clean_unfinished(items: Sequence[BatchItem], records: list, started: float) -> None:
    """Remove what unfinished files left: temporary files, and an output renamed into place
    during this batch whose report never arrived (so every output left has its record)."""
    for item, record in zip(items, records):
        if record is not None:
            continue
        out = Path(item.output)
        with contextlib.suppress(OSError):
            if out.is_file() and not out.is_symlink() and out.stat().st_mtime >= started:
                out.unlink()
    _remove_parts(item for item, record in zip(items, records) if record is None)


def _remove_parts(items: Iterable[BatchItem]) -> None:
    """Remove the temporary files (``.NAME.*.part``, :func:`semeq.io.atomic_output`) of these
    items' outputs: one listing per folder."""
    by_folder: dict[Path, set[str]] = {}
    for item in items:
        out = Path(item.output)
        by_folder.setdefault(out.parent, set()).add(out.name)
    for folder, names in by_folder.items():
        try:
            entries = list(os.scandir(folder if str(folder) else "."))
        except OSError:
            continue
        for e in entries:
            if e.name.startswith(".") and e.name.endswith(".part"):
                stem = e.name[1:].rsplit(".", 2)[0]  # ".NAME.RANDOM.part" -> NAME
                if stem in names:
                    with contextlib.suppress(OSError):
                        os.unlink(e.path)


def run_batch(items: Sequence[BatchItem], settings: BatchSettings, *, workers: int | None = None,
              scheduler: str | None = None, executor: Executor = "auto", ledger: Ledger | None = None,
              on_record: Callable[[dict[str, Any]], None] | None = None, keep_facts: bool = True) -> BatchSummary:
    """Process the planned files (:func:`plan_batch`); the one batch engine (module notes).

    Parameters
    ----------
    items : sequence of BatchItem
    settings : BatchSettings
        Built once; every file gets the same.
    workers : int, optional
        Worker processes of the local cluster (default: the cores); ignored with ``scheduler``.
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a running Dask scheduler: its workers do the work.
    executor : {"auto", "dask", "local"}
        ``auto``: Dask when it is installed, else ``local`` (one file at a time, in this process).
    ledger : Ledger, optional
        Each result is appended as it arrives (:func:`ledger_line`).
    on_record : callable, optional
        Called with each record as it arrives (a progress bar).
    keep_facts : bool
        Keep each done file's full facts (``record["facts"]``, what ``semeq apply`` prints) in
        the summary; False keeps the driver's memory small for a large catalogue (the ledger has
        what a label keeps).

    Returns
    -------
    BatchSummary
        With ``interrupted=True`` after a KeyboardInterrupt (nothing partial left; see the
        module notes), which is not re-raised.
    """
    started_wall, started = time.time(), time.perf_counter()
    workers = max(1, min(int(workers or os.cpu_count() or 1), max(len(items), 1)))
    settings_d = settings.to_dict()
    records: list[dict[str, Any] | None] = [None] * len(items)
    interrupted = False
    if ledger is not None:
        ledger.open()
    tasks = None
    try:
        if items:
            try:
                tasks = _make_tasks(executor, workers, scheduler)
                for i, raw in tasks.run(items, settings):
                    if raw["status"] == "stopped":
                        continue
                    item = items[i]
                    record = dict(raw, input=str(item.input), output=str(item.output),
                                  input_abs=os.path.abspath(item.input), output_abs=os.path.abspath(item.output))
                    if record.get("facts"):
                        record["facts"] = dict(record["facts"], input=str(item.input), output=str(item.output))
                        record["duration_s"] = record["facts"]["duration_s"]
                    records[i] = record  # first: an output with a record is never removed as unfinished
                    if ledger is not None:
                        ledger.append(ledger_line(record, settings_d))
                    if on_record is not None:
                        on_record(record)
                    if not keep_facts:
                        record.pop("facts", None)
            except KeyboardInterrupt:
                interrupted = True
                with _interrupts_ignored():
                    if tasks is not None:
                        tasks.stop()
    finally:
        with _interrupts_ignored():
            if tasks is not None:
                tasks.close()
            if ledger is not None:
                ledger.close()
            if interrupted:
                _clean_unfinished(items, records, started_wall)
            else:  # a worker that died mid-file left its temporary file
                _remove_parts(items)
    done = [r for r in records if r is not None]
    return BatchSummary(records=done, not_done=[it for it, r in zip(items, records) if r is None],
                        interrupted=interrupted, seconds=time.perf_counter() - started,
                        n_workers=getattr(tasks, "n_workers", 0), where=getattr(tasks, "where", "nowhere"),
                        ledger=None if ledger is None else ledger.path, notes=list(getattr(tasks, "notes", [])))


# -- the report ----------------------------------------------------------------------------------
REPORT_COLUMNS = ("input", "output", "status", "error", "target", "blend", "intensity", "output_gain_db",
                  "sample_rate", "loudness_in_lufs", "loudness_out_lufs", "true_peak_out_dbtp", "fit_error_db",
                  "duration_s", "seconds", "worker", "worker_peak_rss_mb", "input_sha256", "time", "attempts")
"""The columns of :func:`read_report`'s rows (and of ``semeq batch --report --csv``, with the bands)."""


def read_report(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """One row per input of the folder's ledger, sorted by input: its latest done or failed line
    (the latest skipped one when it has no other), and ``attempts``: how many lines it has.

    Raises
    ------
    AudioFileError
        No ledger in that folder.
    """
    ledger = Ledger.in_folder(out_dir)
    if not ledger.path.is_file():
        raise AudioFileError(f"{out_dir}: no ledger ({LEDGER_NAME}) in this folder: no semeq batch wrote here")
    rows: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for line in ledger.lines():
        key = line["input"]
        counts[key] = counts.get(key, 0) + 1
        if line["status"] != "skipped" or key not in rows or rows[key]["status"] == "skipped":
            rows[key] = line
    return [dict(rows[key], attempts=counts[key]) for key in sorted(rows)]
