"""Request parsing shared by the routes: JSON bodies, settings fields, numbers, busy slots.

Every error a client can cause is an :class:`ApiError` (a 4xx or a 503 with a one-line JSON body).
"""

from __future__ import annotations

import json
import math
import threading
from contextlib import contextmanager
from typing import Iterator

from starlette.requests import Request

__all__ = ["ApiError", "Slots", "json_body", "number", "phrase", "settings_fields", "MAX_PHRASE_CHARS", "MAX_JSON_BYTES"]

MAX_PHRASE_CHARS = 200
MAX_JSON_BYTES = 64 * 1024


class ApiError(Exception):
    """An error the client caused (or a busy server): ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str, *, headers: dict | None = None, extra: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.extra = extra or {}


class Slots:
    """At most ``n`` concurrent calls of one kind; one more is refused at once (503, Retry-After).

    A refusal rather than a queue: a script is told to come back, and no request can pile up
    memory on the server while it waits.
    """

    def __init__(self, n: int, what: str, retry_after_s: int = 5) -> None:
        self.n = int(n)
        self.what = what
        self.retry_after_s = int(retry_after_s)
        self._sem = threading.BoundedSemaphore(self.n)

    @contextmanager
    def hold(self) -> Iterator[None]:
        if not self._sem.acquire(blocking=False):
            raise ApiError(503, f"the server is busy with {self.n} {self.what} already: try again in a few seconds",
                           headers={"Retry-After": str(self.retry_after_s)})
        try:
            yield
        finally:
            self._sem.release()


async def json_body(request: Request) -> dict:
    """The body as a JSON object; 415 unless the Content-Type is application/json."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise ApiError(415, "send the request body as JSON with 'Content-Type: application/json'")
    if len(await request.body()) > MAX_JSON_BYTES:
        raise ApiError(413, "request body too large")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise ApiError(400, "the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def number(d: dict, name: str, default: float | None, lo: float, hi: float) -> float | None:
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


def phrase(d: dict, name: str, required: bool) -> str | None:
    """A word or a phrase ("warm", "a bit darker"), stripped; None when absent and not required."""
    value = d.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ApiError(400, f"'{name}' is required (a word or a phrase such as warm, bright, claro)")
        return None
    if not isinstance(value, str) or len(value) > MAX_PHRASE_CHARS:
        raise ApiError(400, f"'{name}' must be a word or a phrase of at most {MAX_PHRASE_CHARS} characters")
    return value.strip()


def settings_fields(d: dict) -> dict:
    """The keyword arguments of :meth:`semeq.web.engine.Engine.request` from a JSON object or form
    fields: types and ranges checked here, the combination by the library's EQRequest."""
    if not isinstance(d, dict):
        raise ApiError(400, "settings must be a JSON object")
    target = phrase(d, "target", True)
    blend = phrase(d, "blend", False)
    raw = d.get("intensity")
    auto = d.get("auto_intensity") in (True, "true", "1", 1) or (isinstance(raw, str) and raw.strip().lower() == "auto")
    # No intensity: the phrase's amount words ("a bit warmer": 0.3), else the library's default
    # 0.5 -- what `semeq apply` does without --intensity.
    intensity = "auto" if auto else number(d, "intensity", None, 0.0, 1.0)
    mode = d.get("mode") or "toward"
    if not isinstance(mode, str) or len(mode) > 20:
        raise ApiError(400, "mode must be a string")
    alpha = number(d, "alpha", None, 0.0, 1.0)
    dynamic = d.get("dynamic", False)
    if dynamic in (True, 1, "1", "true", "on"):
        dynamic = True
    elif dynamic in (False, 0, None, "", "0", "false", "off"):
        dynamic = False
    else:
        raise ApiError(400, f"dynamic must be true or false (1 or 0), got {str(dynamic)[:40]!r}")
    return {"target": target, "intensity": intensity, "mode": mode, "blend": blend, "alpha": alpha,
            "dynamic": dynamic}
