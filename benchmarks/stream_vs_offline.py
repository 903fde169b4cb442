"""Does the real-time engine converge to the offline adaptive render? (issue 6, item 5)

A stationary input (a periodic tone complex, and pink noise), a fixed target ("bright" at 0.7),
the shipped models: the stream, frame by frame with the default 2 s analysis window, against
``SemanticEQ.apply(..., loudness_match=False)`` of the whole file, the stream without its
automatic gain compensation (the offline render keeps the EQ's level). Prints the RMS of their
difference over the last 2 s (after the first window and the glide), relative to the output,
and how the engine analysed (``mel``: the CNN on the kept mel frames of its sliding STFT).

Run: PYTHONPATH=src python benchmarks/stream_vs_offline.py
"""

from __future__ import annotations

import numpy as np
import torch

from semeq.adaptive import SemanticEQ
from semeq.streaming import StreamingAdaptiveEQ

SAMPLE_RATE = 44100
FRAME = 512


def main() -> None:
    torch.set_num_threads(1)
    engine = SemanticEQ()
    n = 6 * SAMPLE_RATE
    t = np.arange(n)
    tones = np.stack([sum(np.sin(2 * np.pi * 100.0 * h * t / SAMPLE_RATE + ph * h) / h for h in range(1, 60)) * 0.05
                      for ph in (0.0, 1.3)])
    rng = np.random.default_rng(0)
    spectrum = np.fft.rfft(rng.standard_normal((2, n))) / np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0))
    pink = np.fft.irfft(spectrum, n)
    pink *= 0.1 / pink.std()
    for name, x in (("periodic tone complex", tones), ("pink noise", pink)):
        with StreamingAdaptiveEQ(SAMPLE_RATE, 2, frame_size=FRAME, analyzer=engine, auto_gain=False) as stream:
            stream.set_target("bright", 0.7)
            out = []
            for i in range(0, n, FRAME):
                out.append(stream.process(x[:, i : i + FRAME]))
                stream.wait_for_analysis(10.0)  # as `semeq stream` on a file
            out = np.concatenate(out, axis=1)
            mode = stream.analysis_mode
        offline, _ = engine.apply(x, SAMPLE_RATE, "bright", 0.7, loudness_match=False)
        last = slice(4 * SAMPLE_RATE, None)
        diff_db = 20 * np.log10(np.std(out[:, last] - offline[:, last]) / np.std(offline[:, last]))
        print(f"{name}: stream ({mode}) vs offline render over the last 2 s: {diff_db:.1f} dB "
              "(RMS of the difference re the output)")


if __name__ == "__main__":
    main()
