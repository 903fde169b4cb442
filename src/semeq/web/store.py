"""Uploads and renders, kept in a private temporary folder of bounded size.

Safety rules, in one place:

- Every file lives in one folder made by :func:`tempfile.mkdtemp` (mode 0700), under a name made
  of :func:`secrets.token_hex` and a suffix the server chose from the file's decoded format; no
  value sent by a client ever becomes part of a path. Clients name uploads and renders by their
  random id, looked up in a dict after a format check.
- Starlette's multipart parser first holds an upload in memory, past 1 MB in an anonymous
  temporary file (unnamed on Linux, gone when closed); the app copies it into the private
  folder while counting bytes, and closes the parser's copy at once.
- Bounds: at most ``max_uploads`` uploads (the least recently used goes first); ONE render per
  upload (a new render replaces the previous one: its file is deleted as soon as no download of
  it is in progress); the folder's total size at most ``max_bytes`` (older uploads are evicted to
  make room, else the request is refused). An upload keeps no decoded samples in memory.
- The folder is removed when the server stops (and at interpreter exit); uploads idle for
  ``idle_s`` are removed by :meth:`UploadStore.sweep`, which the server runs every minute.
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SemeqError
from .engine import Analysis, Design

__all__ = ["UploadStore", "Upload", "Job", "StorageFull", "ID_PATTERN", "safe_display_name", "new_id"]

ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
_DESIGN_CACHE = 32
_JOB_RECORDS = 256  # finished jobs' small records kept for status queries (their files are not)


class StorageFull(SemeqError):
    """The temporary folder cannot take this much more, even after evicting older uploads."""


def new_id() -> str:
    return secrets.token_hex(16)


def safe_display_name(name: str | None, default: str = "audio") -> str:
    """A file name for display and Content-Disposition only: its last component, plain characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = re.sub(r"[^A-Za-z0-9._+ -]+", "_", stem).strip(" ._")[:80]
    return stem or default


@dataclass(eq=False)
class Upload:
    id: str
    path: Path
    """The file in the private folder, with the suffix of its decoded format."""
    name: str
    """Display name (sanitised stem of the client's file name); never used as a path."""
    sha256: str
    analysis: Analysis
    last_used: float = field(default_factory=time.monotonic)
    designs: OrderedDict = field(default_factory=OrderedDict)
    last_design: Design | None = None
    """The most recent preview design: a warm start for the next preview's fit."""
    region: tuple | None = None
    """(start, stop, samples, input LevelStats) of the last preview's region: re-read only when it moves."""
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

    def peek_design(self, key) -> Design | None:
        with self.lock:
            return self.designs.get(key)


@dataclass(eq=False)
class Job:
    id: str
    upload_id: str
    request: object
    """The EQRequest rendered."""
    state: str = "queued"  # queued, running, done, failed, cancelled, replaced
    progress: float = 0.0
    error: str | None = None
    out_path: Path | None = None
    download_name: str = "processed"
    media_type: str = "application/octet-stream"
    result: dict | None = None
    presets: dict | None = None
    """Format name -> (file name, bytes) of the render's preset, or the ParameterError refusing it."""
    shortfall_db: float = 0.0
    cancelled: bool = False
    readers: int = 0
    """Downloads of ``out_path`` in progress: the file outlives its replacement until they end."""
    last_used: float = field(default_factory=time.monotonic)

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def to_dict(self) -> dict:
        return {"job": self.id, "state": self.state, "progress": round(self.progress, 3), "error": self.error}


