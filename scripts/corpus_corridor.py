"""Draw docs/corpus_corridor.png: the corpus's long-term balance corridor with the dev clips on it.

For every track of one split (default: train) the long-term spectrum measured as the shipped
music reference measures it (``semeq.reference.measure_psd``: 60 points on ``GRID_FREQS_HZ``, its
Welch power averaged over six evenly spaced 10 s excerpts, ``semeq.corpus.stats.excerpt_spectrum_db``;
NaN above the content's cut-off found by ``semeq.reference.content_cutoff_hz``, level-normalised
over the held band).
Per band the 10/25/50/75/90 % percentiles over the tracks that hold the band; the twelve
development clips (``$SEMEQ_DATA/music-dev``) drawn on top, masked the same way.

Spectra are cached by SHA-256 in ``<corpus cache>/stats/ltas.npz``: a rerun decodes nothing.

Run: PYTHONPATH=src python scripts/corpus_corridor.py [--split train] [--out docs/corpus_corridor.png]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from semeq.analysis import GRID_FREQS_HZ
    from semeq.corpus import default_cache_dir, load_manifest
    from semeq.corpus.stats import percentile_corridor, track_spectra
    from semeq.reference import measure
    from semeq.data.paths import data_dir
    from semeq.io import atomic_output, load_audio

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", help="default: corpus/manifest.csv of this checkout")
    ap.add_argument("--cache", help="corpus cache folder (default: semeq.corpus.default_cache_dir())")
    ap.add_argument("--split", default="train", choices=("train", "validation", "test", "all"))
    ap.add_argument("--out", default="docs/corpus_corridor.png")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    tracks = load_manifest(args.manifest)
    chosen = tracks if args.split == "all" else [t for t in tracks if t.split == args.split]
    cache = Path(args.cache) if args.cache else default_cache_dir()
    spectra = track_spectra(chosen, cache)  # NaN above each track's cut-off (the reference's rule)
    held = np.isfinite(spectra).sum(axis=0)
    pcts = (10, 25, 50, 75, 90)
    corridor = percentile_corridor(spectra, pcts)
    print(f"{len(chosen)} {args.split} tracks from {len({t.package for t in chosen})} packages, "
          f"{sum(t.duration_s for t in chosen) / 3600:.2f} h; spectra in {time.perf_counter() - t0:.0f} s")
    cut = np.isnan(spectra).any(axis=1)
    print(f"tracks with a band edge below 18.1 kHz: {int(cut.sum())} of {len(chosen)}; "
          f"tracks holding 14.4 / 16.1 / 18.1 kHz: {held[-3]} / {held[-2]} / {held[-1]}")
    print(f"{'Hz':>8} " + " ".join(f"{p:>6}%" for p in pcts))
    for i in range(0, GRID_FREQS_HZ.size, 6):
        print(f"{GRID_FREQS_HZ[i]:8.0f} " + " ".join(f"{v:7.1f}" for v in corridor[:, i]))

    dev_dir = data_dir() / "music-dev"
    dev = []
    for path in sorted(dev_dir.glob("*.flac")):
        audio, rate, _ = load_audio(path)
        dev.append((path.stem, measure(audio, rate).spectrum_db))
    inside = []
    for name, s in dev:
        ok = np.isfinite(s) & np.isfinite(corridor[0])
        frac = float(np.mean((s[ok] >= corridor[0, ok]) & (s[ok] <= corridor[-1, ok])))
        inside.append(frac)
        print(f"  {name:<32} inside the 10-90 % corridor at {100 * frac:5.1f} % of the grid points it holds")
    print(f"dev clips: median {100 * np.median(inside):.1f} % of points inside the 10-90 % corridor")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5.6), dpi=110)
    f = GRID_FREQS_HZ
    ax.fill_between(f, corridor[0], corridor[4], color="0.82", label="corpus 10-90 %", zorder=1)
    ax.fill_between(f, corridor[1], corridor[3], color="0.64", label="corpus 25-75 %", zorder=2)
    ax.plot(f, corridor[2], color="black", lw=2, label="corpus median", zorder=4)
    colours = plt.cm.tab20(np.linspace(0, 1, max(len(dev), 1), endpoint=False))
    for (name, s), c in zip(dev, colours):
        ax.plot(f, s, color=c, lw=1.0, alpha=0.9, label=name.split("_", 1)[0] + " " + name.split("_", 1)[-1].replace("_", " "), zorder=3)
    ax.set_xscale("log")
    ax.set_xlim(f[0], f[-1])
    ax.set_ylim(np.nanmin(corridor[0]) - 15, np.nanmax(corridor[4]) + 10)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("level re mean over 100 Hz-10 kHz (dB)")
    ax.set_title(f"Long-term balance of {len(chosen)} corpus {args.split} tracks "
                 f"({sum(t.duration_s for t in chosen) / 3600:.1f} h), third-octave smoothed; development clips on top")
    ax.title.set_fontsize(9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6.5, ncol=2, loc="lower left")
    fig.tight_layout()
    out = Path(args.out)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, format="png")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
