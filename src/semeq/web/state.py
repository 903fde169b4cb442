"""The state one server shares between its routes: engine, uploads, renders, ABX sessions, limits."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from .. import __version__
from ..errors import SemeqError
from .abx import AbxSession, AbxStore
from .engine import Analysis, Design, Engine, applied_eq, format_suffix, presets
from .http import ApiError, Slots, number
from .store import ID_PATTERN, Job, StorageFull, Upload, UploadStore, new_id, safe_display_name

__all__ = ["App", "MAX_REGION_S", "MAX_ABX_SESSIONS"]

log = logging.getLogger("semeq.web")

MAX_REGION_S = 60.0
MAX_ABX_SESSIONS = 16
_FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small form fields


def _mib(n: int) -> str:
    return f"{n / 1048576:.3g} MB"


class _TooLarge(Exception):
    pass


class _Cancelled(Exception):
    pass


def _lower_priority() -> None:
    """Give the calling thread a nice value of 10 (Linux: per thread; elsewhere a no-op)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


class App:
    """State shared by the routes of one server.

    Limits: uploads and the scripting API's calls (each decodes or renders a whole file) hold one
    of ``max_api_calls`` slots, and one more is refused with 503 and Retry-After; full renders run
    one at a time on a low-priority thread, with at most ``max_queued_renders`` queued or running
    over the server (one per upload: a newer render of an upload replaces the older).
    """

    def __init__(self, *, engine: Engine | None, db_path, max_upload_bytes: int, max_duration_s: float, idle_s: float,
                 max_temp_bytes: int = 2 << 30, max_api_calls: int = 2, max_queued_renders: int = 4) -> None:
        self.engine = engine or Engine()
        self.store = UploadStore(idle_s=idle_s, max_bytes=max_temp_bytes)
        self.abx_db_path = db_path
        self._abx_db: AbxStore | None = None
        self.max_upload_bytes = int(max_upload_bytes)
        self.max_duration_s = float(max_duration_s)
        self.max_queued_renders = int(max_queued_renders)
        self.abx: dict[str, AbxSession] = {}
        self.api_slots = Slots(max_api_calls, "file analyses and renders")
        # Full renders run on a low-priority thread, so that on a busy machine the preview the
        # listener waits for gets the CPU first; previews and designs on a small pool of their own.
        self.renders = ThreadPoolExecutor(max_workers=1, thread_name_prefix="semeq-render", initializer=_lower_priority)
        self.interactive = ThreadPoolExecutor(max_workers=2, thread_name_prefix="semeq-preview")
        self._render_lock = threading.Lock()

    @property
    def abx_db(self) -> AbxStore:
        if self._abx_db is None:
            self._abx_db = AbxStore(self.abx_db_path)
        return self._abx_db

    def close(self) -> None:
        self.renders.shutdown(wait=False, cancel_futures=True)
        self.interactive.shutdown(wait=False, cancel_futures=True)
        self.store.close()

    # -- uploads ------------------------------------------------------------------------
    async def receive_upload(self, request: Request) -> tuple[Path, str, str, dict]:
        """Stream a multipart upload into the private folder, refusing it past the size caps.

        Returns (path, display name, sha256, other form fields). The file is named by a random id.
        """
        ctype = request.headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            raise ApiError(415, "send the audio as multipart/form-data with the field 'file'")
        cap = self.max_upload_bytes
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise ApiError(400, "bad Content-Length")
            if int(length) > cap + _FORM_OVERHEAD:
                raise ApiError(413, f"the file is larger than the {_mib(cap)} limit")
            self.make_room(int(length))

        async def limited():
            total = 0
            async for chunk in request.stream():
                total += len(chunk)
                if total > cap + _FORM_OVERHEAD:
                    raise _TooLarge
                yield chunk

        parser = MultiPartParser(request.headers, limited(), max_files=1, max_fields=16, max_part_size=4096)
        try:
            form = await parser.parse()
        except _TooLarge:
            raise ApiError(413, f"the file is larger than the {_mib(cap)} limit") from None
        except MultiPartException as exc:
            raise ApiError(400, f"bad multipart upload ({exc.message})") from None
        try:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise ApiError(400, "no file: send the audio in the multipart field 'file'")
            _, path = self.store.new_path(".upload")
            digest = hashlib.sha256()
            size = 0
            with open(path, "xb") as f:
                while chunk := await part.read(1 << 20):
                    size += len(chunk)
                    if size > cap:
                        f.close()
                        path.unlink(missing_ok=True)
                        raise ApiError(413, f"the file is larger than the {_mib(cap)} limit")
                    digest.update(chunk)
                    f.write(chunk)
            if size == 0:
                path.unlink(missing_ok=True)
                raise ApiError(400, "the file is empty")
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            return path, safe_display_name(part.filename), digest.hexdigest(), fields
        finally:
            await form.close()

    def make_room(self, n_bytes: int, keep: tuple[str, ...] = ()) -> None:
        try:
            self.store.make_room(n_bytes, keep)
        except StorageFull as exc:
            raise ApiError(507, str(exc)) from None

    def accept(self, path: Path):
        """Check a received file by its content and rename it with its format's suffix (the
        pipeline keeps a format by its suffix); the duration cap comes from the header, before
        any sample is read. Returns (path, AudioInfo); the file is deleted on any error."""
        try:
            info = self.engine.probe(path)
            duration_s = info.frames / info.sample_rate
            if duration_s > self.max_duration_s:
                raise ApiError(413, f"the recording lasts {duration_s:.0f} s; the limit is {self.max_duration_s:g} s")
            final = path.with_suffix(format_suffix(info.format))
            path.rename(final)
            return final, info
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def upload(self, upload_id: str) -> Upload:
        upload = self.store.get(upload_id)
        if upload is None:
            raise ApiError(404, "no such upload (it may have expired: upload the file again)")
        return upload

    # -- designs and regions --------------------------------------------------------------
    def design(self, upload: Upload, request, *, preview: bool = False) -> Design:
        """The design for this request, cached per upload: the full one (``SemanticEQ.decide``,
        what the download applies), or the preview's (warm-started fit) unless the full one is there."""
        full_key, preview_key = (request, "full"), (request, "preview")
        if preview:
            full = upload.peek_design(full_key)
            if full is not None:
                return full

            def make_preview():
                d = self.engine.design_preview(upload.analysis, request, upload.path, start=upload.last_design)
                upload.last_design = d
                return d

            return upload.cached_design(preview_key, make_preview)
        return upload.cached_design(full_key, lambda: self.engine.decide(upload.analysis, request, upload.path))

    def region(self, upload: Upload, body: dict) -> tuple[int, int]:
        duration = upload.analysis.duration_s
        start = number(body, "start_s", 0.0, 0.0, duration)
        end = number(body, "end_s", min(duration, 30.0), 0.0, duration)
        if end - start < 0.5:
            raise ApiError(400, "the region must last at least 0.5 s (end_s > start_s)")
        if end - start > MAX_REGION_S + 1e-9:
            raise ApiError(400, f"the region lasts {end - start:.1f} s; at most {MAX_REGION_S:g} s")
        sr = upload.analysis.sample_rate
        return int(round(start * sr)), int(round(end * sr))

    def region_audio(self, upload: Upload, a: int, b: int):
        """The region's samples and input level stats, read from the file (kept for the next preview)."""
        with upload.lock:
            cached = upload.region
        if cached is not None and cached[:2] == (a, b):
            return cached[2], cached[3]
        audio = self.engine.read_region(upload.path, a, b)
        stats = self.engine.input_stats(audio, upload.analysis.sample_rate)
        with upload.lock:
            upload.region = (a, b, audio, stats)
        return audio, stats

    # -- background renders -------------------------------------------------------------
    def start_render(self, upload: Upload, request) -> Job:
        """Queue the full render of ``request``; the upload's older render is cancelled or replaced."""
        with self._render_lock:
            others = sum(1 for j in self.store.jobs_of(upload.id) if j.active)
            if self.store.active_jobs() - others >= self.max_queued_renders:
                raise ApiError(503, f"{self.max_queued_renders} renders are already queued: try again in a few seconds",
                               headers={"Retry-After": "5"})
            job = Job(id=new_id(), upload_id=upload.id, request=request)
            self.store.add_job(job)
        self.renders.submit(self._render, upload, job)
        return job

    def cancel_renders(self, upload: Upload, keep=None) -> None:
        """Cancel the upload's queued and running renders of another request than ``keep``: their
        settings are stale, and they would only slow the preview the user waits for."""
        for job in self.store.jobs_of(upload.id):
            if job.active and job.request != keep:
                job.cancelled = True
                if job.state == "queued":
                    job.state, job.error = "cancelled", "superseded by newer settings"

    def _render(self, upload: Upload, job: Job) -> None:
        if job.state != "queued" or job.cancelled:
            return
        job.state = "running"
        out_path = None
        try:
            design = self.design(upload, job.request)
            analysis = upload.analysis

            def progress(x: float) -> None:
                if job.cancelled:
                    raise _Cancelled
                job.progress = 0.99 * x

            # Room for the output: about the input's size (same format and sample format).
            self.store.make_room(int(1.25 * upload.path.stat().st_size) + 65536, keep=(upload.id,))
            _, out_path = self.store.new_path(analysis.suffix)
            rendered = self.engine.render(upload.path, out_path, design, progress=progress)
            if not self.store.finish_job(job, out_path):
                raise _Cancelled
            job.download_name = self.download_name(upload, design)
            job.media_type = analysis.media_type
            info = analysis.info
            job.result = {"semeq": __version__, "input": {"name": upload.name, "sha256": upload.sha256,
                                                          "sample_rate": info.sample_rate, "channels": info.channels,
                                                          "format": info.format, "subtype": info.subtype,
                                                          "duration_s": round(analysis.duration_s, 3)},
                          "output_gain_db": round(rendered.gain_db, 3), "copied": rendered.copied} | design.to_dict()
            job.result["eq"] = applied_eq(design.eq)  # what semeq export reads, as from `semeq apply --json`
            job.presets = presets(job.result, job.download_name.rsplit(".", 1)[0])
            stats_in, stats_out = rendered.stats_in, rendered.stats_out
            job.shortfall_db = min(0.0, stats_out.loudness_lufs - stats_in.loudness_lufs) \
                if np.isfinite(stats_in.loudness_lufs) and np.isfinite(stats_out.loudness_lufs) else 0.0
            job.progress, job.state = 1.0, "done"
        except _Cancelled:
            if out_path is not None:
                out_path.unlink(missing_ok=True)
            if job.state in ("queued", "running"):
                job.state, job.error = "cancelled", job.error or "superseded by newer settings"
        except StorageFull as exc:
            job.state, job.error = "failed", str(exc)
        except SemeqError as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - reported to the page as one line, logged here
            log.exception("render failed")
            if out_path is not None:
                out_path.unlink(missing_ok=True)
            job.state, job.error = "failed", f"internal error ({type(exc).__name__})"

    @staticmethod
    def download_name(upload: Upload, design: Design) -> str:
        """``<file>_<word>[_<blend>-<alpha>]_<mode>[_dynamic]_<intensity>.<ext>``: every setting that changes the sound."""
        r = design.request
        parts = [upload.name, r.target.slug]
        if r.blend is not None:
            parts.append(f"{r.blend.slug}-{r.alpha:.2f}")
        parts += [r.mode] + (["dynamic"] if r.dynamic else []) + [f"{design.intensity:.2f}"]
        stem = "_".join(safe_display_name(p.replace(".", "_"), "x") for p in parts)
        return stem + upload.analysis.suffix

    def job(self, job_id: str) -> Job:
        job = self.store.job(job_id)
        if job is None:
            raise ApiError(404, "no such render")
        return job

    def abx_session(self, sid: str) -> AbxSession:
        s = self.abx.get(sid) if isinstance(sid, str) and ID_PATTERN.match(sid) else None
        if s is None:
            raise ApiError(404, "no such ABX session")
        return s

    def analyze(self, path: Path) -> Analysis:
        return self.engine.analyze(path)
