"""The scripting API: POST /api/analyze, POST /api/apply (one file in, JSON or the file out) and
POST /api/export/{format} (settings in, a preset out).

The first two keep nothing: the received file and the output are deleted once the response is
sent. Each call holds one of the server's API slots (503 with Retry-After when all are busy).
``/api/apply`` is ``semeq apply`` on the file (:func:`semeq.pipeline.apply_file`, constant
memory); ``target`` is a word or a phrase, and the ``X-Semeq-Settings`` header says how it was
understood and what was applied. With the form field ``export=FORMAT`` it answers the applied
setting as that format's preset instead of the audio (``semeq apply --export``).
``/api/export/{format}`` turns settings saved earlier (an ``X-Semeq-Settings`` header, a settings
download, ``semeq apply --json``) into a preset without touching audio (``semeq export``).
"""

from __future__ import annotations

from pathlib import Path

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ..export import get_format
from .engine import applied_eq, format_suffix, media_type, preset, preset_media_type
from .http import json_body
from .routes_studio import build_request, header_json
from .state import App
from .store import safe_display_name

__all__ = ["routes", "applied_header"]


def _delete(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def applied_header(request, result) -> dict:
    """What ``X-Semeq-Settings`` carries: the request (its phrase as understood) and what was applied."""
    eq = result.eq
    d = {"settings": {"target": request.target.text, "label": request.label, "intensity": request.intensity,
                      "auto_intensity": request.auto, "mode": request.mode,
                      "blend": None if request.blend is None else request.blend.text, "alpha": request.alpha,
                      "dynamic": request.dynamic},
         "request": request.to_dict(), "understood": eq.to_dict().get("understood"),
         "intensity": round(eq.intensity, 4), "is_bypass": eq.is_bypass,
         "bands": None if eq.params is None else eq.params.to_dict(), "change_rms_db": round(eq.change_rms_db, 3),
         "output_gain_db": round(result.gain_db, 3), "sample_rate": result.sample_rate,
         "format": result.output_format, "subtype": result.output_subtype, "notes": list(result.notes),
         "eq": applied_eq(eq)}
    if result.suggestion is not None:
        d["auto_intensity"] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(result.suggestion).items()}
    return d


def routes(app: App) -> list[Route]:
    async def api_analyze(request: Request):
        path, name, _, _ = await app.receive_upload(request)
        try:
            with app.api_slots.hold():
                path, info = await run_in_threadpool(app.accept, path)
                analysis = await run_in_threadpool(app.analyze, path)
        finally:
            path.unlink(missing_ok=True)
        return JSONResponse({"name": name, "sample_rate": info.sample_rate, "channels": info.channels,
                             "duration_s": round(analysis.duration_s, 4), "format": info.format} | analysis.to_dict())

    async def api_apply(request: Request):
        path, name, _, fields = await app.receive_upload(request)
        out_path = None
        try:
            export = fields.get("export")
            fmt = None if export is None or not export.strip() else get_format(export.strip().lower()[:40])
            eq_request = await build_request(app, fields)
            with app.api_slots.hold():
                path, info = await run_in_threadpool(app.accept, path)
                app.make_room(int(1.25 * path.stat().st_size) + 65536)
                _, out_path = app.store.new_path(format_suffix(info.format))
                result = await run_in_threadpool(app.engine.apply_file, path, out_path, eq_request)
        except BaseException:
            _delete(path, *(() if out_path is None else (out_path,)))
            raise
        stem = f"{name}_{safe_display_name(eq_request.target.slug, 'eq')}_{eq_request.mode}" + ("_dynamic" if eq_request.dynamic else "")
        applied = applied_header(eq_request, result)
        headers = {"X-Semeq-Settings": header_json(applied)}
        if fmt is not None:  # the preset instead of the audio (rendered: the output gain is the render's)
            _delete(path, out_path)
            filename, data = await run_in_threadpool(preset, fmt.name, applied, f"{stem}_{fmt.name}")
            return Response(data, media_type=preset_media_type(filename),
                            headers=headers | {"Content-Disposition": f'attachment; filename="{filename}"'})
        return FileResponse(out_path, media_type=media_type(info.format), filename=stem + out_path.suffix,
                            headers=headers, background=BackgroundTask(_delete, path, out_path))

    async def api_export(request: Request):
        """Settings saved earlier (JSON body) -> the preset: ``semeq export``, over HTTP."""
        fmt = get_format(request.path_params["format"])
        settings = await json_body(request)
        filename, data = await run_in_threadpool(preset, fmt.name, settings, None)
        return Response(data, media_type=preset_media_type(filename),
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    return [
        Route("/api/analyze", api_analyze, methods=["POST"]),
        Route("/api/apply", api_apply, methods=["POST"]),
        Route("/api/export/{format}", api_export, methods=["POST"]),
    ]

