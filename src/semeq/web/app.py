"""The web app: the studio page, A/B previews, background renders, ABX tests and a scripting API.

Starlette (ASGI) serves plain HTML/JS/CSS from ``semeq/web/static`` and a JSON API; the engine is
reached only through :mod:`semeq.web.engine`. Every error a client can cause is a 4xx with a JSON
body ``{"error": "..."}``; anything else is a 500 with a one-line JSON body (the traceback goes
to the server's log, never to the client).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..errors import SemeqError, UnknownWordError
from .abx import DEFAULT_TRIALS, MAX_TRIALS, AbxSession, AbxStore, binomial_p_value
from .engine import MODES, Engine, Settings, probe_audio, wav_bytes
from .store import ID_PATTERN, Job, Upload, UploadStore, new_id, safe_display_name

__all__ = ["create_app", "ApiError", "DEFAULT_MAX_UPLOAD_BYTES", "DEFAULT_MAX_DURATION_S"]

log = logging.getLogger("semeq.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_MAX_UPLOAD_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_DURATION_S = 20 * 60.0
MAX_REGION_S = 60.0
MAX_ABX_SESSIONS = 16
_FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small form fields
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def _mib(n: int) -> str:
    return f"{n / 1048576:.3g} MB"


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _TooLarge(Exception):
    pass


class _Cancelled(Exception):
    pass


# -- request parsing ---------------------------------------------------------------------------
def _number(d: dict, name: str, default: float | None, lo: float, hi: float) -> float | None:
    value = d.get(name, default)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ApiError(400, f"{name} must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name} must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(x) or not lo <= x <= hi:
        raise ApiError(400, f"{name} must be in [{lo:g}, {hi:g}], got {str(value)[:40]}")
    return x


def _word(d: dict, name: str, required: bool) -> str | None:
    value = d.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ApiError(400, f"'{name}' is required (a word such as warm, bright, claro)")
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ApiError(400, f"'{name}' must be a word of at most 64 characters")
    return value.strip()


def parse_settings(d: dict) -> Settings:
    """Settings from a JSON object or form fields; ApiError 400 on anything out of range."""
    if not isinstance(d, dict):
        raise ApiError(400, "settings must be a JSON object")
    target = _word(d, "target", True)
    blend = _word(d, "blend", False)
    raw = d.get("intensity", 0.5)
    auto = d.get("auto_intensity") in (True, "true", "1", 1) or (isinstance(raw, str) and raw.strip().lower() == "auto")
    intensity = None if auto else _number(d, "intensity", 0.5, 0.0, 1.0)
    mode = d.get("mode") or "toward"
    if mode not in MODES:
        raise ApiError(400, f"mode must be one of {', '.join(MODES)}, got {str(mode)[:40]!r}")
    alpha = _number(d, "alpha", None, 0.0, 1.0)
    if blend is None and alpha:
        raise ApiError(400, "alpha needs a blend word")
    if blend is not None and alpha is None:
        alpha = 0.5
    if mode == "static" and intensity is None:
        raise ApiError(400, "auto-intensity measures the recording: it does not go with mode 'static'")
    return Settings(target=target, intensity=intensity, mode=mode, blend=blend, alpha=alpha or 0.0)


async def _json_body(request: Request) -> dict:
    if len(await request.body()) > 64 * 1024:
        raise ApiError(413, "request body too large")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise ApiError(400, "the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


class App:
    """State shared by the routes of one server: engine, uploads, jobs, ABX sessions."""

    def __init__(self, *, engine: Engine | None, db_path, max_upload_bytes: int, max_duration_s: float, idle_s: float) -> None:
        self.engine = engine or Engine()
        self.store = UploadStore(idle_s=idle_s)
        self.abx_db_path = db_path
        self._abx_db: AbxStore | None = None
        self.max_upload_bytes = int(max_upload_bytes)
        self.max_duration_s = float(max_duration_s)
        self.abx: dict[str, AbxSession] = {}
        # Background work (full renders, the 5-band fit shown in the table) runs on low-priority
        # threads, so that on a busy machine the preview the listener waits for gets the CPU first.
        self.renders = ThreadPoolExecutor(max_workers=1, thread_name_prefix="semeq-render", initializer=_lower_priority)
        self.background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="semeq-bg", initializer=_lower_priority)
        self._lock = threading.Lock()

    @property
    def abx_db(self) -> AbxStore:
        if self._abx_db is None:
            self._abx_db = AbxStore(self.abx_db_path)
        return self._abx_db

    # -- uploads ------------------------------------------------------------------------
    async def receive_upload(self, request: Request) -> tuple[Path, str, str, dict]:
        """Stream a multipart upload into the private folder, refusing it past the size cap.

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

    def decode(self, path: Path):
        """Decode by content; duration cap from the header before reading the samples."""
        try:
            frames, sample_rate, duration_s = probe_audio(path)
            if duration_s > self.max_duration_s:
                raise ApiError(413, f"the recording lasts {duration_s:.0f} s; the limit is {self.max_duration_s:g} s")
            return self.engine.load(path)
        except BaseException:  # a file that is not kept must not stay behind
            path.unlink(missing_ok=True)
            raise

    def upload(self, upload_id: str) -> Upload:
        upload = self.store.get(upload_id)
        if upload is None:
            raise ApiError(404, "no such upload (it may have expired: upload the file again)")
        return upload

    def analysis(self, upload: Upload):
        if upload.analysis is None:
            upload.analysis = self.engine.analyze(upload.loaded)
        return upload.analysis

    def design(self, upload: Upload, settings: Settings, *, preview: bool = False):
        """The design for these settings, cached per upload: the full one, or a quicker preview one
        (see :meth:`Engine.design`) unless the full one is already there."""
        full_key, preview_key = (settings.key(), "full"), (settings.key(), "preview")
        if preview:
            with upload.lock:
                full = upload.designs.get(full_key)
            if full is not None:
                return full

        def make():
            self.engine.check_words(settings)
            d = self.engine.design(upload.loaded, settings, self.analysis(upload), preview=preview,
                                   start=upload.last_design)
            upload.last_design = d
            return d

        return upload.cached_design(preview_key if preview else full_key, make)

    def region(self, upload: Upload, body: dict) -> tuple[int, int]:
        duration = upload.loaded.duration_s
        start = _number(body, "start_s", 0.0, 0.0, duration)
        end = _number(body, "end_s", min(duration, 30.0), 0.0, duration)
        if end - start < 0.5:
            raise ApiError(400, "the region must last at least 0.5 s (end_s > start_s)")
        if end - start > MAX_REGION_S + 1e-9:
            raise ApiError(400, f"the region lasts {end - start:.1f} s; at most {MAX_REGION_S:g} s")
        sr = upload.loaded.sample_rate
        return int(round(start * sr)), int(round(end * sr))

    def region_loudness(self, upload: Upload, a: int, b: int) -> float:
        key = ("lufs", a, b)
        with upload.lock:
            stats = upload.stats.get(key)
        if stats is None:
            stats = self.engine.loudness_lufs(upload.loaded.audio[:, a:b], upload.loaded.sample_rate)
            with upload.lock:
                if len(upload.stats) > 16:
                    full = upload.stats.get("full")
                    upload.stats.clear()
                    if full is not None:
                        upload.stats["full"] = full
                upload.stats[key] = stats
        return stats

    # -- background renders -------------------------------------------------------------
    def cancel_renders(self, upload: Upload, keep: dict | None = None) -> None:
        """Cancel the upload's queued and running renders (except those with settings ``keep``):
        their settings are stale, and they would only slow the preview the user waits for."""
        with self._lock:
            for other in list(self.store._jobs.values()):
                if other.upload_id == upload.id and other.state in ("queued", "running") and other.settings != keep:
                    other.cancelled = True
                    if other.state == "queued":
                        other.state, other.error = "cancelled", "superseded by newer settings"

    def start_render(self, upload: Upload, settings: Settings) -> Job:
        job = Job(id=new_id(), upload_id=upload.id, settings=settings.to_dict())
        self.cancel_renders(upload)
        self.store.add_job(job)
        self.renders.submit(self._render, upload, settings, job)
        return job

    def _render(self, upload: Upload, settings: Settings, job: Job) -> None:
        if job.state != "queued":
            return
        job.state = "running"
        try:
            design = self.design(upload, settings)
            loaded = upload.loaded

            def progress(x: float) -> None:
                if job.cancelled:
                    raise _Cancelled
                job.progress = x

            with upload.lock:
                stats_in = upload.stats.get("full")
            if stats_in is None and not design.is_bypass:
                stats_in = self.engine.level_stats(loaded.audio, loaded.sample_rate)
                with upload.lock:
                    upload.stats["full"] = stats_in
            out, gain_db, shortfall = self.engine.render(loaded.audio, loaded.sample_rate, design, progress=progress,
                                                         stats_in=stats_in)
            _, out_path = self.store.new_path(loaded.suffix)
            _, listen_path = self.store.new_path(".wav")
            if design.is_bypass:  # the very bytes of the input
                out_path.write_bytes(upload.path.read_bytes())
            else:
                self.engine.save(out_path, out, loaded)
            listen_path.write_bytes(wav_bytes(out, loaded.sample_rate))
            word = settings.target.lower().replace(" ", "-")
            job.download_name = f"{upload.name}_{safe_display_name(word)}_{design.intensity:.2f}".replace(".", "_") + loaded.suffix
            job.media_type = loaded.media_type
            job.result = {"semeq": __version__, "input": {"name": upload.name, "sha256": upload.sha256,
                                                          "sample_rate": loaded.sample_rate, "channels": loaded.channels,
                                                          "format": loaded.format, "subtype": loaded.subtype,
                                                          "duration_s": round(loaded.duration_s, 3)},
                          "output_gain_db": round(gain_db, 3)} | design.to_dict()
            job.shortfall_db = shortfall
            job.out_path, job.listen_path = out_path, listen_path
            job.progress, job.state = 1.0, "done"
        except _Cancelled:
            job.state, job.error = "cancelled", "superseded by newer settings"
        except SemeqError as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - reported to the page as one line, logged here
            log.exception("render failed")
            job.state, job.error = "failed", f"internal error ({type(exc).__name__})"

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


