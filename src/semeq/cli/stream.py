"""``semeq stream``: the real-time adaptive EQ, on a file (frame by frame) or on the sound card."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError, SemeqError
from ..io import check_output_path, load_audio, save_audio

LIVE_HINT = 'pip install "semeq[live]"'


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stream", help="real-time adaptive EQ on a file or the sound card",
        description="Run the real-time adaptive EQ: on a file, frame by frame exactly as the live engine "
                    "runs, or live on the sound card (--live, needs semeq[live]).",
    )
    p.add_argument("input", nargs="?", help="audio file to stream (omit with --live)")
    p.add_argument("-o", "--output", help="output file (file mode)")
    p.add_argument("--target", required=True, metavar="PHRASE", help="word or phrase to move toward, e.g. warm, 'a bit darker'")
    p.add_argument("--intensity", type=float, default=None, metavar="I",
                   help="0..1, 0 = exact bypass (default: the phrase's amount words, else 0.5, as apply)")
    p.add_argument("--blend", metavar="WORD", help="second descriptor to blend with the target")
    p.add_argument("--alpha", type=float, default=None, metavar="A", help="weight of --blend, 0..1 (default 0.5 with --blend)")
    p.add_argument("--frame-size", type=int, default=512, metavar="N", help="samples per frame (default 512)")
    p.add_argument("--update-interval", type=int, default=4, metavar="K", help="frames between analyses (default 4)")
    p.add_argument("--window", type=float, default=2.0, metavar="S", help="analysis window in seconds (default 2)")
    p.add_argument("--smoothing-ms", type=float, default=200.0, metavar="MS", help="glide time constant (default 200)")
    p.add_argument("--no-auto-gain", action="store_true",
                   help="keep the EQ's loudness change (default: a smoothed make-up gain holds the input's loudness)")
    p.add_argument("--live", action="store_true", help="process the sound card's input to its output")
    p.add_argument("--device", help="sound card device (name or index; live mode)")
    p.add_argument("--duration", type=float, metavar="S", help="stop live mode after S seconds (default: Ctrl-C)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--export", action="append", metavar="FORMAT:PATH", help="not offered: the streaming EQ varies "
                   "over time (use semeq apply --export)")
    p.set_defaults(func=run)


@dataclass(frozen=True, kw_only=True)
class StreamReport:
    """What a file stream measured."""

    duration_s: float
    n_frames: int
    frame_size: int
    process_median_us: float
    process_p99_us: float
    analysis_cpu_s: float
    n_analyses: int
    latency_samples: int
    realtime_factor: float
    """Audio duration over (summed process() time + the worker's analysis CPU time)."""
    analysis_mode: str
    loudness_change_lu: float
    """Integrated loudness of the written output minus the input's (NaN for silence)."""
    output_gain_db: float
    """The final gain the file got so its true peak stays under the ceiling (0 or negative)."""
    true_peak_ceiling_dbtp: float


def stream_file(
    input_path: str, output_path: str, *, target, intensity: float | None = None, blend: str | None = None,
    alpha: float = 0.0, frame_size: int = 512, update_interval: int = 4, analysis_window_s: float = 2.0,
    smoothing_ms: float = 200.0, analyzer=None, force: bool = False, progress: bool = True, auto_gain: bool = True,
    true_peak_ceiling_dbtp: float = -1.0,
) -> StreamReport:
    """Stream a file through :class:`~semeq.streaming.StreamingAdaptiveEQ` frame by frame.

    Between frames (never inside ``process()``) it waits for a requested analysis to finish,
    as live playback would when an analysis takes less than a frame's period; the render is
    then reproducible. ``analyzer`` defaults to ``semeq.adaptive.SemanticEQ()``. ``target`` is a
    word, a phrase or an :class:`~semeq.request.EQRequest` (as :meth:`StreamingAdaptiveEQ.set_target`).

    The output path (folder, format, an existing file) is checked before any processing.
    A file, unlike a live stream, is known whole once rendered: when its true peak passes
    ``true_peak_ceiling_dbtp`` the whole render is lowered by one gain to that ceiling (as
    ``apply`` does), so a write never ends in a refusal to clip.
    """
    from ..loudness import integrated_loudness, true_peak_dbfs
    from ..streaming import StreamingAdaptiveEQ

    check_stream_output(output_path, force=force, inputs=(input_path,))
    audio, sample_rate, info = load_audio(input_path)
    channels, n = audio.shape
    out = np.empty_like(audio)
    n_frames = -(-n // frame_size) if frame_size >= 1 else 0
    times = np.empty(max(n_frames, 1))
    with StreamingAdaptiveEQ(sample_rate, channels, frame_size=frame_size, update_interval=update_interval,
                             analysis_window_s=analysis_window_s, smoothing_ms=smoothing_ms,
                             analyzer=analyzer, auto_gain=auto_gain) as engine:
        engine.set_target(target, intensity, blend=blend, alpha=alpha)
        bar = _progress(n_frames, enabled=progress)
        try:
            for k, start in enumerate(range(0, n, frame_size)):
                frame = audio[:, start : start + frame_size]
                t0 = time.perf_counter()
                out[:, start : start + frame_size] = engine.process(frame)
                times[k] = time.perf_counter() - t0
                engine.wait_for_analysis()
                if bar is not None and k % 64 == 63:
                    bar.update(64)
        finally:
            if bar is not None:
                bar.close()
        stats = engine.stats
        latency = engine.latency_samples
    peak_dbtp = true_peak_dbfs(out, sample_rate)
    output_gain_db = min(0.0, true_peak_ceiling_dbtp - peak_dbtp) if np.isfinite(peak_dbtp) else 0.0
    if output_gain_db < 0.0:
        out *= 10.0 ** (output_gain_db / 20.0)
    loudness_in, loudness_out = integrated_loudness(audio, sample_rate), integrated_loudness(out, sample_rate)
    change = loudness_out - loudness_in if np.isfinite(loudness_in) and np.isfinite(loudness_out) else float("nan")
    save_audio(output_path, out, sample_rate, like=info, force=force)
    duration_s = n / sample_rate
    busy_s = float(times[:n_frames].sum()) + stats.analysis_cpu_s
    return StreamReport(
        duration_s=duration_s, n_frames=n_frames, frame_size=frame_size,
        process_median_us=float(np.median(times[:n_frames]) * 1e6),
        process_p99_us=float(np.percentile(times[:n_frames], 99) * 1e6),
        analysis_cpu_s=stats.analysis_cpu_s, n_analyses=stats.n_analyses, latency_samples=latency,
        realtime_factor=duration_s / busy_s if busy_s > 0 else float("inf"), analysis_mode=stats.analysis_mode,
        loudness_change_lu=float(change), output_gain_db=float(output_gain_db),
        true_peak_ceiling_dbtp=float(true_peak_ceiling_dbtp),
    )


def check_stream_output(output_path: str, *, force: bool, inputs: tuple = ()) -> None:
    """Everything about the output that can fail, checked before the work: the folder exists and
    takes a new file, the format is one that can be written, no file is replaced without --force."""
    import tempfile
    from pathlib import Path

    from ..errors import AudioFileError
    from ..io import _FORMAT_BY_SUFFIX  # the one table of writable formats

    path = check_output_path(output_path, force=force, inputs=inputs)
    if path.suffix.lower() not in _FORMAT_BY_SUFFIX:
        known = ", ".join(sorted(_FORMAT_BY_SUFFIX))
        raise AudioFileError(f"{path}: unknown output format {path.suffix or '(no extension)'!r} (use {known})")
    try:
        with tempfile.TemporaryFile(dir=Path(path).parent if str(Path(path).parent) else "."):
            pass
    except OSError as exc:
        raise AudioFileError(f"{path}: cannot write in {Path(path).parent} ({exc.strerror or exc})") from None


def _progress(total: int, *, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc="streaming", file=sys.stderr, leave=False)


def run(args: argparse.Namespace) -> int:
    from .apply import print_understood
    from .export import STREAM_REFUSAL

    if args.export:
        raise ParameterError(STREAM_REFUSAL)
    if args.live:
        if args.input or args.output:
            raise ParameterError("--live takes no INPUT or -o OUTPUT (it plays the sound card's input)")
        return run_live(args)
    if not args.input or not args.output:
        raise ParameterError("file mode needs INPUT and -o OUTPUT (or use --live)")
    engine, request = _request(args)
    print_understood(request)
    report = stream_file(
        args.input, args.output, target=request, frame_size=args.frame_size, update_interval=args.update_interval,
        analysis_window_s=args.window, smoothing_ms=args.smoothing_ms, analyzer=engine, force=args.force,
        progress=not args.no_progress, auto_gain=not args.no_auto_gain,
    )
    print(f"streamed {report.duration_s:.2f} s in {report.n_frames} frames of {report.frame_size} samples")
    print(f"process() per frame: median {report.process_median_us:.1f} us, p99 {report.process_p99_us:.1f} us")
    print(f"analysis ({report.analysis_mode}): {report.n_analyses} runs, {report.analysis_cpu_s:.3f} s CPU on the worker thread")
    print(f"real-time factor {report.realtime_factor:.1f}x; added latency {report.latency_samples} samples")
    if np.isfinite(report.loudness_change_lu):
        print(f"loudness: output {report.loudness_change_lu:+.2f} LU vs the input"
              + ("" if args.no_auto_gain else " (automatic gain compensation on)"))
    if report.output_gain_db < 0.0:
        print(f"true peak: the whole output lowered by {-report.output_gain_db:.2f} dB to the "
              f"{report.true_peak_ceiling_dbtp:g} dBTP ceiling")
    print(f"wrote {args.output}")
    return 0


def import_sounddevice():
    """Import sounddevice lazily; one clear error when it or PortAudio is missing."""
    try:
        import sounddevice
    except ImportError:
        raise SemeqError(f"--live needs the sounddevice package: {LIVE_HINT}") from None
    except OSError as exc:  # sounddevice raises OSError when the PortAudio library is missing
        raise SemeqError(f"--live needs the PortAudio library ({exc}): install it (e.g. apt install "
                         f"libportaudio2) and {LIVE_HINT}") from None
    return sounddevice


def run_live(args: argparse.Namespace, analyzer=None) -> int:
    from ..streaming import StreamingAdaptiveEQ

    sd = import_sounddevice()
    request = None
    if analyzer is None:
        analyzer, request = _request(args)
    device = int(args.device) if args.device is not None and str(args.device).isdigit() else args.device
    try:
        info = sd.query_devices(device, "input")
        sample_rate = float(info["default_samplerate"])
        channels = int(min(2, info["max_input_channels"]))
        if channels < 1:
            raise SemeqError(f"the device {info.get('name', device)!r} has no input channel")
        engine = StreamingAdaptiveEQ(sample_rate, channels, frame_size=args.frame_size,
                                     update_interval=args.update_interval, analysis_window_s=args.window,
                                     smoothing_ms=args.smoothing_ms, analyzer=analyzer,
                                     auto_gain=not getattr(args, "no_auto_gain", False))
        errors: list[str] = []

        def callback(indata, outdata, frames, _time, status) -> None:
            try:
                outdata[:] = engine.process(indata.T).T
            except Exception as exc:  # never let the audio thread die: pass the input through
                outdata[:] = indata
                errors.append(f"{type(exc).__name__}: {exc}")

        with engine:
            engine.set_target(args.target if request is None else request, args.intensity, blend=args.blend,
                              alpha=_alpha(args))
            with sd.Stream(samplerate=sample_rate, blocksize=args.frame_size, device=(device, device),
                           channels=channels, dtype="float32", callback=callback, latency="low"):
                print(f"live: {sample_rate:g} Hz, {channels} ch, frames of {args.frame_size}; "
                      f"target {args.target!r} at {engine.target[1]:g}; Ctrl-C stops", file=sys.stderr)
                t_end = None if args.duration is None else time.monotonic() + args.duration
                try:
                    while t_end is None or time.monotonic() < t_end:
                        time.sleep(0.05 if t_end is None else max(0.0, min(0.05, t_end - time.monotonic())))
                except KeyboardInterrupt:
                    pass
            stats = engine.stats
    except sd.PortAudioError as exc:
        raise SemeqError(f"sound card error: {exc}") from None
    print(f"live: {stats.n_frames} frames, {stats.n_analyses} analyses "
          f"({stats.analysis_cpu_s:.3f} s CPU), added latency {engine.latency_samples} samples"
          + (f"; {len(errors)} callback errors, last: {errors[-1]}" if errors else ""))
    return 0


def _request(args: argparse.Namespace):
    """The engine and the one request of this command line (the phrase understood once)."""
    from .apply import load_engine

    engine = load_engine(None)
    alpha = _alpha(args)
    if args.intensity is not None and not 0.0 <= args.intensity <= 1.0:
        raise ParameterError(f"--intensity must be in [0, 1], got {args.intensity:g}")
    intensity = args.intensity
    if intensity is None and engine.understand(args.target).intensity is None:
        intensity = 0.5
    return engine, engine.request(args.target, intensity, blend=args.blend, alpha=alpha)


def _alpha(args: argparse.Namespace) -> float:
    """--alpha as apply reads it: 0.5 by default with --blend; without --blend it is an error."""
    if args.alpha is not None and args.blend is None:
        raise ParameterError("--alpha needs --blend WORD2")
    return 0.5 if args.alpha is None and args.blend else (args.alpha or 0.0)
