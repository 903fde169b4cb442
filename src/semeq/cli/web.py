"""``semeq web``: the local studio, A/B and ABX page, and the scripting API."""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
import threading

from ..errors import ParameterError, SemeqError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("web", help="open the listening studio (A/B, ABX) in the browser",
                       description="Start a local web server with the studio page (A/B with loudness match, "
                                   "ABX tests, presets for EQ plugins) and the scripting API (POST /api/analyze, /api/apply, /api/export).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open the page in the default browser")
    p.add_argument("--db", metavar="PATH", help="ABX database (default: <user data dir>/semeq/abx.sqlite3)")
    p.add_argument("--max-upload-mb", type=float, default=200.0, metavar="MB", help="largest upload (default 200 MB)")
    p.add_argument("--max-duration-s", type=float, default=1200.0, metavar="S", help="longest recording (default 1200 s)")
    p.add_argument("--max-temp-mb", type=float, default=2048.0, metavar="MB",
                   help="largest total size of the server's temporary folder of uploads and renders (default 2048 MB)")
    p.add_argument("--models", metavar="DIR", help="folder with trained models (default: shipped)")
    p.set_defaults(func=run)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, so a busy port is one clear line, not a uvicorn trace."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on accepted
    # sockets whose proto says TCP; with 0 every keep-alive request waited ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise SemeqError(f"port {port} on {host} is in use: choose another with --port") from None
        raise SemeqError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ParameterError(f"--port must be in [0, 65535], got {args.port}")
    if args.max_upload_mb <= 0 or args.max_duration_s <= 0 or args.max_temp_mb <= 0:
        raise ParameterError("--max-upload-mb, --max-duration-s and --max-temp-mb must be positive")
    try:
        import uvicorn

        from ..web.app import create_app
        from ..web.engine import Engine
    except ImportError as exc:
        raise SemeqError(f"'semeq web' needs the web extra: pip install \"semeq[web]\" ({exc.name} is missing)") from None
    from ..web.abx import AbxStore

    if not _is_loopback(args.host):
        print(f"semeq web: warning: listening on {args.host}: anyone who can reach this machine on port {args.port} "
              "can use the studio and upload files. Use --host 127.0.0.1 to keep it to this computer.", file=sys.stderr)
    AbxStore(args.db)  # a bad database path is an error now, not at the first test
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{shown if ':' not in shown else '[' + shown + ']'}:{port}/"
    hosts = None if not _is_loopback(args.host) else ["127.0.0.1", "localhost", "[::1]", "::1"]
    engine = Engine(args.models)
    app = create_app(engine=engine, db_path=args.db, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
                     max_duration_s=args.max_duration_s, max_temp_bytes=int(args.max_temp_mb * 1024 * 1024),
                     allowed_hosts=hosts)
    # Load the models and the unseen-word map while the page opens (GET /api/info says when: "ready").
    threading.Thread(target=engine.warm_up, name="semeq-warm-up", daemon=True).start()
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    print(f"semeq web: serving on {url}  (Ctrl+C to stop)", flush=True)
    if not args.no_browser and sys.stdout.isatty():
        import webbrowser

        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    server.run(sockets=[sock])
    return 0
