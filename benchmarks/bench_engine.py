"""The engine's costs, each as a ratio against a floor measured in the same run.

    python benchmarks/bench_engine.py [--quick]

Rows (each a small independent function returning rows; add yours to ``BENCHES``):

* ``import semeq`` and ``semeq --help`` against ``python -c "import numpy"`` (median wall time of
  fresh interpreters; target <= 3x).
* ``AudioEncoder.encode`` of a 2 s stereo window against a bare STFT of the same window
  (1024-point Hann, hop 512, float32 ``scipy.fft``: the least any analysis does), median thread
  CPU time on one thread; target: encode <= 2 ms. Both CNN backends (ONNX Runtime, NumPy).
* ``fit_eq`` of a 5-band EQ to a balance curve on the 60-point analysis grid (median thread CPU
  time; target well under 100 ms), against one evaluation of the 5-band response.
* ``semeq apply`` on 3, 15 and 60 minute stereo WAVs against a process that reads, runs 10
  biquads and writes the same file (wall time, peak RSS; ``benchmarks/bench_files.py``).
* The streaming engine with the shipped models at update intervals 4, 16 and 64 frames: CPU
  real-time factor, ``process()`` against a bare ``sosfilt`` of its sections
  (``benchmarks/bench_stream.py``).

Run on a quiet machine for absolute figures; on a loaded one read the ratios (the floors suffer
the same load). One thread everywhere (``OMP_NUM_THREADS=1`` is set before numpy loads).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
Row = tuple[str, str, str, str, str]  # what, measured, floor, ratio, target


def _cpu_median_ms(fn: Callable[[], object], n: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(n):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return 1e3 * statistics.median(times)


def _process_median_s(args: list[str], n: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *args], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_imports(quick: bool) -> list[Row]:
    """Start-up: ``import semeq`` and ``semeq --help`` against ``import numpy``, interleaved runs."""
    n = 5 if quick else 15
    floor = _process_median_s(["-c", "import numpy"], n)
    rows = []
    for what, args in (("import semeq", ["-c", "import semeq"]),
                       ("semeq --help", ["-c", "import sys; from semeq.cli import main; sys.argv[1:] = ['--help']; main()"])):
        t = _process_median_s(args, n)
        rows.append((what, f"{1e3 * t:.0f} ms", f"{1e3 * floor:.0f} ms import numpy", f"{t / floor:.2f}x", "<= 3x"))
    return rows


def _window() -> tuple[np.ndarray, str]:
    """A 2 s stereo window of real music when the data is there, else pink noise."""
    from semeq.data.paths import find_data_dir

    root = find_data_dir()
    clips = sorted((root / "music-dev").glob("*.flac")) if root is not None else []
    if clips:
        from semeq.io import load_audio

        audio, sample_rate, _ = load_audio(clips[0])
        if sample_rate == 44100 and audio.shape[0] == 2:
            return np.ascontiguousarray(audio[:, 44100:44100 + 88200]), clips[0].name
    from semeq.data.synth import pink_noise

    return pink_noise(88200, 44100.0, np.random.default_rng(0), n_channels=2), "pink noise"


def bench_encode(quick: bool) -> list[Row]:
    """``AudioEncoder.encode`` of a 2 s stereo window against a bare STFT of it."""
    from semeq import frontend
    from semeq.audio_encoder import AudioEncoder

    window, source = _window()
    n = 30 if quick else 200
    stft = _cpu_median_ms(lambda: frontend.stft_power(window, center=True), n)
    rows = []
    for backend in ("onnx", "numpy"):
        try:
            encoder = AudioEncoder.load(backend=backend)
        except Exception as exc:  # ONNX Runtime not installed: say so, measure the rest
            rows.append((f"encode 2 s stereo ({backend})", f"unavailable: {exc}", "", "", ""))
            continue
        t = _cpu_median_ms(lambda: encoder.encode(window, 44100.0), n)
        rows.append((f"encode 2 s stereo ({backend}, {source})", f"{t:.2f} ms", f"{stft:.2f} ms bare STFT",
                     f"{t / stft:.2f}x", "<= 2 ms" if backend == "onnx" else "fallback"))
    return rows


def bench_fit(quick: bool) -> list[Row]:
    """The 5-band fit of a balance curve (numpy, no torch) against one response evaluation."""
    from semeq.analysis import FIT_WEIGHTS, GRID_FREQS_HZ
    from semeq.dsp import eq_response, response_db_batch
    from semeq.fitting import fit_eq
    from semeq.params import EQParams

    rng = np.random.default_rng(0)
    targets = [EQParams.from_unit_vector(rng.uniform(0.15, 0.85, 13)) for _ in range(5 if quick else 20)]
    curves = [eq_response(p, GRID_FREQS_HZ) + rng.normal(0.0, 0.3, GRID_FREQS_HZ.size) for p in targets]
    times, errors = [], []
    for curve in curves:
        t0 = time.thread_time()
        fit = fit_eq(curve, GRID_FREQS_HZ, weights=FIT_WEIGHTS)
        times.append(time.thread_time() - t0)
        errors.append(fit.mae_db)
    t = 1e3 * statistics.median(times)
    vector = targets[0].to_vector()[None]
    floor = _cpu_median_ms(lambda: response_db_batch(vector, GRID_FREQS_HZ), 200)
    rows = [(f"fit_eq, 60-point grid (mean error {np.mean(errors):.3f} dB)", f"{t:.1f} ms",
             f"{floor:.3f} ms one response", f"{t / floor:.0f}x", "well under 100 ms")]
    from semeq.fitting import fit_eq_batch

    n = 50 if quick else 500
    batch = np.stack([eq_response(EQParams.from_unit_vector(u), GRID_FREQS_HZ) for u in rng.uniform(0.15, 0.85, (n, 13))])
    t0 = time.thread_time()
    fitted = fit_eq_batch(batch, GRID_FREQS_HZ)
    t_batch = time.thread_time() - t0
    mae = np.median(np.abs(response_db_batch(fitted, GRID_FREQS_HZ) - batch).mean(axis=1))
    rows.append((f"fit_eq_batch, {n} curves (median error {mae:.4f} dB)", f"{t_batch:.2f} s",
                 f"{1e3 * t_batch / n:.1f} ms per curve", "", "training targets"))
    return rows


def bench_files(quick: bool) -> list[Row]:
    """``semeq apply`` against read + 10 biquads + write in separate processes, and peak RSS."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_files import file_rows

    rows: list[Row] = []
    for r in file_rows([3.0] if quick else [3.0, 15.0, 60.0], verbose=False):
        m = f"{r['minutes']:g} min"
        rows.append((f"semeq apply, {m} stereo WAV (wall)", f"{r['apply_s']:.2f} s", f"{r['floor_s']:.2f} s read+filter+write",
                     f"{r['apply_s'] / r['floor_s']:.2f}x", "<= 1.5x"))
        target = {3.0: "<= 250 MB", 60.0: "<= 400 MB"}.get(r["minutes"], "")
        rows.append((f"semeq apply, {m} peak RSS", f"{r['apply_mb']:.0f} MB", f"{r['floor_mb']:.0f} MB", "", target))
        if "identity_exact" in r:
            rows.append(("apply_file vs SemanticEQ.apply, 3 min", f"max diff {r['identity_max_diff']:.3g}",
                         "", "", "<= 1e-9"))
    return rows


