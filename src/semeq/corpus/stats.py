"""Long-term spectra of corpus tracks, with each lossy file's missing top band marked NaN."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .manifest import Track, default_cache_dir

__all__ = ["EDGE_DROP_DB", "excerpt_spectrum_db", "mask_band_edge", "track_spectra", "percentile_corridor"]

EDGE_DROP_DB = 30.0  # a band more than this far below the track's 8-12 kHz level is past its cutoff
EDGE_SEARCH_FROM_HZ = 12000.0
EDGE_REFERENCE_HZ = (8000.0, 12000.0)
N_EXCERPTS = 6
EXCERPT_S = 10.0
_SPECTRA_VERSION = 2  # 2: six 10 s excerpts per track


def mask_band_edge(spectrum_db: np.ndarray, freqs_hz: np.ndarray | None = None, *,
                   drop_db: float = EDGE_DROP_DB, sample_rate: float | np.ndarray | None = None) -> np.ndarray:
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
    sample_rate : float or ndarray [shape=(...)], optional
        Each file's own sample rate: grid points whose third-octave band reaches past its
        Nyquist frequency are NaN too (a 22.05 kHz file holds nothing above 11 kHz).

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
    rates = None if sample_rate is None else np.broadcast_to(np.asarray(sample_rate, dtype=np.float64),
                                                             spectra.shape[:-1]).reshape(-1)
    for i, row in enumerate(flat):
        if rates is not None:
            row[freqs_hz * 2.0 ** (1.0 / 6.0) > rates[i] / 2.0] = np.nan
        if not np.isfinite(row[ref_band]).any():
            continue
        ref_db = np.nanmean(row[ref_band])
        below = search[row[search] < ref_db - drop_db]
        if below.size:
            row[below[0]:] = np.nan
    return spectra


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
    """Level-normalised long-term spectrum of a file from :func:`excerpt_psd` (zeros without energy).

    A file no longer than ``n_excerpts * excerpt_s`` gives exactly
    :func:`semeq.analysis.long_term_spectrum_db`.

    Returns
    -------
    spectrum_db : ndarray [shape=(60,)]
    """
    from ..analysis import GRID_FREQS_HZ, normalise_db, psd_to_grid_db

    found = excerpt_psd(path, n_excerpts=n_excerpts, excerpt_s=excerpt_s)
    if found is None:
        return np.zeros(GRID_FREQS_HZ.size)
    return normalise_db(psd_to_grid_db(found[0], found[1]))


def track_spectra(tracks: Sequence[Track], cache_dir: str | os.PathLike | None = None, *,
                  store: str | os.PathLike | None = None, progress: bool = True) -> np.ndarray:
    """Level-normalised long-term spectra of corpus tracks, ``(tracks, 60)`` on the analysis grid.

    Each from :func:`excerpt_spectrum_db` (six 10 s excerpts). Spectra already computed are
    read from ``store`` (an ``.npz`` keyed by SHA-256, default ``<cache>/stats/ltas.npz``) and
    new ones added to it, so a second call decodes nothing. Not band-edge masked: see
    :func:`mask_band_edge`.
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
