"""The audio encoder's sources: 2 s crops of real music and of noise, cached as STFT power.

Real music is the development clips (``music-dev``, minus ``holdout_clips``) and, when the
config asks for it, crops of the corpus's tracks (:func:`read_music_manifest`, built by
``semeq corpus build``), each as a stereo power mix and a mono downmix. Synthetic sources are
pink noise and music-shaped noise (the reference balance plus a random smooth deviation).
Each source keeps its STFT power (for spectral-domain synthesis of EQ'd examples) and its
balance on the analysis grid (for the targets).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis import (
    ANALYSIS_SAMPLE_RATE,
    GRID_FREQS_HZ,
    compute_reference,
    long_term_spectrum_db,
    normalise_db,
    psd_to_grid_db,
    welch_psd,
)
from ..errors import DataError

__all__ = ["Sources", "load_clips", "reference_from_clips", "build_sources", "MusicTrack", "read_music_manifest",
           "corpus_crops", "crop_views"]

WINDOW_S = 2.0
MANIFEST_COLUMNS = ("track_id", "package", "cache_path", "split")
"""Manifest columns this module needs (the corpus manifest holds more)."""


@dataclass
class Sources:
    """Cached sources. ``power`` (n, n_bins, n_frames) float32 torch; ``balance_db`` (n, 60)."""

    power: "torch.Tensor"
    balance_db: np.ndarray
    kind: np.ndarray  # "music", "pink", "shaped"
    clip: np.ndarray  # clip name (or "package/track_id") for music, "" otherwise

    def __len__(self) -> int:
        return self.balance_db.shape[0]


def _resampled(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    if sample_rate != ANALYSIS_SAMPLE_RATE:
        import soxr

        audio = soxr.resample(audio.T, sample_rate, ANALYSIS_SAMPLE_RATE).T
    return np.ascontiguousarray(audio, dtype=np.float64)


def load_clips(data_root: Path) -> dict[str, np.ndarray]:
    """The music-dev clips at 44.1 kHz, by name (file stem)."""
    from ..io import load_audio

    folder = Path(data_root) / "music-dev"
    files = sorted(folder.glob("*.flac"))
    if not files:
        raise DataError(f"no music clips (*.flac) in {folder}")
    clips = {}
    for f in files:
        audio, sample_rate, _ = load_audio(f)
        clips[f.stem] = _resampled(audio, sample_rate)
    return clips


def reference_from_clips(clips: dict[str, np.ndarray]) -> np.ndarray:
    """The reference balance: mean of the clips' level-normalised LTAS (see :mod:`semeq.analysis`)."""
    return compute_reference(np.stack([long_term_spectrum_db(a, ANALYSIS_SAMPLE_RATE) for a in clips.values()]))


# --------------------------------------------------------------------------------------------
# The corpus.


@dataclass(frozen=True)
class MusicTrack:
    """One corpus track: ``path`` is the decoded-audio file in the cache."""

    track_id: str
    package: str
    split: str
    path: Path


def read_music_manifest(manifest: str | Path, cache_dir: str | Path) -> list[MusicTrack]:
    """Tracks of a corpus manifest CSV (columns ``track_id, package, cache_path, split``, with
    ``cache_path`` relative to ``cache_dir``), in file order.

    Raises
    ------
    DataError
        If the file cannot be read, lacks a column, or names a split other than
        train / validation / test.
    """
    manifest, cache_dir = Path(manifest), Path(cache_dir)
    try:
        with open(manifest, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{manifest}: the music manifest lacks column(s) {', '.join(missing)}")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{manifest}: cannot read the music manifest ({exc})") from None
    tracks = []
    for line, row in enumerate(rows, start=2):
        if row["split"] not in ("train", "validation", "test"):
            raise DataError(f"{manifest}, line {line}: split must be train, validation or test, got {row['split']!r}")
        tracks.append(MusicTrack(track_id=row["track_id"], package=row["package"], split=row["split"],
                                 path=cache_dir / row["cache_path"]))
    return tracks


