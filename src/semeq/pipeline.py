"""The file pipeline: a recording on disk in, an equalised file out, in constant memory.

:func:`apply_file` is the whole job that ``semeq apply`` does for one file; the CLI, the demo
and a web front end call it and only parse and print. :meth:`semeq.SemanticEQ.apply` (the
array API) runs the same steps on an array, with the same functions
(:meth:`semeq.SemanticEQ.decide`, :func:`semeq.loudness.output_gain`, the same level meter), so
both give the same samples. The pipeline sits above the facade: it imports
:mod:`semeq.adaptive`, never the other way round.

How a file is processed
-----------------------
1. Every check that can fail is made before any work: the input is readable, the output is a
   writable regular-file path of a known format (see :func:`semeq.io.check_audio_output`).
2. Analysis (deciding the EQ): a 44.1 kHz file is measured whole, block by block
   (:func:`measure_file`). A file at another rate is analysed, resampled, from an excerpt of
   bounded size: the whole file when it lasts at most :data:`ANALYSIS_FULL_MAX_S` (4 minutes),
   otherwise :data:`ANALYSIS_N_WINDOWS` windows of :data:`ANALYSIS_WINDOW_S` (2 s) evenly
   spaced from the first sample to the last (4 minutes in all), read by seeking and joined end
   to end; the latent mode's encoder reads that excerpt too (it pools 2 s windows).
3. Pass 1 takes the file in blocks of :data:`BLOCK_FRAMES` (from the excerpt when that is the
   whole file, else read again): it measures the input's level
   (loudness, RMS, sample peak) and, filtering each block through the EQ with carried filter
   state (float64 second-order sections), the EQ'd output's loudness and true peak, which is
   not kept.
4. The output gain follows from those two (loudness match, then the true-peak ceiling).
5. Pass 2 filters the file again from reset state, applies the gain and writes the blocks to
   a temporary file in the destination folder, renamed over the destination at the end.

Peak memory is the excerpt plus a few blocks: it does not grow with the file's length past
4 minutes. The output equals ``SemanticEQ.apply`` on the whole array, sample for sample, for
files up to 4 minutes (tested).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Union

import numpy as np

from .adaptive import SILENT_MESSAGE as _SILENT
from .analysis import ANALYSIS_SAMPLE_RATE
from .errors import AudioFileError, ParameterError
from .io import (ANALYSIS_FULL_MAX_S, ANALYSIS_N_WINDOWS, ANALYSIS_WINDOW_S, BLOCK_FRAMES, iter_blocks, open_audio,
                 read_analysis_excerpt)

if TYPE_CHECKING:
    from .adaptive import AdaptiveEQ, IntensitySuggestion, SemanticEQ
    from .loudness import LevelStats
    from .reference import Measurement
    from .request import EQRequest

__all__ = ["ApplyFileResult", "RenderResult", "apply_file", "render_file", "measure_file", "read_analysis_excerpt",
           "ANALYSIS_FULL_MAX_S", "ANALYSIS_WINDOW_S", "ANALYSIS_N_WINDOWS", "BLOCK_FRAMES", "PROGRESS_MIN_S"]
PROGRESS_MIN_S = 60.0
"""Files at least this long get a progress bar (when stderr is a terminal)."""

ProgressArg = Union[bool, None, Callable[[float], None]]


@dataclass(frozen=True, kw_only=True)
class ApplyFileResult:
    """What :func:`apply_file` did to one file."""

    input: Path
    output: Path
    sample_rate: int
    channels: int
    frames: int
    eq: "AdaptiveEQ"
    gain_db: float
    """Output gain applied after the EQ (loudness match and true-peak ceiling)."""
    stats_in: "LevelStats"
    """The input's levels (its true peak is not measured: NaN)."""
    stats_out: "LevelStats"
    suggestion: "IntensitySuggestion | None" = None
    notes: tuple[str, ...] = ()
    analysed_s: float = 0.0
    """Seconds of audio the analysis read (the whole file up to 4 minutes)."""
    copied: bool = False
    """True when the output is a byte-for-byte copy of the input (exact bypass, same format)."""
    output_format: str = ""
    output_subtype: str = ""

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        d = {"input": str(self.input), "output": str(self.output), "sample_rate": self.sample_rate,
             "channels": self.channels, "duration_s": round(self.duration_s, 3),
             "output_subtype": self.output_subtype, "analysed_s": round(self.analysed_s, 3),
             "eq": self.eq.to_dict(), "output_gain_db": round(self.gain_db, 3), "before": self.stats_in.to_dict(),
             "after": self.stats_out.to_dict(), "notes": list(self.notes)}
        if self.suggestion is not None:
            d["auto_intensity"] = vars(self.suggestion)
        return d


