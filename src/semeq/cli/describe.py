"""``semeq describe WORD``: a word's own 5-band EQ and its response curve."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("describe", help="show a word's 5-band EQ", description="Print the word's own static 5-band EQ "
                       "(its decoded embedding) and optionally draw its response curve.")
    p.add_argument("word", help="a word from 'semeq terms' (case-insensitive)")
    p.add_argument("--language", choices=("en", "es"), help="restrict to one language")
    p.add_argument("--plot", metavar="PNG", help="draw the response curve to a PNG")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--model", metavar="PATH", help="EQ model folder or .safetensors (default: the shipped one)")
    p.add_argument("--force", action="store_true", help="overwrite an existing PNG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dsp import eq_response
    from ..eq_model import EQModel
    from .common import log_freqs, plot_curves

    model = EQModel.load(args.model)
    entry = model.entry(args.word, args.language)
    params = model.word_eq(entry.word, entry.language)
    freqs = log_freqs()
    curve = eq_response(params, freqs)
    if args.plot:
        plot_curves(args.plot, freqs, {f"{entry.word} ({entry.language})": curve}, title=f"semeq: {entry.word}", force=args.force)
    if args.json:
        out = {**entry.to_dict(), "eq": params.to_dict(), "embedding": [round(float(v), 6) for v in model.embedding(entry.word, entry.language)]}
        if args.plot:
            out["plot"] = args.plot
        print(json.dumps(out, indent=1, ensure_ascii=False))
        return 0
    conf = "low confidence" if entry.low_confidence else "confidence"
    print(f"{entry.word} ({entry.language}; {'+'.join(entry.sources)}; {entry.count} "
          f"{'settings' if entry.embedding_source == 'safe' else 'contributors'}; {conf} {entry.confidence:.2f})")
    print(params.describe())
    i_max, i_min = int(curve.argmax()), int(curve.argmin())
    print(f"  response: {curve[i_max]:+.1f} dB at {freqs[i_max]:.0f} Hz, {curve[i_min]:+.1f} dB at {freqs[i_min]:.0f} Hz")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0
