"""RBJ Audio EQ Cookbook biquads for the SAFE 5-band layout: one design, one response.

The band layout (kinds and columns) is declared in :mod:`semeq.params` (``BANDS``); this module
builds the only design and the only magnitude formula from it:

* :func:`rbj_coefficients` writes each section type of the cookbook once, in plain arithmetic,
  so the same lines serve Python floats (a cascade or two, the real-time redesign) and numpy
  arrays (many EQs at once): :func:`design_sos_batch` picks the faster driver.
* :func:`closed_form_response_db` writes the magnitude of those sections once, against an
  array namespace (numpy here; :mod:`semeq.nn.response` passes torch for its differentiable
  twin, :mod:`semeq.data.audealize` uses it for the 40-band graphic EQ).

Notes
-----
Formulas from R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter
coefficients" (the Audio EQ Cookbook). Peaks and shelves use ``A = 10**(gain_db / 40)`` and
``alpha = sin(w0) / (2 Q)``; shelves use the SAFE plugin's fixed Q of 0.71. Negating the gain of
any of these sections gives its exact inverse (for a peak the numerator and denominator swap;
for a shelf they swap up to the common factor A**2).

Centre and corner frequencies at or above ``NYQUIST_FRACTION * sample_rate / 2`` are clamped
to that frequency, so every SAFE setting is realisable, and stable, from 8 kHz to 192 kHz.
"""

from __future__ import annotations

import math
from typing import Any, Sequence, Union

import numpy as np

from ..errors import ParameterError
from ..params import BANDS, N_BANDS, N_PARAMS, SHELF_Q, EQParams, band_values

__all__ = [
    "NYQUIST_FRACTION",
    "design_sos",
    "design_sos_batch",
    "rbj_coefficients",
    "eq_response",
    "response_db_batch",
    "closed_form_response_db",
    "sos_response_db",
    "EQLike",
]

NYQUIST_FRACTION = 0.9
"""Highest usable centre frequency as a fraction of Nyquist (0.45 x sample rate)."""

EQLike = Union[EQParams, Sequence[EQParams]]
"""One EQ, or a cascade of several applied in order."""

_BAND_KINDS = tuple(b.kind for b in BANDS)
_SCALAR_MAX_EQS = 4  # up to this many EQs the float loop beats numpy's per-call overhead


def _check_sample_rate(sample_rate: float) -> float:
    from .validation import check_sample_rate  # the one sample-rate check (issue 13)

    return check_sample_rate(sample_rate)




def _as_cascade(eq: EQLike) -> list[EQParams]:
    if isinstance(eq, EQParams):
        return [eq]
    cascade = list(eq)
    if not cascade or not all(isinstance(p, EQParams) for p in cascade):
        raise ParameterError("expected an EQParams or a non-empty sequence of EQParams")
    return cascade


def rbj_coefficients(kind: str, a: Any, cos_w0: Any, alpha: Any, sqrt_a: Any) -> tuple[Any, ...]:
    """Unnormalised ``(b0, b1, b2, a0, a1, a2)`` of one RBJ section.

    Plain arithmetic only, so the arguments may be floats or same-shaped arrays.

    Parameters
    ----------
    kind : {"low_shelf", "peak", "high_shelf"}
    a : float or ndarray
        ``10 ** (gain_db / 40)``.
    cos_w0, alpha : float or ndarray
        ``cos(w0)`` and ``sin(w0) / (2 Q)`` with ``w0 = 2 pi f0 / sample_rate``.
    sqrt_a : float or ndarray
        ``sqrt(a)`` (used by the shelves).

    Notes
    -----
    The high shelf is the low shelf with ``cos(w0)`` negated in the (A +- 1) terms, as the
    cookbook writes them: here one sign ``s`` (+1 low, -1 high) covers both.
    """
    if kind == "peak":
        return (1.0 + alpha * a, -2.0 * cos_w0, 1.0 - alpha * a, 1.0 + alpha / a, -2.0 * cos_w0, 1.0 - alpha / a)
    s = 1.0 if kind == "low_shelf" else -1.0
    ap1, am1 = a + 1.0, a - 1.0
    sa = 2.0 * sqrt_a * alpha
    return (
        a * (ap1 - s * am1 * cos_w0 + sa),
        2.0 * s * a * (am1 - s * ap1 * cos_w0),
        a * (ap1 - s * am1 * cos_w0 - sa),
        ap1 + s * am1 * cos_w0 + sa,
        -2.0 * s * (am1 + s * ap1 * cos_w0),
        ap1 + s * am1 * cos_w0 - sa,
    )


