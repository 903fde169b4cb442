"""Where a recording stands: its long-term balance against a *spread* of real music.

A spectrum mixes the music with any EQ, so "where a recording stands" only means something
against a reference, and one reference point is not enough: real music spreads over a far
wider range of tonal balances (long-term spectral tilts from about -15 to -1.4 dB/octave)
than any word's EQ (a few dB). So semeq keeps the whole distribution of a corpus of real
recordings, per band, and reads every recording against it.

Definitions
-----------
Measurement
    :func:`measure`: the recording's level-normalised long-term spectrum on the analysis grid
    (:data:`semeq.analysis.GRID_FREQS_HZ`, 60 points a sixth of an octave apart, third-octave
    smoothed Welch PSD; see :mod:`semeq.analysis`) and the band it actually holds.
Held band
    Lossy files stop at 15-19 kHz (the encoder's low-pass) and a low-rate file at its Nyquist
    frequency. :func:`content_cutoff_hz` finds the cut: the lowest frequency above 4 kHz below
    which the sixth of an octave holds at least ``CUTOFF_DROP_DB`` (25 dB) more power than
    anything above it (a brick wall no natural roll-off has), else the Nyquist frequency.
    Grid points whose third-octave band reaches past the cut are not held: every analysis
    (balance, profile, rule, fit) uses the held points only, so a 22 kHz or MP3 file does not
    read as "missing top end".
Level normalisation
    Level is not EQ (the output is loudness-matched): spectra, balances and word curves are
    compared with their mean over the held points of ``NORM_BAND_HZ`` (100 Hz-10 kHz) removed.
Music reference
    :class:`MusicReference`: the level-normalised long-term spectra of the reference tracks
    (NaN where a track does not hold a band), with their per-band mean and percentiles. Its
    *centre* is the per-band median. Only bands that at least half of the tracks (and 5)
    hold are *covered*; a recording is read over the bands it holds and the reference covers.
    Shipped as ``weights/music_reference.json``; rebuilt by
    ``semeq reference build`` (the command and corpus are recorded in the file).
Balance
    ``balance = spectrum - centre``, re-normalised over the held points: how the recording's
    tonal balance departs from typical music. Zero for a recording at the median in every band.
Corridor
    The reference's 10-90 % (and 25-75 %) range per band, relative to the centre.
Position along a direction
    For a direction ``d(f)`` (a word's level-normalised EQ curve) and a band ``B``,
    ``<x - mean_B(x), d_B> / |d_B|`` over the points of ``B``: how far a spectrum lies in that
    direction, level-free. :meth:`MusicReference.percentile` places a recording among the
    reference tracks that hold ``B``: "warmer than 92 % of the reference music".
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .analysis import (
    ANALYSIS_SAMPLE_RATE,
    GRID_FREQS_HZ,
    NORM_MASK,
    SMOOTHING_OCTAVES,
    long_term_psd,
    psd_to_grid_db,
)
from .errors import DataError, ParameterError

__all__ = [
    "PERCENTILES",
    "CUTOFF_DROP_DB",
    "Measurement",
    "Balance",
    "MusicReference",
    "content_cutoff_hz",
    "held_mask",
    "measure",
    "measure_psd",
    "normalise_held",
    "DEFAULT_REFERENCE_PATH",
]

FORMAT = "semeq-music-reference"
FORMAT_VERSION = 1
DEFAULT_REFERENCE_PATH = Path(__file__).resolve().parent / "weights" / "music_reference.json"
PERCENTILES = (10, 25, 50, 75, 90)
"""Percentiles stored and shown for the corridor."""
CUTOFF_DROP_DB = 25.0
"""Power step (dB) between the sixth of an octave below a cut and everything above it."""
_CUTOFF_SEARCH_FROM_HZ = 4000.0
_NORM_MASK = NORM_MASK


def content_cutoff_hz(freqs_hz: np.ndarray, psd: np.ndarray, sample_rate: float) -> float:
    """The highest frequency a recording holds: its encoder low-pass, else its Nyquist frequency.

    Parameters
    ----------
    freqs_hz : ndarray [shape=(n_bins,)]
        Uniform bins from 0 Hz of a PSD of the recording resampled to 44.1 kHz.
    psd : ndarray [shape=(n_bins,)]
        Power density (any scale).
    sample_rate : float
        The recording's own rate: nothing exists above half of it.

    Returns
    -------
    cutoff_hz : float
        The lowest ``f >= 4 kHz`` where the mean power of ``[f / 2^(1/6), f]`` exceeds the
        largest (1/12-octave smoothed) power above ``f * 2^(1/24)`` by ``CUTOFF_DROP_DB``;
        ``min(sample_rate, 44100) / 2`` when no such step exists.

    Examples
    --------
    >>> f = np.linspace(0, 22050, 2049)
    >>> psd = np.where(f < 16000, 1.0 / np.maximum(f, 20), 1e-9)  # pink-ish, cut at 16 kHz
    >>> 15000 < content_cutoff_hz(f, psd, 44100) <= 16000
    True
    """
    nyquist = 0.5 * min(float(sample_rate), ANALYSIS_SAMPLE_RATE)
    freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
    level = 10.0 * np.log10(np.maximum(np.asarray(psd, dtype=np.float64), 1e-30))
    df = freqs_hz[1] - freqs_hz[0]
    cum = np.concatenate([[0.0], np.cumsum(10.0 ** (level / 10.0))])

    def band_mean_db(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        i = np.clip(np.floor(lo / df).astype(int), 0, freqs_hz.size - 1)
        j = np.clip(np.ceil(hi / df).astype(int) + 1, i + 1, freqs_hz.size)
        return 10.0 * np.log10(np.maximum((cum[j] - cum[i]) / (j - i), 1e-30))

    smoothed = band_mean_db(freqs_hz / 2 ** (1 / 24), freqs_hz * 2 ** (1 / 24))
    top = 0.98 * nyquist
    # max of the smoothed level from each bin up to the top of the search range
    in_range = freqs_hz <= top
    suffix_max = np.maximum.accumulate(np.where(in_range, smoothed, -np.inf)[::-1])[::-1]
    candidates = np.flatnonzero((freqs_hz >= _CUTOFF_SEARCH_FROM_HZ) & (freqs_hz * 2 ** (1 / 24) < top))
    if candidates.size:
        f = freqs_hz[candidates]
        below = band_mean_db(f / 2 ** (1 / 6), f)
        above_idx = np.minimum(np.searchsorted(freqs_hz, f * 2 ** (1 / 24)), freqs_hz.size - 1)
        step = below - suffix_max[above_idx]
        hit = np.flatnonzero(step >= CUTOFF_DROP_DB)
        if hit.size:
            return float(min(f[hit[0]], nyquist))
    return nyquist


def held_mask(cutoff_hz: float) -> np.ndarray:
    """Grid points whose third-octave band lies wholly below ``cutoff_hz`` (bool, (60,))."""
    return GRID_FREQS_HZ * 2.0 ** (SMOOTHING_OCTAVES / 2.0) <= float(cutoff_hz) * (1.0 + 1e-9)


def normalise_held(spectrum_db: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Remove the mean over the held points of 100 Hz-10 kHz; NaN outside the held band.

    Parameters
    ----------
    spectrum_db : ndarray [shape=(..., 60)]
    held : ndarray [shape=(60,)] or [shape=(..., 60)], bool

    Returns
    -------
    ndarray [shape=(..., 60)]
    """
    spectrum_db = np.asarray(spectrum_db, dtype=np.float64)
    held = np.broadcast_to(np.asarray(held, dtype=bool), spectrum_db.shape)
    norm = held & _NORM_MASK
    with np.errstate(invalid="ignore"):
        mean = np.where(norm, spectrum_db, 0.0).sum(axis=-1, keepdims=True) / np.maximum(norm.sum(axis=-1, keepdims=True), 1)
    return np.where(held, spectrum_db - mean, np.nan)


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """A recording's level-normalised long-term spectrum and the band it holds."""

    spectrum_db: np.ndarray
    """(60,) on GRID_FREQS_HZ, zero mean over the held 100 Hz-10 kHz points, NaN where not held."""
    cutoff_hz: float
    """The highest frequency the recording holds (encoder low-pass or Nyquist)."""

    @property
    def held(self) -> np.ndarray:
        return held_mask(self.cutoff_hz)


