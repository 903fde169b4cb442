"""Audio file input and output: float (channels, samples) in, atomic writes out."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import AudioFileError, ParameterError

__all__ = ["AudioInfo", "load_audio", "save_audio", "copy_file", "check_output_path", "atomic_output"]

_FORMAT_BY_SUFFIX = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3", ".aiff": "AIFF", ".aif": "AIFF"}
_DEFAULT_SUBTYPE = {"WAV": "PCM_24", "FLAC": "PCM_24", "OGG": "VORBIS", "MP3": "MPEG_LAYER_III", "AIFF": "PCM_24"}
_SUBTYPE_ALIASES = {"int16": "PCM_16", "int24": "PCM_24", "int32": "PCM_32", "float": "FLOAT", "float32": "FLOAT", "float64": "DOUBLE"}


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


def _check_readable(path: Path) -> None:
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
        Integer formats are scaled to [-1, 1).
    sample_rate : int
    info : AudioInfo

    Raises
    ------
    AudioFileError
        Missing, empty, unreadable, truncated or non-audio file, zero-length audio, or
        NaN/Inf samples.
    """
    path = Path(path)
    _check_readable(path)
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
    if info.format == "WAV" and _wav_is_truncated(path):
        raise AudioFileError(f"{path}: truncated: the WAV data chunk is shorter than its header says")
    if not np.all(np.isfinite(data)):
        raise AudioFileError(f"{path}: the audio holds NaN or Inf samples")
    return np.ascontiguousarray(data.T), info.sample_rate, info


def _sf_reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(": ", 1)[-1] if "Error opening" in text else text


def _wav_is_truncated(path: Path) -> bool:
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


def check_output_path(output: str | os.PathLike, *, force: bool = False, inputs: tuple = ()) -> Path:
    """Refuse an output that is an input, sits in a missing folder, or exists without ``force``."""
    output = Path(output)
    for src in inputs:
        src = Path(src)
        if src.exists() and (output.resolve() == src.resolve() or (output.exists() and os.path.samefile(output, src))):
            raise AudioFileError(f"{output}: the output would overwrite the input; choose another path")
    if not output.parent.exists():
        raise AudioFileError(f"{output}: the output folder {output.parent} does not exist")
    if output.is_dir():
        raise AudioFileError(f"{output}: is a directory; give a file name")
    if output.exists() and not force:
        raise AudioFileError(f"{output}: already exists (use --force to overwrite)")
    return output


@contextlib.contextmanager
def atomic_output(path: Path):
    """Yield a temporary path beside ``path``; on success rename it over ``path``, else remove it.

    The file gets the permissions a plain ``open`` would give it (0666 less the umask), not
    mkstemp's 0600. Any OSError becomes an :class:`AudioFileError` naming ``path``.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent if str(path.parent) else ".")
        os.close(fd)
    except OSError as exc:
        raise AudioFileError(f"{path}: cannot write here ({exc.strerror or exc})") from None
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        raise AudioFileError(f"{path}: could not write ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
        Format from the suffix: .wav, .flac, .ogg (.mp3 where libsndfile can).
    audio : ndarray [shape=(channels, samples)]
    sample_rate : int
    like : AudioInfo, optional
        Keep this input's subtype (bit depth) when the format allows it.
    subtype : str, optional
        "int16", "int24", "int32", "float" or a soundfile subtype; overrides ``like``.
    force : bool
        Replace an existing file; without it an existing file is an error.

    Returns
    -------
    path : Path
    """
    path = check_output_path(path, force=force)
    fmt = _FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise AudioFileError(f"{path}: unknown output format {path.suffix!r} (use .wav, .flac or .ogg)")
    audio = np.asarray(audio)
    if audio.ndim != 2 or audio.shape[0] < 1 or audio.shape[1] < 1:
        raise ParameterError(f"audio must be shaped (channels, samples) and non-empty, got {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise ParameterError("refusing to write NaN or Inf samples")
    chosen = _SUBTYPE_ALIASES.get(subtype, subtype) if subtype else None
    if chosen is None and like is not None and sf.check_format(fmt, like.subtype):
        chosen = like.subtype
    if chosen is None:
        chosen = _DEFAULT_SUBTYPE[fmt]
    if not sf.check_format(fmt, chosen):
        raise AudioFileError(f"{path}: {fmt} cannot hold sample format {chosen}")
    if not chosen.startswith(("FLOAT", "DOUBLE", "VORBIS", "OPUS")):
        peak = float(np.max(np.abs(audio)))
        if peak > 1.0:
            raise AudioFileError(f"{path}: samples reach {20 * np.log10(peak):+.1f} dBFS; {fmt} {chosen} would clip them: "
                                 "lower the level or write a float WAV")
    with atomic_output(path) as tmp:
        try:
            sf.write(tmp, audio.T, int(sample_rate), format=fmt, subtype=chosen)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
            raise AudioFileError(f"{path}: could not write ({exc})") from None
    return path
