"""Where a recording stands: its long-term spectrum against a fixed reference balance.

NumPy only (plus ``scipy.fft`` through :mod:`semeq.frontend`, ``soxr`` to resample, and SciPy's
least squares in :func:`analytic_eq`'s fit); never torch.

Definitions
-----------
Analysis grid
    ``GRID_FREQS_HZ``: 60 points a sixth of an octave apart, 20 Hz to 18.1 kHz.
Long-term spectrum (LTAS)
    Audio is resampled to 44.1 kHz and its per-channel mean (DC) removed; the Welch power
    spectral density (Hann, 4096 points, 50 % overlap; :func:`semeq.frontend.welch_psd`) of
    each channel is averaged over the channels (power mix: mono and identical stereo agree), then smoothed to a third of an
    octave around each grid point (mean power density over the band) and converted to dB.
    Finally it is *level-normalised*: its mean over the grid points in ``NORM_BAND_HZ``
    (100 Hz to 10 kHz) is subtracted, so the gain of a recording does not matter.
Reference balance
    ``reference_spectrum_db()``: the mean over the training music clips (``music-dev``) of
    their level-normalised LTAS, in dB, each clip weighted equally. It is computed by the
    audio-encoder training (:func:`compute_reference`) and stored with the encoder weights
    (``weights/audio_encoder.json``, key ``"reference"``).
Balance
    ``balance_db(x) = LTAS(x) - reference``, re-normalised over ``NORM_BAND_HZ``: how the
    recording's tonal balance departs from the reference. A recording whose LTAS equals the
    reference has a zero balance, which is the flat EQ, the neutral latent.
Usable energy
    A recording with fewer than ``MIN_ACTIVE_FRAMES`` active 1024-sample frames (hop 512; band
    100 Hz to 10 kHz above -100 dB re full scale and within 60 dB of the loudest frame: the
    rule of :mod:`semeq.frontend`) has no usable energy: silence, pure DC or a single click.
    Its balance is defined as zero, i.e. the neutral answer (the flat EQ).

The frame and window sizes, the band and the sample rate are declared once in
:mod:`semeq.frontend`; this module reads them from there. One pass over the audio
(:class:`semeq.frontend.SpectrumAccumulator`) gives both the activity and the spectrum; the
accumulator also takes a recording block by block in constant memory.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import frontend
from .errors import DataError, ParameterError
from .frontend import welch_psd

__all__ = [
    "ANALYSIS_SAMPLE_RATE",
    "GRID_FREQS_HZ",
    "NORM_BAND_HZ",
    "NORM_MASK",
    "FIT_WEIGHTS",
    "MIN_ACTIVE_FRAMES",
    "prepare_audio",
    "welch_psd",
    "psd_to_grid_db",
    "normalise_db",
    "long_term_psd",
    "long_term_psd_blocks",
    "long_term_spectrum_db",
    "compute_reference",
    "reference_spectrum_db",
    "balance_db",
    "active_frames",
    "has_usable_energy",
    "analytic_eq",
]

ANALYSIS_SAMPLE_RATE = frontend.SAMPLE_RATE
GRID_FREQS_HZ: np.ndarray = 20.0 * 2.0 ** (np.arange(60) / 6.0)
"""Analysis grid: 60 points, 1/6 octave apart, 20 Hz to 18.1 kHz."""
NORM_BAND_HZ = frontend.BAND_HZ
"""Band whose mean level is subtracted from every spectrum (log-frequency mean)."""
SMOOTHING_OCTAVES = 1.0 / 3.0
WELCH_N_FFT = frontend.LTAS_N_FFT
FIT_WEIGHTS: np.ndarray = np.where((GRID_FREQS_HZ >= 30.0) & (GRID_FREQS_HZ <= 16000.0), 1.0, 0.1)
"""Weights for fitting an EQ to a balance: the lossy top octave and the lowest bins count little."""
MIN_ACTIVE_FRAMES = 8
"""Active 1024-sample frames (hop 512, ~93 ms in all) needed before a recording has a balance."""

NORM_MASK = frontend.in_band(GRID_FREQS_HZ)
"""The grid points in :data:`NORM_BAND_HZ` (level normalisation, change sizes)."""
_NORM_MASK = NORM_MASK
_DEFAULT_REFERENCE_PATH = Path(__file__).resolve().parent / "weights" / "audio_encoder.json"


def prepare_audio(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Validate, resample to 44.1 kHz and remove each channel's mean.

    Parameters
    ----------
    audio : ndarray [shape=(channels, samples)]
    sample_rate : float > 0

    Returns
    -------
    audio : ndarray [shape=(channels, samples')], float64 at ``ANALYSIS_SAMPLE_RATE``
    """
    from .dsp.validation import check_audio, check_sample_rate

    audio, sample_rate = check_audio(audio), check_sample_rate(sample_rate)  # the one check of every entry point
    if sample_rate != ANALYSIS_SAMPLE_RATE:
        import soxr

        audio = soxr.resample(audio.T, sample_rate, ANALYSIS_SAMPLE_RATE, quality="HQ").T
        audio = np.ascontiguousarray(audio, dtype=np.float64)
    return audio - audio.mean(axis=1, keepdims=True)


