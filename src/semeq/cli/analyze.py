"""``semeq analyze``: the semantic profile of a recording and its long-term spectrum."""

from __future__ import annotations

import argparse
import json

import numpy as np

from ..io import load_audio

SUMMARY_BANDS_HZ = (63, 125, 250, 500, 1000, 2000, 4000, 8000, 16000)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="how much of each word a recording already has",
                       description="Print a recording's semantic profile and its balance against the reference.")
    p.add_argument("input", help="audio file")
    p.add_argument("--top-k", type=int, default=10, metavar="N", help="how many words to list (default 10)")
    p.add_argument("--all-words", action="store_true", help="rank all 638 words, the thinly supported ones too")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--models", metavar="DIR", help="folder with trained models (default: shipped)")
    p.set_defaults(func=run)


def balance_summary(audio: np.ndarray, sample_rate: float) -> dict[str, float]:
    """The recording's balance against the reference balance at octave centres, in dB."""
    from ..analysis import GRID_FREQS_HZ, balance_db

    balance = balance_db(audio, sample_rate)
    values = np.interp(np.log(SUMMARY_BANDS_HZ), np.log(GRID_FREQS_HZ), balance)
    # A band the file cannot hold (at or above Nyquist) has no balance.
    return {str(f): (round(float(v), 2) if f < 0.5 * sample_rate else None) for f, v in zip(SUMMARY_BANDS_HZ, values)}


def print_profile(profile) -> None:
    print("semantic profile (score 0..1: how much of the word it already has; 'carries': share of the word's own EQ)")
    width = max(len(e.word) for e in profile.entries)
    for e in profile.entries:
        bar = "#" * int(round(e.score * 30))
        flag = f"  (low confidence {e.confidence:.2f})" if e.low_confidence else ""
        print(f"  {e.word:<{width}}  {e.score:4.2f} {bar:<30} carries {100 * e.fraction:5.0f} %{flag}")


def run(args: argparse.Namespace) -> int:
    from ..adaptive import SemanticEQ
    from ..errors import ParameterError

    if args.top_k < 1:
        raise ParameterError(f"--top-k must be at least 1, got {args.top_k}")
    audio, sample_rate, info = load_audio(args.input)
    engine = SemanticEQ.from_dir(args.models) if args.models else SemanticEQ()
    profile = engine.profile(audio, sample_rate, top_k=args.top_k, min_confidence=0.0 if args.all_words else 0.5)
    summary = balance_summary(audio, sample_rate)
    if args.json:
        print(json.dumps({"input": args.input, "sample_rate": sample_rate, "channels": info.channels,
                          "duration_s": round(info.duration_s, 3), "balance_vs_reference_db": summary} | profile.to_dict()))
        return 0
    print(f"{args.input}: {info.duration_s:.1f} s, {sample_rate} Hz, {info.channels} ch")
    print_profile(profile)
    print("balance against the reference (dB, long-term spectrum, loudness-normalised):")
    print("  " + "  ".join(f"{int(f) if int(f) < 1000 else str(int(f) // 1000) + 'k':>5}" for f in SUMMARY_BANDS_HZ))
    print("  " + "  ".join("  n/a" if v is None else f"{v:+5.1f}" for v in summary.values()))
    if sample_rate < 22050:
        print(f"  note: at {sample_rate} Hz nothing above {sample_rate // 2} Hz exists; the balance and the profile "
              "read that as a missing top end")
    return 0
