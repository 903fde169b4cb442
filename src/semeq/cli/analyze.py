"""``semeq analyze``: where a recording stands: its semantic profile and its balance in the music corridor."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..io import load_audio

SUMMARY_BANDS_HZ = (63, 125, 250, 500, 1000, 2000, 4000, 8000, 16000)
_RULER_DB = 12.0  # the terminal corridor spans -12..+12 dB
_RULER_WIDTH = 41


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="where a recording stands: profile and balance against real music",
                       description="Print a recording's semantic profile (music percentiles) and its balance "
                                   "against the music reference's corridor.")
    p.add_argument("input", help="audio file")
    p.add_argument("--top-k", type=int, default=10, metavar="N", help="how many words to list (default 10)")
    p.add_argument("--all-words", action="store_true", help="rank all 638 words, the thinly supported ones too")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="PNG", help="draw the balance in the corridor (10-90 %% shaded) to a PNG")
    p.add_argument("--force", action="store_true", help="overwrite an existing --plot file")
    p.add_argument("--models", metavar="DIR", help="folder with trained models (default: shipped)")
    p.set_defaults(func=run)


def balance_summary(balance) -> dict[str, dict | None]:
    """Balance and corridor at octave centres (dB); None where the recording holds nothing."""
    logf = np.log(balance.freqs_hz)
    out: dict[str, dict | None] = {}
    for f in SUMMARY_BANDS_HZ:
        held = balance.held
        if f > balance.cutoff_hz / 2 ** (1 / 6) or not held.any():
            out[str(f)] = None
            continue
        at = lambda curve: round(float(np.interp(np.log(f), logf[held], curve[held])), 2)  # noqa: E731
        out[str(f)] = {"balance_db": at(balance.balance_db)} | {f"p{q}_db": at(v) for q, v in balance.corridor_db.items()}
    return out


def _ruler(values: dict) -> str:
    def col(db: float) -> int:
        return int(round((np.clip(db, -_RULER_DB, _RULER_DB) + _RULER_DB) / (2 * _RULER_DB) * (_RULER_WIDTH - 1)))

    cells = ["."] * _RULER_WIDTH
    for i in range(col(values["p10_db"]), col(values["p90_db"]) + 1):
        cells[i] = "-"
    for i in range(col(values["p25_db"]), col(values["p75_db"]) + 1):
        cells[i] = "="
    cells[col(0.0)] = "|"
    cells[col(values["balance_db"])] = "O"
    return "".join(cells)


def print_profile(profile) -> None:
    print("semantic profile (where it stands along each word, as a percentile of the reference music):")
    width = max(len(e.word) for e in profile.entries)
    for e in profile.entries:
        bar = "#" * int(round(e.percentile / 100 * 30))
        flag = f"  (low confidence {e.confidence:.2f})" if e.low_confidence else ""
        print(f"  {e.word:<{width}}  {bar:<30} more {e.word} than {e.percentile:3.0f} % of the reference music{flag}")


def print_balance(summary: dict, balance) -> None:
    print(f"balance against the reference music (dB, level-free; '-' 10-90 %, '=' 25-75 %, '|' median, 'O' this "
          f"recording; ruler -{_RULER_DB:g}..+{_RULER_DB:g} dB):")
    for f, v in summary.items():
        name = f"{int(f)} Hz" if int(f) < 1000 else f"{int(f) // 1000} kHz"
        if v is None:
            print(f"  {name:>7}    n/a   (not held: content stops at {balance.cutoff_hz / 1000:.1f} kHz)")
            continue
        where = " above the corridor" if v["balance_db"] > v["p90_db"] else (" below the corridor" if v["balance_db"] < v["p10_db"] else "")
        print(f"  {name:>7}  {v['balance_db']:+5.1f}  {_ruler(v)}  [{v['p10_db']:+5.1f}, {v['p90_db']:+5.1f}]{where}")


def run(args: argparse.Namespace) -> int:
    from ..adaptive import SemanticEQ
    from ..errors import ParameterError
    from ..io import check_output_path

    if args.top_k < 1:
        raise ParameterError(f"--top-k must be at least 1, got {args.top_k}")
    if args.plot:
        check_output_path(args.plot, force=args.force, inputs=(args.input,))
    audio, sample_rate, info = load_audio(args.input)
    engine = SemanticEQ.load(args.models)
    profile = engine.profile(audio, sample_rate, top_k=args.top_k, min_confidence=0.0 if args.all_words else 0.5)
    balance = profile.balance
    summary = balance_summary(balance)
    if args.plot:
        from ..plots import plot_balance

        plot_balance(args.plot, balance, title=f"semeq analyze: {Path(args.input).name}",
                     force=args.force)
    if args.json:
        print(json.dumps({"input": args.input, "sample_rate": sample_rate, "channels": info.channels,
                          "duration_s": round(info.duration_s, 3), "balance_summary": summary,
                          "reference_tracks": engine.reference.n_tracks} | profile.to_dict()
                         | ({"plot": args.plot} if args.plot else {})))
        return 0
    print(f"{args.input}: {info.duration_s:.1f} s, {sample_rate} Hz, {info.channels} ch, content up to "
          f"{balance.cutoff_hz / 1000:.1f} kHz (analysed below it)")
    print_profile(profile)
    print_balance(summary, balance)
    print(f"  (reference: {engine.reference.n_tracks} tracks of real music; 'semeq reference build' rebuilds it)")
    return 0