def _design_floats(values: np.ndarray, sample_rate: float) -> np.ndarray:
    f_max = NYQUIST_FRACTION * sample_rate / 2.0
    two_pi_over_fs = 2.0 * math.pi / sample_rate
    rows = []
    for v in values.tolist():
        for band in BANDS:
            a = 10.0 ** (v[band.gain_col] / 40.0)
            w0 = two_pi_over_fs * min(v[band.freq_col], f_max)
            q = v[band.q_col] if band.q_col is not None else SHELF_Q
            b0, b1, b2, a0, a1, a2 = rbj_coefficients(band.kind, a, math.cos(w0), math.sin(w0) / (2.0 * q), math.sqrt(a))
            rows.append((b0 / a0, b1 / a0, b2 / a0, 1.0, a1 / a0, a2 / a0))
    return np.array(rows, dtype=np.float64).reshape(-1, 6)


def _design_arrays(values: np.ndarray, sample_rate: float) -> np.ndarray:
    gain_db, freq_hz, q = band_values(values)  # (n, 5) each
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * np.minimum(freq_hz, NYQUIST_FRACTION * sample_rate / 2.0) / sample_rate
    cos_w0 = np.cos(w0)
    alpha = np.sin(w0) / (2.0 * q)
    sqrt_a = np.sqrt(a)
    sos = np.empty(values.shape[:1] + (N_BANDS, 6), dtype=np.float64)
    for kind, cols in _kind_groups(_BAND_KINDS):
        coeffs = rbj_coefficients(kind, a[:, cols], cos_w0[:, cols], alpha[:, cols], sqrt_a[:, cols])
        sos[:, cols, :] = np.stack(coeffs, axis=-1)
    sos /= sos[:, :, 3:4]  # normalise a0 = 1
    return sos.reshape(-1, 6)


def _kind_groups(kinds: Sequence[str]) -> list[tuple[str, slice]]:
    """Runs of equal kinds as slices: ("low_shelf", 0:1), ("peak", 1:4), ("high_shelf", 4:5)."""
    groups: list[tuple[str, slice]] = []
    start = 0
    for i in range(1, len(kinds) + 1):
        if i == len(kinds) or kinds[i] != kinds[start]:
            groups.append((kinds[start], slice(start, i)))
            start = i
    return groups