class _Progress:
    def __init__(self, progress: ProgressArg, total: int, label: str):
        self._callback = progress if callable(progress) else None
        self._bar = None
        self.total, self.done = max(total, 1), 0
        if progress is True:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit="frame", unit_scale=True, file=sys.stderr, leave=False)

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        if self._callback is not None:
            self._callback(min(self.done / self.total, 1.0))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


# -- the pipeline ----------------------------------------------------------------------------
def apply_file(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    target: "str | EQRequest",
    intensity: float | None = None,
    *,
    force: bool = False,
    subtype: str | None = None,
    progress: ProgressArg = None,
    engine: "SemanticEQ | None" = None,
    **request_kwargs: Any,
) -> ApplyFileResult:
    """Apply the adaptive semantic EQ to a file, in constant memory (see the module notes).

    Parameters
    ----------
    src, dst : str or PathLike
        Input file; output file (format from its suffix).
    target : str or EQRequest
        What the user asked for: a request built once by the front end
        (:meth:`SemanticEQ.request`), or a word or phrase, with ``intensity`` and
        ``request_kwargs`` (``mode=``, ``blend=``, ``alpha=``, ``static=``, ``reference=``,
        ``loudness_match=``, ``true_peak_ceiling_dbtp=``) building one.
    intensity : float in [0, 1], optional
        With a word or phrase: None chooses it from the recording (auto-intensity).
    force : bool
        Replace an existing output (never a FIFO, device or other non-regular file).
    subtype : str, optional
        Output sample format ("PCM_16", "PCM_24", "FLOAT"...); default: the input's.
    progress : bool, callable or None
        A progress bar on stderr (True), none (False), a callback taking the fraction done,
        or None: a bar for files of a minute or more when stderr is a terminal.
    engine : SemanticEQ, optional
        Defaults to ``SemanticEQ()`` (the shipped models).

    Returns
    -------
    ApplyFileResult

    Raises
    ------
    AudioFileError
        Unreadable input, output that cannot be written (checked before any work), or a
        failed write (its cause named; nothing left behind).
    ParameterError, UnknownWordError
        Bad arguments, an unknown word, silent audio.
    """
    src, dst = Path(src), Path(dst)
    if engine is None:
        from .adaptive import SemanticEQ

        engine = SemanticEQ()
    request = engine.as_request(target, intensity, **request_kwargs)
    source = _probe(src)
    dst, out_format = _check_output(src, dst, source, force=force, subtype=subtype)
    eq, suggestion, sample_rate, analysed_s, excerpt = _decide(engine, request, src, source)
    if progress is None:
        progress = sys.stderr.isatty() and source.frames >= PROGRESS_MIN_S * source.sample_rate
    rendered = _render(src, dst, eq, request, source, out_format, force=force, subtype=subtype, progress=progress,
                       excerpt=excerpt)
    return ApplyFileResult(input=src, output=dst, sample_rate=sample_rate, channels=source.channels,
                           frames=source.frames, eq=eq, gain_db=rendered.gain_db, stats_in=rendered.stats_in,
                           stats_out=rendered.stats_out, suggestion=suggestion, notes=rendered.notes,
                           analysed_s=analysed_s, copied=rendered.copied, output_format=out_format.format,
                           output_subtype=out_format.subtype)


@dataclass(frozen=True, kw_only=True)
class RenderResult:
    """What :func:`render_file` wrote."""

    gain_db: float
    stats_in: "LevelStats"
    stats_out: "LevelStats"
    notes: tuple[str, ...]
    copied: bool


def _probe(src: Path):
    """The input's format, checked readable and complete (a truncated WAV is refused)."""
    from .io import AudioInfo, check_readable, wav_is_truncated

    check_readable(src)
    with open_audio(src) as f:
        info = AudioInfo(sample_rate=int(f.samplerate), channels=int(f.channels), frames=int(f.frames),
                         format=f.format, subtype=f.subtype)
    if info.frames <= 0:
        raise AudioFileError(f"{src}: the file holds no audio (zero samples)")
    if info.format == "WAV" and wav_is_truncated(src):
        raise AudioFileError(f"{src}: truncated: the WAV data chunk is shorter than its header says")
    return info


