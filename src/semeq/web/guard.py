"""What keeps other websites and other hosts out: three small ASGI middlewares.

- :class:`HostCheck`: Host headers other than the allowed ones are refused (a local server's
  guard against DNS rebinding).
- :class:`OriginCheck`: a state-changing request (any method but GET, HEAD, OPTIONS) is refused
  when the browser says it comes from another site: an ``Origin`` header other than the server's
  own origin (``null`` included), else a ``Referer`` from another origin, or ``Sec-Fetch-Site``
  other than ``same-origin`` / ``none``. A request without any of them is not from a browser
  page (``curl``, a script): the scripting API stays open to it.
- :class:`SecurityHeaders`: a Content-Security-Policy of 'self' only (the page cannot reach or
  load anything from another host, and inline styles and scripts are refused), nosniff, and no
  Referer sent anywhere.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

__all__ = ["HostCheck", "OriginCheck", "SecurityHeaders", "CSP"]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class HostCheck:
    """Refuse Host headers other than the allowed ones."""

    def __init__(self, app, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed = {h.lower() for h in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host", "").lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in self.allowed:
                return await JSONResponse({"error": "invalid Host header"}, status_code=400)(scope, receive, send)
        await self.app(scope, receive, send)


def _origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site_reason(scope) -> str | None:
    """Why a request is from another site (None when it is from this server's page or not from a page)."""
    if scope["type"] != "http" or scope["method"] in _SAFE_METHODS:
        return None
    headers = Headers(scope=scope)
    own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
    site = headers.get("sec-fetch-site")
    if site is not None and site.lower() not in ("same-origin", "none"):
        return f"Sec-Fetch-Site: {site}"
    origin = headers.get("origin")
    if origin is not None:
        return None if origin.strip().lower() == own else f"Origin {origin[:80]}"
    referer = headers.get("referer")
    if referer is not None and _origin_of(referer) != own:
        return f"Referer from {(_origin_of(referer) or 'an unreadable address')[:80]}"
    return None


class OriginCheck:
    """Refuse state-changing requests that a browser says come from another site (403)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        reason = cross_site_reason(scope)
        if reason is not None:
            body = {"error": f"cross-site request refused ({reason}): this server takes uploads, renders and tests "
                             "only from its own page, or from scripts that send no Origin"}
            return await JSONResponse(body, status_code=403)(scope, receive, send)
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Content-Security-Policy 'self' only, nosniff, no Referer."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"), (b"cross-origin-resource-policy", b"same-origin")]
                message = message | {"headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
