"""``semeq eq``: apply a manual 5-band EQ to a file."""

from __future__ import annotations

import argparse

from ..dsp import apply_eq, eq_response
from ..io import check_audio_output, check_output_path, load_audio, save_audio
from .common import add_subtype_option, log_freqs, params_from_args, plot_curves


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eq", help="apply a manual 5-band EQ", description="Apply a manual SAFE 5-band EQ to an audio file.")
    p.add_argument("input", help="audio file (WAV, FLAC, OGG...)")
    p.add_argument("-o", "--output", required=True, help="output file; keeps the input's format by default")
    p.add_argument("--low-shelf", metavar="GAIN@FREQ", help="low shelf, e.g. 3@120")
    p.add_argument("--peak", metavar="GAIN@FREQ/Q", action="append", help="peaking band (up to three), e.g. -2@400/1.4")
    p.add_argument("--high-shelf", metavar="GAIN@FREQ", help="high shelf, e.g. 2@8000")
    p.add_argument("--plot", metavar="PNG", help="draw the EQ's response curve")
    add_subtype_option(p)
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    params = params_from_args(args.low_shelf, args.peak, args.high_shelf)
    # Every output is checked before the work: its place, its format, the plot's place.
    check_audio_output(args.output, force=args.force, inputs=(args.input,), subtype=args.subtype)
    if args.plot:
        check_output_path(args.plot, force=args.force, inputs=(args.input, args.output))
    audio, sample_rate, info = load_audio(args.input)
    out = apply_eq(audio, sample_rate, params)
    save_audio(args.output, out, sample_rate, like=info, subtype=args.subtype, force=args.force)
    print(f"EQ applied ({sample_rate} Hz, {info.channels} ch, {info.duration_s:.2f} s):")
    print(params.describe())
    print(f"wrote {args.output}")
    if args.plot:
        freqs = log_freqs()
        plot_curves(args.plot, freqs, {"EQ": eq_response(params, freqs, sample_rate)}, title="semeq eq", force=args.force)
        print(f"wrote {args.plot}")
    return 0