def measure_psd(freqs_hz: np.ndarray, psd: np.ndarray, sample_rate: float) -> Measurement:
    """:class:`Measurement` from a long-term PSD of the recording at 44.1 kHz (streaming uses this)."""
    cutoff = content_cutoff_hz(freqs_hz, psd, sample_rate)
    held = held_mask(cutoff)
    if held.sum() < 4:
        raise ParameterError(f"the recording holds nothing above 100 Hz to analyse (content stops at {cutoff:.0f} Hz)")
    return Measurement(spectrum_db=normalise_held(psd_to_grid_db(freqs_hz, psd), held), cutoff_hz=cutoff)


def measure(audio: np.ndarray, sample_rate: float) -> Measurement | None:
    """Measure a recording; None when it has no usable energy (silence, DC, a lone click).

    Parameters
    ----------
    audio : ndarray [shape=(channels, samples)]
    sample_rate : float

    Returns
    -------
    Measurement or None
    """
    psd = long_term_psd(audio, sample_rate)
    return None if psd is None else measure_psd(*psd, sample_rate)


@dataclass(frozen=True, kw_only=True)
class Balance:
    """A recording read against the music reference (all on GRID_FREQS_HZ, dB)."""

    freqs_hz: np.ndarray
    balance_db: np.ndarray
    """Spectrum minus the reference centre, re-normalised over the held points; NaN where not held."""
    cutoff_hz: float
    reference: "MusicReference" = field(repr=False, compare=False)

    @property
    def held(self) -> np.ndarray:
        return np.isfinite(self.balance_db)

    @functools.cached_property
    def corridor_db(self) -> dict[int, np.ndarray]:
        """Reference percentiles (keys of PERCENTILES) relative to the centre, read over the same
        band the same way (computed on first use: the streaming engine never needs it)."""
        return self.reference.corridor(self.held)

    def to_dict(self) -> dict:
        def r(a: np.ndarray) -> list:
            return [None if not np.isfinite(v) else round(float(v), 2) for v in a]

        return {"freqs_hz": self.freqs_hz.round(1).tolist(), "balance_db": r(self.balance_db),
                "cutoff_hz": round(self.cutoff_hz, 1),
                "corridor_db": {f"p{q}": r(v) for q, v in self.corridor_db.items()}}


