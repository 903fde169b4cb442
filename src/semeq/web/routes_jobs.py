"""Routes of a full render: its progress, the file, a float32 WAV of it for the page, its settings,
and its setting as a preset for each EQ plugin format of :mod:`semeq.export`."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import ParameterError
from ..export import get_format
from .engine import float32_wav_chunks, preset_media_type
from .http import ApiError
from .state import App
from .store import Job

__all__ = ["routes", "Releasing"]


class Releasing:
    """A response that lets go of its hold on a file however it ends (sent, or the client gone:
    a background task would not run then, and the file would outlive its replacement)."""

    def __init__(self, response, release) -> None:
        self.response = response
        self.release = release

    async def __call__(self, scope, receive, send):
        try:
            await self.response(scope, receive, send)
        finally:
            self.release()


def routes(app: App) -> list[Route]:
    def held(job: Job):
        """The finished render's file, held against deletion until the response has been sent."""
        if job.state == "replaced":
            raise ApiError(410, "this render was replaced by a newer one (one render is kept per upload)")
        if job.state != "done":
            raise ApiError(409, f"the render is {job.state}" + (f": {job.error}" if job.error else ""))
        path = app.store.open_download(job)
        if path is None:
            raise ApiError(410, "this render is gone (replaced, or its upload expired)")
        return path, lambda: app.store.close_download(job)

    async def job_status(request: Request):
        job = app.job(request.path_params["job"])
        d = job.to_dict()
        if job.state == "done":
            d["original_gain_db"] = round(job.shortfall_db, 4)
            d["download_name"] = job.download_name
            d["presets"] = [{"format": name, "filename": got[0], "url": f"/api/jobs/{job.id}/preset/{name}"}
                            if isinstance(got, tuple) else {"format": name, "error": str(got)}
                            for name, got in (job.presets or {}).items()]
        return JSONResponse(d)

    async def job_download(request: Request):
        job = app.job(request.path_params["job"])
        path, release = held(job)
        return Releasing(FileResponse(path, media_type=job.media_type, filename=job.download_name), release)

    async def job_listen(request: Request):
        job = app.job(request.path_params["job"])
        upload = app.upload(job.upload_id)
        path, release = held(job)
        # The rendered file itself, decoded block by block (the very samples of the download).
        return Releasing(StreamingResponse(float32_wav_chunks(path, frames=upload.analysis.info.frames),
                                            media_type="audio/wav"), release)

    async def job_settings(request: Request):
        job = app.job(request.path_params["job"])
        if job.state != "done":
            held(job)  # the same error as the audio's
        name = job.download_name.rsplit(".", 1)[0] + "_settings.json"
        return Response(json.dumps(job.result, indent=2), media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def job_preset(request: Request):
        """The render's setting as a preset (``semeq export`` of its settings download); 400 with the
        reason when the format's plugin cannot hold it."""
        job = app.job(request.path_params["job"])
        fmt = get_format(request.path_params["format"])  # an unknown format: 400 naming the known ones
        if job.state != "done":
            held(job)  # the same error as the audio's
        got = (job.presets or {}).get(fmt.name)
        if got is None:
            raise ApiError(410, "this render's presets are gone")
        if not isinstance(got, tuple):
            raise ParameterError(str(got))
        filename, data = got
        return Response(data, media_type=preset_media_type(filename),
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    return [
        Route("/api/jobs/{job}", job_status),
        Route("/api/jobs/{job}/download", job_download),
        Route("/api/jobs/{job}/listen.wav", job_listen),
        Route("/api/jobs/{job}/settings.json", job_settings),
        Route("/api/jobs/{job}/preset/{format}", job_preset),
    ]
