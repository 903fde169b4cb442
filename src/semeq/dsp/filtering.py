"""Offline filtering of (channels, samples) audio in float64."""

from __future__ import annotations

import numpy as np

from .biquad import EQLike, design_sos
from .validation import check_audio, check_sample_rate

__all__ = ["apply_eq", "check_audio", "check_sample_rate"]


def apply_eq(audio: np.ndarray, sample_rate: float, eq: EQLike) -> np.ndarray:
    """Filter audio through an EQ (or a cascade of EQs) in float64.

    Parameters
    ----------
    audio : ndarray [shape=(channels, samples)]
        Float, or integer PCM scaled by its full scale (see :func:`~semeq.dsp.check_audio`).
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
    sample_rate = check_sample_rate(sample_rate)
    sos = design_sos(eq, sample_rate)
    return sosfilt(sos, audio, axis=-1)
