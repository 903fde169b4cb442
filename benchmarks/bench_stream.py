"""Benchmark of the real-time adaptive EQ (issue 6; issue 11, item 3).

Stereo 44.1 kHz audio in 512-sample frames, the target changing every 5 s. Two tables:

1. **CPU real-time factor** at update intervals 4, 16 and 64 frames: audio duration over the
   CPU time of the whole engine, the audio thread's ``process()`` calls (``time.thread_time``)
   plus the worker thread's analyses (``StreamStats.analysis_cpu_s``). Target (issue 11):
   >= 100x at interval 4.
2. **process() against a bare sosfilt** of the same number of sections on the same frames, run
   in the same process just before: median and p99 of the per-frame ratio of wall times.
   Targets: median <= 1.2x, p99 <= 3x.

Each row names the analyzer and how the engine used it ("power": ``design_from_power`` on the
kept spectrum; "mel": the CNN on kept mel frames; "audio": ``encode`` of the window). The
analyzers: the shipped models (``semeq.adaptive.SemanticEQ``), and the stand-in of
tests/tilt_analyzer.py with ``design_from_power`` (a closed-form design: what the engine itself
costs around any analyzer).

The audio is 6 s from each of ten tracks of the development set (../shared/data/music-dev, read
in place), or music-shaped noise when the data is absent. Frames are "paced": the file front end
waits for a requested analysis between frames (outside the timed call), as ``semeq stream`` does.

Run: PYTHONPATH=src python benchmarks/bench_stream.py [--seconds 60] [--intervals 4 16 64] [--no-models]
``streaming_rows()`` returns the same figures as dicts for benchmarks/bench_engine.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.signal import sosfilt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from semeq.data.paths import find_data_dir  # noqa: E402
from semeq.streaming import StreamingAdaptiveEQ  # noqa: E402

SR = 44100
FRAME = 512
WORDS = ["warm", "bright", "dark", "airy", "warm", "bright"]


def load_music(seconds: float) -> tuple[np.ndarray, str]:
    import soxr

    from semeq.io import load_audio

    root = find_data_dir()
    files = sorted((root / "music-dev").glob("*.flac")) if root else []
    if not files:
        rng = np.random.default_rng(0)
        n = int(seconds * SR)
        spectrum = rng.standard_normal((2, n // 2 + 1)) + 1j * rng.standard_normal((2, n // 2 + 1))
        spectrum /= np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0))  # pink
        x = np.fft.irfft(spectrum, n)
        envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * np.arange(n) / SR)
        return 0.2 * x / np.std(x) * envelope, "music-shaped noise (no development data found)"
    per = seconds / min(len(files), 10)
    parts = []
    for path in files[:10]:
        audio, sr, _ = load_audio(path)
        if sr != SR:
            audio = soxr.resample(audio.T, sr, SR).T
        audio = np.tile(audio, (2, 1))[:2] if audio.shape[0] == 1 else audio[:2]
        start = min(audio.shape[1] // 3, max(audio.shape[1] - int(per * SR), 0))
        parts.append(audio[:, start : start + int(per * SR)])
    x = np.concatenate(parts, axis=1)
    return x, f"{len(parts)} tracks of music-dev, {per:.1f} s each"


def analyzers(with_models: bool) -> list[tuple[str, object]]:
    from tilt_analyzer import TiltPowerAnalyzer

    found = [("stand-in design_from_power (tests/tilt_analyzer.py)", TiltPowerAnalyzer())]
    if with_models:
        try:
            import torch

            torch.set_num_threads(1)  # small models: one thread, the other core stays with the audio thread
        except ImportError:
            pass
        from semeq.adaptive import SemanticEQ

        found.insert(0, ("shipped models (semeq.adaptive.SemanticEQ)", SemanticEQ()))
    return found


def run(x: np.ndarray, analyzer, update_interval: int, frame: int = FRAME) -> dict:
    """Stream x paced; per-frame wall time and CPU time of process(), the engine's stats."""
    n_frames = x.shape[1] // frame
    wall = np.empty(n_frames)
    cpu = np.empty(n_frames)
    change_every = int(5.0 * SR) // frame
    with StreamingAdaptiveEQ(SR, 2, frame_size=frame, update_interval=update_interval, analyzer=analyzer) as engine:
        for k in range(n_frames):
            if k % change_every == 0:
                engine.set_target(WORDS[(k // change_every) % len(WORDS)], 1.0 if (k // change_every) % 4 else 0.5)
            block = x[:, k * frame : (k + 1) * frame]
            c0, t0 = time.thread_time(), time.perf_counter()
            engine.process(block)
            wall[k], cpu[k] = time.perf_counter() - t0, time.thread_time() - c0
            engine.wait_for_analysis()
        engine.wait_for_analysis()
        stats = engine.stats
        n_sections = 5 * max(engine._eq.n_eq, 1)
    return {"wall": wall, "cpu": cpu, "stats": stats, "n_sections": n_sections, "latency": engine.latency_samples}


def bare_sosfilt(x: np.ndarray, n_sections: int, frame: int = FRAME) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame wall and CPU time of scipy's sosfilt over n_sections (a real EQ's sections) with carried state."""
    from semeq import EQParams
    from semeq.dsp import design_sos

    sos = design_sos([EQParams(low_shelf_gain_db=3.0, peak2_gain_db=-2.0, high_shelf_gain_db=4.0)] * (n_sections // 5), SR)
    zi = np.zeros((sos.shape[0], 2, 2))
    n_frames = x.shape[1] // frame
    times = np.empty(n_frames)
    cpu = np.empty(n_frames)
    for k in range(n_frames):
        block = x[:, k * frame : (k + 1) * frame]
        c0, t0 = time.thread_time(), time.perf_counter()
        _, zi = sosfilt(sos, block, axis=-1, zi=zi)
        times[k], cpu[k] = time.perf_counter() - t0, time.thread_time() - c0
    return times, cpu


def streaming_rows(seconds: float = 60.0, intervals=(4, 16, 64), with_models: bool = True) -> list[dict]:
    """The figures of both tables, one dict per (analyzer, interval)."""
    x, _ = load_music(seconds)
    duration_s = x.shape[1] / SR
    rows = []
    for name, analyzer in analyzers(with_models):
        for interval in intervals:
            r = run(x, analyzer, interval)
            base, base_cpu = bare_sosfilt(x, r["n_sections"])
            s = r["stats"]
            cpu_s = float(r["cpu"].sum()) + s.analysis_cpu_s
            rows.append({
                "analyzer": name, "mode": s.analysis_mode, "update_interval": interval, "n_analyses": s.n_analyses,
                "audio_cpu_s": float(r["cpu"].sum()), "worker_cpu_s": s.analysis_cpu_s,
                "worker_ms_per_analysis": 1e3 * s.analysis_cpu_s / max(s.n_analyses, 1),
                "engine_ms_per_analysis": 1e3 * (s.analysis_cpu_s - s.analyzer_cpu_s) / max(s.n_analyses, 1),
                "rtf_cpu_without_analyzer": duration_s / (cpu_s - s.analyzer_cpu_s),
                "rtf_cpu": duration_s / cpu_s, "n_sections": r["n_sections"],
                "process_median_us": float(np.median(r["wall"]) * 1e6), "process_p99_us": float(np.percentile(r["wall"], 99) * 1e6),
                "sosfilt_median_us": float(np.median(base) * 1e6), "sosfilt_p99_us": float(np.percentile(base, 99) * 1e6),
                "median_ratio": float(np.median(r["wall"]) / np.median(base)),
                "p99_ratio": float(np.percentile(r["wall"], 99) / np.median(base)),
                "median_cpu_ratio": float(np.median(r["cpu"]) / np.median(base_cpu)),
                "p99_cpu_ratio": float(np.percentile(r["cpu"], 99) / np.median(base_cpu)),
                "n_designs": s.n_designs, "n_published": s.n_published, "latency": r["latency"],
            })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--intervals", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--no-models", action="store_true", help="only the stand-in analyzer")
    args = parser.parse_args()
    x, source = load_music(args.seconds)
    print(f"audio: {x.shape[1] / SR:.1f} s stereo {SR} Hz ({source}); frames of {FRAME}, paced; target change every 5 s")
    rows = streaming_rows(args.seconds, tuple(args.intervals), not args.no_models)
    print()
    print(f"{'analyzer':<52} {'mode':<6} {'every':>5} {'analyses':>8} {'ms/analysis':>11} {'of it engine':>12} "
          f"{'RTF (CPU)':>10} {'w/o analyzer':>12} "
          f"{'sections':>8} {'median us':>9} {'x sosfilt':>9} {'p99 us':>8} {'p99 x':>6} {'CPU: median x':>13} "
          f"{'p99 x':>6} {'designs':>7}")
    for r in rows:
        print(f"{r['analyzer']:<52} {r['mode']:<6} {r['update_interval']:>5} {r['n_analyses']:>8} "
              f"{r['worker_ms_per_analysis']:>11.3f} {r['engine_ms_per_analysis']:>12.3f} {r['rtf_cpu']:>9.1f}x "
              f"{r['rtf_cpu_without_analyzer']:>11.1f}x {r['n_sections']:>8} "
              f"{r['process_median_us']:>9.1f} {r['median_ratio']:>9.2f} {r['process_p99_us']:>8.1f} "
              f"{r['p99_ratio']:>6.2f} {r['median_cpu_ratio']:>13.2f} {r['p99_cpu_ratio']:>6.2f} {r['n_designs']:>7}")
    print("RTF (CPU): audio duration / (process() thread CPU + worker analysis CPU); 'w/o analyzer' leaves out the CPU "
          "time inside the analyzer's methods (the engine's own cost). 'of it engine': worker ms per analysis outside "
          "the analyzer. x sosfilt: per-frame wall time over the median of a bare scipy sosfilt of as many sections on "
          "the same frames; 'CPU:' the same ratios in thread CPU time, which leave out the time the thread was "
          "preempted (on a shared machine the wall-time p99 is mostly that).")
    print("targets (issue 11, item 3): RTF >= 100x at every 4 frames; median <= 1.2x, p99 <= 3x")


if __name__ == "__main__":
    main()
