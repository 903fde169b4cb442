"""Audio file input and output: float (channels, samples) in, atomic writes out."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from .errors import AudioFileError, ParameterError

__all__ = ["AudioInfo", "OutputFormat", "load_audio", "save_audio", "copy_file", "check_output_path",
           "check_audio_output", "resolve_output_format", "atomic_output", "AudioWriter", "SUBTYPE_CHOICES",
           "os_error_reason", "check_readable", "wav_is_truncated", "open_audio", "read_frames", "iter_blocks",
           "read_analysis_excerpt", "sha256_file", "ANALYSIS_FULL_MAX_S", "ANALYSIS_WINDOW_S", "ANALYSIS_N_WINDOWS", "BLOCK_FRAMES"]

_FORMAT_BY_SUFFIX = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3", ".aiff": "AIFF", ".aif": "AIFF"}
_DEFAULT_SUBTYPE = {"WAV": "PCM_24", "FLAC": "PCM_24", "OGG": "VORBIS", "MP3": "MPEG_LAYER_III", "AIFF": "PCM_24"}
_SUBTYPE_ALIASES = {"int16": "PCM_16", "int24": "PCM_24", "int32": "PCM_32", "float": "FLOAT", "float32": "FLOAT", "float64": "DOUBLE"}
SUBTYPE_CHOICES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
"""Sample formats the CLI's ``--subtype`` offers (any soundfile subtype, or an alias such as
"int16" or "float", works from the library)."""
_UNCLIPPED = ("FLOAT", "DOUBLE", "VORBIS", "OPUS", "MPEG")


@dataclass(frozen=True, kw_only=True)
class AudioInfo:
    """What a file held besides its samples, so an output can keep the input's format."""

    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def check_readable(path: Path) -> None:
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if path.is_dir():
        raise AudioFileError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: the file is empty")


