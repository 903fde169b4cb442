"""Print the corpus manifest summary as Markdown (the tables of docs/corpus.md).

Run: PYTHONPATH=src python scripts/corpus_summary.py [--manifest corpus/manifest.csv]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict


def main(argv: list[str] | None = None) -> int:
    from semeq.corpus import CURATED, SPLITS, load_manifest

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", help="default: corpus/manifest.csv of this checkout")
    args = ap.parse_args(argv)
    tracks = load_manifest(args.manifest)
    spec = {s.name: s for s in CURATED}
    hours = sum(t.duration_s for t in tracks) / 3600
    pk = sorted({t.package for t in tracks}, key=lambda p: [s.name for s in CURATED].index(p) if p in spec else 999)
    print(f"**{len(tracks)} tracks, {hours:.2f} hours, {len(pk)} source packages.** "
          f"Durations {min(t.duration_s for t in tracks):.0f}-{max(t.duration_s for t in tracks):.0f} s "
          f"(median {sorted(t.duration_s for t in tracks)[len(tracks) // 2]:.0f} s).\n")
    print("| split | tracks | hours | share of hours | packages |")
    print("|---|---:|---:|---:|---:|")
    for split in SPLITS:
        sel = [t for t in tracks if t.split == split]
        h = sum(t.duration_s for t in sel) / 3600
        print(f"| {split} | {len(sel)} | {h:.2f} | {100 * h / hours:.0f} % | {len({t.package for t in sel})} |")
    print()
    genres = defaultdict(set)
    for p in pk:
        for g in spec[p].genres if p in spec else ():
            genres[g].add(p)
    for split in SPLITS:
        gs = Counter(g for p in pk if p in spec and any(t.split == split for t in tracks if t.package == p) for g in spec[p].genres)
        print(f"- genre tags in {split} (number of packages with the tag): " + ", ".join(f"{g} ({n})" for g, n in sorted(gs.items(), key=lambda kv: (-kv[1], kv[0]))))
    print()
    codecs = Counter(t.codec for t in tracks)
    rates = Counter(t.sample_rate for t in tracks)
    chans = Counter(t.channels for t in tracks)
    print("- codecs: " + ", ".join(f"{k} {v}" for k, v in codecs.most_common())
          + "; sample rates: " + ", ".join(f"{k} Hz {v}" for k, v in sorted(rates.items()))
          + "; channels: " + ", ".join(f"{k}: {v}" for k, v in sorted(chans.items())))
    lic = Counter(t.license for t in tracks)
    print("- licences (tracks): " + ", ".join(f"{k} {v}" for k, v in lic.most_common()))
    print()
    print("| package | version | split | tracks | hours | licence(s) | genres (rough) |")
    print("|---|---|---|---:|---:|---|---|")
    for p in pk:
        sel = [t for t in tracks if t.package == p]
        lics = ", ".join(f"{k} ({v})" if len(set(t.license for t in sel)) > 1 else k
                         for k, v in Counter(t.license for t in sel).most_common())
        print(f"| {p} | {sel[0].version} | {sel[0].split} | {len(sel)} | {sum(t.duration_s for t in sel) / 3600:.2f} "
              f"| {lics} | {', '.join(spec[p].genres) if p in spec else ''} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