def bench_stream(quick: bool) -> list[Row]:
    """The streaming engine with the shipped models: CPU real-time factor, process() vs bare sosfilt."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT / "tests"))
    from bench_stream import streaming_rows

    rows: list[Row] = []
    for r in streaming_rows(20.0 if quick else 60.0, (4, 16, 64)):
        if not r["analyzer"].startswith("shipped"):
            continue
        n = r["update_interval"]
        rows.append((f"streaming CPU real-time factor, update every {n} frames", f"{r['rtf_cpu']:.0f}x", "",
                     "", ">= 100x" if n == 4 else ""))
        rows.append((f"process() median / p99, update every {n}", f"{r['process_median_us']:.0f} / {r['process_p99_us']:.0f} us",
                     f"{r['sosfilt_median_us']:.0f} us bare sosfilt", f"{r['median_ratio']:.2f}x / {r['p99_ratio']:.1f}x",
                     "<= 1.2x / 3x" if n == 4 else ""))
    return rows


BENCHES: list[Callable[[bool], list[Row]]] = [bench_imports, bench_encode, bench_fit, bench_files, bench_stream]
"""Each returns table rows; other parts of the engine add their own functions here."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    header: Row = ("what", "measured", "floor (same run)", "ratio", "target")
    rows: list[Row] = []
    for bench in BENCHES:
        rows.extend(bench(args.quick))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