def _lower_priority() -> None:
    """Give the calling thread a nice value of 10 (Linux: per thread; elsewhere a no-op)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


def _dithered_wav(audio: np.ndarray, sample_rate: int) -> bytes:
    """16-bit WAV with fresh TPDF dither (+-1 LSB): two renderings of one signal never share bytes."""
    rng = np.random.default_rng(secrets.randbits(64))
    tpdf = rng.random(audio.shape) - rng.random(audio.shape)  # triangular in (-1, 1) LSB
    pcm = np.clip(np.round(audio * 32767.0 + tpdf), -32768, 32767).astype(np.int16)
    return wav_bytes(pcm, sample_rate, subtype="PCM_16")


def _settings_header(d: dict) -> str:
    return json.dumps(d, separators=(",", ":"), ensure_ascii=True)


# -- routes ------------------------------------------------------------------------------------
def _routes(app: App) -> list:
    async def index(request: Request):
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    async def info(request: Request):
        caps = await run_in_threadpool(app.engine.capabilities)
        return JSONResponse({"semeq": __version__, "max_upload_bytes": app.max_upload_bytes,
                             "max_duration_s": app.max_duration_s, "max_region_s": MAX_REGION_S,
                             "abx_default_trials": DEFAULT_TRIALS} | caps)

    async def vocabulary(request: Request):
        return JSONResponse({"words": await run_in_threadpool(app.engine.vocabulary)})

    async def create_upload(request: Request):
        path, name, sha, _ = await app.receive_upload(request)
        loaded = await run_in_threadpool(app.decode, path)
        upload = Upload(id=path.stem, path=path, name=name, loaded=loaded, sha256=sha)
        try:
            analysis = await run_in_threadpool(app.analysis, upload)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        app.store.add(upload)
        return JSONResponse({"upload": upload.id, "name": name, "sample_rate": loaded.sample_rate,
                             "channels": loaded.channels, "duration_s": round(loaded.duration_s, 4),
                             "format": loaded.format, "subtype": loaded.subtype, "analysis": analysis.to_dict()},
                            status_code=201)

    async def delete_upload(request: Request):
        if not app.store.remove(request.path_params["upload"]):
            raise ApiError(404, "no such upload")
        return JSONResponse({"deleted": True})

    async def original(request: Request):
        upload = app.upload(request.path_params["upload"])
        data = await run_in_threadpool(wav_bytes, upload.loaded.audio, upload.loaded.sample_rate)
        return Response(data, media_type="audio/wav")

    async def design(request: Request):
        upload = app.upload(request.path_params["upload"])
        settings = parse_settings(await _json_body(request))
        d = await asyncio.get_running_loop().run_in_executor(app.background, lambda: app.design(upload, settings))
        return JSONResponse(d.to_dict())

    async def preview(request: Request):
        t0 = time.perf_counter()
        upload = app.upload(request.path_params["upload"])
        body = await _json_body(request)
        settings = parse_settings(body)
        a, b = app.region(upload, body)
        raw = body.get("format", "wav")
        if raw not in ("wav", "f32"):
            raise ApiError(400, f"format must be 'wav' or 'f32', got {str(raw)[:20]!r}")
        app.cancel_renders(upload, keep=settings.to_dict())

        def work():
            d = app.design(upload, settings, preview=True)
            region = upload.loaded.audio[:, a:b]
            out, gain_db, shortfall = app.engine.render(region, upload.loaded.sample_rate, d, precise_peak=False,
                                                        loudness_in_lufs=app.region_loudness(upload, a, b))
            # f32: planar little-endian float32, (channels, samples) in C order -- straight into an
            # AudioBuffer, without a WAV to decode in the page.
            data = out.astype("<f4").tobytes() if raw == "f32" else wav_bytes(out, upload.loaded.sample_rate)
            return d, data, gain_db, shortfall

        d, data, gain_db, shortfall = await run_in_threadpool(work)
        ms = 1000.0 * (time.perf_counter() - t0)
        return Response(data, media_type="audio/wav" if raw == "wav" else "application/octet-stream", headers={
            "X-Semeq-Design": _settings_header(d.to_dict() | {"output_gain_db": round(gain_db, 3)}),
            "X-Semeq-Original-Gain-Db": f"{shortfall:.4f}", "X-Semeq-Render-Ms": f"{ms:.1f}",
            "X-Semeq-Channels": str(upload.loaded.channels), "X-Semeq-Sample-Rate": str(upload.loaded.sample_rate)})

    async def render(request: Request):
        upload = app.upload(request.path_params["upload"])
        settings = parse_settings(await _json_body(request))
        await run_in_threadpool(app.engine.check_words, settings)
        job = app.start_render(upload, settings)
        return JSONResponse(job.to_dict(), status_code=202)

    async def job_status(request: Request):
        job = app.job(request.path_params["job"])
        d = job.to_dict()
        if job.state == "done":
            d["original_gain_db"] = round(job.shortfall_db, 4)
            d["download_name"] = job.download_name
        return JSONResponse(d)

    def _done(job: Job) -> Job:
        if job.state != "done":
            raise ApiError(409, f"the render is {job.state}" + (f": {job.error}" if job.error else ""))
        return job

    async def job_download(request: Request):
        job = _done(app.job(request.path_params["job"]))
        return FileResponse(job.out_path, media_type=job.media_type, filename=job.download_name)

    async def job_listen(request: Request):
        job = _done(app.job(request.path_params["job"]))
        return FileResponse(job.listen_path, media_type="audio/wav")

    async def job_settings(request: Request):
        job = _done(app.job(request.path_params["job"]))
        name = job.download_name.rsplit(".", 1)[0] + "_settings.json"
        return Response(json.dumps(job.result, indent=2), media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # -- scripting API --------------------------------------------------------------------
    async def api_analyze(request: Request):
        path, name, _, _ = await app.receive_upload(request)
        try:
            loaded = await run_in_threadpool(app.decode, path)
            analysis = await run_in_threadpool(app.engine.analyze, loaded)
        finally:
            path.unlink(missing_ok=True)
        return JSONResponse({"name": name, "sample_rate": loaded.sample_rate, "channels": loaded.channels,
                             "duration_s": round(loaded.duration_s, 4), "format": loaded.format} | analysis.to_dict())

    async def api_apply(request: Request):
        path, name, sha, fields = await app.receive_upload(request)
        out_path = None
        try:
            settings = parse_settings(fields)

            def work():
                app.engine.check_words(settings)
                loaded = app.decode(path)
                analysis = app.engine.analyze(loaded, top_k=1)
                d = app.engine.design(loaded, settings, analysis)
                out, gain_db, _ = app.engine.render(loaded.audio, loaded.sample_rate, d)
                nonlocal out_path
                _, out_path = app.store.new_path(loaded.suffix)
                if d.is_bypass:
                    data = path.read_bytes()
                else:
                    app.engine.save(out_path, out, loaded)
                    data = out_path.read_bytes()
                return loaded, d, gain_db, data

            loaded, d, gain_db, data = await run_in_threadpool(work)
        finally:
            path.unlink(missing_ok=True)
            if out_path is not None:
                out_path.unlink(missing_ok=True)
        applied = {k: v for k, v in d.to_dict().items() if k != "curve"} | {"output_gain_db": round(gain_db, 3),
                                                                               "sample_rate": loaded.sample_rate,
                                                                               "format": loaded.format}
        word = safe_display_name(settings.target.lower())
        return Response(data, media_type=loaded.media_type, headers={
            "X-Semeq-Settings": _settings_header(applied),
            "Content-Disposition": f'attachment; filename="{name}_{word}{loaded.suffix}"'})

    # -- ABX ------------------------------------------------------------------------------
    async def abx_create(request: Request):
        body = await _json_body(request)
        upload = app.upload(body.get("upload") if isinstance(body.get("upload"), str) else "")
        settings = parse_settings(body)
        n = body.get("n_trials", DEFAULT_TRIALS)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_TRIALS:
            raise ApiError(400, f"n_trials must be an integer in [1, {MAX_TRIALS}], got {str(n)[:20]}")
        a, b = app.region(upload, body)

        def work():
            d = app.design(upload, settings)
            if d.is_bypass:
                raise ApiError(400, "intensity 0 is an exact bypass: A and B would be the same")
            region = upload.loaded.audio[:, a:b]
            out, _, shortfall = app.engine.render(region, upload.loaded.sample_rate, d)
            return d, region * 10.0 ** (shortfall / 20.0), out

        d, a_audio, b_audio = await run_in_threadpool(work)
        sr = upload.loaded.sample_rate
        recorded = settings.to_dict() | {"intensity_applied": round(d.intensity, 4), "bands": d.bands}
        session = AbxSession(id=new_id(), upload_id=upload.id, n_trials=n, a_audio=a_audio, b_audio=b_audio,
                             sample_rate=sr, settings=recorded)
        await run_in_threadpool(app.abx_db.create_session, session_id=session.id, file_name=upload.name,
                                file_sha256=upload.sha256, settings=recorded, region_start_s=a / sr,
                                region_end_s=b / sr, n_trials=n)
        app.abx[session.id] = session
        while len(app.abx) > MAX_ABX_SESSIONS:  # the least recently used running test goes first
            app.abx.pop(min(app.abx.values(), key=lambda x: x.last_used).id, None)
        return JSONResponse({"session": session.id, "n_trials": n, "trial": 1, "db": str(app.abx_db.path)}, status_code=201)

    async def abx_audio(request: Request):
        s = app.abx_session(request.path_params["session"])
        which = request.path_params["which"]
        if which not in ("A", "B"):
            raise ApiError(404, "no such stream: A.wav, B.wav or trials/N/X.wav")
        audio = s.a_audio if which == "A" else s.b_audio
        return Response(await run_in_threadpool(_dithered_wav, audio, s.sample_rate), media_type="audio/wav",
                        headers={"Cache-Control": "no-store"})

    async def abx_x(request: Request):
        s = app.abx_session(request.path_params["session"])
        trial = request.path_params["trial"]
        try:
            x = s.x_for(trial)
        except SemeqError as exc:
            raise ApiError(409, str(exc)) from None
        audio = s.a_audio if x == "A" else s.b_audio
        return Response(await run_in_threadpool(_dithered_wav, audio, s.sample_rate), media_type="audio/wav",
                        headers={"Cache-Control": "no-store"})

    def _result(s: AbxSession) -> dict:
        total = s.n_trials
        return {"correct": s.correct, "total": total, "p_value": binomial_p_value(s.correct, total)}

    async def abx_answer(request: Request):
        s = app.abx_session(request.path_params["session"])
        body = await _json_body(request)
        trial, answer = body.get("trial"), body.get("answer")
        if isinstance(trial, bool) or not isinstance(trial, int):
            raise ApiError(400, "trial must be an integer")
        if answer not in ("A", "B"):
            raise ApiError(400, f"answer must be 'A' or 'B', got {str(answer)[:20]!r}")
        try:
            x, presented_at, answered_at, response_ms = s.answer(trial, answer)
        except SemeqError as exc:
            raise ApiError(409, str(exc)) from None
        await run_in_threadpool(app.abx_db.record_trial, session_id=s.id, trial=trial, x=x, answer=answer,
                                presented_at=presented_at, answered_at=answered_at, response_ms=response_ms,
                                complete=s.done)
        d = {"answered": trial, "done": s.done, "next_trial": None if s.done else s.trial}
        if s.done:
            d["result"] = _result(s)
            d["trials"] = await run_in_threadpool(app.abx_db.trials, s.id)
            app.abx.pop(s.id, None)  # its audio is no longer needed; the record is in SQLite
        return JSONResponse(d)

    async def abx_status(request: Request):
        s = app.abx_session(request.path_params["session"])
        return JSONResponse({"session": s.id, "n_trials": s.n_trials, "trial": s.trial, "done": s.done})

    async def abx_history(request: Request):
        return JSONResponse({"db": str(app.abx_db.path), "sessions": await run_in_threadpool(app.abx_db.sessions)})

    async def abx_export(request: Request):
        text = await run_in_threadpool(app.abx_db.export_csv)
        return PlainTextResponse(text, media_type="text/csv",
                                 headers={"Content-Disposition": 'attachment; filename="semeq_abx.csv"'})

    return [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/vocabulary", vocabulary),
        Route("/api/uploads", create_upload, methods=["POST"]),
        Route("/api/uploads/{upload}", delete_upload, methods=["DELETE"]),
        Route("/api/uploads/{upload}/original.wav", original),
        Route("/api/uploads/{upload}/design", design, methods=["POST"]),
        Route("/api/uploads/{upload}/preview", preview, methods=["POST"]),
        Route("/api/uploads/{upload}/render", render, methods=["POST"]),
        Route("/api/jobs/{job}", job_status),
        Route("/api/jobs/{job}/download", job_download),
        Route("/api/jobs/{job}/listen.wav", job_listen),
        Route("/api/jobs/{job}/settings.json", job_settings),
        Route("/api/analyze", api_analyze, methods=["POST"]),
        Route("/api/apply", api_apply, methods=["POST"]),
        Route("/api/abx/sessions", abx_create, methods=["POST"]),
        Route("/api/abx/history", abx_history),
        Route("/api/abx/export.csv", abx_export),
        Route("/api/abx/sessions/{session}", abx_status),
        Route("/api/abx/sessions/{session}/answer", abx_answer, methods=["POST"]),
        Route("/api/abx/sessions/{session}/trials/{trial:int}/X.wav", abx_x),
        Route("/api/abx/sessions/{session}/{which}.wav", abx_audio),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]


# -- errors --------------------------------------------------------------------------------------
async def _api_error(request: Request, exc: ApiError):
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _semeq_error(request: Request, exc: SemeqError):
    status = 400 if not isinstance(exc, UnknownWordError) else 422
    return JSONResponse({"error": str(exc)}, status_code=status)


async def _http_error(request: Request, exc: HTTPException):
    text = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
    return JSONResponse({"error": text}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _internal_error(request: Request, exc: Exception):
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server's log"}, status_code=500)


class _HostCheck:
    """Refuse Host headers other than the allowed ones (a local server's guard against DNS rebinding)."""

    def __init__(self, app, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed = {h.lower() for h in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in self.allowed:
                return await JSONResponse({"error": "invalid Host header"}, status_code=400)(scope, receive, send)
        await self.app(scope, receive, send)


class _SecurityHeaders:
    """Content-Security-Policy 'self' only (the page cannot reach any other host) and nosniff."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", _CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer")]
                message = message | {"headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(*, engine: Engine | None = None, db_path: str | Path | None = None,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, max_duration_s: float = DEFAULT_MAX_DURATION_S,
               idle_s: float = 1800.0, sweep_interval_s: float = 60.0, allowed_hosts: list[str] | None = None) -> Starlette:
    """Build the ASGI app.

    Parameters
    ----------
    engine : Engine, optional
        Shared engine (one loaded SemanticEQ); a new one by default.
    db_path : path, optional
        ABX database; default ``<user data dir>/semeq/abx.sqlite3``.
    max_upload_bytes, max_duration_s : limits on an upload, checked before it is read whole.
    idle_s : uploads unused this long are deleted (checked every ``sweep_interval_s``).
    allowed_hosts : Host headers accepted (guards a local server against DNS rebinding); None = any.
    """
    state = App(engine=engine, db_path=db_path, max_upload_bytes=max_upload_bytes, max_duration_s=max_duration_s,
                idle_s=idle_s)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        async def sweeper():
            while True:
                await asyncio.sleep(sweep_interval_s)
                state.store.sweep()
                for sid, s in list(state.abx.items()):
                    if s.last_used + state.store.idle_s < time.monotonic():
                        state.abx.pop(sid, None)

        task = asyncio.create_task(sweeper())
        try:
            yield
        finally:
            task.cancel()
            state.renders.shutdown(wait=False, cancel_futures=True)
            state.background.shutdown(wait=False, cancel_futures=True)
            state.store.close()

    middleware = [Middleware(_SecurityHeaders)]
    if allowed_hosts is not None:
        middleware.insert(0, Middleware(_HostCheck, allowed_hosts=allowed_hosts))
    app = Starlette(routes=_routes(state), middleware=middleware, lifespan=lifespan,
                    exception_handlers={ApiError: _api_error, SemeqError: _semeq_error, HTTPException: _http_error,
                                        Exception: _internal_error})
    app.state.semeq = state
    return app