def _check_output(src: Path, dst: Path, source, *, force: bool, subtype: str | None):
    from .io import check_audio_output

    return check_audio_output(dst, force=force, inputs=(src,), subtype=subtype, like=source)


def _decide(engine: "SemanticEQ", request: "EQRequest", src: Path, source):
    """The EQ for a file: ``(eq, suggestion, sample_rate, analysed_s, excerpt)``.

    A 44.1 kHz file is measured block by block, whole, never held (the same long-term spectrum
    as the array path: :func:`measure_file`); other rates from the bounded excerpt of
    :func:`semeq.io.read_analysis_excerpt`, which is returned when it is the whole file (pass 1
    then reads it instead of the file). The latent mode's encoder reads audio: it gets that
    excerpt too, beside the same measurement every mode reads.
    """
    from . import io

    if source.sample_rate == ANALYSIS_SAMPLE_RATE:
        measurement, n_read = _measure_file(src, source.channels, source.frames)
        audio = read_analysis_excerpt(src)[0] if request.mode == "latent" else None
        eq, suggestion = engine.decide(request, audio, source.sample_rate, measurement=measurement)
        return eq, suggestion, source.sample_rate, n_read / source.sample_rate, None
    excerpt, sample_rate, analysed_s = read_analysis_excerpt(src)
    whole = source.frames <= io.ANALYSIS_FULL_MAX_S * sample_rate
    if whole and excerpt.shape[1] < source.frames:
        raise AudioFileError(f"{src}: truncated: the header promises {source.frames} frames, "
                             f"only {excerpt.shape[1]} could be read")
    eq, suggestion = engine.decide(request, excerpt, sample_rate)
    return eq, suggestion, sample_rate, analysed_s, excerpt if whole else None


def render_file(src: str | os.PathLike, dst: str | os.PathLike, eq: "AdaptiveEQ", request: "EQRequest", *,
                force: bool = False, subtype: str | None = None, progress: ProgressArg = False,
                excerpt: np.ndarray | None = None) -> RenderResult:
    """Render a decided EQ onto a file, in constant memory: passes 1 and 2 of the module notes.

    The EQ (``eq``, from :meth:`SemanticEQ.decide` or :meth:`SemanticEQ.design`) is applied, the
    output loudness-matched and kept below the request's true-peak ceiling, and written
    atomically. ``excerpt``: the whole file already in memory (read instead of the file).
    The web app's full render and :func:`apply_file` both end here.
    """
    src, dst = Path(src), Path(dst)
    source = _probe(src)
    dst, out_format = _check_output(src, dst, source, force=force, subtype=subtype)
    return _render(src, dst, eq, request, source, out_format, force=force, subtype=subtype, progress=progress,
                   excerpt=excerpt)


def _render(src: Path, dst: Path, eq: "AdaptiveEQ", request: "EQRequest", source, out_format, *, force: bool,
            subtype: str | None, progress: ProgressArg, excerpt: np.ndarray | None) -> RenderResult:
    """:func:`render_file` on a probed input and a checked output."""
    from .loudness import LevelMeter, output_gain

    sample_rate, channels, frames = source.sample_rate, source.channels, source.frames
    bar = _Progress(progress, frames if eq.is_bypass else 2 * frames, f"semeq {src.name}")
    try:
        # Pass 1: the input's level and, through the EQ, the output's, without keeping either.
        meter_in = LevelMeter(sample_rate, channels, true_peak=False)
        meter_eq = LevelMeter(sample_rate, channels) if not eq.is_bypass else None
        filt = _BlockFilter(eq, sample_rate, channels)
        n_read = 0
        blocks = (excerpt[:, i : i + BLOCK_FRAMES] for i in range(0, excerpt.shape[1], BLOCK_FRAMES)) \
            if excerpt is not None else iter_blocks(src)
        for block in blocks:
            n_read += block.shape[1]
            meter_in.update(block)
            if meter_eq is not None:
                meter_eq.update(filt(block))
            bar.update(block.shape[1])
        excerpt = blocks = None  # the whole-file excerpt is not needed past here
        if n_read < frames:
            raise AudioFileError(f"{src}: truncated: the header promises {frames} frames, only {n_read} could be read")
        stats_in = meter_in.result()
        if eq.is_bypass:
            copied = dst.suffix.lower() == src.suffix.lower() and subtype is None
            if copied:
                from .io import copy_file

                copy_file(src, dst, force=force)  # the very same bytes, even for a lossy file
            else:
                _write_pass(src, dst, out_format, None, 1.0, stats_in.peak_dbfs, bar)
            return RenderResult(gain_db=0.0, stats_in=stats_in, stats_out=stats_in, notes=tuple(eq.notes), copied=copied)
        stats_eq = meter_eq.result()
        gain_db, notes = output_gain(stats_in, stats_eq, loudness_match=request.loudness_match,
                                     true_peak_ceiling_dbtp=request.true_peak_ceiling_dbtp)
        stats_out = stats_eq.shifted(gain_db)
        # Pass 2: filter again from rest, apply the gain, write.
        _write_pass(src, dst, out_format, _BlockFilter(eq, sample_rate, channels), 10.0 ** (gain_db / 20.0),
                    stats_out.peak_dbfs, bar)
    finally:
        bar.close()
    return RenderResult(gain_db=gain_db, stats_in=stats_in, stats_out=stats_out,
                        notes=tuple(eq.notes) + tuple(notes), copied=False)