def corpus_crops(tracks: list[MusicTrack], n_per_track: int, rng: np.random.Generator,
                 log=lambda s: None) -> tuple[list[np.ndarray], list[str]]:
    """``n_per_track`` random 2 s crops (44.1 kHz, (channels, samples)) of each track.

    Only the crops are decoded (soundfile seeks). A crop without usable energy
    (:func:`semeq.analysis.has_usable_energy`) is drawn again, up to 4 times. A track that
    soundfile cannot read, or that is shorter than 2 s, is skipped with a logged reason.
    """
    import soundfile as sf

    from ..analysis import has_usable_energy

    crops, names = [], []
    skipped = []
    for t in tracks:
        try:
            info = sf.info(str(t.path))
            length = int(np.ceil(WINDOW_S * info.samplerate)) + 1
            if info.frames < length:
                skipped.append(f"{t.track_id}: shorter than {WINDOW_S} s")
                continue
            for _ in range(n_per_track):
                for _attempt in range(5):
                    start = int(rng.integers(0, info.frames - length + 1))
                    data, sample_rate = sf.read(str(t.path), start=start, frames=length, dtype="float64", always_2d=True)
                    audio = _resampled(data.T, float(sample_rate))[:, : int(round(WINDOW_S * ANALYSIS_SAMPLE_RATE))]
                    if has_usable_energy(audio, ANALYSIS_SAMPLE_RATE):
                        break
                crops.append(audio)
                names.append(f"{t.package}/{t.track_id}")
        except (OSError, RuntimeError, sf.LibsndfileError) as exc:
            skipped.append(f"{t.track_id}: {exc}")
    if skipped:
        log(f"corpus: skipped {len(skipped)} track(s): " + "; ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    return crops, names


# --------------------------------------------------------------------------------------------
# Sources.


def _grid_balance(views: list[np.ndarray], reference_db: np.ndarray) -> np.ndarray:
    out = []
    for v in views:
        freqs, psd = welch_psd(v - v.mean(axis=1, keepdims=True))
        out.append(normalise_db(psd_to_grid_db(freqs, psd) - reference_db))
    return np.stack(out)


def crop_views(crop: np.ndarray) -> list[np.ndarray]:
    """The views a music crop gives: a stereo crop itself and its mono downmix; a mono crop itself;
    more channels are mixed to stereo by pairs (odd channels to the left)."""
    if crop.shape[0] > 2:
        crop = np.stack([crop[0::2].mean(axis=0), crop[1::2].mean(axis=0)])
    if crop.shape[0] == 2:
        return [crop, crop.mean(axis=0, keepdims=True)]
    return [crop]


def build_sources(clips: dict[str, np.ndarray], reference_db: np.ndarray, config, front_end, rng: np.random.Generator,
                  n_pink: int, n_shaped: int, extra_music: tuple[list[np.ndarray], list[str]] | None = None) -> Sources:
    """Crop, mix and cache the sources (see the module docstring).

    Order: crops of ``clips`` (hop ``config.crop_hop_s``), then ``extra_music`` (crops, names),
    then pink noise, then music-shaped noise; the noise draws from ``rng``.
    """
    import torch

    from ..data.synth import pink_noise, random_balance_db, shaped_noise

    window = int(round(WINDOW_S * ANALYSIS_SAMPLE_RATE))
    hop = int(round(config.crop_hop_s * ANALYSIS_SAMPLE_RATE))
    views, kinds, names = [], [], []

    def add_music(crop, name):
        v = crop_views(crop)
        views.extend(v)
        kinds.extend(["music"] * len(v))
        names.extend([name] * len(v))

    for name, audio in clips.items():
        for start in range(0, audio.shape[1] - window + 1, hop):
            add_music(audio[:, start:start + window], name)
    for crop, name in zip(*(extra_music or ([], []))):
        add_music(crop, name)
    for i in range(n_pink):
        views.append(pink_noise(window, ANALYSIS_SAMPLE_RATE, rng, n_channels=1 + i % 2))
        kinds.append("pink")
        names.append("")
    deviations = random_balance_db(GRID_FREQS_HZ, rng, n_shaped)
    deviations[: max(1, n_shaped // 8)] = 0.0  # some exactly at the reference balance
    log_grid = np.log(GRID_FREQS_HZ)
    for i in range(n_shaped):
        shape_db = reference_db + deviations[i]
        amp = lambda f, s=shape_db: 10.0 ** (np.interp(np.log(f), log_grid, s) / 20.0)
        views.append(shaped_noise(amp, window, ANALYSIS_SAMPLE_RATE, rng, n_channels=1 + i % 2))
        kinds.append("shaped")
        names.append("")
    balance = _grid_balance(views, reference_db)
    powers = []
    with torch.no_grad():
        for v in views:
            powers.append(front_end.power(torch.as_tensor(v, dtype=torch.float32)[None])[0])
    return Sources(power=torch.stack(powers), balance_db=balance, kind=np.array(kinds), clip=np.array(names))
