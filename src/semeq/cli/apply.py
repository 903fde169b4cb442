"""``semeq apply``: the adaptive semantic EQ on a file or a folder of files."""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np

from ..errors import AudioFileError, ParameterError, SemeqError
from ..io import check_audio_output, check_output_path
from ..request import MODES
from .common import add_subtype_option

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".aif", ".aiff", ".mp3"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("apply", help="move a recording toward a word",
                       description="Apply the adaptive semantic EQ that moves a recording toward a word.")
    p.add_argument("input", help="audio file, or a folder of audio files (batch)")
    p.add_argument("--target", required=True, metavar="PHRASE",
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
    p.add_argument("--dynamic", action="store_true",
                   help="dynamic EQ on top: more change in the word's direction while a region moves away from it "
                        "(highs flaring for 'warm'), at most twice the word's own EQ in all")
    p.add_argument("--lookahead-ms", type=float, default=0.0, metavar="MS",
                   help="with --dynamic: let the detector look ahead this far (0-50 ms; default 0, zero latency)")
    p.add_argument("-o", "--output", help="output file (or folder, for a folder input); default processed/NAME_WORD_I.ext")
    p.add_argument("--plot", metavar="PNG", help="draw the EQ curve with the input's and output's long-term spectra")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    add_subtype_option(p)
    p.add_argument("--no-loudness-match", action="store_true", help="keep the EQ's level change (lowered only as far as the -1 dBTP ceiling needs)")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="parallel workers for a folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: one for files over a minute on a terminal)")
    p.add_argument("--models", metavar="DIR", help="folder with trained eq_vae.* and audio_encoder.* (default: shipped)")
    p.set_defaults(func=run)


def build_request(engine, args: argparse.Namespace):
    """The one :class:`~semeq.request.EQRequest` of this command line (every check made there)."""
    if args.static and args.mode not in (None, "static"):
        raise ParameterError(f"--static contradicts --mode {args.mode}")
    if args.alpha is not None and args.blend is None:
        raise ParameterError("--alpha needs --blend WORD2")
    intensity = "auto" if args.auto_intensity else args.intensity
    if isinstance(intensity, float) and not 0.0 <= intensity <= 1.0:
        raise ParameterError(f"--intensity must be in [0, 1], got {intensity:g}")
    if args.alpha is not None and not 0.0 <= args.alpha <= 1.0:
        raise ParameterError(f"--alpha must be in [0, 1], got {args.alpha:g}")
    if args.reference and (args.static or args.mode not in (None, "match")):
        raise ParameterError("--reference TRACK goes with --mode match")
    reference = getattr(args, "reference", None)
    lookahead_ms = getattr(args, "lookahead_ms", 0.0) or 0.0
    if lookahead_ms and not getattr(args, "dynamic", False):
        raise ParameterError("--lookahead-ms goes with --dynamic")
    request = engine.request(args.target, intensity, mode=args.mode, static=args.static, blend=args.blend,
                             alpha=args.alpha, reference=reference,
                             loudness_match=not getattr(args, "no_loudness_match", False),
                             dynamic=bool(getattr(args, "dynamic", False)), lookahead_ms=lookahead_ms)
    if reference:
        engine.reference_balance(request.reference)  # a bad reference fails before any work
    return request


def auto_name(input_path: Path, out_dir: Path, request) -> Path:
    """``NAME_WORD_I.ext`` (``NAME_WORD_auto.ext`` with auto-intensity; ``_match``, ``_static`` or
    ``_latent`` after the word in those modes): known before any work."""
    word = request.target.slug.lower()
    if request.blend is not None:
        word += f"_{request.blend.slug.lower()}{round(request.alpha * 100):02d}"
    word += "" if request.mode == "toward" else f"_{request.mode}"
    amount = "auto" if request.intensity is None else f"{request.intensity:.2f}".replace(".", "_")
    return out_dir / (f"{input_path.stem}_{word}_{amount}" + input_path.suffix)


@functools.lru_cache(maxsize=2)
def load_engine(models: str | None):
    """The engine of this process (the shipped models, or ``--models DIR``), loaded once."""
    from ..adaptive import SemanticEQ

    return SemanticEQ.from_dir(models) if models else SemanticEQ()


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
    what = "static EQ" if result.dynamic_trace is not None else "net EQ"
    plot_curves(plot, CURVE_FREQS_HZ, {f"{what}, {label}, intensity {result.eq.intensity:.2f}": result.eq.curve_db},
                title=f"semeq apply: {Path(input_path).name}", force=force, spectra=spectra,
                dynamic_trace=result.dynamic_trace, dynamic_plan=result.eq.dynamic)