class _BlockFilter:
    """The EQ's second-order sections with carried state, block after block (float64)."""

    def __init__(self, eq: "AdaptiveEQ", sample_rate: float, channels: int) -> None:
        from .dsp import design_sos

        self.sos = design_sos(list(eq.cascade), sample_rate) if not eq.is_bypass else None
        self.zi = np.zeros((self.sos.shape[0], channels, 2)) if self.sos is not None else None

    def __call__(self, block: np.ndarray) -> np.ndarray:
        from scipy.signal import sosfilt

        if self.sos is None:
            return block
        y, self.zi = sosfilt(self.sos, block, axis=-1, zi=self.zi)
        return y


def measure_file(src: str | os.PathLike) -> "Measurement":
    """Where a file stands, measured as :func:`apply_file` measures it: a 44.1 kHz file block by
    block, whole, in constant memory; another rate from its analysis excerpt (resampled)."""
    from .reference import measure

    src = Path(src)
    source = _probe(src)
    if source.sample_rate == ANALYSIS_SAMPLE_RATE:
        return _measure_file(src, source.channels, source.frames)[0]
    excerpt, sample_rate, _ = read_analysis_excerpt(src)
    m = measure(excerpt, sample_rate)
    if m is None:
        raise ParameterError(_SILENT)
    return m


def _measure_file(src: Path, channels: int, frames: int) -> tuple["Measurement", int]:
    """The measurement of a 44.1 kHz file read block by block (constant memory), and the frames read."""
    from .analysis import long_term_psd_blocks
    from .frontend import MAX_BLOCK
    from .reference import measure_psd

    n_read = 0

    def counted():
        nonlocal n_read
        # Blocks of the size the accumulator transforms at a time: the sums then run in the same
        # order as for the whole array, so the file and array paths agree bit for bit.
        for block in iter_blocks(src, MAX_BLOCK):
            n_read += block.shape[1]
            yield block

    psd = long_term_psd_blocks(counted(), channels)
    if n_read < frames:
        raise AudioFileError(f"{src}: truncated: the header promises {frames} frames, only {n_read} could be read")
    if psd is None:
        raise ParameterError(_SILENT)
    return measure_psd(*psd, ANALYSIS_SAMPLE_RATE), n_read


def _write_pass(src: Path, dst: Path, out_format, filt: "_BlockFilter | None", gain: float, peak_dbfs: float,
                bar: _Progress) -> None:
    from .io import AudioWriter, clip_message

    if out_format.clips and np.isfinite(peak_dbfs) and peak_dbfs > 0.0:
        # Known before writing anything (the sample peak was measured in pass 1).
        raise AudioFileError(clip_message(dst, 10.0 ** (peak_dbfs / 20.0), out_format))
    with open_audio(src) as f:
        sample_rate, channels = int(f.samplerate), int(f.channels)
    with AudioWriter(dst, sample_rate, channels, out_format) as writer:
        for block in iter_blocks(src):
            if filt is not None:
                block = filt(block)
                block *= gain
            writer.write(block)
            bar.update(block.shape[1])