@dataclass(frozen=True, kw_only=True, eq=False)
class MusicReference:
    """The distribution of long-term balances of real music, per band.

    Build with :meth:`load` (shipped file) or :meth:`from_spectra`.

    Attributes
    ----------
    spectra_db : ndarray [shape=(n_tracks, 60)]
        Level-normalised long-term spectra, NaN where a track does not hold the band.
    track_ids : tuple of str
    source : dict
        Where the tracks came from and the command that built the file.
    """

    spectra_db: np.ndarray
    track_ids: tuple[str, ...]
    source: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = np.asarray(self.spectra_db, dtype=np.float64)
        if s.ndim != 2 or s.shape[1] != GRID_FREQS_HZ.size or s.shape[0] < 2:
            raise DataError(f"a music reference needs at least 2 spectra of {GRID_FREQS_HZ.size} points, got {s.shape}")
        if len(self.track_ids) != s.shape[0]:
            raise DataError("a music reference needs one id per spectrum")
        if np.any(np.isfinite(s).sum(axis=0)[_NORM_MASK] < 2):
            raise DataError("a music reference needs at least 2 tracks holding every band of 100 Hz-10 kHz")
        object.__setattr__(self, "spectra_db", s)
        valid = np.isfinite(s)
        # Every band's statistics over the tracks that hold it; bands no track holds copy their neighbour.
        pct = np.full((len(PERCENTILES), s.shape[1]), np.nan)
        mean = np.full(s.shape[1], np.nan)
        for k in range(s.shape[1]):
            if valid[:, k].sum() >= 2:
                pct[:, k] = np.percentile(s[valid[:, k], k], PERCENTILES)
                mean[k] = s[valid[:, k], k].mean()
        for arr in (*pct, mean):
            good = np.flatnonzero(np.isfinite(arr))
            arr[:] = np.interp(np.arange(arr.size), good, arr[good])
        object.__setattr__(self, "_percentiles", pct)
        object.__setattr__(self, "_mean", mean)

    # -- construction and storage ---------------------------------------------------------------
    @classmethod
    def from_spectra(cls, spectra_db: np.ndarray, track_ids: Sequence[str], source: dict | None = None) -> MusicReference:
        return cls(spectra_db=np.asarray(spectra_db, dtype=np.float64), track_ids=tuple(track_ids), source=dict(source or {}))

    @classmethod
    def load(cls, path: str | Path | None = None) -> MusicReference:
        """Read a reference file (default: the shipped ``weights/music_reference.json``)."""
        path = Path(path) if path is not None else DEFAULT_REFERENCE_PATH
        if path.is_dir():
            path = path / "music_reference.json"
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the music reference {path}: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise DataError(f"{path} is not a semeq music reference")
        if int(meta.get("format_version", 0)) > FORMAT_VERSION:
            raise DataError(f"{path} is a newer music reference (version {meta['format_version']}); upgrade semeq")
        try:
            freqs = np.asarray(meta["freqs_hz"], dtype=np.float64)
            spectra = np.array([[np.nan if v is None else v for v in row] for row in meta["spectra_db"]], dtype=np.float64)
            ids = tuple(str(t) for t in meta["track_ids"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"damaged music reference {path}: {exc}") from None
        if freqs.shape != GRID_FREQS_HZ.shape or not np.allclose(freqs, GRID_FREQS_HZ, rtol=1e-4):
            raise DataError(f"the music reference {path} is on another analysis grid")
        return cls(spectra_db=spectra, track_ids=ids, source=dict(meta.get("source", {})))

    def to_dict(self) -> dict:
        def r(a: np.ndarray) -> list:
            return [None if not np.isfinite(v) else round(float(v), 2) for v in a]

        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "source": self.source,
            "n_tracks": len(self.track_ids),
            "freqs_hz": GRID_FREQS_HZ.round(3).tolist(),
            "mean_db": r(self._mean),
            "percentiles_db": {f"p{q}": r(v) for q, v in zip(PERCENTILES, self._percentiles)},
            "track_ids": list(self.track_ids),
            "spectra_db": [r(row) for row in self.spectra_db],
        }

    def save(self, path: str | Path) -> Path:
        """Write the reference as JSON, atomically."""
        from .io import atomic_output

        path = Path(path)
        with atomic_output(path) as tmp:
            Path(tmp).write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n")
        return path

    # -- statistics ----------------------------------------------------------------------------
    @property
    def n_tracks(self) -> int:
        return int(self.spectra_db.shape[0])

    @property
    def centre_db(self) -> np.ndarray:
        """The per-band median (the reference point balances are measured from)."""
        return self._percentiles[PERCENTILES.index(50)].copy()

    @property
    def mean_db(self) -> np.ndarray:
        return self._mean.copy()

    def percentile_db(self, q: int) -> np.ndarray:
        """The stored per-band percentile ``q`` (one of PERCENTILES), absolute."""
        if q not in PERCENTILES:
            raise ParameterError(f"q must be one of {PERCENTILES}, got {q!r}")
        return self._percentiles[PERCENTILES.index(q)].copy()

    @property
    def covered(self) -> np.ndarray:
        """Grid points enough reference tracks hold to have a corridor (bool, (60,)).

        At least half of the tracks (and 5): above about 16 kHz most lossy music holds little,
        and a corridor from the few tracks that do would say little.
        """
        n_valid = np.isfinite(self.spectra_db).sum(axis=0)
        return n_valid >= max(5, int(np.ceil(0.5 * self.n_tracks)))

    def balance(self, measurement: Measurement) -> Balance:
        """Read a measurement against the reference: balance and corridor on the band it holds
        and the reference covers."""
        held = measurement.held & self.covered
        centre = self.centre_db
        balance = normalise_held(measurement.spectrum_db - centre, held)
        return Balance(freqs_hz=GRID_FREQS_HZ.copy(), balance_db=balance, cutoff_hz=measurement.cutoff_hz, reference=self)

    def corridor(self, held: np.ndarray) -> dict[int, np.ndarray]:
        """Per-band percentiles of the reference tracks' balances, read the way a recording's is.

        Each track's spectrum minus the centre, re-normalised over the points of ``held`` it
        holds; then, per band, the percentiles over the tracks that hold it. NaN outside ``held``.
        """
        held = np.asarray(held, dtype=bool)
        tracks = normalise_held(self.spectra_db - self.centre_db, held & np.isfinite(self.spectra_db))
        cols = held & np.isfinite(tracks).any(axis=0)  # no all-NaN column reaches nanpercentile
        out = {q: np.full(held.size, np.nan) for q in PERCENTILES}
        if cols.any():
            values = np.nanpercentile(tracks[:, cols], PERCENTILES, axis=0)  # (n_percentiles, n_cols)
            for q, v in zip(PERCENTILES, values):
                out[q][cols] = v
        return out

    def percentiles(self, spectrum_db: np.ndarray, directions_db: np.ndarray, band: np.ndarray) -> np.ndarray:
        """Share (0-100 %) of the reference music lying less far than the recording along each direction.

        Parameters
        ----------
        spectrum_db : ndarray [shape=(60,)]
            The recording's level-normalised spectrum (NaN outside its held band).
        directions_db : ndarray [shape=(n, 60)]
            Directions (word curves); only their shape over ``band`` matters.
        band : ndarray [shape=(60,)], bool
            Grid points compared (the reference tracks that do not hold all of them are left out).

        Returns
        -------
        percentiles : ndarray [shape=(n,)]
            Mid-rank percentiles interpolated linearly between the sorted positions of the
            tracks, reaching 0 and 100 half a mean gap beyond the outermost ones: continuous in
            the recording's spectrum. 50 for a direction that is flat over the band.
        """
        band = np.asarray(band, dtype=bool)
        d = _unit_directions(np.atleast_2d(np.asarray(directions_db, dtype=np.float64)), band)  # (n, 60)
        ok = np.all(np.isfinite(self.spectra_db[:, band]), axis=1)
        if ok.sum() < 2 or band.sum() < 2:
            return np.full(d.shape[0], 50.0)
        tracks = np.sort(np.where(band, np.nan_to_num(self.spectra_db[ok]), 0.0) @ d.T, axis=0)  # (n_ok, n)
        mine = np.where(band, np.nan_to_num(spectrum_db), 0.0) @ d.T  # (n,)
        n_ok = tracks.shape[0]
        ranks = np.concatenate([[0.0], 100.0 * (np.arange(n_ok) + 0.5) / n_ok, [100.0]])
        out = np.empty(d.shape[0])
        for k in range(d.shape[0]):
            pos = tracks[:, k]
            gap = max((pos[-1] - pos[0]) / n_ok, 1e-9)
            out[k] = np.interp(mine[k], np.concatenate([[pos[0] - gap], pos, [pos[-1] + gap]]), ranks)
        flat = ~np.any(d != 0.0, axis=1)
        out[flat] = 50.0
        return out


