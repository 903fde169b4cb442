"""The rules that turn a recording's balance and a word into an EQ change, in dB.

Pure numpy functions on the analysis grid (:data:`semeq.analysis.GRID_FREQS_HZ`); the adaptive
generator (:mod:`semeq.adaptive`) measures, calls them, and realises the result as one 5-band
EQ. Every curve here is level-normalised over the held points of 100 Hz-10 kHz (level is not
EQ: the output is loudness-matched) and NaN-free on the held points it is given.

Notation: ``w(f)`` the word's own EQ curve (its decoded embedding), ``b(f)`` the recording's
balance against the music reference's centre (:mod:`semeq.reference`), ``g(f) = w(f) - b(f)``
the gap from the recording to the word's target (typical music with the word's EQ applied),
``I`` the intensity.

Toward (the default, direction-safe)
    ``x(f) = g(f) w(f) / (w(f)^2 + eps^2)``: the gap measured in units of the word's own EQ
    (1 for a recording at the reference centre, 0 for one already at the word, negative for one
    beyond it; ``eps = 0.1 dB`` keeps bands the word does not touch from dividing by ~0). Then
    ``r(f) = S(x(f))`` with ``S(x) = 0`` for ``x <= 0`` and ``S(x) = B tanh(x / B)`` above
    (``B = 2``): only the part of the gap in the word's direction counts, and it saturates
    softly at twice the word. ``r`` is smoothed in log-frequency (Gaussian, sigma a third of an
    octave, held points only), and the change is ``c(f) = I w(f) r_s(f)``. By construction:

    * ``c(f)`` has the sign of ``w(f)`` or is zero (``r_s >= 0``): no band moves against the word;
    * ``|c(f)| < B I |w(f)|``: never more than twice the word's own EQ, scaled by intensity;
      ``I = 0`` gives exactly zero;
    * a band where the recording already has the word (``b`` at or beyond ``w``) gets nothing
      there (up to the smoothing of ``r``), one far from it gets more;
    * ``c`` is as smooth as ``w`` and ``r_s``: a 5-band EQ can follow it.

    Why ``B = 2``: a recording at the reference centre gets ``S(1) = 0.92`` of the word (about
    the word itself), one far on the other side up to twice the word. More would let a word
    "correct" a recording's whole balance (that is ``match``); less would make the dark and the
    bright track sound the same after "bright". ``S`` is strictly increasing on ``x > 0``, so
    every step of the word already applied (``x`` down by about 1) shrinks the change.
Match (the seed's rule, on purpose)
    ``c(f) = I smooth(t(f) - b(f))`` with ``t = w`` (the word's absolute point) or the balance of a
    reference recording: the whole balance moves toward the target, in either direction.
Need (auto-intensity)
    ``u = RMS(c at I = 1) / RMS(w)`` over the held points of 100 Hz-10 kHz, in [0, 2): how far the
    recording is from the word along the word's own direction; the suggested intensity is
    ``tanh(u)``: 0 when nothing is needed, continuous and strictly increasing in ``u``.
"""

from __future__ import annotations

import math

import numpy as np

from .analysis import GRID_FREQS_HZ, NORM_MASK as _NORM_MASK

__all__ = [
    "BOUND",
    "EPS_DB",
    "SMOOTHING_SIGMA_OCTAVES",
    "NOTHING_NEEDED_DB",
    "soft_bound",
    "smooth_held",
    "toward_change_db",
    "match_change_db",
    "need",
    "intensity_for_need",
    "taper_above",
]

BOUND = 2.0
"""At intensity 1 the toward change never exceeds BOUND times the word's own EQ at any frequency."""
EPS_DB = 0.1
"""Regulariser (dB) of the gap-to-word ratio where the word's curve is near 0 dB."""
SMOOTHING_SIGMA_OCTAVES = 1.0 / 3.0
"""Gaussian smoothing of the ratio (and of match's gap) in log-frequency."""
NOTHING_NEEDED_DB = 0.1
"""A designed change whose largest absolute value is below this is treated as "nothing to do"."""
_GRID_STEP_OCTAVES = float(np.log2(GRID_FREQS_HZ[1] / GRID_FREQS_HZ[0]))


