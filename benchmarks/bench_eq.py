"""Speed of the parametric EQ against bare scipy sosfilt, measured in the same process.

Run: python benchmarks/bench_eq.py

(a) offline apply_eq on 3 minutes of 44.1 kHz stereo, and its ratio to a bare
    scipy.signal.sosfilt of the same five sections (target <= 1.2x);
(b) StreamingEQ per 512-sample stereo block with a parameter change every 4 blocks
    (target median <= 60 us, i.e. >= 190x real time), and its ratio to bare sosfilt with state
    on the same blocks.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.signal import sosfilt

from semeq import EQParams, StreamingEQ, apply_eq, design_sos

SAMPLE_RATE = 44100
BLOCK = 512


def best_of(fn, repeats=7):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    audio = 0.1 * rng.standard_normal((2, 180 * SAMPLE_RATE))
    params = EQParams(low_shelf_gain_db=3, low_shelf_freq_hz=120, peak1_gain_db=-2, peak1_freq_hz=400, peak1_q=1.4,
                      peak2_gain_db=2, peak2_freq_hz=2000, peak3_gain_db=-3, peak3_freq_hz=5000, peak3_q=3,
                      high_shelf_gain_db=4, high_shelf_freq_hz=9000)
    sos = design_sos(params, SAMPLE_RATE)

    # (a) offline, interleaving the two so machine noise hits both alike.
    t_bare = best_of(lambda: sosfilt(sos, audio, axis=-1))
    t_eq = best_of(lambda: apply_eq(audio, SAMPLE_RATE, params))
    print(f"(a) offline, 3 min stereo 44.1 kHz: apply_eq {t_eq * 1e3:.1f} ms, bare sosfilt {t_bare * 1e3:.1f} ms, "
          f"ratio {t_eq / t_bare:.3f}x (target <= 1.2x); {180 / t_eq:.0f}x real time")

    # (b) streaming blocks with a parameter change every 4 blocks.
    n_blocks = 4000
    blocks = [audio[:, i * BLOCK : (i + 1) * BLOCK] for i in range(n_blocks)]
    variants = [params, params.scaled(0.5), params.scaled(-0.7), EQParams.flat()]
    eq = StreamingEQ(SAMPLE_RATE, 2, params)
    times = np.empty(n_blocks)
    for i, block in enumerate(blocks):
        t0 = time.perf_counter()
        if i % 4 == 0:
            eq.set_params(variants[(i // 4) % len(variants)])
        eq.process(block)
        times[i] = time.perf_counter() - t0
    zi = np.zeros((sos.shape[0], 2, 2))
    bare = np.empty(n_blocks)
    for i, block in enumerate(blocks):
        t0 = time.perf_counter()
        _, zi = sosfilt(sos, block, axis=-1, zi=zi)
        bare[i] = time.perf_counter() - t0
    med, p99 = np.median(times) * 1e6, np.percentile(times, 99) * 1e6
    bare_med = np.median(bare) * 1e6
    block_s = BLOCK / SAMPLE_RATE
    print(f"(b) StreamingEQ, 512-sample stereo blocks, change every 4 blocks: median {med:.1f} us, p99 {p99:.1f} us "
          f"(target median <= 60 us); {block_s / (med * 1e-6):.0f}x real time; bare sosfilt median {bare_med:.1f} us, "
          f"ratio {med / bare_med:.2f}x")


if __name__ == "__main__":
    main()
