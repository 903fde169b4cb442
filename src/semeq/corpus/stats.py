"""Long-term spectra of corpus tracks, with each lossy file's missing top band marked NaN."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .manifest import Track, default_cache_dir, iter_audio

__all__ = ["EDGE_DROP_DB", "mask_band_edge", "track_spectra", "percentile_corridor"]

EDGE_DROP_DB = 30.0  # a band more than this far below the track's 8-12 kHz level is past its cutoff
EDGE_SEARCH_FROM_HZ = 12000.0
EDGE_REFERENCE_HZ = (8000.0, 12000.0)
_SPECTRA_VERSION = 1


def mask_band_edge(spectrum_db: np.ndarray, freqs_hz: np.ndarray | None = None, *,
                   drop_db: float = EDGE_DROP_DB) -> np.ndarray:
    """NaN from a lossy file's cutoff upward; the rest unchanged.

    The cutoff is the first grid point above 12 kHz lying more than ``drop_db`` below the
    track's mean level over 8-12 kHz; on the sixth-octave grid with third-octave smoothing a
    codec's brick-wall low-pass falls that far within one or two grid steps, while music that
    merely rolls off stays well above it.

    Parameters
    ----------
    spectrum_db : ndarray [shape=(..., n_grid)]
        Level-normalised long-term spectra on ``freqs_hz``.
    freqs_hz : ndarray [shape=(n_grid,)], optional
        Default ``semeq.analysis.GRID_FREQS_HZ``.

    Returns
    -------
    masked_db : ndarray [shape=(..., n_grid)]

    Examples
    --------
    >>> import numpy as np
    >>> f = np.array([8000., 10000., 12000., 14000., 16000., 18000.])
    >>> mask_band_edge(np.array([0., 0., -2., -5., -45., -60.]), f)
    array([ 0.,  0., -2., -5., nan, nan])
    """
    from ..analysis import GRID_FREQS_HZ

    freqs_hz = GRID_FREQS_HZ if freqs_hz is None else np.asarray(freqs_hz, dtype=np.float64)
    spectra = np.array(spectrum_db, dtype=np.float64, copy=True)
    flat = spectra.reshape(-1, spectra.shape[-1])  # (tracks, n_grid), a view
    ref_band = (freqs_hz >= EDGE_REFERENCE_HZ[0]) & (freqs_hz <= EDGE_REFERENCE_HZ[1])
    search = np.flatnonzero(freqs_hz > EDGE_SEARCH_FROM_HZ)
    for row in flat:
        ref_db = np.nanmean(row[ref_band])
        below = search[row[search] < ref_db - drop_db]
        if below.size:
            row[below[0]:] = np.nan
    return spectra


def track_spectra(tracks: Sequence[Track], cache_dir: str | os.PathLike | None = None, *,
                  store: str | os.PathLike | None = None, progress: bool = True) -> np.ndarray:
    """Level-normalised long-term spectra of whole tracks, ``(tracks, 60)`` on the analysis grid.

    Spectra already computed are read from ``store`` (an ``.npz`` keyed by SHA-256, default
    ``<cache>/stats/ltas.npz``) and new ones added to it, so a second call decodes nothing.
    Not band-edge masked: see :func:`mask_band_edge`.
    """
    import sys

    from tqdm import tqdm

    from ..analysis import GRID_FREQS_HZ, long_term_spectrum_db

    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    store = Path(store) if store is not None else cache_dir / "stats" / "ltas.npz"
    known: dict[str, np.ndarray] = {}
    if store.is_file():
        with np.load(store) as z:
            if int(z["version"]) == _SPECTRA_VERSION and z["spectra_db"].shape[-1] == GRID_FREQS_HZ.size:
                known = dict(zip(z["sha256"].tolist(), z["spectra_db"]))
    todo = [t for t in tracks if t.sha256 not in known]
    for track, audio, rate in tqdm(iter_audio(todo, cache_dir), total=len(todo), desc="spectra", unit="track",
                                   file=sys.stderr, disable=not progress or not todo):
        known[track.sha256] = long_term_spectrum_db(audio, rate)
    if todo:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(store.name + ".part.npz")
        keys = sorted(known)
        np.savez(tmp, version=_SPECTRA_VERSION, sha256=np.array(keys), spectra_db=np.stack([known[k] for k in keys]))
        os.replace(tmp, store)
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
