"""Audio-encoder latency: one 2 s stereo window at batch 1 on 1 thread.

Prints the median latency of the network (STFT + mel + CNN), of the CNN alone, and of
``AudioEncoder.encode`` on a 20 s file; the model's FLOP count (torch's FLOP counter for the
convolutions, matmuls and mel projection, plus 5 N log2 N per FFT frame); and the achieved
FLOP rate as a fraction of this machine's single-core float32 matmul throughput measured in
the same process (how near the limit the encoder runs).

Run: PYTHONPATH=src python benchmarks/bench_encoder.py [--weights PATH] [--repeats N]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from semeq.audio_encoder import AudioEncoder


def median_ms(fn, repeats: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def matmul_gflops(n: int = 512, repeats: int = 30) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    ms = median_ms(lambda: torch.mm(a, b), repeats)
    return 2 * n**3 / (ms * 1e-3) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    enc = AudioEncoder.load(args.weights)
    from semeq.nn.audio_encoder import load_encoder_checkpoint

    net = load_encoder_checkpoint(enc.path)[0]  # the torch twin (the run time uses ONNX Runtime: bench_engine.py)
    cfg = net.config
    rng = np.random.default_rng(0)
    x = torch.as_tensor(0.1 * rng.standard_normal((1, 2, cfg.window_samples)), dtype=torch.float32)
    with torch.inference_mode():
        log_mel = net.front_end(x)
        with FlopCounterMode(display=False) as counter:
            net(x)
        counted = counter.get_total_flops()
        n_frames = log_mel.shape[-1]
        fft_flops = 2 * n_frames * 5 * cfg.mel.n_fft * math.log2(cfg.mel.n_fft)  # 2 channels
        total = counted + fft_flops
        full_ms = median_ms(lambda: net(x), args.repeats)
        cnn_ms = median_ms(lambda: net.forward_log_mel(log_mel), args.repeats)
    long = 0.1 * rng.standard_normal((2, 20 * 44100))
    encode_ms = median_ms(lambda: enc.encode(long, 44100), max(5, args.repeats // 20), warmup=2)
    peak = matmul_gflops()
    n_params = sum(p.numel() for p in net.parameters())
    print(f"audio encoder: {n_params} parameters, input {tuple(x.shape)} -> log-mel {tuple(log_mel.shape)}, 1 thread")
    print(f"latency, one 2 s window, batch 1 (STFT+mel+CNN): median {full_ms:.3f} ms  (target <= 2 ms)")
    print(f"latency, CNN only on the log-mel:               median {cnn_ms:.3f} ms")
    print(f"AudioEncoder.encode, 20 s stereo file (10 windows): median {encode_ms:.2f} ms")
    print(f"FLOPs per window: {total / 1e6:.2f} M ({counted / 1e6:.2f} M counted by torch + {fft_flops / 1e6:.2f} M FFT)")
    print(f"achieved: {total / (full_ms * 1e-3) / 1e9:.2f} GFLOP/s; single-core fp32 matmul (512^3): {peak:.1f} GFLOP/s; "
          f"ratio {total / (full_ms * 1e-3) / 1e9 / peak:.3f} of the matmul limit")


if __name__ == "__main__":
    main()
