"""``semeq batch``: many files on Dask (a local cluster, or yours), with a ledger, resumable.

A thin front end over :mod:`semeq.batch`: it parses, builds the request once, and prints.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

from ..errors import ParameterError, SemeqError
from .apply import add_request_options, build_request, failure_line, load_engine, print_understood, progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch", help="treat a catalogue (files, folders, manifests) on Dask, resumable, with a ledger",
        description="Apply the adaptive semantic EQ to many files on a local Dask cluster or on yours "
                    "(--scheduler), recording each file in OUTDIR/semeq-batch.jsonl; a rerun skips what is done. "
                    "Paths must be visible to every worker at the same place (a shared filesystem).")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="audio files, folders (recursive; audio recognised by content) and manifests "
                        "(.txt: one path a line; .csv: a 'path' column or the first)")
    p.add_argument("-o", "--output", metavar="OUTDIR", help="output folder; keeps the ledger semeq-batch.jsonl")
    add_request_options(p, target_required=False)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="worker processes of the local cluster (default: the cores)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run on this Dask scheduler's workers instead of a local cluster")
    p.add_argument("--json", action="store_true", help="print the summary (or the report) as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: one on a terminal)")
    p.add_argument("--report", metavar="OUTDIR",
                   help="print the table of OUTDIR's ledger (each input's latest line) and exit")
    p.add_argument("--csv", action="store_true", help="with --report: CSV on stdout, the five bands as columns")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.report:
        if args.inputs or args.output or args.target:
            raise ParameterError("--report OUTDIR takes no inputs, -o or --target")
        return _report(Path(args.report), csv_out=args.csv, as_json=args.json)
    if args.csv:
        raise ParameterError("--csv goes with --report OUTDIR")
    if not args.inputs:
        raise ParameterError("give the inputs: audio files, folders or manifests (.txt, .csv)")
    if not args.output:
        raise ParameterError("give the output folder: -o OUTDIR")
    if not args.target:
        raise ParameterError("give the target: --target PHRASE")
    if args.workers < 1:
        raise ParameterError(f"--workers must be at least 1, got {args.workers}")
    if args.scheduler and "://" not in args.scheduler:
        raise ParameterError(f"--scheduler takes an address such as tcp://HOST:8786, got {args.scheduler!r}")
    from ..batch import BatchSettings, Ledger, dask_available, find_inputs, plan_batch, run_batch

    engine = load_engine(args.models)
    request = build_request(engine, args)  # bad words and settings fail before any work
    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise ParameterError(f"{out_dir}: -o must be a folder")
    inputs = find_inputs(args.inputs, exclude=[out_dir])
    if not inputs:
        raise SemeqError(f"no audio files in {', '.join(args.inputs)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = BatchSettings(request=request, subtype=args.subtype, models=args.models)
    ledger = Ledger.in_folder(out_dir)
    items = plan_batch(inputs, out_dir, settings, force=args.force, ledger=ledger)
    if not args.scheduler and not dask_available():
        from .apply import LOCAL_FALLBACK_NOTE

        print(LOCAL_FALLBACK_NOTE, file=sys.stderr)
    if not args.json:
        print_understood(request)
    bar = progress_bar(len(items), "semeq batch", disable=args.json or args.no_progress)
    try:
        summary = run_batch(items, settings, workers=args.workers, scheduler=args.scheduler, ledger=ledger,
                            on_record=lambda record: bar.update(1), keep_facts=False)
    finally:
        bar.close()
    failed = summary.of("failed")
    for note in summary.notes:
        print(f"semeq: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        _print_summary(summary)
    for bad in failed:
        print(f"  failed: {failure_line(bad)}", file=sys.stderr)
    if summary.interrupted:
        print(f"semeq: interrupted: {len(summary.of('done'))} done, {len(failed)} failed, {len(summary.not_done)} "
              "not done (no partial output left); the same command resumes", file=sys.stderr)
        return 130
    return 1 if failed else 0


def _print_summary(summary) -> None:
    d = summary.to_dict()
    rate = ""
    if summary.seconds > 0 and d["done"]:
        rate = f", {summary.audio_s / summary.seconds:.1f} audio hours per hour"
    print(f"semeq batch: {d['done']} done, {d['skipped']} skipped, {d['failed']} failed"
          + (f", {d['not_done']} not done" if d["not_done"] else "")
          + f" in {summary.seconds:.1f} s {summary.where} ({d['audio_hours']:.3f} audio hours{rate})")
    print(f"  ledger: {summary.ledger}")


def _fmt(value, spec: str = "6.1f") -> str:
    return f"{value:{spec}}" if isinstance(value, (int, float)) else f"{'-':>{len(format(0.0, spec))}}"


def _report(out_dir: Path, *, csv_out: bool, as_json: bool) -> int:
    from ..batch import REPORT_COLUMNS, read_report

    rows = read_report(out_dir)
    if as_json:
        print(json.dumps(rows))
        return 0
    if csv_out:
        band_keys: list[str] = []
        for row in rows:
            for k in row.get("bands") or {}:
                if k not in band_keys:
                    band_keys.append(k)
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(list(REPORT_COLUMNS) + band_keys)
        for row in rows:
            bands = row.get("bands") or {}
            writer.writerow([("" if row.get(c) is None else row.get(c)) for c in REPORT_COLUMNS]
                            + [("" if bands.get(k) is None else bands[k]) for k in band_keys])
        return 0
    print(f"{'status':8} {'intens':>6} {'gain dB':>7} {'LUFS in':>7} {'LUFS out':>8} {'TP out':>6} {'fit dB':>6} "
          f"{'audio s':>8} {'task s':>7} {'tries':>5}  input")
    for row in rows:
        print(f"{row['status']:8} {_fmt(row.get('intensity'), '6.2f')} {_fmt(row.get('output_gain_db'), '7.2f')} "
              f"{_fmt(row.get('loudness_in_lufs'), '7.1f')} {_fmt(row.get('loudness_out_lufs'), '8.1f')} "
              f"{_fmt(row.get('true_peak_out_dbtp'), '6.1f')} {_fmt(row.get('fit_error_db'), '6.2f')} "
              f"{_fmt(row.get('duration_s'), '8.1f')} {_fmt(row.get('seconds'), '7.2f')} {row['attempts']:5d}  "
              f"{row['input']}")
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("done", "failed", "skipped")}
    audio_h = sum(r.get("duration_s") or 0.0 for r in rows if r["status"] == "done") / 3600.0
    work_s = sum(r.get("seconds") or 0.0 for r in rows if r["status"] == "done")
    print(f"{len(rows)} inputs: {counts['done'] + counts['skipped']} done, {counts['failed']} failed; "
          f"{audio_h:.3f} audio hours in {work_s:.1f} task seconds")
    for row in rows:
        if row["status"] == "failed":
            print(f"  failed: {failure_line(row)}")
    return 0