def load_audio(path: str | os.PathLike) -> tuple[np.ndarray, int, AudioInfo]:
    """Read an audio file.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    audio : ndarray [shape=(channels, samples), dtype=float64]
        Time last. Integer formats are scaled by their full scale to [-1, 1) (a PCM_16 sample
        ``k`` reads as ``k / 32768``), as :func:`semeq.dsp.check_audio` scales integer arrays
        passed to the API; float formats are read as stored.
    sample_rate : int
    info : AudioInfo

    Raises
    ------
    AudioFileError
        Missing, empty, unreadable, truncated or non-audio file, zero-length audio, or
        NaN/Inf samples.
    """
    path = Path(path)
    check_readable(path)
    try:
        with sf.SoundFile(str(path)) as f:
            info = AudioInfo(sample_rate=int(f.samplerate), channels=int(f.channels), frames=int(f.frames),
                             format=f.format, subtype=f.subtype)
            data = f.read(dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(f"{path}: not a readable audio file ({_sf_reason(exc)})") from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: the file holds no audio (zero samples)")
    if data.shape[0] < info.frames:
        raise AudioFileError(f"{path}: truncated: the header promises {info.frames} frames, only {data.shape[0]} could be read")
    if info.format == "WAV" and wav_is_truncated(path):
        raise AudioFileError(f"{path}: truncated: the WAV data chunk is shorter than its header says")
    if not np.all(np.isfinite(data)):
        raise AudioFileError(f"{path}: the audio holds NaN or Inf samples")
    return np.ascontiguousarray(data.T), info.sample_rate, info


def _sf_reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(": ", 1)[-1] if "Error opening" in text else text


def wav_is_truncated(path: Path) -> bool:
    """libsndfile reads a cut-off WAV without complaint; compare the data chunk to the file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return False
        little = head[:4] == b"RIFF"
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            if len(chunk) < 8:
                return True
            length = int.from_bytes(chunk[4:8], "little" if little else "big")
            if chunk[:4] == b"data":
                # 0 and 0xFFFFFFFF mark streamed WAVs whose length was never filled in.
                return length not in (0, 0xFFFFFFFF) and pos + 8 + length > size
            pos += 8 + length + (length & 1)
    return False


def os_error_reason(exc: OSError) -> str:
    """Name an OS error's cause in words, with its errno name (ENOSPC, EFBIG...)."""
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC:
        return "no space left on the device (ENOSPC)"
    if code == errno.EFBIG:
        return "file too large: the file-size limit was reached (EFBIG)"
    if code == getattr(errno, "EDQUOT", None):
        return "disk quota exceeded (EDQUOT)"
    if code == errno.EROFS:
        return "read-only file system (EROFS)"
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied ({errno.errorcode.get(code, code)})"
    name = errno.errorcode.get(code, "") if code else ""
    text = exc.strerror or str(exc) or type(exc).__name__
    return f"{text} ({name})" if name else text


def check_output_path(output: str | os.PathLike, *, force: bool = False, inputs: tuple = ()) -> Path:
    """Refuse an output that cannot or must not be written, before any work is done.

    Refused: an input as output; a missing or unwritable folder; a directory; anything that is
    not a regular file -- a FIFO, a character or block device (``/dev/null``), a socket -- even
    with ``force``; an existing file without ``force``. A symbolic link counts as existing,
    dangling or not; with ``force`` the link itself is replaced, never its target.

    Raises
    ------
    AudioFileError
    """
    output = Path(output)
    for src in inputs:
        src = Path(src)
        if src.exists() and (output.resolve() == src.resolve() or (output.exists() and os.path.samefile(output, src))):
            raise AudioFileError(f"{output}: the output would overwrite the input; choose another path")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.exists():
        raise AudioFileError(f"{output}: the output folder {parent} does not exist")
    if not parent.is_dir():
        raise AudioFileError(f"{output}: {parent} is not a folder")
    try:
        st = os.lstat(output)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise AudioFileError(f"{output}: cannot check the output ({os_error_reason(exc)})") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise AudioFileError(f"{output}: is a directory; give a file name")
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a character device" if stat.S_ISCHR(st.st_mode)
                    else "a block device" if stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                    else "not a regular file")
            raise AudioFileError(f"{output}: is {kind}, not a regular file: semeq writes only regular files, "
                                 "even with --force")
        if not force:
            what = "a symbolic link" + (" (dangling)" if not output.exists() else "") if stat.S_ISLNK(st.st_mode) else "a file"
            raise AudioFileError(f"{output}: already exists ({what}; use --force to overwrite)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise AudioFileError(f"{output}: the folder {parent} is not writable")
    return output


@dataclass(frozen=True, kw_only=True)
class OutputFormat:
    """Container format and sample format chosen for an output file."""

    format: str
    subtype: str

    @property
    def clips(self) -> bool:
        """Whether samples past full scale would be clipped (integer PCM formats)."""
        return not self.subtype.startswith(_UNCLIPPED)


def resolve_output_format(path: str | os.PathLike, *, subtype: str | None = None,
                          like: AudioInfo | None = None) -> OutputFormat:
    """The format an output will be written in: from the suffix, ``subtype``, else ``like``'s.

    Parameters
    ----------
    path : str or PathLike
        .wav, .flac, .ogg, .aiff/.aif (.mp3 where libsndfile can).
    subtype : str, optional
        A soundfile subtype ("PCM_16", "PCM_24", "FLOAT"...) or an alias ("int16", "float").
    like : AudioInfo, optional
        Keep this input's subtype when the format allows it.

    Raises
    ------
    AudioFileError
        An unknown suffix, or a subtype the format cannot hold.
    """
    path = Path(path)
    fmt = _FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise AudioFileError(f"{path}: unknown output format {path.suffix or '(no suffix)'!r} "
                             "(use .wav, .flac, .ogg or .aiff)")
    chosen = None
    if subtype:
        chosen = _SUBTYPE_ALIASES.get(subtype.lower(), subtype.upper())
        if chosen not in sf.available_subtypes():
            raise AudioFileError(f"{path}: unknown sample format {subtype!r} (choose from {', '.join(SUBTYPE_CHOICES)})")
    if chosen is None and like is not None and sf.check_format(fmt, like.subtype):
        chosen = like.subtype
    if chosen is None:
        chosen = _DEFAULT_SUBTYPE[fmt]
    if not sf.check_format(fmt, chosen):
        raise AudioFileError(f"{path}: {fmt} cannot hold sample format {chosen}")
    return OutputFormat(format=fmt, subtype=chosen)


def check_audio_output(output: str | os.PathLike, *, force: bool = False, inputs: tuple = (),
                       subtype: str | None = None, like: AudioInfo | None = None) -> tuple[Path, OutputFormat]:
    """:func:`check_output_path` plus the format checks: everything that can be known before the work."""
    path = check_output_path(output, force=force, inputs=inputs)
    return path, resolve_output_format(path, subtype=subtype, like=like)


def clip_message(path: Path, peak: float, fmt: OutputFormat) -> str:
    """The refusal for samples past full scale in an integer format, with the way out."""
    return (f"{path}: samples reach {20 * np.log10(peak):+.1f} dBFS; {fmt.format} {fmt.subtype} would clip them: "
            "lower the level, or write floating point (--subtype FLOAT, a .wav output)")


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, else remove it.

    The file gets the permissions a plain ``open`` would give it (0666 less the umask), not
    mkstemp's 0600. Any OSError becomes an :class:`AudioFileError` naming ``path`` and the
    cause (no space left, file too large...); nothing is left behind, whatever the failure
    (KeyboardInterrupt included).
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent if str(path.parent) else ".")
        os.close(fd)
    except OSError as exc:
        raise AudioFileError(f"{path}: cannot write here ({os_error_reason(exc)})") from None
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        raise AudioFileError(f"{path}: could not write ({os_error_reason(exc)})") from None
    finally:
        with contextlib.suppress(OSError):
            if os.path.lexists(tmp):
                os.unlink(tmp)


