"""ABX routes: start a test on a loop, fetch A, B and each trial's X, answer, and the history.

Nothing a route answers before the last trial says what X was or how many answers were right
(see :mod:`semeq.web.abx` for what the blinding does and does not guarantee).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..errors import SemeqError
from .abx import DEFAULT_TRIALS, MAX_TRIALS, AbxSession, binomial_p_value, presentation_wav
from .http import ApiError, json_body
from .routes_studio import build_request, in_pool
from .state import MAX_ABX_SESSIONS, App
from .store import new_id

__all__ = ["routes"]

_NO_STORE = {"Cache-Control": "no-store"}


def routes(app: App) -> list[Route]:
    async def abx_create(request: Request):
        body = await json_body(request)
        upload = app.upload(body.get("upload") if isinstance(body.get("upload"), str) else "")
        eq_request = await build_request(app, body)
        n = body.get("n_trials", DEFAULT_TRIALS)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_TRIALS:
            raise ApiError(400, f"n_trials must be an integer in [1, {MAX_TRIALS}], got {str(n)[:20]}")
        a, b = app.region(upload, body)
        sample_rate = upload.analysis.sample_rate

        def work():
            d = app.design(upload, eq_request)  # the full design: what the download applies
            if d.is_bypass:
                raise ApiError(400, "this setting is an exact bypass (intensity 0, or nothing to do): "
                                    "A and B would be the same")
            region, stats_in = app.region_audio(upload, a, b)
            out, _, shortfall = app.engine.preview(region, sample_rate, d, stats_in, true_peak=True)
            return d, region * 10.0 ** (shortfall / 20.0), out  # A lowered as far as B fell short: equal loudness

        d, a_audio, b_audio = await in_pool(app.interactive, work)
        recorded = d.settings() | {"intensity_applied": round(d.intensity, 4), "bands": d.to_dict()["bands"]}
        session = AbxSession(id=new_id(), upload_id=upload.id, n_trials=n, a_audio=a_audio, b_audio=b_audio,
                             sample_rate=sample_rate, settings=recorded)
        await run_in_threadpool(app.abx_db.create_session, session_id=session.id, file_name=upload.name,
                                file_sha256=upload.sha256, settings=recorded, region_start_s=a / sample_rate,
                                region_end_s=b / sample_rate, n_trials=n)
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
        return Response(await run_in_threadpool(presentation_wav, audio, s.sample_rate), media_type="audio/wav",
                        headers=_NO_STORE)

    async def abx_x(request: Request):
        s = app.abx_session(request.path_params["session"])
        try:
            x = s.x_for(request.path_params["trial"])
        except SemeqError as exc:
            raise ApiError(409, str(exc)) from None
        audio = s.a_audio if x == "A" else s.b_audio
        return Response(await run_in_threadpool(presentation_wav, audio, s.sample_rate), media_type="audio/wav",
                        headers=_NO_STORE)

    async def abx_answer(request: Request):
        s = app.abx_session(request.path_params["session"])
        body = await json_body(request)
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
            d["result"] = {"correct": s.correct, "total": s.n_trials, "p_value": binomial_p_value(s.correct, s.n_trials)}
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
        Route("/api/abx/sessions", abx_create, methods=["POST"]),
        Route("/api/abx/history", abx_history),
        Route("/api/abx/export.csv", abx_export),
        Route("/api/abx/sessions/{session}", abx_status),
        Route("/api/abx/sessions/{session}/answer", abx_answer, methods=["POST"]),
        Route("/api/abx/sessions/{session}/trials/{trial:int}/X.wav", abx_x),
        Route("/api/abx/sessions/{session}/{which}.wav", abx_audio),
    ]
