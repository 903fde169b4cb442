"""Draw docs/semantics_toward.png and docs/semantics_match.png: one figure per mode, two contrasting
development clips (a dark and a bright one), the word "bright" at intensity 0.7.

Each panel: the music corridor (10-90 % and 25-75 % of the reference tracks), the clip's balance,
the word's target (the reference centre with the word's own EQ), the change semeq applies (the
fitted 5-band EQ's response) and the balance it leaves.

Usage: PYTHONPATH=src python scripts/figures_semantics.py [--word bright] [--intensity 0.7]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from semeq.adaptive import SemanticEQ
from semeq.analysis import GRID_FREQS_HZ
from semeq.data.paths import data_dir
from semeq.dsp import eq_response
from semeq.io import atomic_output, load_audio
from semeq.plots import draw_corridor

CLIPS = ("d04_dark_ambient_ufoai", "d08_very_bright_supertux")
DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--word", default="bright")
    parser.add_argument("--intensity", type=float, default=0.7)
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seq = SemanticEQ()
    for mode in ("toward", "match"):
        fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), dpi=100, sharey=True)
        for ax, clip in zip(axes, CLIPS):
            x, sr, _ = load_audio(data_dir() / "music-dev" / f"{clip}.flac")
            eq = seq.adaptive_eq(x, sr, args.word, args.intensity, mode=mode)
            b = eq.balance
            draw_corridor(ax, b, label="input balance")
            held = b.held
            word = np.where(held, eq.word_db, np.nan)
            applied = np.where(held, eq_response(list(eq.cascade), GRID_FREQS_HZ, sr) if eq.cascade else 0.0, np.nan)
            ax.semilogx(GRID_FREQS_HZ, word, color="tab:orange", linewidth=1.6, linestyle="--",
                        label=f"'{args.word}' target (centre + the word's EQ)")
            ax.semilogx(GRID_FREQS_HZ, applied, color="tab:red", linewidth=2.2, label="applied change (5-band EQ)")
            ax.semilogx(GRID_FREQS_HZ, b.balance_db + applied, color="tab:green", linewidth=1.2,
                        label="balance after (level-free)")
            fit = f", fit {eq.fit.rms_error_db:.2f} dB RMS" if eq.fit is not None and eq.cascade else ""
            ax.set_title(f"{clip[:3]} ({clip[4:].rsplit('_', 1)[0].replace('_', ' ')}): {mode} '{args.word}' "
                         f"{args.intensity:g}, change {eq.change_rms_db:.1f} dB RMS{fit}", fontsize=9)
            ax.set_ylim(-30, 25)
        axes[0].legend(loc="lower left", fontsize=7)
        fig.tight_layout()
        out = DOCS / f"semantics_{mode}.png"
        with atomic_output(out) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        print(out)


if __name__ == "__main__":
    main()
