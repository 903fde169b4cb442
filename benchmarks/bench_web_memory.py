"""Memory and disk of `semeq web` in issue 21's scenarios: three renders of a 10-minute WAV, many
renders of a 20 s clip, and one 10-minute /api/apply.

Run: python benchmarks/bench_web_memory.py [--minutes 10] [--renders 27] [--baseline-src DIR]

Builds a stereo 44.1 kHz 16-bit WAV of ``--minutes`` minutes from the development clips (tiled) in
a temporary folder (deleted afterwards) and starts `semeq web --no-browser` as a subprocess (its
memory measured alone, from /proc/<pid>/status: VmRSS now, VmHWM the peak). Scenario 1: upload,
then three full renders one after the other (intensity 0.3, 0.5, 0.7), the server's resident
memory and its temporary folder's size after each. Scenario 2: ``--renders`` renders of a 20 s
clip. Scenario 3: a fresh server, one /api/apply of the long file, its peak memory.

``--baseline-src DIR`` runs the same scenarios, in the same run, on another source tree (for
example the code before this change: ``git archive <commit> src | tar -x -C /tmp/old``) and
prints the ratios.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _mb(n: float) -> str:
    return f"{n / 1048576:7.0f} MB"


class Server:
    """`semeq web` from a given source tree, on a free port, with its own TMPDIR."""

    def __init__(self, src: Path, tmp: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1", TMPDIR=str(tmp))
        self.proc = subprocess.Popen([sys.executable, "-m", "semeq.cli", "web", "--no-browser", "--port", str(self.port),
                                      "--db", str(tmp / "abx.sqlite3")], env=env, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "serving on" not in line:
            raise RuntimeError(f"semeq web did not start: {line}")
        self.get("/api/vocabulary")  # the models are loaded

    def status(self) -> dict:
        fields = {}
        for ln in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            k, _, v = ln.partition(":")
            if k in ("VmRSS", "VmHWM"):
                fields[k] = int(v.split()[0]) * 1024
        return fields

    def temp_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.tmp.rglob("*") if p.is_file() and p.parent != self.tmp)

    def _conn(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def get(self, path: str) -> tuple[int, bytes]:
        c = self._conn()
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()

    def post_json(self, path: str, body: dict) -> dict:
        c = self._conn()
        c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{path}: {r.status} {data[:200]!r}")
        return json.loads(data)

    def post_file(self, path: str, file: Path, fields: dict | None = None) -> tuple[int, dict, int]:
        """A multipart upload streamed from disk; returns (status, headers, bytes of the response)."""
        boundary = uuid.uuid4().hex
        head = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                        for k, v in (fields or {}).items())
        head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file.name}"\r\n\r\n'.encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        c = self._conn()
        c.putrequest("POST", path)
        c.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        c.putheader("Content-Length", str(len(head) + file.stat().st_size + len(tail)))
        c.endheaders()
        c.send(head)
        with open(file, "rb") as f:
            while chunk := f.read(1 << 20):
                c.send(chunk)
        c.send(tail)
        r = c.getresponse()
        n = 0
        while chunk := r.read(1 << 20):  # counted, not kept
            n += len(chunk)
        return r.status, dict(r.getheaders()), n

    def render(self, upload: str, intensity: float) -> None:
        job = self.post_json(f"/api/uploads/{upload}/render", {"target": "warm", "intensity": intensity})["job"]
        while True:
            time.sleep(0.2)
            st = json.loads(self.get(f"/api/jobs/{job}")[1])
            if st["state"] not in ("queued", "running"):
                if st["state"] != "done":
                    raise RuntimeError(f"render {st}")
                return

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def _make_wav(path: Path, seconds: float) -> None:
    import soundfile as sf

    from semeq.data.paths import data_dir

    clips = sorted((data_dir() / "music-dev").glob("d*.flac"))
    with sf.SoundFile(path, "w", 44100, 2, subtype="PCM_16") as out:
        left, k = int(seconds * 44100), 0
        while left > 0:
            a, sr = sf.read(clips[k % len(clips)], always_2d=True)
            if sr != 44100 or a.shape[1] != 2:
                k += 1
                continue
            out.write(a[:left])
            left -= min(left, len(a))
            k += 1


def run_scenarios(src: Path, tmp: Path, long_wav: Path, short_wav: Path, n_renders: int) -> dict:
    res = {}
    server = Server(src, tmp / "s1")
    try:
        res["idle_rss"] = server.status()["VmRSS"]
        upload = _upload_json(server, long_wav)["upload"]
        res["after_upload"] = (server.status()["VmRSS"], server.temp_bytes())
        for i, intensity in enumerate((0.3, 0.5, 0.7), start=1):
            server.render(upload, intensity)
            res[f"after_render_{i}"] = (server.status()["VmRSS"], server.temp_bytes())
        res["peak_rss_long"] = server.status()["VmHWM"]
    finally:
        server.stop()
    server = Server(src, tmp / "s2")
    try:
        upload = _upload_json(server, short_wav)["upload"]
        base = server.temp_bytes()
        for i in range(n_renders):
            server.render(upload, round(0.2 + 0.6 * i / max(1, n_renders - 1), 3))
        res["short_renders"] = (server.status()["VmRSS"], server.temp_bytes(), base)
    finally:
        server.stop()
    server = Server(src, tmp / "s3")
    try:
        before = server.status()["VmRSS"]
        t0 = time.perf_counter()
        status, _, n = server.post_file("/api/apply", long_wav, {"target": "warm", "intensity": "0.5"})
        res["apply"] = (before, server.status()["VmHWM"], time.perf_counter() - t0, status, n)
    finally:
        server.stop()
    return res


def _upload_json(server: Server, file: Path) -> dict:
    boundary = uuid.uuid4().hex
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file.name}"\r\n\r\n'.encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    c = server._conn()
    c.putrequest("POST", "/api/uploads")
    c.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    c.putheader("Content-Length", str(len(head) + file.stat().st_size + len(tail)))
    c.endheaders()
    c.send(head)
    with open(file, "rb") as f:
        while chunk := f.read(1 << 20):
            c.send(chunk)
    c.send(tail)
    r = c.getresponse()
    data = r.read()
    if r.status != 201:
        raise RuntimeError(f"upload: {r.status} {data[:200]!r}")
    return json.loads(data)


def report(name: str, r: dict, minutes: float, n_renders: int) -> None:
    print(f"== {name}")
    print(f"  idle server                          RSS {_mb(r['idle_rss'])}")
    print(f"  {minutes:g}-minute WAV uploaded              RSS {_mb(r['after_upload'][0])}   temp folder {_mb(r['after_upload'][1])}")
    for i in (1, 2, 3):
        rss, tmp = r[f"after_render_{i}"]
        print(f"  after render {i}                       RSS {_mb(rss)}   temp folder {_mb(tmp)}")
    print(f"  peak RSS over upload + 3 renders         {_mb(r['peak_rss_long'])}")
    rss, tmp, base = r["short_renders"]
    print(f"  {n_renders} renders of a 20 s clip            RSS {_mb(rss)}   temp folder {_mb(tmp)} (upload alone {_mb(base)})")
    before, peak, secs, status, n = r["apply"]
    print(f"  one {minutes:g}-minute /api/apply: status {status}, {n / 1048576:.0f} MB back in {secs:.1f} s; "
          f"RSS before {_mb(before)}, peak {_mb(peak)} (+{(peak - before) / 1048576:.0f} MB)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--renders", type=int, default=27)
    ap.add_argument("--baseline-src", type=Path, help="another source tree to measure in the same run (the old code)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    with tempfile.TemporaryDirectory(prefix="semeq-bench-mem-") as tmp:
        tmp = Path(tmp)
        long_wav, short_wav = tmp / "long.wav", tmp / "short.wav"
        _make_wav(long_wav, 60.0 * args.minutes)
        _make_wav(short_wav, 20.0)
        print(f"{args.minutes:g}-minute stereo 44.1 kHz 16-bit WAV: {long_wav.stat().st_size / 1048576:.0f} MB; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        results = {}
        if args.baseline_src is not None:
            results["baseline (" + str(args.baseline_src) + ")"] = run_scenarios(args.baseline_src, tmp / "base", long_wav,
                                                                               short_wav, args.renders)
        results["this tree"] = run_scenarios(ROOT / "src", tmp / "new", long_wav, short_wav, args.renders)
        for name, r in results.items():
            report(name, r, args.minutes, args.renders)
        if len(results) == 2:
            (b, n) = results.values()
            print("== ratios, this tree / baseline")
            print(f"  RSS after render 3        {n['after_render_3'][0] / b['after_render_3'][0]:.2f}")
            print(f"  temp folder after render 3 {n['after_render_3'][1] / b['after_render_3'][1]:.2f}")
            print(f"  temp folder after {args.renders} short renders {n['short_renders'][1] / b['short_renders'][1]:.2f}")
            print(f"  /api/apply peak growth    {(n['apply'][1] - n['apply'][0]) / max(1, b['apply'][1] - b['apply'][0]):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
