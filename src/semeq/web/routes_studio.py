"""The studio page's routes: the page, what the engine offers, uploads, designs, previews, renders."""

from __future__ import annotations

import asyncio
import json
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import __version__
from .abx import DEFAULT_TRIALS
from .engine import float32_wav_chunks, wav_bytes
from .http import ApiError, json_body, settings_fields
from .state import MAX_REGION_S, App
from .store import Upload

__all__ = ["routes", "build_request", "header_json", "in_pool"]


def header_json(d: dict) -> str:
    """JSON for a response header: ASCII only (a phrase such as "más cálido" is escaped)."""
    return json.dumps(d, separators=(",", ":"), ensure_ascii=True)


async def in_pool(pool, fn, *args):
    return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)


async def build_request(app: App, fields: dict):
    """The ONE EQRequest of a settings change (the phrase understood, the combination checked)."""
    kwargs = settings_fields(fields)
    return await run_in_threadpool(lambda: app.engine.request(**kwargs))


def routes(app: App, static_dir) -> list[Route]:
    async def index(request: Request):
        return FileResponse(static_dir / "index.html", media_type="text/html")

    async def info(request: Request):
        caps = await run_in_threadpool(app.engine.capabilities)
        return JSONResponse({"semeq": __version__, "max_upload_bytes": app.max_upload_bytes,
                             "max_duration_s": app.max_duration_s, "max_region_s": MAX_REGION_S,
                             "abx_default_trials": DEFAULT_TRIALS, "ready": app.engine.ready()} | caps)

    async def vocabulary(request: Request):
        return JSONResponse({"words": await run_in_threadpool(app.engine.vocabulary)})

    async def understand(request: Request):
        """GET /api/understand?text=...: how the phrase is understood (422 with suggestions when it is not)."""
        text = request.query_params.get("text", "")
        if len(text) > 200:
            raise ApiError(400, "'text' must be a word or a phrase of at most 200 characters")
        interp = await run_in_threadpool(app.engine.understand, text)
        return JSONResponse({"understood": interp.to_dict(), "description": interp.describe()})

    async def create_upload(request: Request):
        path, name, sha, _ = await app.receive_upload(request)
        try:
            with app.api_slots.hold():
                path, info = await run_in_threadpool(app.accept, path)
                analysis = await run_in_threadpool(app.analyze, path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        upload = Upload(id=path.stem, path=path, name=name, sha256=sha, analysis=analysis)
        app.store.add(upload)
        return JSONResponse({"upload": upload.id, "name": name, "sample_rate": info.sample_rate,
                             "channels": info.channels, "duration_s": round(analysis.duration_s, 4),
                             "format": info.format, "subtype": info.subtype, "analysis": analysis.to_dict()},
                            status_code=201)

    async def delete_upload(request: Request):
        if not app.store.remove(request.path_params["upload"]):
            raise ApiError(404, "no such upload")
        return JSONResponse({"deleted": True})

    async def original(request: Request):
        upload = app.upload(request.path_params["upload"])
        return StreamingResponse(float32_wav_chunks(upload.path), media_type="audio/wav")

    async def design(request: Request):
        upload = app.upload(request.path_params["upload"])
        eq_request = await build_request(app, await json_body(request))
        d = await in_pool(app.interactive, lambda: app.design(upload, eq_request))
        return JSONResponse(d.to_dict())

    async def preview(request: Request):
        t0 = time.perf_counter()
        upload = app.upload(request.path_params["upload"])
        body = await json_body(request)
        eq_request = await build_request(app, body)
        a, b = app.region(upload, body)
        fmt = body.get("format", "wav")
        if fmt not in ("wav", "f32"):
            raise ApiError(400, f"format must be 'wav' or 'f32', got {str(fmt)[:20]!r}")
        app.cancel_renders(upload, keep=eq_request)
        sample_rate = upload.analysis.sample_rate

        def work():
            d = app.design(upload, eq_request, preview=True)
            region, stats_in = app.region_audio(upload, a, b)
            out, gain_db, shortfall = app.engine.preview(region, sample_rate, d, stats_in)
            # f32: planar little-endian float32, (channels, samples) in C order -- straight into an
            # AudioBuffer, without a WAV to decode in the page.
            data = out.astype("<f4").tobytes() if fmt == "f32" else wav_bytes(out, sample_rate)
            return d, data, gain_db, shortfall

        d, data, gain_db, shortfall = await in_pool(app.interactive, work)
        ms = 1000.0 * (time.perf_counter() - t0)
        return Response(data, media_type="audio/wav" if fmt == "wav" else "application/octet-stream", headers={
            "X-Semeq-Design": header_json(d.to_dict() | {"output_gain_db": round(gain_db, 3)}),
            "X-Semeq-Original-Gain-Db": f"{shortfall:.4f}", "X-Semeq-Render-Ms": f"{ms:.1f}",
            "X-Semeq-Channels": str(upload.analysis.channels), "X-Semeq-Sample-Rate": str(sample_rate)})

    async def render(request: Request):
        upload = app.upload(request.path_params["upload"])
        eq_request = await build_request(app, await json_body(request))
        job = app.start_render(upload, eq_request)
        return JSONResponse(job.to_dict(), status_code=202)

    return [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/vocabulary", vocabulary),
        Route("/api/understand", understand),
        Route("/api/uploads", create_upload, methods=["POST"]),
        Route("/api/uploads/{upload}", delete_upload, methods=["DELETE"]),
        Route("/api/uploads/{upload}/original.wav", original),
        Route("/api/uploads/{upload}/design", design, methods=["POST"]),
        Route("/api/uploads/{upload}/preview", preview, methods=["POST"]),
        Route("/api/uploads/{upload}/render", render, methods=["POST"]),
    ]
