"""What the dynamic part costs (issue 20: stereo 44.1 kHz at >= 50x real time on one core).

One thread, CPU time (``time.process_time``), best of three, on 30 s of stereo 44.1 kHz (a
development clip when the data is there, else pink noise with bursts in the highs), three
regions moving (the most a plan uses):

* baseline: a bare ``scipy.signal.sosfilt`` of a 5-band EQ (5 sections) over the whole signal;
* the dynamic part in the file pipeline's blocks (65536 frames), and in 512-sample frames;
* the static EQ and the dynamic part together, as ``apply`` runs them;
* ``StreamingAdaptiveEQ.process`` per 512-sample frame with and without the dynamic part
  (median and 99th percentile, the analysis off the audio thread as always);
* the peak memory (tracemalloc) of the dynamic part over 5 minutes in file blocks.

Run: PYTHONPATH=src python benchmarks/bench_dynamic.py
"""

from __future__ import annotations

import glob
import os
import time
import tracemalloc

import numpy as np
from scipy.signal import sosfilt

from semeq import EQParams
from semeq.dsp import design_sos
from semeq.dynamic import DynamicEQ, DynamicPlan, render_dynamic

SR = 44100
SECONDS = 30


def signal() -> tuple[np.ndarray, str]:
    from semeq.data.paths import find_data_dir

    root = find_data_dir()
    files = sorted(glob.glob(os.path.join(str(root), "music-dev", "*.flac"))) if root else []
    if files:
        from semeq import load_audio

        x, rate, _ = load_audio(files[0])
        x = np.tile(x, (1, -(-SECONDS * SR // x.shape[1])))[:, : SECONDS * SR]
        return x, os.path.basename(files[0])
    rng = np.random.default_rng(0)
    n = SECONDS * SR
    spectrum = np.fft.rfft(rng.standard_normal((2, n)), axis=-1) / np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0))
    x = np.fft.irfft(spectrum, n, axis=-1)
    x *= 0.1 / np.std(x)
    return x, "pink noise"


def plan() -> DynamicPlan:
    sign = np.array([1, 0, 0, -1, -1])
    z = np.zeros(5)
    return DynamicPlan(sign=sign, word_db=np.where(sign != 0, 3.0, 0.0), static_db=z, cap_db=np.where(sign != 0, 4.0, 0.0),
                       reference_db=np.array([-3.0, 0.0, 0.0, -14.0, -22.0]), intensity=1.0)


def best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


class _Fixed:
    def __init__(self, cascade, dynamic):
        self.cascade, self.dynamic = cascade, dynamic

    def design_from_power(self, freqs_hz, power, target, intensity, *, blend=None, alpha=0.0):
        return self.cascade

    def dynamic_from_power(self, freqs_hz, power, request, cascade, *, typical_db=None):
        return self.dynamic


def stream_times(x: np.ndarray, cascade, dynamic: DynamicPlan | None) -> np.ndarray:
    from semeq.phrases import Interpretation, Term
    from semeq.request import EQRequest
    from semeq.streaming import StreamingAdaptiveEQ

    request = EQRequest(target=Interpretation(text="warm", terms=(Term(word="warm"),)), intensity=0.7,
                        dynamic=dynamic is not None)
    times = []
    with StreamingAdaptiveEQ(SR, 2, analyzer=_Fixed(cascade, dynamic), auto_gain=False) as stream:
        stream.set_target(request)
        for i in range(0, x.shape[1], 512):
            frame = x[:, i : i + 512]
            t0 = time.perf_counter()
            stream.process(frame)
            times.append(time.perf_counter() - t0)
            stream.wait_for_analysis(5.0)
    return np.array(times[int(1.0 * SR / 512):])  # after the first analysis


def main() -> None:
    x, what = signal()
    p = plan()
    cascade = (EQParams(low_shelf_gain_db=2.0, peak2_gain_db=-2.0, high_shelf_gain_db=-3.0),)
    sos = design_sos(list(cascade), SR)
    bare = best(lambda: sosfilt(sos, x, axis=-1))
    blocks = best(lambda: render_dynamic(x, SR, p, trace_step_s=None))

    def frames():
        dyn = DynamicEQ(p, SR, 2, trace_step_s=None)
        for i in range(0, x.shape[1], 512):
            dyn.process(x[:, i : i + 512])

    framed = best(frames, 1)
    both = best(lambda: sosfilt(sos, render_dynamic(x, SR, p, trace_step_s=None)[0], axis=-1))
    print(f"{SECONDS} s of stereo 44.1 kHz ({what}), 3 regions, one thread, CPU time")
    print(f"  bare sosfilt, 5 sections (baseline):   {SECONDS / bare:8.0f}x real time")
    print(f"  dynamic part, file blocks (65536):      {SECONDS / blocks:8.0f}x real time ({blocks / bare:.1f}x the baseline's time)")
    print(f"  dynamic part, 512-sample frames:        {SECONDS / framed:8.0f}x real time")
    print(f"  static EQ + dynamic part (apply):       {SECONDS / both:8.0f}x real time")
    plain = stream_times(x, cascade, None)
    dyn = stream_times(x, cascade, p)
    frame_s = 512 / SR
    print(f"  StreamingAdaptiveEQ.process, 512 frames: static only median {np.median(plain) * 1e6:.0f} us "
          f"(p99 {np.percentile(plain, 99) * 1e6:.0f}); with the dynamic part median {np.median(dyn) * 1e6:.0f} us "
          f"(p99 {np.percentile(dyn, 99) * 1e6:.0f}) = {frame_s / np.median(dyn):.0f}x real time")
    long = np.tile(x, (1, 10))  # 5 minutes
    tracemalloc.start()
    dyn_eq = DynamicEQ(p, SR, 2)
    for i in range(0, long.shape[1], 65536):
        dyn_eq.process(long[:, i : i + 65536])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  peak memory of the dynamic part over 5 min in file blocks (with its 10 ms trace): {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