def _unit_directions(directions_db: np.ndarray, band: np.ndarray) -> np.ndarray:
    """(n, 60) directions, zero-mean over ``band``, unit norm, 0 outside it (all-zero if flat)."""
    d = np.where(band, np.nan_to_num(directions_db), 0.0)
    d = np.where(band, d - d[:, band].mean(axis=1, keepdims=True), 0.0)
    norm = np.sqrt(np.sum(d**2, axis=1, keepdims=True))
    return np.where(norm > 1e-9, d / np.maximum(norm, 1e-300), 0.0)


def build_reference(tracks, *, source: dict | None = None, progress: bool = False) -> MusicReference:
    """A :class:`MusicReference` from ``(track_id, audio, sample_rate)`` items.

    Each track's long-term PSD (:func:`semeq.analysis.long_term_psd`) goes to
    :func:`build_reference_from_psds`; tracks without usable energy are skipped.
    """
    def psds():
        for track_id, audio, sample_rate in tracks:
            psd = long_term_psd(audio, sample_rate)
            if psd is not None:
                yield (track_id, *psd, sample_rate)

    return build_reference_from_psds(psds(), source=source, progress=progress,
                                     total=len(tracks) if hasattr(tracks, "__len__") else None)


def build_reference_from_psds(items, *, source: dict | None = None, progress: bool = False,
                              total: int | None = None) -> MusicReference:
    """A :class:`MusicReference` from ``(track_id, freqs_hz, psd, sample_rate)`` items (long-term PSDs)."""
    ids: list[str] = []
    spectra: list[np.ndarray] = []
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="measuring", unit="track", total=total, file=__import__("sys").stderr)
    for track_id, freqs_hz, psd, sample_rate in items:
        ids.append(str(track_id))
        spectra.append(measure_psd(freqs_hz, psd, sample_rate).spectrum_db)
    if len(ids) < 2:
        raise DataError(f"a music reference needs at least 2 tracks with usable audio, got {len(ids)}")
    return MusicReference.from_spectra(np.stack(spectra), ids, source=source)
