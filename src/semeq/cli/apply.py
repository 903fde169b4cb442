"""``semeq apply``: the adaptive semantic EQ on a file or a folder of files."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from ..batch import AUDIO_SUFFIXES, audio_info, auto_name  # noqa: F401 (auto_name: also for other commands)
from ..errors import ParameterError, SemeqError
from ..io import check_audio_output, check_output_path
from ..request import MODES
from .common import add_subtype_option
from .export import EXPORT_HELP, check_export_targets, write_exports


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("apply", help="move a recording toward a word",
                       description="Apply the adaptive semantic EQ that moves a recording toward a word.")
    p.add_argument("input", help="audio file, or a folder of audio files (batch)")
    add_request_options(p)
    p.add_argument("-o", "--output", help="output file (or folder, for a folder input); default processed/NAME_WORD_I.ext")
    p.add_argument("--plot", metavar="PNG", help="draw the EQ curve with the input's and output's long-term spectra")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--export", action="append", metavar="FORMAT:PATH", help=EXPORT_HELP)
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="parallel workers for a folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: one for files over a minute on a terminal)")
    p.set_defaults(func=run)


def add_request_options(p: argparse.ArgumentParser, *, target_required: bool = True) -> None:
    """The settings of a request (what :func:`build_request` reads), shared by apply and batch."""
    p.add_argument("--target", required=target_required, metavar="PHRASE",
                   help="a word or a phrase: warm, bright, claro, 'a bit darker', 'less harsh', 'warm and airy'...")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--intensity", type=float, metavar="I", help="0 (untouched) .. 1 (all the way); default 0.5")
    how.add_argument("--auto-intensity", action="store_true", help="choose the intensity from the distance to the word")
    p.add_argument("--blend", metavar="WORD2", help="blend the target with a second word")
    p.add_argument("--alpha", type=float, metavar="A", help="weight of the blend word, 0..1 (default 0.5 with --blend)")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="toward (default): only in the word's direction, nothing where the recording already has it; "
                        "match: move the whole balance to the word's point (or --reference's); static: the word's own EQ; "
                        "latent: the seed's rule in the EQ model's latent space (for comparison)")
    p.add_argument("--static", action="store_true", help="same as --mode static")
    p.add_argument("--reference", metavar="TRACK", help="with --mode match: match this recording's balance instead of a word's")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    add_subtype_option(p)
    p.add_argument("--no-loudness-match", action="store_true", help="keep the EQ's level change (lowered only as far as the -1 dBTP ceiling needs)")
    p.add_argument("--models", metavar="DIR", help="folder with trained eq_vae.* and audio_encoder.* (default: shipped)")


def build_request(engine, args: argparse.Namespace):
    """The one :class:`~semeq.request.EQRequest` of this command line (every check made there)."""
    if args.static and args.mode not in (None, "static"):
        raise ParameterError(f"--static contradicts --mode {args.mode}")
    if args.alpha is not None and args.blend is None:
        raise ParameterError("--alpha needs --blend WORD2")
    if args.auto_intensity and (args.static or args.mode == "static"):  # the request refuses it too, in API words
        raise ParameterError("--auto-intensity measures the recording: it does not go with --mode static")
    intensity = "auto" if args.auto_intensity else args.intensity
    if isinstance(intensity, float) and not 0.0 <= intensity <= 1.0:
        raise ParameterError(f"--intensity must be in [0, 1], got {intensity:g}")
    if args.alpha is not None and not 0.0 <= args.alpha <= 1.0:
        raise ParameterError(f"--alpha must be in [0, 1], got {args.alpha:g}")
    if args.reference and (args.static or args.mode not in (None, "match")):
        raise ParameterError("--reference TRACK goes with --mode match")
    reference = getattr(args, "reference", None)
    request = engine.request(args.target, intensity, mode=args.mode, static=args.static, blend=args.blend,
                             alpha=args.alpha, reference=reference,
                             loudness_match=not getattr(args, "no_loudness_match", False))
    if reference:
        engine.reference_balance(request.reference)  # a bad reference fails before any work
    return request


def load_engine(models: str | None):
    """The engine of a command (the shipped models, or ``--models DIR``): built by ``run()`` and passed down."""
    from ..adaptive import SemanticEQ

    return SemanticEQ.load(models)


def process_file(input_path: str, output: str, request, *, engine, force: bool = False, subtype: str | None = None,
                 plot: str | None = None, progress: bool | None = None) -> dict:
    """One file through :func:`semeq.pipeline.apply_file`; returns the facts to print.

    The outputs were checked by the caller; the plot is drawn last.
    """
    from ..pipeline import apply_file

    result = apply_file(input_path, output, request, force=force, subtype=subtype, progress=progress, engine=engine)
    facts = result.to_dict()
    if plot:
        _plot(input_path, output, plot, request, result, force=force)
        facts["plot"] = plot
    return facts


def _plot(input_path: str, output: str, plot: str, request, result, *, force: bool) -> None:
    from ..adaptive import CURVE_FREQS_HZ
    from ..analysis import GRID_FREQS_HZ, long_term_spectrum_db
    from ..io import read_analysis_excerpt
    from .common import plot_curves

    spectra = {}
    for label, path in (("input spectrum", input_path), ("output spectrum", output)):
        excerpt, sample_rate, _ = read_analysis_excerpt(path)  # bounded, as the analysis reads
        spectra[label] = np.interp(np.log(CURVE_FREQS_HZ), np.log(GRID_FREQS_HZ), long_term_spectrum_db(excerpt, sample_rate))
    label = f"{request.mode} '{request.label}'"
    plot_curves(plot, CURVE_FREQS_HZ, {f"net EQ, {label}, intensity {result.eq.intensity:.2f}": result.eq.curve_db},
                title=f"semeq apply: {Path(input_path).name}", force=force, spectra=spectra)


def _check_single_outputs(source: Path, output: Path, plot: str | None, force: bool, subtype: str | None) -> None:
    check_audio_output(output, force=force, inputs=(source,), subtype=subtype, like=audio_info(source))
    if plot is not None:
        check_output_path(plot, force=force, inputs=(source, output))
        if Path(plot).resolve() == output.resolve():
            raise ParameterError(f"{plot}: the plot and the audio output are the same file")


def _fmt(v) -> str:
    return "   n/a" if v is None else f"{v:6.1f}"


def print_facts(facts: dict) -> None:
    eq = facts["eq"]
    print(f"{facts['input']} -> {facts['output']}")
    print(f"  {eq['mode']} '{eq['target']}'" + (f" + '{eq['blend']}' (alpha {eq['alpha']:.2f})" if eq["blend"] else "")
          + f", intensity {eq['intensity']:.2f}, net change {eq['change_rms_db']:.2f} dB RMS (100 Hz-10 kHz)")
    if "auto_intensity" in facts:
        print(f"  auto-intensity: {facts['auto_intensity']['explanation']}")
    fit = eq.get("fit_5band")
    if fit and eq["cascade"]:
        from ..params import EQParams

        params = EQParams(**{k: v for k, v in fit.items() if not k.endswith("error_db")})
        print(f"  net EQ as one 5-band setting (fit error {fit['rms_error_db']:.2f} dB RMS, {fit['max_error_db']:.2f} dB max):")
        print(params.describe())
    b, a = facts["before"], facts["after"]
    print("           RMS dBFS  peak dBFS  crest dB  LUFS")
    print(f"  before   {_fmt(b['rms_dbfs'])}    {_fmt(b['peak_dbfs'])}    {_fmt(b['crest_factor_db'])}  {_fmt(b['loudness_lufs'])}")
    print(f"  after    {_fmt(a['rms_dbfs'])}    {_fmt(a['peak_dbfs'])}    {_fmt(a['crest_factor_db'])}  {_fmt(a['loudness_lufs'])}")
    for note in facts.get("notes", []):
        print(f"  note: {note}")
    for preset in facts.get("exports", []):
        print(f"  {preset['format']} preset: {preset['path']}")


def print_understood(request, file=None) -> None:
    """How the target (and blend) were understood, before the EQ: one line each."""
    file = sys.stdout if file is None else file
    for interp in (request.target, request.blend):
        if interp is not None and not interp.is_single_word:
            print(interp.describe(), file=file)
            for note in interp.notes:
                print(f"  note: {note}", file=file)


def run(args: argparse.Namespace) -> int:
    source = Path(args.input)
    engine = load_engine(args.models)
    request = build_request(engine, args)  # bad words and settings fail before any work
    if source.is_dir():
        if args.export:
            raise ParameterError("--export writes one recording's setting: give a file, or export a file's line "
                                 "of the folder's --json output with 'semeq export OUT.json --entry N'")
        return _run_batch(source, args, request)
    output = Path(args.output) if args.output else auto_name(source, Path("processed"), request)
    if not args.output:
        output.parent.mkdir(parents=True, exist_ok=True)
    _check_single_outputs(source, output, args.plot, args.force, args.subtype)
    exports = check_export_targets(args.export, force=args.force, inputs=(source,), taken=(output, args.plot))
    if not args.json:
        print_understood(request)
    facts = process_file(str(source), str(output), request, engine=engine, force=args.force, subtype=args.subtype,
                         plot=args.plot, progress=False if (args.no_progress or args.json) else None)
    if exports:
        facts["exports"] = write_exports(exports, facts, force=args.force)
    if args.json:
        print(json.dumps(facts))
    else:
        print_facts(facts)
    return 0


# -- a folder: a thin front end over semeq.batch ----------------------------------------------------
def _run_batch(folder: Path, args: argparse.Namespace, request) -> int:
    from ..batch import BatchSettings, dask_available, find_inputs, plan_batch, run_batch

    inputs = find_inputs([folder], recursive=False, by_content=False)
    if not inputs:
        raise SemeqError(f"{folder}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) in this folder")
    if args.plot:
        raise ParameterError("--plot draws one file; leave it out for a folder")
    out_dir = Path(args.output) if args.output else Path("processed")
    if out_dir.exists() and not out_dir.is_dir():
        raise ParameterError(f"{out_dir}: for a folder input, -o must be a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = BatchSettings(request=request, subtype=args.subtype, models=args.models)
    items = plan_batch(inputs, out_dir, settings, force=args.force)
    if args.workers > 1 and len(items) > 1 and not dask_available():
        print(LOCAL_FALLBACK_NOTE, file=sys.stderr)
    bar = progress_bar(len(items), "semeq apply", disable=args.json or args.no_progress)
    try:
        summary = run_batch(items, settings, workers=args.workers, on_record=lambda record: bar.update(1))
    finally:
        bar.close()
    done = sorted((r["facts"] for r in summary.of("done")), key=lambda f: f["input"])
    failed = [{"input": r["input"], "error": r["error"]} for r in summary.of("failed")]
    if summary.interrupted:
        not_done = [str(it.input) for it in summary.not_done]
        if args.json:
            print(json.dumps({"interrupted": True, "files": done, "failed": failed, "not_done": not_done}))
        else:
            for d in done:
                print(f"  done: {d['input']} -> {d['output']}")
            for bad in failed:
                print(f"  failed: {bad['input']}: {bad['error']}", file=sys.stderr)
            for src in not_done:
                print(f"  not done: {src}")
        print(f"semeq: interrupted: {len(done)} processed, {len(failed)} failed, {len(not_done)} not done "
              "(no partial output left)", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps({"files": done, "failed": failed}))
    else:
        for facts in done:
            print_facts(facts)
        print(f"{len(done)} processed, {len(failed)} failed")
        for bad in failed:
            print(f"  failed: {failure_line(bad)}", file=sys.stderr)
    return 1 if failed else 0


LOCAL_FALLBACK_NOTE = ('semeq: note: Dask is not installed: the files are processed one at a time in this process '
                       '(pip install "semeq[dask]" for parallel workers)')


def failure_line(bad: dict) -> str:
    """``input: reason``, the input named once."""
    return bad["error"] if bad["input"] in bad["error"] else f"{bad['input']}: {bad['error']}"


def progress_bar(total: int, label: str, *, disable: bool):
    """A files bar on stderr (tqdm shows it on a terminal only when asked: disabled otherwise)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="file", disable=disable or not sys.stderr.isatty(), file=sys.stderr)
