"""Offline filtering of (channels, samples) audio in float64."""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from .biquad import EQLike, design_sos

__all__ = ["apply_eq", "check_audio"]


def check_audio(audio: np.ndarray, *, name: str = "audio") -> np.ndarray:
    """Validate audio shaped (channels, samples); return it as float64.

    Raises
    ------
    ParameterError
        If it is not 2-D, has no channel or no sample, or holds NaN or Inf.
    """
    audio = np.asarray(audio)
    if audio.ndim != 2:
        raise ParameterError(f"{name} must be shaped (channels, samples), got {audio.ndim}-D {audio.shape}")
    if audio.shape[0] < 1 or audio.shape[1] < 1:
        raise ParameterError(f"{name} is empty: shape {audio.shape}")
    if not np.issubdtype(audio.dtype, np.floating) and not np.issubdtype(audio.dtype, np.integer):
        raise ParameterError(f"{name} must hold real numbers, got dtype {audio.dtype}")
    audio = audio.astype(np.float64, copy=False)
    if not np.all(np.isfinite(audio)):
        raise ParameterError(f"{name} holds NaN or Inf samples")
    return audio


def apply_eq(audio: np.ndarray, sample_rate: float, eq: EQLike) -> np.ndarray:
    """Filter audio through an EQ (or a cascade of EQs) in float64.

    Parameters
    ----------
    audio : ndarray [shape=(channels, samples)]
    sample_rate : float
    eq : EQParams or sequence of EQParams

    Returns
    -------
    out : ndarray [shape=(channels, samples), dtype=float64]
        A new array; the input is not modified.

    Examples
    --------
    >>> from semeq import EQParams
    >>> x = np.random.default_rng(0).standard_normal((2, 1000))
    >>> np.array_equal(apply_eq(x, 44100, EQParams.flat()), x)
    True
    """
    from scipy.signal import sosfilt  # slow to import: only where filtering happens

    audio = check_audio(audio)
    sos = design_sos(eq, sample_rate)
    return sosfilt(sos, audio, axis=-1)
