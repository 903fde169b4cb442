"""How fast does `semeq web` answer GET /api/understand (the line under the word box, as you type)?

Run: python benchmarks/bench_web_understand.py [--repeats 50]

Starts `semeq web --no-browser` as a subprocess and asks it, over a real socket (one keep-alive
HTTP connection, as the page's fetch uses), to understand each of a set of texts: known words,
phrases (understood, or answered with 422 and suggestions, depending on what the vocabulary
understands today), and typos. Each text is asked once cold (the engine's cache of
understood phrases is empty for it) and then ``--repeats`` times. Prints the median, 95th
percentile and worst answer time, and, as the baseline in the same run, GET /api/info (a
route that does no work) on the same connection: what HTTP itself costs here. The target
is 50 ms per answer.

Unseen words ("silky", "smoky", "glassy": placed by the text embedding; "velvety": refused by it)
need the embedding table and the map fitted on the model. `semeq web` loads them in a background
thread at start; the benchmark waits until GET /api/info says ``ready.unseen_words`` (and prints
how long that took), then asks each unseen word once cold. For comparison, the same run times in
a fresh process, through the library, what the first unseen word cost without the warm-up (the
map fitted on demand) and a second unseen word after it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["warm", "bright", "claro", "a bit warmer", "less boomy", "much more air and less mud", "warm and punchy",
         "más cálido", "brigth", "qwzx", "the vocals a touch brighter"]
UNSEEN = ["silky", "smoky", "glassy", "velvety", "a bit more glassy"]
_COLD_LIBRARY = """
import json, time
from semeq.adaptive import SemanticEQ
from semeq.errors import UnknownWordError
seq = SemanticEQ(); seq.understand("warm")
out = []
for word in ("silky", "smoky"):
    t0 = time.perf_counter()
    seq.understand(word)
    out.append(time.perf_counter() - t0)
print(json.dumps(out))
"""


def _time(conn: http.client.HTTPConnection, path: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    r.read()
    return time.perf_counter() - t0, r.status


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="semeq-bench-") as tmp:
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
        server = subprocess.Popen([sys.executable, "-m", "semeq.cli", "web", "--no-browser", "--port", str(port),
                                   "--db", str(Path(tmp) / "abx.sqlite3")], env=env, stdout=subprocess.PIPE, text=True)
        try:
            server.stdout.readline()
            t_start = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.connect()
            # As browsers do: without TCP_NODELAY, Nagle's algorithm and delayed ACKs add ~40 ms a request.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:  # the background warm-up: the models, then the unseen-word map
                conn.request("GET", "/api/info")
                ready = json.loads(conn.getresponse().read())["ready"]
                if ready["unseen_words"] or time.perf_counter() - t_start > 120:
                    break
                time.sleep(0.02)
            t_ready = time.perf_counter() - t_start
            _time(conn, "/api/vocabulary")  # the models are loaded
            cold, warm, base, statuses = [], [], [], {}
            unseen_cold = []
            for text in UNSEEN:
                dt, status = _time(conn, "/api/understand?text=" + quote(text))
                unseen_cold.append(dt)
                statuses[text] = status
            for text in TEXTS:
                path = "/api/understand?text=" + quote(text)
                dt, status = _time(conn, path)
                cold.append(dt)
                statuses[text] = status
                for _ in range(args.repeats):
                    warm.append(_time(conn, path)[0])
                    base.append(_time(conn, "/api/info")[0])
        finally:
            server.terminate()
            server.wait(15)

    def line(name: str, xs: list[float]) -> str:
        xs = sorted(xs)
        p95 = xs[min(len(xs) - 1, int(0.95 * len(xs)))]
        return (f"  {name:<34} median {1000 * statistics.median(xs):6.2f} ms   p95 {1000 * p95:6.2f} ms   "
                f"worst {1000 * xs[-1]:6.2f} ms   (n={len(xs)})")

    lib = subprocess.run([sys.executable, "-c", _COLD_LIBRARY], env=env, capture_output=True, text=True, check=True)
    first_unseen, second_unseen = json.loads(lib.stdout)

    print(f"GET /api/understand over a socket, {len(TEXTS)} texts; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  warm-up at start: ready {ready} {t_ready:.2f} s after 'serving on'")
    print(line(f"unseen words, first time, after warm-up ({len(UNSEEN)})", unseen_cold))
    print("    " + ", ".join(f"{t!r} {1000 * dt:.1f} ms" for t, dt in zip(UNSEEN, unseen_cold)))
    print(f"  without the warm-up (fresh process, library): first unseen word {1000 * first_unseen:.1f} ms "
          f"(embedding read, map fitted), the next {1000 * second_unseen:.1f} ms")
    print("  answers: " + ", ".join(f"{t!r} {s}" for t, s in statuses.items()))
    print(line("understand, first time (cold)", cold))
    print(line(f"understand, repeated x{args.repeats}", warm))
    print(line("baseline GET /api/info", base))
    print(f"  ratio understand / info (median)   {statistics.median(warm) / statistics.median(base):.2f}")
    print(f"  target 50 ms: worst cold {1000 * max(cold + unseen_cold):.1f} ms, p95 repeated "
          f"{1000 * sorted(warm)[int(0.95 * len(warm))]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
