"""``semeq web``: a local web app to hear the adaptive EQ, compare it blind (ABX) and script it.

Needs the ``web`` extra (``pip install "semeq[web]"``: Starlette, uvicorn, python-multipart).
The engine is reached only through :mod:`semeq.web.engine`.
"""

from __future__ import annotations

__all__ = ["create_app"]


def create_app(**kwargs):
    """Build the ASGI app (see :func:`semeq.web.app.create_app`)."""
    try:
        from .app import create_app as _create_app
    except ImportError as exc:  # starlette / multipart missing
        raise ImportError(f"the web app needs the 'web' extra: pip install \"semeq[web]\" ({exc})") from None
    return _create_app(**kwargs)