def psd_to_grid_db(freqs_hz: np.ndarray, psd: np.ndarray) -> np.ndarray:
    """Third-octave smoothing of a PSD onto the analysis grid, in dB (not normalised).

    Parameters
    ----------
    freqs_hz : ndarray [shape=(n_bins,)]
        Uniformly spaced from 0 Hz.
    psd : ndarray [shape=(..., n_bins)]

    Returns
    -------
    spectrum_db : ndarray [shape=(..., n_grid)]
        Mean power density over each band, in dB; the band integral is taken from the
        piecewise-linear PSD, so bands narrower than a bin are still defined.
    """
    df = freqs_hz[1] - freqs_hz[0]
    # Cumulative integral of the piecewise-linear PSD at each bin.
    cum = np.concatenate([np.zeros(psd.shape[:-1] + (1,)), np.cumsum(0.5 * (psd[..., 1:] + psd[..., :-1]) * df, axis=-1)], axis=-1)
    half = 2.0 ** (SMOOTHING_OCTAVES / 2.0)
    lo = np.clip(GRID_FREQS_HZ / half, 0.0, freqs_hz[-1])
    hi = np.clip(GRID_FREQS_HZ * half, 0.0, freqs_hz[-1])

    def integral_at(f: np.ndarray) -> np.ndarray:
        # Exact integral of the piecewise-linear PSD from 0 to f.
        k = np.clip(np.floor(f / df).astype(int), 0, freqs_hz.size - 2)
        t = f - freqs_hz[k]
        slope = (psd[..., k + 1] - psd[..., k]) / df
        return cum[..., k] + psd[..., k] * t + 0.5 * slope * t * t

    band_power = (integral_at(hi) - integral_at(lo)) / (hi - lo)
    return 10.0 * np.log10(np.maximum(band_power, 1e-30))


def normalise_db(spectrum_db: np.ndarray) -> np.ndarray:
    """Subtract the mean over the grid points in ``NORM_BAND_HZ`` (last axis is the grid)."""
    spectrum_db = np.asarray(spectrum_db, dtype=np.float64)
    return spectrum_db - spectrum_db[..., _NORM_MASK].mean(axis=-1, keepdims=True)


def active_frames(audio: np.ndarray) -> np.ndarray:
    """Which 1024-sample frames (hop 512) of prepared 44.1 kHz audio hold usable energy.

    Parameters
    ----------
    audio : ndarray [shape=(channels, samples)]
        Output of :func:`prepare_audio`.

    Returns
    -------
    active : ndarray [shape=(n_frames,)], bool
        Frame ``t`` starts at sample ``512 t``; one zero-padded frame when the audio is shorter.
    """
    return frontend.activity_mask(frontend.audio_band_power(audio))


def long_term_psd(audio: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray] | None:
    """One pass over the audio: (freqs_hz, psd) of the prepared audio, or None without usable energy.

    At 44.1 kHz the audio is fed to the accumulator as it is (it removes each channel's mean
    analytically), so no copy of the recording is made; other rates are resampled first.
    """
    if float(sample_rate) == ANALYSIS_SAMPLE_RATE:
        audio = np.asarray(audio, dtype=np.float64)
        prepare_audio(audio[:, :1] if audio.ndim == 2 else audio, sample_rate)  # shape and rate checks, on one frame
        return long_term_psd_blocks([audio], audio.shape[0])
    prepared = prepare_audio(audio, sample_rate)
    return long_term_psd_blocks([prepared], prepared.shape[0])


