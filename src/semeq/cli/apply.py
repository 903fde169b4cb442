"""``semeq apply``: the adaptive semantic EQ on a file or a folder of files."""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from ..errors import ParameterError, SemeqError
from ..io import check_output_path, copy_file, load_audio, save_audio

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".aif", ".aiff", ".mp3"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("apply", help="move a recording toward a word",
                       description="Apply the adaptive semantic EQ that moves a recording toward a word.")
    p.add_argument("input", help="audio file, or a folder of audio files (batch)")
    p.add_argument("--target", required=True, metavar="WORD", help="the word: warm, bright, airy, claro...")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--intensity", type=float, metavar="I", help="0 (untouched) .. 1 (all the way); default 0.5")
    how.add_argument("--auto-intensity", action="store_true", help="choose the intensity from the distance to the word")
    p.add_argument("--blend", metavar="WORD2", help="blend the target with a second word")
    p.add_argument("--alpha", type=float, metavar="A", help="weight of the blend word, 0..1 (default 0.5 with --blend)")
    p.add_argument("--static", action="store_true", help="apply the word's own EQ regardless of the input (non-adaptive)")
    p.add_argument("-o", "--output", help="output file (or folder, for a folder input); default processed/NAME_WORD_I.ext")
    p.add_argument("--plot", metavar="PNG", help="draw the EQ curve with the input's and output's long-term spectra")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--no-loudness-match", action="store_true", help="keep the EQ's level change (lowered only as far as the -1 dBTP ceiling needs)")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="parallel workers for a folder")
    p.add_argument("--models", metavar="DIR", help="folder with trained eq_vae.* and audio_encoder.* (default: shipped)")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> tuple[float | None, float]:
    intensity = None if args.auto_intensity else (0.5 if args.intensity is None else args.intensity)
    if intensity is not None and not 0.0 <= intensity <= 1.0:
        raise ParameterError(f"--intensity must be in [0, 1], got {intensity:g}")
    if args.alpha is not None and args.blend is None:
        raise ParameterError("--alpha needs --blend WORD2")
    alpha = 0.5 if args.alpha is None and args.blend else (args.alpha or 0.0)
    if not 0.0 <= alpha <= 1.0:
        raise ParameterError(f"--alpha must be in [0, 1], got {alpha:g}")
    if args.static and intensity is None:
        raise ParameterError("--auto-intensity measures the recording: it does not go with --static")
    return intensity, alpha


def auto_name(input_path: Path, out_dir: Path, target: str, intensity: float, blend: str | None, alpha: float) -> Path:
    word = target.lower().replace(" ", "-") + (f"_{blend.lower().replace(' ', '-')}{round(alpha * 100):02d}" if blend else "")
    return out_dir / (f"{input_path.stem}_{word}_{intensity:.2f}".replace(".", "_") + input_path.suffix)


_ENGINE = None


def _engine(models: str | None):
    global _ENGINE
    if _ENGINE is None:
        from ..adaptive import SemanticEQ

        _ENGINE = SemanticEQ.from_dir(models) if models else SemanticEQ()
    return _ENGINE


def process_file(input_path: str, output: str | None, out_dir: str, target: str, intensity: float | None,
                 blend: str | None, alpha: float, static: bool, loudness_match: bool, force: bool,
                 models: str | None, plot: str | None = None, engine=None) -> dict:
    """Process one file; returns the facts to print. Raises SemeqError on any user-caused problem.

    Every output path is checked before any work, and nothing is written until the audio is
    processed; the plot is drawn last.
    """
    input_path = Path(input_path)
    if output is not None:
        check_output_path(output, force=force, inputs=(input_path,))
    if plot is not None:
        check_output_path(plot, force=force, inputs=(input_path,) + ((output,) if output else ()))
        if output is not None and Path(plot).resolve() == Path(output).resolve():
            raise ParameterError(f"{plot}: the plot and the audio output are the same file")
    audio, sample_rate, info = load_audio(input_path)
    engine = engine if engine is not None else _engine(models)
    out, result = engine.apply(audio, sample_rate, target, intensity, blend=blend, alpha=alpha, static=static,
                               loudness_match=loudness_match)
    if output is None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        word = engine.eq_model.entry(target).word
        output = str(auto_name(input_path, Path(out_dir), word, result.eq.intensity, blend, alpha))
        check_output_path(output, force=force, inputs=(input_path,))
        if plot is not None and Path(plot).resolve() == Path(output).resolve():
            raise ParameterError(f"{plot}: the plot and the audio output are the same file")
    if result.eq.is_bypass and Path(output).suffix.lower() == input_path.suffix.lower():
        copy_file(input_path, output, force=force)  # the very same bytes, even for a lossy file
    else:
        save_audio(output, out, sample_rate, like=info, force=force)
    facts = {"input": str(input_path), "output": output, "sample_rate": sample_rate, "channels": info.channels,
             "duration_s": round(info.duration_s, 3)} | result.to_dict()
    if plot:
        from ..analysis import GRID_FREQS_HZ, long_term_spectrum_db
        from ..adaptive import CURVE_FREQS_HZ
        from .common import plot_curves

        spectra = {"input spectrum": np.interp(np.log(CURVE_FREQS_HZ), np.log(GRID_FREQS_HZ), long_term_spectrum_db(audio, sample_rate)),
                   "output spectrum": np.interp(np.log(CURVE_FREQS_HZ), np.log(GRID_FREQS_HZ), long_term_spectrum_db(out, sample_rate))}
        label = f"{'static' if static else 'adaptive'} '{target}'" + (f"+'{blend}' {alpha:.2f}" if blend else "")
        plot_curves(plot, CURVE_FREQS_HZ, {f"net EQ, {label}, intensity {result.eq.intensity:.2f}": result.eq.curve_db},
                    title=f"semeq apply: {input_path.name}", force=force, spectra=spectra)
        facts["plot"] = plot
    return facts


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


def run(args: argparse.Namespace) -> int:
    intensity, alpha = _check_args(args)
    source = Path(args.input)
    common = dict(target=args.target, intensity=intensity, blend=args.blend, alpha=alpha, static=args.static,
                  loudness_match=not args.no_loudness_match, force=args.force, models=args.models)
    if not source.is_dir():
        # Fail fast on bad words before reading audio.
        engine = _engine(args.models)
        engine.target_latent(args.target, args.blend, alpha)
        facts = process_file(str(source), args.output, "processed", plot=args.plot, **common)
        if args.json:
            print(json.dumps(facts))
        else:
            print_facts(facts)
        return 0
    return _run_batch(source, args, common)


def _init_worker(models: str | None) -> None:
    _engine(models)


def _run_batch(folder: Path, args: argparse.Namespace, common: dict) -> int:
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
    _engine(args.models).target_latent(args.target, args.blend, common["alpha"])  # bad words fail before any work
    done, failed = [], []
    workers = max(1, min(int(args.workers), len(files)))
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(args.models,)) as pool:
        futures = {pool.submit(process_file, str(f), None, str(out_dir), **common): f for f in files}
        for fut in tqdm(as_completed(futures), total=len(files), desc="semeq apply", unit="file", disable=args.json, file=sys.stderr):
            try:
                done.append(fut.result())
            except SemeqError as exc:
                failed.append({"input": str(futures[fut]), "error": str(exc)})
            except Exception as exc:  # one file's surprise must not stop the batch
                failed.append({"input": str(futures[fut]), "error": f"internal error: {type(exc).__name__}: {exc}"})
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