def design_sos_batch(values: np.ndarray, sample_rate: float) -> np.ndarray:
    """Second-order sections of many EQs given as physical 13-vectors (no range checks).

    Parameters
    ----------
    values : ndarray [shape=(n_eq, 13)]
        Physical values in SAFE order.
    sample_rate : float >= 1000

    Returns
    -------
    sos : ndarray [shape=(5 * n_eq, 6)]
        Five sections per EQ in :data:`semeq.params.BANDS` order, scipy's layout.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != N_PARAMS:
        raise ParameterError(f"values must have shape (n_eq, {N_PARAMS}), got {values.shape}")
    sample_rate = float(sample_rate)
    if values.shape[0] <= _SCALAR_MAX_EQS:
        return _design_floats(values, sample_rate)
    return _design_arrays(values, sample_rate)


def design_sos(eq: EQLike, sample_rate: float) -> np.ndarray:
    """Second-order sections of an EQ (or a cascade of EQs), float64.

    Parameters
    ----------
    eq : EQParams or sequence of EQParams
        The EQ; a sequence is applied in order (five sections each).
    sample_rate : float > 0
        Sample rate in Hz; centre frequencies are clamped below Nyquist.

    Returns
    -------
    sos : ndarray [shape=(5 * n_eq, 6)]
        scipy's sos layout ``[b0, b1, b2, 1, a1, a2]``.

    Examples
    --------
    >>> design_sos(EQParams.flat(), 44100).shape
    (5, 6)
    """
    sample_rate = _check_sample_rate(sample_rate)
    cascade = _as_cascade(eq)
    return design_sos_batch(np.stack([p.to_vector() for p in cascade]), sample_rate)


def closed_form_response_db(xp: Any, kinds: Sequence[str], gain_db: Any, freq_hz: Any, q: Any, freqs_hz: Any,
                            sample_rate: float) -> Any:
    """Summed dB magnitude of RBJ sections, written once for numpy and torch.

    Parameters
    ----------
    xp : module
        ``numpy`` or ``torch`` (anything with ``sin``, ``cos``, ``log``, ``exp``, ``where``).
    kinds : sequence of {"low_shelf", "peak", "high_shelf"}
        Kind of each band (runs of equal kinds are evaluated together).
    gain_db, freq_hz, q : array [shape=(..., n_bands)]
        Per-band values; centre frequencies above ``NYQUIST_FRACTION * sample_rate / 2`` are
        clamped as :func:`design_sos` clamps them.
    freqs_hz : array [shape=(n_freqs,)]
        Evaluation frequencies, same array type and dtype as the rest.
    sample_rate : float

    Returns
    -------
    response_db : array [shape=(..., n_freqs)]
        The sum of the bands' dB responses.

    Notes
    -----
    With ``s = sin^2(w0/2)``, ``p = sin^2(w/2)``, ``A = 10^(gain/40)`` and the cookbook's
    ``alpha = sin(w0) / (2 Q)``, the RBJ sections have

    - peak: ``|H|^2 = ((s-p)^2 + A^2 alpha^2 p(1-p)) / ((s-p)^2 + alpha^2/A^2 p(1-p))``
    - low shelf: ``|H|^2 = A^2 ((A s(1-p) - p(1-s))^2 + A alpha^2 p(1-p)) / ((s(1-p) - A p(1-s))^2 + A alpha^2 p(1-p))``
    - high shelf: the low shelf with ``s -> 1-s`` and ``p -> 1-p`` (``z -> -z``),

    obtained from the cookbook's ``phi = sin^2(w/2)`` form of the biquad magnitude by summing
    the coefficients analytically. ``s - p = s (1-p) - (1-s) p`` cancels near the centre, but
    there the ``alpha^2`` terms dominate, so float32 stays within 1e-3 dB of float64
    (tests/test_response.py). The bands' power ratios are multiplied and the log taken once.
    """
    ratio = None
    gain_term_db = 0.0
    for kind, cols in _kind_groups(kinds):
        band_ratio, band_gain_db = band_power_ratios(xp, kind, gain_db[..., cols], freq_hz[..., cols], q[..., cols],
                                                     freqs_hz, sample_rate)
        band_ratio = band_ratio.prod(-2) if band_ratio.shape[-2] > 1 else band_ratio[..., 0, :]
        ratio = band_ratio if ratio is None else ratio * band_ratio
        gain_term_db = gain_term_db + band_gain_db.sum(-1)[..., None]
    return DB_PER_NEPER2 * xp.log(ratio) + gain_term_db


DB_PER_NEPER2 = 10.0 / math.log(10.0)
"""``10 log10(x) = DB_PER_NEPER2 * ln(x)``."""


def band_power_ratios(xp: Any, kind: str, gain_db: Any, freq_hz: Any, q: Any, freqs_hz: Any,
                      sample_rate: float) -> tuple[Any, Any]:
    """The squared magnitude of bands of one kind, split as ``|H|^2 = ratio * 10^(gain_term_db / 10)``.

    The building block of :func:`closed_form_response_db` (which multiplies the ratios and
    takes one log); exposed so a fit can re-evaluate one band at a time.

    Parameters
    ----------
    xp : module
        ``numpy`` or ``torch``.
    kind : {"low_shelf", "peak", "high_shelf"}
    gain_db, freq_hz, q : array [shape=(..., k)]
    freqs_hz : array [shape=(n_freqs,)]
    sample_rate : float

    Returns
    -------
    ratio : array [shape=(..., k, n_freqs)]
        Positive power ratios (for a shelf without its constant ``A^2``).
    gain_term_db : array [shape=(..., k)] or float
        The shelves' ``A^2`` in dB (half their gain); 0 for peaks.
    """
    f_max = NYQUIST_FRACTION * sample_rate / 2.0
    half_w = (math.pi / sample_rate) * freqs_hz  # (F,)
    sin_hw, cos_hw = xp.sin(half_w), xp.cos(half_w)
    p = sin_hw * sin_hw  # sin^2(w/2)
    p1 = cos_hw * cos_hw  # 1 - p
    pp = p * p1
    ln10_40 = math.log(10.0) / 40.0
    g = gain_db[..., None]  # (..., k, 1)
    f0 = freq_hz[..., None]
    half_w0 = (math.pi / sample_rate) * xp.where(f0 > f_max, f_max, f0)
    sin_hw0, cos_hw0 = xp.sin(half_w0), xp.cos(half_w0)
    s, s1 = sin_hw0 * sin_hw0, cos_hw0 * cos_hw0
    alpha2 = (sin_hw0 * cos_hw0 / q[..., None]) ** 2  # (sin(w0) / 2Q)^2
    al2pp = alpha2 * pp  # (..., k, F)
    if kind == "peak":
        a2 = xp.exp((2.0 * ln10_40) * g)
        diff = s * p1 - s1 * p  # s - p; near s = p the alpha term dominates, so no precision is lost
        d2 = diff * diff
        return (d2 + a2 * al2pp) / (d2 + al2pp / a2), 0.0 * gain_db
    a = xp.exp(ln10_40 * g)
    if kind == "high_shelf":  # z -> -z
        s, s1, p, p1 = s1, s, p1, p
    a_al2pp = a * al2pp
    ratio = ((a * s * p1 - p * s1) ** 2 + a_al2pp) / ((s * p1 - a * p * s1) ** 2 + a_al2pp)
    return ratio, 0.5 * gain_db


def response_db_batch(values: np.ndarray, freqs_hz: np.ndarray, sample_rate: float = 44100.0) -> np.ndarray:
    """dB responses of many EQs at once (no range checks; for internal batch work).

    Parameters
    ----------
    values : ndarray [shape=(n, 13)]
        Physical values in SAFE order.
    freqs_hz : ndarray [shape=(n_freqs,)]
    sample_rate : float

    Returns
    -------
    response_db : ndarray [shape=(n, n_freqs)]
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    gain_db, freq_hz, q = band_values(values)
    return closed_form_response_db(np, _BAND_KINDS, gain_db, freq_hz, q, np.asarray(freqs_hz, dtype=np.float64),
                                   float(sample_rate))