class UploadStore:
    """Uploads and renders by random id, files in one private temporary folder of bounded size.

    Parameters
    ----------
    idle_s : float
        Uploads unused this long are removed by :meth:`sweep`.
    max_uploads : int
        Uploads kept at most; a new one evicts the least recently used.
    max_bytes : int
        Total size of the folder (uploads, renders, files being written).
    """

    def __init__(self, *, idle_s: float = 1800.0, max_uploads: int = 8, max_bytes: int = 2 << 30) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="semeq-web-"))  # mode 0700
        self.idle_s = float(idle_s)
        self.max_uploads = int(max_uploads)
        self.max_bytes = int(max_bytes)
        self._uploads: dict[str, Upload] = {}
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.RLock()
        atexit.register(self.close)

    def new_path(self, suffix: str = "") -> tuple[str, Path]:
        """A fresh random id and a path for it inside the private folder."""
        token = new_id()
        return token, self.root / f"{token}{suffix}"

    # -- size -----------------------------------------------------------------------------
    def used_bytes(self) -> int:
        """Bytes in the private folder now (every file, finished or being written)."""
        total = 0
        with os.scandir(self.root) as it:
            for entry in it:
                try:
                    total += entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:
                    pass
        return total

    def make_room(self, n_bytes: int, keep: tuple[str, ...] = ()) -> None:
        """Evict least recently used uploads (not those in ``keep``) until ``n_bytes`` more fit.

        Raises
        ------
        StorageFull
            Even with every other upload gone, the folder would pass ``max_bytes``.
        """
        with self._lock:
            while self.used_bytes() + n_bytes > self.max_bytes:
                others = [u for u in self._uploads.values() if u.id not in keep]
                if not others:
                    raise StorageFull(f"the server's temporary folder is full ({self.used_bytes() / 1048576:.0f} MB "
                                      f"used, {n_bytes / 1048576:.0f} MB more needed, {self.max_bytes / 1048576:.0f} MB "
                                      "limit): try a shorter file, or restart 'semeq web' with a larger --max-temp-mb")
                self._drop_upload(min(others, key=lambda u: u.last_used).id)

    # -- uploads ------------------------------------------------------------------------
    def add(self, upload: Upload) -> None:
        with self._lock:
            self._uploads[upload.id] = upload
            while len(self._uploads) > self.max_uploads:  # the oldest goes first
                oldest = min(self._uploads.values(), key=lambda u: u.last_used)
                self._drop_upload(oldest.id)
        self.make_room(0, keep=(upload.id,))

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
        for job in [j for j in self._jobs.values() if j.upload_id == upload_id]:
            job.cancelled = True
            self._retire(job, "the upload was removed")
            self._jobs.pop(job.id, None)
        return True

    # -- renders ------------------------------------------------------------------------
    def add_job(self, job: Job) -> list[Job]:
        """Register a new render of an upload; every older render of it is cancelled or replaced
        (files deleted once no download holds them). Returns the jobs it cancelled or replaced."""
        with self._lock:
            older = [j for j in self._jobs.values() if j.upload_id == job.upload_id and j.state != "replaced"]
            for other in older:
                other.cancelled = True
                self._retire(other, "replaced by a newer render")
            self._jobs[job.id] = job
            while len(self._jobs) > _JOB_RECORDS:
                _, oldest = self._jobs.popitem(last=False)
                self._retire(oldest, "expired")
            return older

    def active_jobs(self) -> int:
        """Renders queued or running, over the whole server."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.active)

    def jobs_of(self, upload_id: str) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.upload_id == upload_id]

    def job(self, job_id: str) -> Job | None:
        if not isinstance(job_id, str) or not ID_PATTERN.match(job_id):
            return None
        with self._lock:
            job = self._jobs.get(job_id)
            upload = self._uploads.get(job.upload_id) if job is not None else None
        if job is not None:
            job.last_used = time.monotonic()
            if upload is not None:
                upload.touch()
        return job

    def _retire(self, job: Job, reason: str) -> None:
        """Mark a job replaced (a queued or running one: cancelled) and delete its file unless read."""
        if job.active:
            job.state, job.error = "cancelled", reason
        elif job.state == "done":
            job.state, job.error = "replaced", reason
        if job.readers == 0 and job.out_path is not None:
            job.out_path.unlink(missing_ok=True)
            job.out_path = None

    def finish_job(self, job: Job, out_path: Path) -> bool:
        """A render wrote ``out_path``: it becomes the job's file, unless the job was replaced meanwhile
        (then the file is deleted and False returned)."""
        with self._lock:
            if job.cancelled or self._jobs.get(job.id) is not job:
                out_path.unlink(missing_ok=True)
                return False
            job.out_path = out_path
            return True

    def open_download(self, job: Job) -> Path | None:
        """Hold a finished render's file for a download (None when it is gone); pair with :meth:`close_download`."""
        with self._lock:
            if job.state != "done" or job.out_path is None:
                return None
            job.readers += 1
            return job.out_path

    def close_download(self, job: Job) -> None:
        with self._lock:
            job.readers = max(0, job.readers - 1)
            if job.state != "done" and job.readers == 0 and job.out_path is not None:
                job.out_path.unlink(missing_ok=True)
                job.out_path = None

    # -- housekeeping -------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> int:
        """Remove uploads (and their renders) idle for longer than ``idle_s``; returns how many."""
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
