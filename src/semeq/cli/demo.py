"""``semeq demo``: the pipeline on a bundled, generated clip."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..dsp import apply_eq, eq_response
from ..io import save_audio
from ..params import EQParams
from .common import log_freqs, plot_curves


def demo_signal(sample_rate: int = 44100, duration_s: float = 6.0, seed: int = 0) -> np.ndarray:
    """A generated stereo clip: a bass line, a chord pad and noisy hi-hats, 6 s."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    bass_hz = np.array([55.0, 55.0, 73.4, 65.4])[(t * 2).astype(int) % 4]
    bass = 0.35 * np.sin(2 * np.pi * np.cumsum(bass_hz) / sample_rate)
    pad = sum(0.08 * np.sin(2 * np.pi * f * t + p) for f, p in ((220.0, 0.0), (277.2, 1.0), (329.6, 2.0), (440.0, 0.5)))
    hat_env = np.exp(-((t * 4) % 1.0) * 40.0)
    hats = 0.05 * hat_env * np.diff(rng.standard_normal(t.size + 1))
    mono = bass + pad + hats
    stereo = np.stack([mono + 0.02 * rng.standard_normal(t.size), mono + 0.02 * rng.standard_normal(t.size)])
    return 0.5 * stereo / np.max(np.abs(stereo))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run semeq on a bundled generated clip", description="Run semeq on a generated demo clip.")
    p.add_argument("--out-dir", default="semeq-demo", help="folder for the demo's files (default: semeq-demo)")
    p.add_argument("--force", action="store_true", help="overwrite the demo's earlier files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sample_rate = 44100
    audio = demo_signal(sample_rate)
    params = EQParams(low_shelf_gain_db=3.0, low_shelf_freq_hz=200.0, peak2_gain_db=-2.0, peak2_freq_hz=2500.0,
                      peak2_q=1.0, high_shelf_gain_db=-3.0, high_shelf_freq_hz=6000.0)
    out = apply_eq(audio, sample_rate, params)
    save_audio(out_dir / "demo_input.wav", audio, sample_rate, subtype="int24", force=args.force)
    save_audio(out_dir / "demo_eq.wav", out, sample_rate, subtype="int24", force=args.force)
    freqs = log_freqs()
    plot_curves(out_dir / "demo_eq.png", freqs, {"manual EQ": eq_response(params, freqs, sample_rate)},
                title="semeq demo: manual EQ", force=args.force)
    print("manual EQ on a generated clip:")
    print(params.describe())
    print(f"wrote {out_dir / 'demo_input.wav'}, {out_dir / 'demo_eq.wav'} and {out_dir / 'demo_eq.png'}")
    return 0
