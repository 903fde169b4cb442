"""Uploaded files and background renders, kept in a private temporary folder.

Safety rules, in one place:

- Every file lives in one folder made by :func:`tempfile.mkdtemp` (mode 0700), under a name made
  of :func:`secrets.token_hex`; no value sent by a client ever becomes part of a path. Clients
  name uploads and jobs by their random id, looked up in a dict after a format check.
- Starlette's multipart parser first holds an upload in memory, past 1 MB in an anonymous
  temporary file (unnamed on Linux, gone when closed); the app copies it into the private
  folder while counting bytes, and closes the parser's copy at once.
- The folder is removed when the server stops (and at interpreter exit); uploads idle for
  ``idle_s`` are removed by :meth:`UploadStore.sweep`, which the server runs every minute.
"""

from __future__ import annotations

import atexit
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from .engine import Analysis, Design, LoadedAudio

__all__ = ["UploadStore", "Upload", "Job", "ID_PATTERN", "safe_display_name"]

ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
_DESIGN_CACHE = 32


def new_id() -> str:
    return secrets.token_hex(16)


def safe_display_name(name: str | None, default: str = "audio") -> str:
    """A file name for display and Content-Disposition only: its last component, plain characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", stem).strip(" ._")[:80]
    return stem or default


@dataclass(eq=False)
class Upload:
    id: str
    path: Path
    name: str
    """Display name (sanitised stem of the client's file name); never used as a path."""
    loaded: LoadedAudio
    sha256: str
    analysis: Analysis | None = None
    last_used: float = field(default_factory=time.monotonic)
    designs: OrderedDict = field(default_factory=OrderedDict)
    last_design: Design | None = None
    """The most recent design: a warm start for the next preview's fit."""
    stats: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def cached_design(self, key, make) -> Design:
        with self.lock:
            if key in self.designs:
                self.designs.move_to_end(key)
                return self.designs[key]
        design = make()
        with self.lock:
            self.designs[key] = design
            while len(self.designs) > _DESIGN_CACHE:
                self.designs.popitem(last=False)
        return design


@dataclass(eq=False)
class Job:
    id: str
    upload_id: str
    settings: dict
    state: str = "queued"  # queued, running, done, failed
    progress: float = 0.0
    error: str | None = None
    out_path: Path | None = None
    listen_path: Path | None = None
    download_name: str = "processed"
    media_type: str = "application/octet-stream"
    result: dict | None = None
    shortfall_db: float = 0.0
    cancelled: bool = False
    last_used: float = field(default_factory=time.monotonic)

    def to_dict(self) -> dict:
        return {"job": self.id, "state": self.state, "progress": round(self.progress, 3), "error": self.error}


class UploadStore:
    """Uploads and jobs by random id, files in one private temporary folder.

    Each upload keeps its decoded audio in memory (float64: 21 MB a minute of stereo 44.1 kHz),
    so at most ``max_uploads`` are kept; a new one evicts the least recently used.
    """

    def __init__(self, *, idle_s: float = 1800.0, max_uploads: int = 8) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="semeq-web-"))  # mode 0700
        self.idle_s = float(idle_s)
        self.max_uploads = int(max_uploads)
        self._uploads: dict[str, Upload] = {}
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        atexit.register(self.close)

    def new_path(self, suffix: str = "") -> tuple[str, Path]:
        """A fresh random id and a path for it inside the private folder."""
        token = new_id()
        return token, self.root / f"{token}{suffix}"

    # -- uploads ------------------------------------------------------------------------
    def add(self, upload: Upload) -> None:
        with self._lock:
            self._uploads[upload.id] = upload
            while len(self._uploads) > self.max_uploads:  # the oldest goes first
                oldest = min(self._uploads.values(), key=lambda u: u.last_used)
                self._drop_upload(oldest.id)

    def get(self, upload_id: str) -> Upload | None:
        if not isinstance(upload_id, str) or not ID_PATTERN.match(upload_id):
            return None
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is not None:
            upload.touch()
        return upload

    def remove(self, upload_id: str) -> bool:
        with self._lock:
            return self._drop_upload(upload_id)

    def _drop_upload(self, upload_id: str) -> bool:
        upload = self._uploads.pop(upload_id, None)
        if upload is None:
            return False
        upload.path.unlink(missing_ok=True)
        for job_id in [j.id for j in self._jobs.values() if j.upload_id == upload_id]:
            self._drop_job(job_id)
        return True

    # -- jobs ---------------------------------------------------------------------------
    def add_job(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job

    def job(self, job_id: str) -> Job | None:
        if not isinstance(job_id, str) or not ID_PATTERN.match(job_id):
            return None
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            job.last_used = time.monotonic()
            upload = self._uploads.get(job.upload_id)
            if upload is not None:
                upload.touch()
        return job

    def _drop_job(self, job_id: str) -> None:
        job = self._jobs.pop(job_id, None)
        if job is not None:
            for p in (job.out_path, job.listen_path):
                if p is not None:
                    p.unlink(missing_ok=True)

    # -- housekeeping -------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> int:
        """Remove uploads (and their jobs) idle for longer than ``idle_s``; returns how many."""
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = [u.id for u in self._uploads.values() if now - u.last_used > self.idle_s]
            for upload_id in idle:
                self._drop_upload(upload_id)
        return len(idle)

    def files(self) -> list[Path]:
        return sorted(self.root.iterdir()) if self.root.exists() else []

    def close(self) -> None:
        with self._lock:
            self._uploads.clear()
            self._jobs.clear()
        shutil.rmtree(self.root, ignore_errors=True)