def sos_response_db(sos: np.ndarray, freqs_hz: np.ndarray, sample_rate: float) -> np.ndarray:
    """Magnitude response in dB of any second-order sections at arbitrary frequencies (complex evaluation)."""
    freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
    z_inv = np.exp(-2j * np.pi * freqs_hz / float(sample_rate))  # (n_freqs,)
    z_powers = np.stack([np.ones_like(z_inv), z_inv, z_inv * z_inv])  # (3, n_freqs)
    num = sos[:, :3] @ z_powers  # (n_sections, n_freqs)
    den = sos[:, 3:] @ z_powers
    mag2 = np.prod(np.abs(num) ** 2 / np.abs(den) ** 2, axis=0)
    return 10.0 * np.log10(np.maximum(mag2, 1e-300))


def eq_response(eq: EQLike, freqs_hz: Sequence[float] | np.ndarray, sample_rate: float = 44100.0) -> np.ndarray:
    """Magnitude response of an EQ in dB.

    Parameters
    ----------
    eq : EQParams or sequence of EQParams
    freqs_hz : array_like [shape=(n,)]
        Frequencies in Hz, in [0, sample_rate / 2].
    sample_rate : float
        Sample rate the filters are designed for (the digital response differs from the
        analogue prototype near Nyquist).

    Returns
    -------
    response_db : ndarray [shape=(n,)]
        The closed form of :func:`closed_form_response_db`, summed over the cascade.

    Examples
    --------
    >>> p = EQParams(peak2_gain_db=6.0, peak2_freq_hz=1000.0, peak2_q=1.0)
    >>> round(float(eq_response(p, [1000.0], 44100)[0]), 6)
    6.0
    """
    freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
    if freqs_hz.ndim != 1 or not np.all(np.isfinite(freqs_hz)):
        raise ParameterError("freqs_hz must be a 1-D array of finite frequencies")
    sample_rate = _check_sample_rate(sample_rate)
    cascade = _as_cascade(eq)
    return response_db_batch(np.stack([p.to_vector() for p in cascade]), freqs_hz, sample_rate).sum(axis=0)