def _check_single_outputs(source: Path, output: Path, plot: str | None, force: bool, subtype: str | None) -> None:
    check_audio_output(output, force=force, inputs=(source,), subtype=subtype, like=_info(source))
    if plot is not None:
        check_output_path(plot, force=force, inputs=(source, output))
        if Path(plot).resolve() == output.resolve():
            raise ParameterError(f"{plot}: the plot and the audio output are the same file")


def _info(path: Path):
    """The input's format (to check that the output can keep it); None when unreadable."""
    import soundfile as sf

    from ..io import AudioInfo

    try:
        i = sf.info(str(path))
    except Exception:  # the pipeline reports an unreadable input with its own clear message
        return None
    return AudioInfo(sample_rate=int(i.samplerate), channels=int(i.channels), frames=int(i.frames),
                     format=i.format, subtype=i.subtype)


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
    dyn = eq.get("dynamic")
    if dyn:
        ranges = facts.get("dynamic_trace", {}).get("range_db", {})
        print(f"  dynamic part (attack {dyn['settings']['attack_ms']:g} ms, release {dyn['settings']['release_ms']:g} ms"
              + (f", look-ahead {dyn['settings']['lookahead_ms']:g} ms" if dyn["settings"]["lookahead_ms"] else "")
              + "): gain range per region (cap = twice the word's own EQ less the static change)")
        for r in dyn["regions"]:
            lo, hi = ranges.get(r["region"], (0.0, 0.0))
            print(f"    {r['region']:9s} {lo:+6.2f} .. {hi:+6.2f} dB  (static {r['static_db']:+.2f} dB, "
                  f"cap {r['cap_db']:.2f} dB {'cut' if r['sign'] < 0 else 'boost'})")
    b, a = facts["before"], facts["after"]
    print("           RMS dBFS  peak dBFS  crest dB  LUFS")
    print(f"  before   {_fmt(b['rms_dbfs'])}    {_fmt(b['peak_dbfs'])}    {_fmt(b['crest_factor_db'])}  {_fmt(b['loudness_lufs'])}")
    print(f"  after    {_fmt(a['rms_dbfs'])}    {_fmt(a['peak_dbfs'])}    {_fmt(a['crest_factor_db'])}  {_fmt(a['loudness_lufs'])}")
    for note in facts.get("notes", []):
        print(f"  note: {note}")


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
        return _run_batch(source, args, request)
    output = Path(args.output) if args.output else auto_name(source, Path("processed"), request)
    if not args.output:
        output.parent.mkdir(parents=True, exist_ok=True)
    _check_single_outputs(source, output, args.plot, args.force, args.subtype)
    if not args.json:
        print_understood(request)
    facts = process_file(str(source), str(output), request, engine=engine, force=args.force, subtype=args.subtype,
                         plot=args.plot, progress=False if (args.no_progress or args.json) else None)
    if args.json:
        print(json.dumps(facts))
    else:
        print_facts(facts)
    return 0


# -- batch -------------------------------------------------------------------------------------
def _init_worker(models: str | None) -> None:
    # Ctrl-C reaches the whole process group: the parent alone decides. It stops a worker with
    # SIGTERM, which ends it at once (raising inside libsndfile's write callback would print a
    # traceback); the parent then removes the temporary file of any output left unfinished.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    load_engine(models)


def _on_term(signum, frame) -> None:
    os._exit(143)


def _batch_one(input_path: str, output: str, request, options: dict) -> dict:
    return process_file(input_path, output, request, engine=load_engine(options["models"]), force=options["force"],
                        subtype=options["subtype"], progress=False)


def _batch_outputs(files: list[Path], out_dir: Path, args: argparse.Namespace, request) -> list[Path]:
    """Every output's path, checked before any file is processed; all problems in one message."""
    outputs = [auto_name(f, out_dir, request) for f in files]
    problems = []
    for f, out in zip(files, outputs):
        try:
            check_audio_output(out, force=args.force, inputs=(f,), subtype=args.subtype, like=_info(f))
        except AudioFileError as exc:
            problems.append(str(exc))
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise AudioFileError(f"{len(problems)} of {len(files)} outputs cannot be written, nothing was processed: "
                             + "; ".join(problems[:3]) + more)
    return outputs


