"""The web app: the studio page, A/B previews, background renders, ABX tests and a scripting API.

Starlette (ASGI) serves plain HTML/JS/CSS from ``semeq/web/static`` and a JSON API; the engine is
reached only through :mod:`semeq.web.engine`. The routes live by resource: the studio
(:mod:`.routes_studio`), renders (:mod:`.routes_jobs`), the scripting API (:mod:`.routes_api`)
and ABX (:mod:`.routes_abx`); the shared state in :mod:`.state`, the guards against other sites
and hosts in :mod:`.guard`. Every error a client can cause is a 4xx (or a 503 when busy) with a
JSON body ``{"error": "..."}`` (an unknown word adds ``"suggestions"``); anything else is a 500
with a one-line JSON body (the traceback goes to the server's log, never to the client).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ..errors import SemeqError, UnknownWordError
from . import routes_abx, routes_api, routes_jobs, routes_studio
from .engine import Engine, suggestions_of
from .guard import HostCheck, OriginCheck, SecurityHeaders
from .http import ApiError
from .state import App

__all__ = ["create_app", "ApiError", "DEFAULT_MAX_UPLOAD_BYTES", "DEFAULT_MAX_DURATION_S", "DEFAULT_MAX_TEMP_BYTES"]

log = logging.getLogger("semeq.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_MAX_UPLOAD_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_DURATION_S = 20 * 60.0
DEFAULT_MAX_TEMP_BYTES = 2 * 1024 * 1024 * 1024


# -- errors --------------------------------------------------------------------------------------
async def _api_error(request: Request, exc: ApiError):
    return JSONResponse({"error": exc.message} | exc.extra, status_code=exc.status, headers=exc.headers)


async def _semeq_error(request: Request, exc: SemeqError):
    if isinstance(exc, UnknownWordError):
        text = str(exc).replace("; see 'semeq terms' for the vocabulary", " (no known word is close)")
        return JSONResponse({"error": text, "suggestions": suggestions_of(exc)}, status_code=422)
    return JSONResponse({"error": str(exc)}, status_code=400)


async def _http_error(request: Request, exc: HTTPException):
    text = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
    return JSONResponse({"error": text}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _internal_error(request: Request, exc: Exception):
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server's log"}, status_code=500)


def create_app(*, engine: Engine | None = None, db_path: str | Path | None = None,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, max_duration_s: float = DEFAULT_MAX_DURATION_S,
               max_temp_bytes: int = DEFAULT_MAX_TEMP_BYTES, max_api_calls: int = 2, max_queued_renders: int = 4,
               idle_s: float = 1800.0, sweep_interval_s: float = 60.0, allowed_hosts: list[str] | None = None) -> Starlette:
    """Build the ASGI app.

    Parameters
    ----------
    engine : Engine, optional
        Shared engine (one loaded SemanticEQ); a new one by default.
    db_path : path, optional
        ABX database; default ``<user data dir>/semeq/abx.sqlite3``.
    max_upload_bytes, max_duration_s : limits on an upload, checked before it is read whole.
    max_temp_bytes : the private temporary folder's total size (older uploads make room, else 507).
    max_api_calls : uploads and scripting-API calls processed at once (one more: 503, Retry-After).
    max_queued_renders : full renders queued or running over the server (one more: 503, Retry-After).
    idle_s : uploads unused this long are deleted (checked every ``sweep_interval_s``).
    allowed_hosts : Host headers accepted (guards a local server against DNS rebinding); None = any.
    """
    state = App(engine=engine, db_path=db_path, max_upload_bytes=max_upload_bytes, max_duration_s=max_duration_s,
                idle_s=idle_s, max_temp_bytes=max_temp_bytes, max_api_calls=max_api_calls,
                max_queued_renders=max_queued_renders)

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
            state.close()

    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts is not None:
        middleware.append(Middleware(HostCheck, allowed_hosts=allowed_hosts))
    middleware.append(Middleware(OriginCheck))
    routes = (routes_studio.routes(state, STATIC_DIR) + routes_jobs.routes(state) + routes_api.routes(state)
              + routes_abx.routes(state) + [Mount("/static", StaticFiles(directory=STATIC_DIR), name="static")])
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={ApiError: _api_error, SemeqError: _semeq_error, HTTPException: _http_error,
                                        Exception: _internal_error})
    app.state.semeq = state
    return app
