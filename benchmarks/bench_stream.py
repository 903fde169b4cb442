"""Benchmark of the real-time adaptive EQ (issue 6).

60 s of stereo 44.1 kHz audio in 512-sample frames, the target changing every 5 s. Prints the
median and p99 time of ``process()``, the real-time factor including the worker's analysis CPU
time, the added latency in samples, and the ratio of ``process()`` time to bare ``sosfilt`` of
the engine's 10 sections on the same frames, run in the same process.

The audio is 6 s from each of ten tracks of the development set (../shared/data/music-dev, read
in place), or music-shaped noise when the data is absent. The analyzer is the real
``semeq.adaptive.SemanticEQ`` with the shipped models.

Two timings: "paced" waits for a requested analysis between frames (outside the timed call), as
``semeq stream`` does on a file and as a live engine runs when an analysis ends within a frame's
period; "free-running" does not wait, so the worker competes for the GIL while frames are timed.

Run: PYTHONPATH=src python benchmarks/bench_stream.py [--seconds 60] [--frame-size 512]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.signal import sosfilt

from semeq.data.paths import find_data_dir  # noqa: E402
from semeq.dsp import design_sos  # noqa: E402
from semeq.streaming import StreamingAdaptiveEQ  # noqa: E402

SR = 44100
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


def make_analyzer():
    import torch

    torch.set_num_threads(1)  # the models are small: one thread, leaving the other core to the audio thread
    from semeq.adaptive import SemanticEQ

    return SemanticEQ(), "semeq.adaptive.SemanticEQ (the shipped models)"


def run(x: np.ndarray, analyzer, frame: int, update_interval: int, paced: bool, **kw) -> dict:
    n_frames = x.shape[1] // frame
    times = np.empty(n_frames)
    change_every = int(5.0 * SR) // frame
    out = np.empty_like(x[:, : n_frames * frame])
    with StreamingAdaptiveEQ(SR, 2, frame_size=frame, update_interval=update_interval, analyzer=analyzer,
                             **kw) as engine:
        for k in range(n_frames):
            if k % change_every == 0:
                engine.set_target(WORDS[(k // change_every) % len(WORDS)], 1.0 if (k // change_every) % 4 else 0.5)
            block = x[:, k * frame : (k + 1) * frame]
            t0 = time.perf_counter()
            y = engine.process(block)
            times[k] = time.perf_counter() - t0
            # Outside the timed call: a large numpy copy releases the GIL, and a worker woken by
            # this frame's request would run its analysis inside the measurement.
            out[:, k * frame : (k + 1) * frame] = y
            if paced:
                engine.wait_for_analysis()
        engine.wait_for_analysis()
        stats = engine.stats
        latency = engine.latency_samples
    return {"times": times, "stats": stats, "latency": latency, "out": out}


def measured_latency(x: np.ndarray, analyzer, frame: int, update_interval: int, **kw) -> int:
    """Stream 3 s twice, the second time with an impulse added mid-frame once the EQ is active:
    the first output sample that differs, minus the impulse's position, is the added latency."""
    x = x[:, : 3 * SR]
    k = int(2.5 * SR) + frame // 3
    y = x.copy()
    y[:, k] += 0.25
    outs = [run(sig, analyzer, frame, update_interval, True, **kw)["out"] for sig in (x, y)]
    differs = np.flatnonzero(np.any(outs[0] != outs[1], axis=0))
    return int(differs[0]) - k if differs.size else -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--frame-size", type=int, default=512)
    parser.add_argument("--update-interval", type=int, default=4)
    parser.add_argument("--crossfade-ms", type=float, default=None, help="engine default when omitted")
    args = parser.parse_args()
    kw = {} if args.crossfade_ms is None else {"crossfade_ms": args.crossfade_ms}
    frame = args.frame_size

    x, source = load_music(args.seconds)
    analyzer, analyzer_name = make_analyzer()
    duration_s = x.shape[1] / SR
    print(f"audio: {duration_s:.1f} s stereo {SR} Hz ({source})")
    print(f"analyzer: {analyzer_name}")
    print(f"frames of {frame} ({frame / SR * 1e6:.0f} us of audio), analysis every {args.update_interval} frames, "
          f"target change every 5 s")

    # Baseline in the same process: bare scipy sosfilt of 10 sections (the engine's cascade) per frame.
    z = analyzer.encode(x[:, : 2 * SR], SR)
    sos = design_sos(list(analyzer.cascade_for(z, analyzer.target_latent("warm"), 1.0)), SR)
    zi = np.zeros((sos.shape[0], 2, 2))
    base = np.empty(x.shape[1] // frame)
    for k in range(base.size):
        t0 = time.perf_counter()
        _, zi = sosfilt(sos, x[:, k * frame : (k + 1) * frame], axis=-1, zi=zi)
        base[k] = time.perf_counter() - t0
    base_median = float(np.median(base))

    print()
    print(f"{'mode':<13} {'median us':>9} {'p99 us':>8} {'max us':>8} {'x sosfilt':>9} {'analyses':>8} "
          f"{'worker cpu s':>12} {'RTF':>7} {'latency':>7} {'measured':>9} {'designs':>7}")
    lag = measured_latency(x, analyzer, frame, args.update_interval, **kw)
    for paced in (True, False):
        r = run(x, analyzer, frame, args.update_interval, paced, **kw)
        t, s = r["times"], r["stats"]
        busy = float(t.sum()) + s.analysis_cpu_s
        print(f"{'paced' if paced else 'free-running':<13} {np.median(t) * 1e6:9.1f} {np.percentile(t, 99) * 1e6:8.1f} "
              f"{t.max() * 1e6:8.1f} {np.median(t) / base_median:9.2f} {s.n_analyses:8d} {s.analysis_cpu_s:12.3f} "
              f"{duration_s / busy:6.1f}x {r['latency']:7d} {lag:9d} {s.n_designs:7d}")
    print(f"bare sosfilt (10 sections, same frames): median {base_median * 1e6:.1f} us")
    print("latency: declared (latency_samples) and measured (first output sample an impulse changes, minus its index)")
    print("targets: median <= 60 us, p99 <= 300 us, RTF >= 100x, latency 0")


if __name__ == "__main__":
    main()