class _RecordingFile:
    """A binary file for soundfile's virtual I/O that keeps the OSError of a failed write.

    libsndfile reports every failed write as "System error."; this keeps the real cause
    (ENOSPC, EFBIG...) so the message can name it. A failed write returns 0 bytes (libsndfile
    then stops), never raises inside the C callback.
    """

    def __init__(self, path: str):
        self._f = open(path, "w+b", buffering=1 << 16)
        self.error: OSError | None = None

    def write(self, data) -> int:
        if self.error is not None:
            return 0
        try:
            return self._f.write(data)
        except OSError as exc:
            self.error = exc
            return 0

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)

    def seek(self, offset: int, whence: int = 0) -> int:
        try:
            return self._f.seek(offset, whence)
        except OSError as exc:
            self.error = self.error or exc
            return -1

    def tell(self) -> int:
        return self._f.tell()

    def flush(self) -> None:
        try:
            self._f.flush()
        except OSError as exc:
            self.error = self.error or exc

    def close(self) -> None:
        try:
            self._f.close()
        except OSError as exc:
            self.error = self.error or exc


class AudioWriter:
    """Write audio block by block to a temporary file, renamed over ``path`` when all went well.

    Use as a context manager; blocks are (channels, samples) float arrays. On any error, or
    an exception in the ``with`` body (KeyboardInterrupt included), nothing is left behind.
    A failed write names its cause (no space left on the device, file too large).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.wav"
    >>> with AudioWriter(out, 44100, 2, resolve_output_format(out)) as w:
    ...     w.write(np.zeros((2, 100)))
    >>> sf.info(str(out)).frames
    100
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int, channels: int, fmt: OutputFormat):
        self.path = Path(path)
        self.sample_rate, self.channels, self.fmt = int(sample_rate), int(channels), fmt
        self._atomic = None
        self._file: _RecordingFile | None = None
        self._sf: sf.SoundFile | None = None

    def __enter__(self) -> "AudioWriter":
        self._atomic = atomic_output(self.path)
        tmp = self._atomic.__enter__()
        try:
            self._file = _RecordingFile(tmp)
            self._sf = sf.SoundFile(self._file, "w", samplerate=self.sample_rate, channels=self.channels,
                                    format=self.fmt.format, subtype=self.fmt.subtype)
        except BaseException as exc:
            self._abort(exc)
            raise
        return self

    def write(self, block: np.ndarray) -> None:
        """Append a (channels, samples) block."""
        try:
            self._sf.write(np.ascontiguousarray(block.T))
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, AssertionError) as exc:
            # soundfile asserts that every frame was written: a short write (disk full) lands here.
            raise self._failure(exc) from None
        if self._file.error is not None:
            raise self._failure(self._file.error)

    def _failure(self, exc: BaseException) -> AudioFileError:
        cause = self._file.error if self._file is not None and self._file.error is not None else exc
        reason = os_error_reason(cause) if isinstance(cause, OSError) else str(cause)
        return AudioFileError(f"{self.path}: could not write ({reason}); nothing was left behind")

    def _abort(self, exc: BaseException) -> None:
        for closer in (self._sf, self._file):
            with contextlib.suppress(Exception):
                if closer is not None:
                    closer.close()
        self._sf = self._file = None
        atomic, self._atomic = self._atomic, None
        if atomic is not None:
            with contextlib.suppress(BaseException):
                atomic.__exit__(type(exc), exc, exc.__traceback__)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is not None:
            self._abort(exc)
            return False
        failure = None
        try:
            self._sf.close()  # writes the header's final sizes
        except (sf.LibsndfileError, RuntimeError, AssertionError) as err:
            failure = self._failure(err)
        self._file.flush()
        self._file.close()
        if failure is None and self._file.error is not None:
            failure = self._failure(self._file.error)
        if failure is not None:
            self._abort(failure)
            raise failure
        atomic, self._atomic = self._atomic, None
        atomic.__exit__(None, None, None)
        return False


def copy_file(source: str | os.PathLike, destination: str | os.PathLike, *, force: bool = False) -> Path:
    """Copy a file's bytes atomically (an exact bypass keeps even a lossy file untouched)."""
    destination = check_output_path(destination, force=force, inputs=(source,))
    with atomic_output(destination) as tmp:
        shutil.copyfile(source, tmp)
    return destination