def _run_batch(folder: Path, args: argparse.Namespace, request) -> int:
    from tqdm import tqdm

    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise SemeqError(f"{folder}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) in this folder")
    if args.plot:
        raise ParameterError("--plot draws one file; leave it out for a folder")
    out_dir = Path(args.output) if args.output else Path("processed")
    if out_dir.exists() and not out_dir.is_dir():
        raise ParameterError(f"{out_dir}: for a folder input, -o must be a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = _batch_outputs(files, out_dir, args, request)
    options = {"models": args.models, "force": args.force, "subtype": args.subtype}
    done, failed = [], []
    workers = max(1, min(int(args.workers), len(files)))
    started = time.time()
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(args.models,))
    futures: dict = {}
    bar = tqdm(total=len(files), desc="semeq apply", unit="file", disable=args.json or args.no_progress, file=sys.stderr)
    try:
        for f, out in zip(files, outputs):
            futures[pool.submit(_batch_one, str(f), str(out), request, options)] = (f, out)
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                try:
                    done.append(fut.result())
                except SemeqError as exc:
                    failed.append({"input": str(futures[fut][0]), "error": str(exc)})
                except Exception as exc:  # one file's surprise must not stop the batch
                    failed.append({"input": str(futures[fut][0]), "error": f"internal error: {type(exc).__name__}: {exc}"})
                bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        # Files never submitted are not done either.
        futures.update({_NotSubmitted(): pair for pair in list(zip(files, outputs))[len(futures):]})
        return _stop_batch(pool, futures, done, failed, args, started)
    bar.close()
    pool.shutdown(wait=True)
    done.sort(key=lambda f: f["input"])
    if args.json:
        print(json.dumps({"files": done, "failed": failed}))
    else:
        for facts in done:
            print_facts(facts)
        print(f"{len(done)} processed, {len(failed)} failed")
        for bad in failed:
            message = bad["error"] if bad["input"] in bad["error"] else f"{bad['input']}: {bad['error']}"
            print(f"  failed: {message}", file=sys.stderr)
    return 1 if failed else 0


class _NotSubmitted:
    """Stands for the future of a file the interrupted batch never submitted."""

    def done(self) -> bool:
        return False

    def cancelled(self) -> bool:
        return True


def _stop_batch(pool: ProcessPoolExecutor, futures: dict, done: list, failed: list, args: argparse.Namespace,
                started: float) -> int:
    """Ctrl-C: cancel the queue, stop the running files (their partial outputs removed), report, 130.

    Takes about a second at most; a second Ctrl-C meanwhile is ignored, not a hang.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # Stop every worker; the pool then fails the futures not yet run (BrokenProcessPool): not done.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        for p in processes:
            if p.is_alive():
                p.terminate()  # SIGTERM: the worker exits at once
        deadline = time.monotonic() + 1.0
        for p in processes:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in processes:
            if p.is_alive():
                p.kill()
                p.join(0.5)
        pool.shutdown(wait=True)
        finished_outputs = set()
        for fut, (src, out) in futures.items():
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                result = fut.result()
                if all(result["input"] != d["input"] for d in done):
                    done.append(result)
                finished_outputs.add(str(out))
        # A stopped worker leaves its output's temporary file: remove it (outputs never half-written).
        for fut, (src, out) in futures.items():
            if str(out) not in finished_outputs:
                for part in out.parent.glob(f".{out.name}.*.part"):
                    part.unlink(missing_ok=True)
        done_inputs = {d["input"] for d in done}
        failed_inputs = {f["input"] for f in failed}
        not_done, finished_unreported = [], []
        for src, out in futures.values():
            if str(src) in done_inputs | failed_inputs:
                continue
            # Renamed into place just before its worker stopped: complete, though its report was lost.
            if out.is_file() and out.stat().st_mtime >= started:
                finished_unreported.append({"input": str(src), "output": str(out)})
            else:
                not_done.append(str(src))
        done = done + finished_unreported
        if args.json:
            print(json.dumps({"interrupted": True, "files": sorted(done, key=lambda f: f["input"]), "failed": failed,
                              "not_done": not_done}))
        else:
            for d in sorted(done, key=lambda f: f["input"]):
                print(f"  done: {d['input']} -> {d['output']}")
            for bad in failed:
                print(f"  failed: {bad['input']}: {bad['error']}", file=sys.stderr)
            for src in not_done:
                print(f"  not done: {src}")
        print(f"semeq: interrupted: {len(done)} processed, {len(failed)} failed, {len(not_done)} not done "
              "(no partial output left)", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