def long_term_psd_blocks(blocks, channels: int) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`long_term_psd` of a 44.1 kHz recording given as successive blocks (constant memory).

    Parameters
    ----------
    blocks : iterable of ndarray [shape=(channels, n)]
        Consecutive blocks of any sizes; they need not be centred.
    channels : int

    Returns
    -------
    (freqs_hz, psd) or None
        None without usable energy. The same values however the recording is cut into blocks.
    """
    acc = frontend.SpectrumAccumulator(channels)
    for block in blocks:
        acc.update(block)
    if int(frontend.activity_mask(acc.band_power()).sum()) < MIN_ACTIVE_FRAMES:
        return None
    return acc.welch_psd()


def has_usable_energy(audio: np.ndarray, sample_rate: float) -> bool:
    """False for silence, pure DC, a single click, or anything under ~93 ms of sound."""
    return int(active_frames(prepare_audio(audio, sample_rate)).sum()) >= MIN_ACTIVE_FRAMES


def long_term_spectrum_db(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Level-normalised long-term spectrum on the analysis grid.

    Parameters
    ----------
    audio : ndarray [shape=(channels, samples)]
    sample_rate : float

    Returns
    -------
    spectrum_db : ndarray [shape=(60,)]
        Zero mean over ``NORM_BAND_HZ``; all zeros when the audio has no usable energy.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((1, 441000))  # 10 s: a third of an octave at 100 Hz holds few bins
    >>> s = long_term_spectrum_db(x, 44100)
    >>> bool(np.abs(s[_NORM_MASK]).max() < 1.0)  # white noise is flat per Hz (0.37 dB here)
    True
    """
    psd = long_term_psd(audio, sample_rate)
    if psd is None:
        return np.zeros(GRID_FREQS_HZ.size)
    return normalise_db(psd_to_grid_db(*psd))


def compute_reference(spectra_db: np.ndarray) -> np.ndarray:
    """Reference balance from level-normalised spectra: their mean, re-normalised.

    Parameters
    ----------
    spectra_db : ndarray [shape=(n_clips, 60)]

    Returns
    -------
    reference_db : ndarray [shape=(60,)]
    """
    spectra_db = np.asarray(spectra_db, dtype=np.float64)
    if spectra_db.ndim != 2 or spectra_db.shape[1] != GRID_FREQS_HZ.size or spectra_db.shape[0] < 1:
        raise ParameterError(f"spectra_db must be shaped (n_clips, {GRID_FREQS_HZ.size}), got {spectra_db.shape}")
    return normalise_db(spectra_db.mean(axis=0))


def reference_spectrum_db(path: str | Path | None = None) -> np.ndarray:
    """The reference balance shipped with the audio encoder (``weights/audio_encoder.json``).

    Returns
    -------
    reference_db : ndarray [shape=(60,)]
    """
    path = Path(path) if path is not None else _DEFAULT_REFERENCE_PATH
    try:
        meta = json.loads(path.read_text())
        ref = meta["reference"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"no reference balance in {path}: {exc}") from None
    freqs = np.asarray(ref["freqs_hz"], dtype=np.float64)
    if freqs.shape != GRID_FREQS_HZ.shape or not np.allclose(freqs, GRID_FREQS_HZ, rtol=1e-6):
        raise DataError(f"reference in {path} is on a different analysis grid")
    return np.asarray(ref["spectrum_db"], dtype=np.float64)


def balance_db(audio: np.ndarray, sample_rate: float, reference_db: np.ndarray | None = None) -> np.ndarray:
    """A recording's balance: its LTAS minus the reference, level-normalised.

    Parameters
    ----------
    audio : ndarray [shape=(channels, samples)]
    sample_rate : float
    reference_db : ndarray [shape=(60,)], optional
        Defaults to :func:`reference_spectrum_db`.

    Returns
    -------
    balance_db : ndarray [shape=(60,)]
        Zero for a recording at the reference balance and for one without usable energy.
    """
    psd = long_term_psd(audio, sample_rate)
    if psd is None:
        return np.zeros(GRID_FREQS_HZ.size)
    reference_db = reference_spectrum_db() if reference_db is None else np.asarray(reference_db, dtype=np.float64)
    return normalise_db(psd_to_grid_db(*psd) - reference_db)


def analytic_eq(audio: np.ndarray, sample_rate: float, reference_db: np.ndarray | None = None):
    """The analytic answer: the 5-band EQ fitted to the recording's balance.

    ``fit_eq(balance_db(audio), GRID_FREQS_HZ, weights=FIT_WEIGHTS)``: the EQ that turns the
    reference balance into the recording's, with its broadband level at the band mean (a
    balance cannot see level). The audio encoder estimates the same thing from audio but
    places the level as SAFE settings do. Uses :func:`semeq.fitting.fit_eq` (a numpy
    multi-start search, then SciPy's least squares).

    Returns
    -------
    fit : semeq.fitting.FitResult
        ``.params`` (EQParams, inside the SAFE ranges) and the fit's errors in dB.
    """
    from .fitting import fit_eq

    return fit_eq(balance_db(audio, sample_rate, reference_db), GRID_FREQS_HZ, ANALYSIS_SAMPLE_RATE, weights=FIT_WEIGHTS)
