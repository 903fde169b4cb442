"""``semeq demo``: the whole pipeline on a bundled, generated clip."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..io import save_audio


def demo_signal(sample_rate: int = 44100, duration_s: float = 6.0, seed: int = 0) -> np.ndarray:
    """A generated stereo clip, 6 s, peak -6 dBFS: a bass line, a chord pad, and a pulsing noise bed.

    The bed has the reference balance tilted up by 1.5 dB per octave, so the clip is a little
    brighter than typical music: "warm" then shows what it does on an ordinary mix (more low
    mids, less top). Deterministic for a seed.
    """
    from ..analysis import GRID_FREQS_HZ, reference_spectrum_db
    from ..data.synth import shaped_noise

    rng = np.random.default_rng(seed)
    n = int(duration_s * sample_rate)
    t = np.arange(n) / sample_rate
    ref_db = reference_spectrum_db()

    def amplitude(freqs_hz: np.ndarray) -> np.ndarray:
        return 10 ** ((np.interp(np.log(freqs_hz), np.log(GRID_FREQS_HZ), ref_db) + 1.5 * np.log2(freqs_hz / 1000.0)) / 20)

    bed = shaped_noise(amplitude, n, sample_rate, rng, 2, rms=1.0)
    pulse = 0.35 + 0.65 * np.exp(-((t * 4) % 1.0) * 12.0)  # eighth notes at 120 bpm
    bass_hz = np.array([55.0, 55.0, 73.4, 65.4])[(t * 2).astype(int) % 4]
    bass = np.sin(2 * np.pi * np.cumsum(bass_hz) / sample_rate)
    pad = sum(np.sin(2 * np.pi * f * t + p) for f, p in ((220.0, 0.0), (277.2, 1.0), (329.6, 2.0), (440.0, 0.5))) / 4
    mix = 0.12 * bed * pulse + 0.10 * bass + 0.05 * pad
    return 0.5 * mix / np.max(np.abs(mix))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run semeq on a bundled generated clip",
                       description="Profile a generated clip, make it warmer with the adaptive EQ, write audio and a plot.")
    p.add_argument("--target", default="warm", metavar="WORD", help="the word to move toward (default warm)")
    p.add_argument("--intensity", type=float, default=0.7, help="0..1 (default 0.7)")
    p.add_argument("--out-dir", default="semeq-demo", help="folder for the demo's files (default: semeq-demo)")
    p.add_argument("--force", action="store_true", help="overwrite the demo's earlier files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..adaptive import SemanticEQ
    from ..errors import ParameterError
    from ..io import check_output_path
    from .analyze import print_profile
    from .apply import print_facts, process_file

    if not 0.0 <= args.intensity <= 1.0:
        raise ParameterError(f"--intensity must be in [0, 1], got {args.intensity:g}")
    engine = SemanticEQ()
    request = engine.request(args.target, args.intensity)  # an unknown word fails here, before any file is written
    word = request.target.slug
    out_dir = Path(args.out_dir)
    source, output, plot = (out_dir / "demo_input.wav", out_dir / f"demo_{word.replace(' ', '-')}.wav",
                            out_dir / f"demo_{word.replace(' ', '-')}.png")
    if out_dir.exists():
        for path in (source, output, plot):
            check_output_path(path, force=args.force)
    out_dir.mkdir(parents=True, exist_ok=True)
    sample_rate = 44100
    audio = demo_signal(sample_rate)
    save_audio(source, audio, sample_rate, subtype="int24", force=args.force)
    print("the generated clip:")
    print_profile(engine.profile(audio, sample_rate, top_k=5))
    facts = process_file(str(source), str(output), request, force=args.force, plot=str(plot), engine=engine,
                         progress=False)
    print_facts(facts)
    print(f"wrote {source}, {facts['output']} and {facts['plot']}")
    return 0
