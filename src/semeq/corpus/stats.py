"""Long-term spectra of corpus tracks, with each lossy file's missing top band marked NaN.

A track is measured exactly as the music reference measures it (:func:`semeq.reference.measure_psd`:
the held band found by :func:`semeq.reference.content_cutoff_hz`, level-normalised over it), so
the corpus figures and the shipped reference share one cut-off rule.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .manifest import Track, default_cache_dir

__all__ = ["excerpt_spectrum_db", "track_spectra", "percentile_corridor"]

N_EXCERPTS = 6
EXCERPT_S = 10.0
_SPECTRA_VERSION = 3  # 2: six 10 s excerpts per track; 3: measured as the reference measures (NaN above the cut)


def excerpt_psd(path: str | os.PathLike, *, n_excerpts: int = N_EXCERPTS,
                excerpt_s: float = EXCERPT_S) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Long-term Welch PSD of a file from ``n_excerpts`` evenly spaced excerpts.

    Each excerpt is prepared (44.1 kHz, mean removed) and analysed on its own and the PSDs are
    averaged weighted by length, so no joins are made; a file no longer than
    ``n_excerpts * excerpt_s`` is read whole. Decoding and analysing 60 s instead of a whole
    3-30 minute track is what makes the corpus statistics affordable on two shared cores.

    Returns
    -------
    (freqs_hz, psd, sample_rate) or None
        None when the excerpts hold no usable energy (the rule of :mod:`semeq.analysis`).
    """
    import soundfile as sf

    from ..analysis import MIN_ACTIVE_FRAMES, long_term_psd

    with sf.SoundFile(str(path)) as fh:
        sample_rate, frames = int(fh.samplerate), fh.frames
        n_excerpt = int(round(excerpt_s * sample_rate))
        if frames <= n_excerpts * n_excerpt:
            found = long_term_psd(fh.read(dtype="float64", always_2d=True).T, sample_rate)
            return None if found is None else (*found, sample_rate)
        from ..analysis import active_frames, prepare_audio, welch_psd

        psd_sum, weight, n_active, freqs_hz = 0.0, 0, 0, None
        for k in range(n_excerpts):
            start = int((k + 0.5) * frames / n_excerpts) - n_excerpt // 2
            fh.seek(max(0, min(start, frames - n_excerpt)))
            prepared = prepare_audio(fh.read(frames=n_excerpt, dtype="float64", always_2d=True).T, sample_rate)
            n_active += int(active_frames(prepared).sum())
            freqs_hz, psd = welch_psd(prepared)
            psd_sum = psd_sum + psd * prepared.shape[1]
            weight += prepared.shape[1]
    if n_active < MIN_ACTIVE_FRAMES:
        return None
    return freqs_hz, psd_sum / weight, sample_rate


def excerpt_spectrum_db(path: str | os.PathLike, *, n_excerpts: int = N_EXCERPTS,
                        excerpt_s: float = EXCERPT_S) -> np.ndarray:
    """A file's long-term spectrum from :func:`excerpt_psd`, measured as the reference measures
    (:func:`semeq.reference.measure_psd`): NaN above the content's cut-off, level-normalised
    over the held band; all NaN without usable energy.

    A file no longer than ``n_excerpts * excerpt_s`` gives exactly
    ``semeq.reference.measure(audio, sample_rate).spectrum_db``.

    Returns
    -------
    spectrum_db : ndarray [shape=(60,)]
    """
    from ..analysis import GRID_FREQS_HZ
    from ..errors import ParameterError
    from ..reference import measure_psd

    found = excerpt_psd(path, n_excerpts=n_excerpts, excerpt_s=excerpt_s)
    if found is None:
        return np.full(GRID_FREQS_HZ.size, np.nan)
    try:
        return measure_psd(*found).spectrum_db
    except ParameterError:  # nothing held above 100 Hz
        return np.full(GRID_FREQS_HZ.size, np.nan)


def track_spectra(tracks: Sequence[Track], cache_dir: str | os.PathLike | None = None, *,
                  store: str | os.PathLike | None = None, progress: bool = True) -> np.ndarray:
    """Level-normalised long-term spectra of corpus tracks, ``(tracks, 60)`` on the analysis grid.

    Each from :func:`excerpt_spectrum_db` (six 10 s excerpts). Spectra already computed are
    read from ``store`` (an ``.npz`` keyed by SHA-256, default ``<cache>/stats/ltas.npz``) and
    new ones added to it, so a second call decodes nothing. NaN above each track's cut-off.
    """
    import sys

    from tqdm import tqdm

    from ..analysis import GRID_FREQS_HZ
    from ..errors import DataError
    from .manifest import REBUILD_COMMAND

    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    store = Path(store) if store is not None else cache_dir / "stats" / "ltas.npz"
    known: dict[str, np.ndarray] = {}
    if store.is_file():
        with np.load(store) as z:
            if int(z["version"]) == _SPECTRA_VERSION and z["spectra_db"].shape[-1] == GRID_FREQS_HZ.size:
                known = dict(zip(z["sha256"].tolist(), z["spectra_db"]))
    todo = [t for t in tracks if t.sha256 not in known]

    def save() -> None:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(store.name + ".part.npz")
        keys = sorted(known)
        np.savez(tmp, version=_SPECTRA_VERSION, sha256=np.array(keys), spectra_db=np.stack([known[k] for k in keys]))
        os.replace(tmp, store)

    for i, track in enumerate(tqdm(todo, desc="spectra", unit="track", file=sys.stderr,
                                   disable=not progress or not todo), start=1):
        path = cache_dir / track.cache_path
        if not path.is_file():
            raise DataError(f"{path}: corpus audio missing from the cache; run '{REBUILD_COMMAND} {cache_dir}' to fetch it")
        known[track.sha256] = excerpt_spectrum_db(path)
        if i % 20 == 0:  # an interrupted run keeps what it computed
            save()
    if todo:
        save()
    return np.stack([known[t.sha256] for t in tracks]) if tracks else np.zeros((0, GRID_FREQS_HZ.size))


def percentile_corridor(spectra_db: np.ndarray, percentiles: Sequence[float] = (10, 25, 50, 75, 90), *,
                        min_tracks: int = 10) -> np.ndarray:
    """Per-band percentiles over the tracks that hold each band (NaN entries left out).

    Returns
    -------
    corridor_db : ndarray [shape=(len(percentiles), n_grid)]
        NaN in a band fewer than ``min_tracks`` tracks hold.
    """
    spectra_db = np.asarray(spectra_db, dtype=np.float64)
    held = np.isfinite(spectra_db).sum(axis=0)
    out = np.full((len(percentiles), spectra_db.shape[-1]), np.nan)
    ok = held >= min_tracks
    if ok.any():
        out[:, ok] = np.nanpercentile(spectra_db[:, ok], percentiles, axis=0)
    return out
