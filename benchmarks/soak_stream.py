"""Soak test: one hour of stereo 44.1 kHz audio through StreamingAdaptiveEQ.process(), frame by frame.

The real process() path with the shipped models (``semeq.adaptive.SemanticEQ``; ``--stand-in
latent|power`` uses a cheap analyzer of tests/tilt_analyzer.py instead: the latent protocol, or
``design_from_power`` on the engine's incrementally kept spectrum), targets and intensities
changing every 5 s, a NaN frame every minute, automatic gain compensation on. Prints the memory
growth (resident set size from /proc, and the count of live Python objects), whether every
output was finite, the engine's CPU real-time factor, and the thread count before and after.

Run: PYTHONPATH=src python benchmarks/soak_stream.py [--hours 1] [--frame-size 512] [--update-interval 4]
"""

from __future__ import annotations

import argparse
import gc
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tilt_analyzer import TiltAnalyzer, TiltPowerAnalyzer  # noqa: E402

from semeq.streaming import StreamingAdaptiveEQ  # noqa: E402

SR = 44100


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--frame-size", type=int, default=512)
    parser.add_argument("--update-interval", type=int, default=4)
    parser.add_argument("--stand-in", choices=["latent", "power"], help="a test analyzer instead of the shipped models")
    args = parser.parse_args()
    if args.stand_in == "latent":
        analyzer = TiltAnalyzer()
    elif args.stand_in == "power":
        analyzer = TiltPowerAnalyzer()
    else:
        import torch

        from semeq.adaptive import SemanticEQ

        torch.set_num_threads(1)
        analyzer = SemanticEQ()
    frame = args.frame_size
    rng = np.random.default_rng(0)
    pool = 0.1 * rng.standard_normal((2, SR * 8))  # 8 s of noise, read at a drifting offset
    pool[:, SR * 4 :] *= np.linspace(1.0, 0.2, SR * 4)  # a spectral/level change across the pool
    n_frames = int(args.hours * 3600 * SR / frame)
    words = ["warm", "bright", "dark", "airy"]
    threads_before = threading.active_count()
    all_finite = True
    t_start = time.perf_counter()
    audio_cpu_s = 0.0
    with StreamingAdaptiveEQ(SR, 2, frame_size=frame, update_interval=args.update_interval,
                             analyzer=analyzer) as engine:
        per_5s, per_min = int(5 * SR / frame), int(60 * SR / frame)
        base = None
        for k in range(n_frames):
            if k % per_5s == 0:
                engine.set_target(words[(k // per_5s) % 4], (0.0, 0.5, 1.0)[(k // per_5s) % 3])
            offset = (k * frame * 7) % (pool.shape[1] - frame)
            block = pool[:, offset : offset + frame]
            if k % per_min == per_min // 2:
                block = block.copy()
                block[0, 10:20] = np.nan
            c0 = time.thread_time()
            out = engine.process(block)
            audio_cpu_s += time.thread_time() - c0
            all_finite &= bool(np.isfinite(out).all())
            engine.wait_for_analysis()
            if k == per_min:  # after a minute of warm-up
                gc.collect()
                base = (rss_mb(), sum(gc.get_count()), len(gc.get_objects()))
        gc.collect()
        end = (rss_mb(), sum(gc.get_count()), len(gc.get_objects()))
        stats = engine.stats
    elapsed = time.perf_counter() - t_start
    print(f"streamed {n_frames * frame / SR / 3600:.2f} h in {n_frames} frames of {frame} ({elapsed:.1f} s wall)")
    print(f"analysis mode {stats.analysis_mode}: analyses {stats.n_analyses} ({stats.n_published} published), "
          f"designs {stats.n_designs}, NaN frames {stats.n_nonfinite_frames}, analysis errors {stats.n_analysis_errors}, "
          f"torn reads {stats.n_torn_snapshots}")
    duration_s = n_frames * frame / SR
    print(f"CPU: process() {audio_cpu_s:.2f} s + worker {stats.analysis_cpu_s:.2f} s (analyzer {stats.analyzer_cpu_s:.2f} s): "
          f"real-time factor {duration_s / (audio_cpu_s + stats.analysis_cpu_s):.1f}x")
    print(f"resident memory after 1 min {base[0]:.1f} MB, at the end {end[0]:.1f} MB: growth {end[0] - base[0]:+.2f} MB "
          f"(target < 5 MB)")
    print(f"live Python objects after 1 min {base[2]}, at the end {end[2]} ({end[2] - base[2]:+d})")
    print(f"every output finite: {all_finite}; threads before {threads_before}, after close "
          f"{threading.active_count()}")


if __name__ == "__main__":
    main()
