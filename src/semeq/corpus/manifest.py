"""The corpus manifest (``corpus/manifest.csv``) and reading the audio it points at."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import DataError, ParameterError

__all__ = [
    "MANIFEST_COLUMNS",
    "SPLITS",
    "Track",
    "default_cache_dir",
    "default_manifest_path",
    "load_manifest",
    "write_manifest",
    "iter_audio",
]

SPLITS = ("train", "validation", "test")
MANIFEST_COLUMNS = (
    "track_id", "package", "version", "license", "source_path", "cache_path",
    "sha256", "duration_s", "sample_rate", "channels", "codec", "split",
)
REBUILD_COMMAND = "semeq corpus build"


@dataclass(frozen=True, kw_only=True)
class Track:
    """One row of the manifest: a music file from a Debian package, kept encoded in the cache.

    ``source_path`` is the file's path inside the package (``archive.pk3::member`` for a file
    inside an archive the package ships); ``cache_path`` is relative to the corpus cache folder.
    """

    track_id: str
    package: str
    version: str
    license: str
    source_path: str
    cache_path: str
    sha256: str
    duration_s: float
    sample_rate: int
    channels: int
    codec: str
    split: Literal["train", "validation", "test"]

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise DataError(f"track {self.track_id}: split {self.split!r} is not one of {', '.join(SPLITS)}")
        if Path(self.cache_path).is_absolute() or ".." in Path(self.cache_path).parts:
            raise DataError(f"track {self.track_id}: cache_path {self.cache_path!r} must be relative to the cache folder")

    @property
    def hours(self) -> float:
        return self.duration_s / 3600.0

    def to_row(self) -> dict[str, str]:
        row = asdict(self)
        row["duration_s"] = f"{self.duration_s:.3f}"
        return {k: str(row[k]) for k in MANIFEST_COLUMNS}


def default_cache_dir() -> Path:
    """``$SEMEQ_CACHE`` if set, else ``${XDG_CACHE_HOME:-~/.cache}/semeq/corpus``."""
    env = os.environ.get("SEMEQ_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "semeq" / "corpus"


def default_manifest_path() -> Path:
    """``corpus/manifest.csv`` of the source checkout this package was imported from."""
    return Path(__file__).resolve().parents[3] / "corpus" / "manifest.csv"


def load_manifest(path: str | os.PathLike | None = None) -> list[Track]:
    """Read the corpus manifest.

    Parameters
    ----------
    path : str or PathLike, optional
        Default: ``corpus/manifest.csv`` of the source checkout.

    Returns
    -------
    tracks : list of Track, in file order

    Raises
    ------
    DataError
        The file is missing, lacks a column, or a row does not parse.
    """
    path = Path(path) if path is not None else default_manifest_path()
    if not path.is_file():
        raise DataError(f"{path}: corpus manifest not found (it is made by '{REBUILD_COMMAND}')")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise DataError(f"{path}: manifest lacks column(s) {', '.join(missing)}")
        tracks = []
        for line, row in enumerate(reader, start=2):
            try:
                tracks.append(Track(
                    **{k: row[k] for k in MANIFEST_COLUMNS if k not in ("duration_s", "sample_rate", "channels")},
                    duration_s=float(row["duration_s"]),
                    sample_rate=int(row["sample_rate"]),
                    channels=int(row["channels"]),
                ))
            except (TypeError, ValueError) as exc:
                raise DataError(f"{path}:{line}: bad manifest row ({exc})") from None
    ids = [t.track_id for t in tracks]
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: duplicate track_id in the manifest")
    return tracks


def write_manifest(tracks: Iterable[Track], path: str | os.PathLike) -> Path:
    """Write the manifest atomically (a temporary file beside it, then a rename)."""
    from ..io import atomic_output

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for t in tracks:
                writer.writerow(t.to_row())
    return path


def iter_audio(
    tracks: Iterable[Track],
    cache_dir: str | os.PathLike | None = None,
    *,
    max_seconds: float | None = None,
) -> Iterator[tuple[Track, np.ndarray, int]]:
    """Decode the corpus tracks from the cache, one at a time.

    Parameters
    ----------
    tracks : iterable of Track
    cache_dir : str or PathLike, optional
        The corpus cache folder (default :func:`default_cache_dir`).
    max_seconds : float > 0, optional
        Read at most this many seconds from the start of each track.

    Yields
    ------
    track : Track
    audio : ndarray [shape=(channels, samples), dtype=float64]
    sample_rate : int

    Raises
    ------
    DataError
        A track's file is missing from the cache (names the rebuild command) or cannot be read.
    """
    import soundfile as sf

    if max_seconds is not None and not (np.isfinite(max_seconds) and max_seconds > 0):
        raise ParameterError(f"max_seconds must be a positive number of seconds, got {max_seconds}")
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    for track in tracks:
        path = root / track.cache_path
        if not path.is_file():
            raise DataError(
                f"{path}: corpus audio missing from the cache; run '{REBUILD_COMMAND} {root}' to fetch it")
        try:
            with sf.SoundFile(str(path)) as fh:
                frames = -1 if max_seconds is None else int(round(max_seconds * fh.samplerate))
                data = fh.read(frames=frames, dtype="float64", always_2d=True)
                sample_rate = int(fh.samplerate)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise DataError(f"{path}: cannot decode corpus track {track.track_id} ({exc})") from None
        yield track, np.ascontiguousarray(data.T), sample_rate  # (samples, channels) -> (channels, samples)


def _field_names() -> tuple[str, ...]:  # kept in step with MANIFEST_COLUMNS by a test
    return tuple(f.name for f in fields(Track))
