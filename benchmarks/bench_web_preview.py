"""How fast does `semeq web` re-render the A/B preview when a control moves?

Run: python benchmarks/bench_web_preview.py [--region-s 30] [--moves 8]

A 40 s stereo 44.1 kHz file is built in memory from two development clips (music-dev d01 and
d07; nothing is written to disk) and uploaded to the app in process. Then the intensity is
moved ``--moves`` times (0.30, 0.35, ...) and each move asks for the preview of a ``--region-s``
loop, as the page does: design (the upload's cached measurement, the 5-band fit warm-started),
the region read from the file, filtering, loudness match with the true-peak ceiling (the
library's array path, as ``SemanticEQ.apply``), WAV encoding, the HTTP round trip in process. Baseline, in the same run: ``SemanticEQ.apply`` (what ``semeq apply``
runs) on the same region with the same settings. Prints the median and the worst preview time,
their ratio to the baseline, and the process's peak memory.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region-s", type=float, default=30.0)
    ap.add_argument("--moves", type=int, default=8)
    args = ap.parse_args()

    import numpy as np
    import soundfile as sf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from semeq.data.paths import data_dir
    from semeq.web.app import create_app
    from semeq.web.engine import Engine

    root = data_dir() / "music-dev"
    a, sr = sf.read(root / "d01_hard_rock_sectoid.flac", always_2d=True)
    b, _ = sf.read(root / "d07_piano_supertux.flac", always_2d=True)
    audio = np.concatenate([a, b])  # (samples, channels), 40 s
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format="FLAC", subtype="PCM_16")
    engine = Engine()
    app = create_app(engine=engine, db_path=":memory:")
    region = (5.0, 5.0 + args.region_s)
    with TestClient(app) as client:
        u = client.post("/api/uploads", files={"file": ("bench.flac", buf.getvalue())}).json()
        decoded = sf.read(io.BytesIO(buf.getvalue()), always_2d=True)[0].T  # what the server decodes
        times, base = [], []
        for i in range(args.moves):
            intensity = round(0.30 + 0.05 * i, 2)
            t0 = time.perf_counter()
            r = client.post(f"/api/uploads/{u['upload']}/preview",
                            json={"target": "warm", "intensity": intensity, "start_s": region[0], "end_s": region[1]})
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
            seg = decoded[:, int(region[0] * sr) : int(region[1] * sr)]
            t0 = time.perf_counter()
            engine.seq.apply(seg, sr, "warm", intensity)
            base.append(time.perf_counter() - t0)
    med, worst, bmed = statistics.median(times), max(times), statistics.median(base)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"preview of a {args.region_s:g} s stereo {sr} Hz region, {args.moves} intensity moves")
    print(f"  preview (HTTP in process)   median {med:.3f} s   worst {worst:.3f} s")
    print(f"  baseline SemanticEQ.apply   median {bmed:.3f} s")
    print(f"  ratio preview / apply       median {med / bmed:.2f}   worst {worst / bmed:.2f}")
    print(f"  peak memory {peak_mb:.0f} MB; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
