"""``semeq demo``: the whole pipeline on a bundled, generated clip."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..io import save_audio


def demo_signal(sample_rate: int = 44100, duration_s: float = 6.0, seed: int = 0) -> np.ndarray:
    """A generated stereo clip: a bass line, a chord pad and noisy hi-hats, 6 s, peak -6 dBFS."""
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
    p = sub.add_parser("demo", help="run semeq on a bundled generated clip",
                       description="Profile a generated clip, make it warmer with the adaptive EQ, write audio and a plot.")
    p.add_argument("--target", default="warm", metavar="WORD", help="the word to move toward (default warm)")
    p.add_argument("--intensity", type=float, default=0.7, help="0..1 (default 0.7)")
    p.add_argument("--out-dir", default="semeq-demo", help="folder for the demo's files (default: semeq-demo)")
    p.add_argument("--force", action="store_true", help="overwrite the demo's earlier files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .apply import print_facts, process_file

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sample_rate = 44100
    audio = demo_signal(sample_rate)
    source = save_audio(out_dir / "demo_input.wav", audio, sample_rate, subtype="int24", force=args.force)
    from ..adaptive import SemanticEQ

    profile = SemanticEQ().profile(audio, sample_rate, top_k=5)
    print("semantic profile of the generated clip:")
    for e in profile.entries:
        print(f"  {e.word:<12} {e.score:4.2f} {'#' * int(round(e.score * 30))}")
    word = args.target.lower().replace(" ", "-")
    facts = process_file(str(source), str(out_dir / f"demo_{word}.wav"), str(out_dir), args.target, args.intensity,
                         None, 0.0, False, True, args.force, None, plot=str(out_dir / f"demo_{word}.png"))
    print_facts(facts)
    print(f"wrote {source}, {facts['output']} and {facts['plot']}")
    return 0