def soft_bound(x: np.ndarray, bound: float = BOUND) -> np.ndarray:
    """``S(x)``: 0 for ``x <= 0``, ``bound * tanh(x / bound)`` above (slope 1 at 0, below ``bound``)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0.0, bound * np.tanh(np.maximum(x, 0.0) / bound), 0.0)


def smooth_held(values: np.ndarray, held: np.ndarray, sigma_octaves: float = SMOOTHING_SIGMA_OCTAVES) -> np.ndarray:
    """Gaussian smoothing in log-frequency over the held grid points (renormalised at the edges).

    A weighted average with non-negative weights: the result stays within the range of the
    held values it averages (so a ratio in [0, B] stays in [0, B]). Points not held are 0.
    """
    values = np.asarray(values, dtype=np.float64)
    held = np.asarray(held, dtype=bool)
    idx = np.arange(GRID_FREQS_HZ.size)
    sigma = sigma_octaves / _GRID_STEP_OCTAVES
    kernel = np.exp(-0.5 * ((idx[:, None] - idx[None, :]) / sigma) ** 2) * held[None, :]  # (60, 60)
    out = kernel @ np.where(held, values, 0.0) / np.maximum(kernel.sum(axis=1), 1e-300)
    return np.where(held, out, 0.0)


def _level_free(curve_db: np.ndarray, held: np.ndarray) -> np.ndarray:
    norm = held & _NORM_MASK
    return np.where(held, curve_db - curve_db[norm].mean(), 0.0)


def toward_change_db(balance_db: np.ndarray, word_db: np.ndarray, held: np.ndarray, intensity: float) -> np.ndarray:
    """The direction-safe change: ``I w(f) r_s(f)`` (see the module docstring).

    Parameters
    ----------
    balance_db : ndarray [shape=(60,)]
        The recording's balance against the reference centre (values outside ``held`` ignored).
    word_db : ndarray [shape=(60,)]
        The word's own EQ curve on the grid (level is removed here).
    held : ndarray [shape=(60,)], bool
        Grid points the recording holds.
    intensity : float in [0, 1]

    Returns
    -------
    change_db : ndarray [shape=(60,)]
        0 outside ``held``.
    """
    held = np.asarray(held, dtype=bool)
    w = _level_free(np.asarray(word_db, dtype=np.float64), held)
    b = np.where(held, np.nan_to_num(np.asarray(balance_db, dtype=np.float64)), 0.0)
    x = (w - b) * w / (w * w + EPS_DB**2)
    r = smooth_held(soft_bound(x), held)
    return np.where(held, float(intensity) * w * r, 0.0)


def match_change_db(balance_db: np.ndarray, target_db: np.ndarray, held: np.ndarray, intensity: float) -> np.ndarray:
    """The matching change: ``I smooth(t - b)``, level-free, 0 outside ``held``."""
    held = np.asarray(held, dtype=bool)
    t = _level_free(np.asarray(target_db, dtype=np.float64), held)
    b = np.where(held, np.nan_to_num(np.asarray(balance_db, dtype=np.float64)), 0.0)
    gap = smooth_held(_level_free(t - b, held), held)
    return np.where(held, float(intensity) * gap, 0.0)


def need(balance_db: np.ndarray, word_db: np.ndarray, held: np.ndarray) -> float:
    """``u = RMS(toward change at I = 1) / RMS(w)`` over held 100 Hz-10 kHz points, in [0, BOUND)."""
    held = np.asarray(held, dtype=bool)
    band = held & _NORM_MASK
    w = _level_free(np.asarray(word_db, dtype=np.float64), held)
    c = toward_change_db(balance_db, word_db, held, 1.0)
    w_rms = float(np.sqrt(np.mean(w[band] ** 2)))
    return 0.0 if w_rms < 1e-9 else float(np.sqrt(np.mean(c[band] ** 2)) / w_rms)


def intensity_for_need(u: float) -> float:
    """Auto-intensity ``tanh(u)``: 0 when nothing is needed, continuous and strictly increasing."""
    return float(math.tanh(max(float(u), 0.0)))


def taper_above(change_db: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Bring a change to 0 dB over the third of an octave above the last held point.

    The fit then gets an explicit 0 dB target where the recording holds nothing, so no EQ
    boosts above the content's cut-off.
    """
    held = np.asarray(held, dtype=bool)
    out = np.where(held, change_db, 0.0)
    if held.all() or not held.any():
        return out
    last = int(np.flatnonzero(held)[-1])
    n = max(1, int(round((1.0 / 3.0) / _GRID_STEP_OCTAVES)))
    for k in range(1, n + 1):
        if last + k < out.size:
            out[last + k] = change_db[last] * 0.5 * (1.0 + math.cos(math.pi * k / (n + 1)))
    return out