def save_audio(
    path: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int,
    *,
    like: AudioInfo | None = None,
    subtype: str | None = None,
    force: bool = False,
) -> Path:
    """Write audio atomically (a temporary file in the same folder, then a rename).

    Parameters
    ----------
    path : str or PathLike
        Format from the suffix: .wav, .flac, .ogg, .aiff (.mp3 where libsndfile can).
    audio : ndarray [shape=(channels, samples)]
        Time last; float (full scale +-1.0) or integer PCM, checked as the API checks audio
        (:func:`semeq.dsp.check_audio`: a (samples, channels) array is refused).
    sample_rate : int
    like : AudioInfo, optional
        Keep this input's subtype (bit depth) when the format allows it.
    subtype : str, optional
        "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE" (or "int16", "int24", "float"...);
        overrides ``like``.
    force : bool
        Replace an existing file; without it an existing file is an error. A FIFO, device or
        other non-regular file is never replaced.

    Returns
    -------
    path : Path

    Raises
    ------
    AudioFileError
        The output cannot be written (see :func:`check_output_path`), its format is unknown,
        an integer format would clip, or the write failed (the cause is named: no space left
        on the device, file too large). Nothing is left behind.
    ParameterError
        The audio or the sample rate is malformed.
    """
    from .dsp.validation import check_audio, check_sample_rate

    path, fmt = check_audio_output(path, force=force, subtype=subtype, like=like)
    audio = check_audio(audio)
    rate = check_sample_rate(sample_rate)
    if rate != int(rate):
        raise ParameterError(f"sample_rate must be a whole number of Hz to be written to a file, got {rate:g}")
    if fmt.clips:
        peak = float(np.max(np.abs(audio)))
        if peak > 1.0:
            raise AudioFileError(clip_message(path, peak, fmt))
    with AudioWriter(path, int(rate), audio.shape[0], fmt) as writer:
        writer.write(audio)
    return path


# -- reading in blocks (the file pipeline and the analysis of a file) ---------------------------
ANALYSIS_FULL_MAX_S = 240.0
"""Files up to this long (s) are analysed whole; longer ones from evenly spaced windows."""
ANALYSIS_WINDOW_S = 2.0
"""Length (s) of each analysis window taken from a long file (the encoder's window)."""
ANALYSIS_N_WINDOWS = 120
"""Windows taken from a long file: 120 x 2 s = 4 minutes of audio analysed."""
BLOCK_FRAMES = 1 << 16
"""Frames per block when a file is read block by block (about 1.5 s at 44.1 kHz)."""


def open_audio(path: Path) -> "sf.SoundFile":
    """An open ``soundfile.SoundFile`` for reading, or AudioFileError naming the cause."""
    check_readable(path)
    try:
        return sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(f"{path}: not a readable audio file ({_sf_reason(exc)})") from None


def read_frames(f: "sf.SoundFile", path: Path, frames: int) -> np.ndarray:
    """Read up to ``frames`` frames as float64, shaped (channels, samples); checks finiteness."""
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
    with open_audio(path) as f:
        sample_rate, frames = int(f.samplerate), int(f.frames)
        if frames <= ANALYSIS_FULL_MAX_S * sample_rate:  # module globals: tests shorten them
            # Read in blocks straight into the (channels, samples) array: no second full-length copy.
            excerpt = np.empty((f.channels, frames))
            start = 0
            while start < frames:
                part = read_frames(f, path, min(BLOCK_FRAMES, frames - start))
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
                part = read_frames(f, path, window)
                excerpt[:, k * window : k * window + part.shape[1]] = part
                excerpt[:, k * window + part.shape[1] : (k + 1) * window] = 0.0
    return excerpt, sample_rate, excerpt.shape[1] / sample_rate


def iter_blocks(src: Path, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """The file's blocks of ``block_frames`` frames, shaped (channels, samples), float64."""
    with open_audio(src) as f:
        while True:
            block = read_frames(f, src, block_frames)
            if block.shape[1] == 0:
                return
            yield block


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
