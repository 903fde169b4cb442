"""The file pipeline: a recording on disk in, an equalised file out, in constant memory.

:func:`apply_file` is the whole job that ``semeq apply`` does for one file; the CLI, the demo
and a web front end call it and only parse and print. :meth:`semeq.SemanticEQ.apply` (the
array API) runs the same steps on an array, with the same functions (:func:`decide_eq`,
:func:`output_gain`, :class:`semeq.loudness.LevelMeter`), so both give the same samples.

How a file is processed
-----------------------
1. Every check that can fail is made before any work: the input is readable, the output is a
   writable regular-file path of a known format (see :func:`semeq.io.check_audio_output`).
2. Analysis (deciding the EQ) reads an excerpt of bounded size: the whole file when it lasts
   at most :data:`ANALYSIS_FULL_MAX_S` (4 minutes), otherwise :data:`ANALYSIS_N_WINDOWS`
   windows of :data:`ANALYSIS_WINDOW_S` (2 s) evenly spaced from the first sample to the last
   (4 minutes in all), read by seeking and joined end to end. The encoder pools 2 s windows,
   so the joined excerpt is what it would have seen of those stretches; a file longer than 4
   minutes is analysed from that sample of itself.
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

from .errors import AudioFileError, ParameterError

if TYPE_CHECKING:
    from .adaptive import AdaptiveEQ, IntensitySuggestion, SemanticEQ
    from .reference import Measurement
    from .loudness import LevelStats

__all__ = ["ApplyFileResult", "apply_file", "decide_eq", "output_gain", "read_analysis_excerpt",
           "ANALYSIS_FULL_MAX_S", "ANALYSIS_WINDOW_S", "ANALYSIS_N_WINDOWS", "BLOCK_FRAMES", "PROGRESS_MIN_S"]

ANALYSIS_FULL_MAX_S = 240.0
"""Files up to this long (s) are analysed whole; longer ones from evenly spaced windows."""
ANALYSIS_WINDOW_S = 2.0
"""Length (s) of each analysis window taken from a long file (the encoder's window)."""
ANALYSIS_N_WINDOWS = 120
"""Windows taken from a long file: 120 x 2 s = 4 minutes of audio analysed."""
BLOCK_FRAMES = 1 << 16
"""Frames per block in the streaming passes (about 1.5 s at 44.1 kHz)."""
PROGRESS_MIN_S = 60.0
"""Files at least this long get a progress bar (when stderr is a terminal)."""
DEFAULT_TRUE_PEAK_CEILING_DBTP = -1.0
ANALYSIS_SAMPLE_RATE = 44100  # files at this rate are measured block by block; others from a resampled excerpt

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


# -- shared with SemanticEQ.apply ------------------------------------------------------------
def decide_eq(engine: "SemanticEQ", audio: np.ndarray | None, sample_rate: float, target: str, intensity: float | None, *,
              mode: str = "toward", blend: str | None = None, alpha: float = 0.0, static: bool = False,
              reference_audio: tuple[np.ndarray, float] | None = None,
              measurement: "Measurement | None" = None) -> tuple["AdaptiveEQ", "IntensitySuggestion | None"]:
    """The EQ for a recording, and the auto-intensity suggestion when ``intensity`` is None.

    The recording is measured once (:meth:`SemanticEQ.measure`, unless ``measurement`` is given:
    the file pipeline measures a file block by block) for both. The keywords are those of
    :meth:`SemanticEQ.adaptive_eq`.

    Raises
    ------
    ParameterError
        Silent audio, auto-intensity with the static mode, or a bad argument.
    """
    from .adaptive import _check_mode

    mode = _check_mode(mode, static)
    engine.target_latent(target, blend, alpha)  # bad words fail before any analysis
    if reference_audio is not None and mode != "match":
        raise ParameterError("a reference recording needs mode='match'")
    measurement = engine.measure(audio, sample_rate) if measurement is None else measurement
    suggestion = None
    if intensity is None:
        suggestion = engine.suggest_intensity(audio, sample_rate, target, blend, alpha, mode=mode,
                                              balance=engine.reference.balance(measurement),
                                              reference_audio=reference_audio)
        intensity = suggestion.intensity
    eq = engine.design_from_measurement(measurement, sample_rate, target, intensity, mode=mode, blend=blend,
                                        alpha=alpha, reference_audio=reference_audio)
    return eq, suggestion


def output_gain(stats_in: "LevelStats", stats_eq: "LevelStats", *, loudness_match: bool = True,
                true_peak_ceiling_dbtp: float = DEFAULT_TRUE_PEAK_CEILING_DBTP) -> tuple[float, list[str]]:
    """The gain (dB) applied after the EQ, and notes on what limited it.

    With ``loudness_match`` the output is brought to the input's loudness, lowered further if
    its true peak would pass the ceiling; without it the EQ's level is kept, lowered only as
    far as the ceiling needs. A plain gain, never a limiter.
    """
    from .loudness import match_gain_db

    notes: list[str] = []
    if loudness_match:
        gain_db = match_gain_db(stats_in, stats_eq, true_peak_ceiling_dbtp=true_peak_ceiling_dbtp)
        if gain_db < stats_in.loudness_lufs - stats_eq.loudness_lufs - 0.01:
            notes.append(f"true-peak ceiling {true_peak_ceiling_dbtp:g} dBTP: the output is "
                         f"{stats_in.loudness_lufs - stats_eq.loudness_lufs - gain_db:.1f} dB below the input's loudness")
    else:
        gain_db = min(0.0, true_peak_ceiling_dbtp - stats_eq.true_peak_dbtp)
        if gain_db < 0.0:
            notes.append(f"true peak {stats_eq.true_peak_dbtp:+.1f} dBTP: lowered by {-gain_db:.1f} dB to the "
                         f"{true_peak_ceiling_dbtp:g} dBTP ceiling")
    return float(gain_db), notes


# -- reading -----------------------------------------------------------------------------------
def _open(path: Path):
    import soundfile as sf

    from .io import _check_readable, _sf_reason

    _check_readable(path)
    try:
        return sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(f"{path}: not a readable audio file ({_sf_reason(exc)})") from None


def _read(f, path: Path, frames: int) -> np.ndarray:
    """Read up to ``frames`` frames as float64, shaped (channels, samples); checks finiteness."""
    import soundfile as sf

    try:
        data = f.read(frames, dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{path}: read error ({exc})") from None
    block = np.ascontiguousarray(data.T)
    if block.size and not np.isfinite(block).all():
        raise AudioFileError(f"{path}: the audio holds NaN or Inf samples")
    return block


def read_analysis_excerpt(path: str | os.PathLike) -> tuple[np.ndarray, int, float]:
    """The audio the analysis sees: the whole file up to 4 minutes, else evenly spaced 2 s windows.

    Returns
    -------
    excerpt : ndarray [shape=(channels, samples), dtype=float64]
    sample_rate : int
    analysed_s : float
        Its length in seconds.
    """
    path = Path(path)
    with _open(path) as f:
        sample_rate, frames = int(f.samplerate), int(f.frames)
        if frames <= ANALYSIS_FULL_MAX_S * sample_rate:
            # Read in blocks straight into the (channels, samples) array: no second full-length copy.
            excerpt = np.empty((f.channels, frames))
            start = 0
            while start < frames:
                part = _read(f, path, min(BLOCK_FRAMES, frames - start))
                if part.shape[1] == 0:
                    break
                excerpt[:, start : start + part.shape[1]] = part
                start += part.shape[1]
            excerpt = excerpt[:, :start]
        else:
            window = int(round(ANALYSIS_WINDOW_S * sample_rate))
            starts = np.linspace(0, frames - window, ANALYSIS_N_WINDOWS).round().astype(np.int64)
            excerpt = np.empty((f.channels, window * ANALYSIS_N_WINDOWS))
            for k, start in enumerate(starts.tolist()):
                f.seek(start)
                part = _read(f, path, window)
                excerpt[:, k * window : k * window + part.shape[1]] = part
                excerpt[:, k * window + part.shape[1] : (k + 1) * window] = 0.0
    return excerpt, sample_rate, excerpt.shape[1] / sample_rate


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
    target: str,
    intensity: float | None = None,
    *,
    force: bool = False,
    loudness_match: bool = True,
    subtype: str | None = None,
    progress: ProgressArg = None,
    engine: "SemanticEQ | None" = None,
    true_peak_ceiling_dbtp: float = DEFAULT_TRUE_PEAK_CEILING_DBTP,
    **design_kwargs: Any,
) -> ApplyFileResult:
    """Apply the adaptive semantic EQ to a file, in constant memory (see the module notes).

    Parameters
    ----------
    src, dst : str or PathLike
        Input file; output file (format from its suffix).
    target : str
        The word.
    intensity : float in [0, 1], optional
        None chooses it from the recording (``SemanticEQ.suggest_intensity``).
    force : bool
        Replace an existing output (never a FIFO, device or other non-regular file).
    loudness_match : bool
        Bring the output to the input's loudness (below the -1 dBTP ceiling).
    subtype : str, optional
        Output sample format ("PCM_16", "PCM_24", "FLOAT"...); default: the input's.
    progress : bool, callable or None
        A progress bar on stderr (True), none (False), a callback taking the fraction done,
        or None: a bar for files of a minute or more when stderr is a terminal.
    engine : SemanticEQ, optional
        Defaults to ``SemanticEQ()`` (the shipped models).
    true_peak_ceiling_dbtp : float
    **design_kwargs
        Passed unchanged to ``SemanticEQ.adaptive_eq`` (and ``suggest_intensity``): ``blend=``,
        ``alpha=``, ``static=``, ``mode=``...

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
    from scipy.signal import sosfilt

    from .dsp import design_sos
    from .io import AudioInfo, _check_readable, _wav_is_truncated, check_audio_output, copy_file
    from .loudness import LevelMeter

    src, dst = Path(src), Path(dst)
    _check_readable(src)
    if intensity is not None and not (isinstance(intensity, (int, float)) and 0.0 <= float(intensity) <= 1.0):
        raise ParameterError(f"intensity must be a number in [0, 1], got {intensity!r}")
    with _open(src) as f:
        info_rate, channels, frames, in_format, in_subtype = int(f.samplerate), int(f.channels), int(f.frames), f.format, f.subtype
    if frames <= 0:
        raise AudioFileError(f"{src}: the file holds no audio (zero samples)")
    if in_format == "WAV" and _wav_is_truncated(src):
        raise AudioFileError(f"{src}: truncated: the WAV data chunk is shorter than its header says")
    like = AudioInfo(sample_rate=info_rate, channels=channels, frames=frames, format=in_format, subtype=in_subtype)
    dst, out_format = check_audio_output(dst, force=force, inputs=(src,), subtype=subtype, like=like)
    if engine is None:
        from .adaptive import SemanticEQ

        engine = SemanticEQ()
    if progress is None:
        progress = sys.stderr.isatty() and frames >= PROGRESS_MIN_S * info_rate

    if info_rate == ANALYSIS_SAMPLE_RATE:
        # The whole file measured block by block (the same long-term spectrum as the array path),
        # never held in memory.
        measurement, n_read = _measure_file(src, channels, frames)
        sample_rate, analysed_s, whole, excerpt = info_rate, n_read / info_rate, None, None
        eq, suggestion = decide_eq(engine, None, sample_rate, target, intensity, measurement=measurement, **design_kwargs)
    else:  # other rates are resampled for the analysis: from a bounded excerpt
        excerpt, sample_rate, analysed_s = read_analysis_excerpt(src)
        whole = excerpt.shape[1] if frames <= ANALYSIS_FULL_MAX_S * sample_rate else None
        if whole is not None and whole < frames:
            raise AudioFileError(f"{src}: truncated: the header promises {frames} frames, only {whole} could be read")
        eq, suggestion = decide_eq(engine, excerpt, sample_rate, target, intensity, **design_kwargs)
        if whole is None:
            del excerpt  # pass 1 reads the file again; a whole-file excerpt serves as pass 1's input

    bar = _Progress(progress, frames if eq.is_bypass else 2 * frames, f"semeq {src.name}")
    try:
        # Pass 1: the input's level and, through the EQ, the output's, without keeping either.
        meter_in = LevelMeter(sample_rate, channels, true_peak=False)
        meter_eq = LevelMeter(sample_rate, channels) if not eq.is_bypass else None
        sos = design_sos(list(eq.cascade), sample_rate) if not eq.is_bypass else None
        zi = np.zeros((sos.shape[0], channels, 2)) if sos is not None else None
        n_read = 0
        blocks = (excerpt[:, i : i + BLOCK_FRAMES] for i in range(0, whole, BLOCK_FRAMES)) if whole else _blocks(src)
        for block in blocks:
            n_read += block.shape[1]
            meter_in.update(block)
            if sos is not None:
                y, zi = sosfilt(sos, block, axis=-1, zi=zi)
                meter_eq.update(y)
            bar.update(block.shape[1])
        excerpt = blocks = None  # the whole-file excerpt is not needed past here
        if n_read < frames:
            raise AudioFileError(f"{src}: truncated: the header promises {frames} frames, only {n_read} could be read")
        stats_in = meter_in.result()
        if eq.is_bypass:
            notes = ["intensity 0: the input is returned unchanged"]
            if dst.suffix.lower() == src.suffix.lower() and subtype is None:
                copy_file(src, dst, force=force)  # the very same bytes, even for a lossy file
                copied = True
            else:
                _write_pass(src, dst, sample_rate, channels, out_format, None, 1.0, stats_in.peak_dbfs, bar)
                copied = False
            return ApplyFileResult(input=src, output=dst, sample_rate=sample_rate, channels=channels, frames=frames,
                                   eq=eq, gain_db=0.0, stats_in=stats_in, stats_out=stats_in, suggestion=suggestion,
                                   notes=tuple(notes), analysed_s=analysed_s, copied=copied,
                                   output_format=out_format.format, output_subtype=out_format.subtype)
        stats_eq = meter_eq.result()
        gain_db, notes = output_gain(stats_in, stats_eq, loudness_match=loudness_match,
                                     true_peak_ceiling_dbtp=true_peak_ceiling_dbtp)
        stats_out = stats_eq.shifted(gain_db)
        # Pass 2: filter again from rest, apply the gain, write.
        _write_pass(src, dst, sample_rate, channels, out_format, sos, 10.0 ** (gain_db / 20.0), stats_out.peak_dbfs, bar)
    finally:
        bar.close()
    return ApplyFileResult(input=src, output=dst, sample_rate=sample_rate, channels=channels, frames=frames, eq=eq,
                           gain_db=gain_db, stats_in=stats_in, stats_out=stats_out, suggestion=suggestion,
                           notes=tuple(notes), analysed_s=analysed_s, output_format=out_format.format,
                           output_subtype=out_format.subtype)


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
        for block in _blocks(src, MAX_BLOCK):
            n_read += block.shape[1]
            yield block

    psd = long_term_psd_blocks(counted(), channels)
    if n_read < frames:
        raise AudioFileError(f"{src}: truncated: the header promises {frames} frames, only {n_read} could be read")
    if psd is None:
        raise ParameterError("the audio is silent or too short: no usable energy between 100 Hz and 10 kHz "
                             "(silence, DC, a lone click, or under about 0.1 s of sound): nothing to analyse or equalise")
    return measure_psd(*psd, ANALYSIS_SAMPLE_RATE), n_read


def _blocks(src: Path, block_frames: int = BLOCK_FRAMES):
    """The file's blocks of ``block_frames`` frames, shaped (channels, samples), float64."""
    with _open(src) as f:
        while True:
            block = _read(f, src, block_frames)
            if block.shape[1] == 0:
                return
            yield block


def _write_pass(src: Path, dst: Path, sample_rate: int, channels: int, out_format, sos, gain: float,
                peak_dbfs: float, bar: _Progress) -> None:
    from scipy.signal import sosfilt

    from .io import AudioWriter, clip_message

    if out_format.clips and np.isfinite(peak_dbfs) and peak_dbfs > 0.0:
        # Known before writing anything (the sample peak was measured in pass 1).
        raise AudioFileError(clip_message(dst, 10.0 ** (peak_dbfs / 20.0), out_format))
    zi = np.zeros((sos.shape[0], channels, 2)) if sos is not None else None
    with AudioWriter(dst, sample_rate, channels, out_format) as writer:
        for block in _blocks(src):
            if sos is not None:
                block, zi = sosfilt(sos, block, axis=-1, zi=zi)
                block *= gain
            writer.write(block)
            bar.update(block.shape[1])
