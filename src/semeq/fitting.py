"""Fit a SAFE 5-band EQ to any dB magnitude curve.

:func:`fit_eq` fits one curve: a multi-start search with :func:`fit_eq_batch`, then SciPy's
bounded least squares from the best start;
:func:`fit_eq_batch` fits thousands at once with a batched Levenberg-Marquardt in torch (for
training-target generation). Both work in the normalised [0, 1] parameter space, so every
result lies inside the SAFE ranges, and both minimise the squared dB error at the given
frequencies.

The three peaking bands are the same filter, so a fit may come back with its peaks in any
order; :func:`sort_peaks` puts them in ascending centre frequency wherever the ranges allow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dsp.biquad import _design_params
from .errors import ParameterError
from .params import N_PARAMS, PARAMETERS, EQParams

__all__ = ["FitResult", "fit_eq", "fit_eq_batch", "sort_peaks", "response_db_batch"]

_LOWS = np.array([s.low for s in PARAMETERS])
_HIGHS = np.array([s.high for s in PARAMETERS])
_PEAK_SLICES = ((2, 5), (5, 8), (8, 11))  # (gain, freq, Q) columns of peaks 1-3


@dataclass(frozen=True, kw_only=True)
class FitResult:
    """The outcome of :func:`fit_eq`.

    Attributes
    ----------
    params : EQParams
        The fitted setting, inside the SAFE ranges.
    rms_error_db, mae_db, max_error_db : float
        Root-mean-square, mean absolute and largest absolute error of the fitted response
        against the target, in dB, over the given frequencies (unweighted).
    """

    params: EQParams
    rms_error_db: float
    mae_db: float
    max_error_db: float


def _units_to_vectors(x_unit: np.ndarray) -> np.ndarray:
    """(n, 13) unit values -> physical values."""
    x_unit = np.clip(x_unit, 0.0, 1.0)
    return np.stack([s.from_unit(x_unit[:, i]) for i, s in enumerate(PARAMETERS)], axis=1)


def _vectors_to_units(vectors: np.ndarray) -> np.ndarray:
    return np.stack([s.to_unit(vectors[:, i]) for i, s in enumerate(PARAMETERS)], axis=1)


def response_db_batch(vectors: np.ndarray, freqs_hz: np.ndarray, sample_rate: float = 44100.0) -> np.ndarray:
    """dB responses of many EQs at once (no range checks; for internal batch work).

    Parameters
    ----------
    vectors : ndarray [shape=(n, 13)]
        Physical values in SAFE order.
    freqs_hz : ndarray [shape=(n_freqs,)]
    sample_rate : float

    Returns
    -------
    response_db : ndarray [shape=(n, n_freqs)]
    """
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
    n = vectors.shape[0]
    sos = _design_params(vectors, float(sample_rate)).reshape(n, 5, 6)
    z_inv = np.exp(-2j * np.pi * freqs_hz / float(sample_rate))
    z_powers = np.stack([np.ones_like(z_inv), z_inv, z_inv * z_inv])  # (3, F)
    num = sos[:, :, :3] @ z_powers  # (n, 5, F)
    den = sos[:, :, 3:] @ z_powers
    mag2 = (np.abs(num) ** 2 / np.abs(den) ** 2).prod(axis=1)
    return 10.0 * np.log10(np.maximum(mag2, 1e-300))


def sort_peaks(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Put the three peaking bands in ascending centre frequency where the ranges allow it.

    The peaks are identical filters, so the response does not change; only the band numbers
    do. A row is reordered only when every peak lands inside its new band's frequency range.

    Parameters
    ----------
    vectors : ndarray [shape=(n, 13)]
        Physical values in SAFE order.

    Returns
    -------
    sorted_vectors : ndarray [shape=(n, 13)]
    changed : ndarray [shape=(n,), dtype=bool]
        Rows whose peaks were reordered.
    """
    vectors = np.array(np.atleast_2d(vectors), dtype=np.float64)
    peaks = np.stack([vectors[:, a:b] for a, b in _PEAK_SLICES], axis=1)  # (n, 3, 3): gain, freq, Q
    order = np.argsort(peaks[:, :, 1], axis=1, kind="stable")
    sorted_peaks = np.take_along_axis(peaks, order[:, :, None], axis=1)
    freq_lo = np.array([_LOWS[3], _LOWS[6], _LOWS[9]])
    freq_hi = np.array([_HIGHS[3], _HIGHS[6], _HIGHS[9]])
    fits = np.all((sorted_peaks[:, :, 1] >= freq_lo - 1e-6) & (sorted_peaks[:, :, 1] <= freq_hi + 1e-6), axis=1)
    changed = fits & np.any(order != np.arange(3), axis=1)
    out = vectors.copy()
    for k, (a, b) in enumerate(_PEAK_SLICES):
        out[changed, a:b] = sorted_peaks[changed, k, :]
    return out, changed


def _check_curve(curve_db, freqs_hz, weights, sample_rate):
    curve_db = np.asarray(curve_db, dtype=np.float64)
    freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
    if freqs_hz.ndim != 1 or freqs_hz.size < 2:
        raise ParameterError(f"freqs_hz must be a 1-D array of at least 2 frequencies, got shape {freqs_hz.shape}")
    if curve_db.shape[-1] != freqs_hz.size:
        raise ParameterError(f"curve_db has {curve_db.shape[-1]} points but freqs_hz has {freqs_hz.size}")
    if not (np.all(np.isfinite(curve_db)) and np.all(np.isfinite(freqs_hz))):
        raise ParameterError("curve_db and freqs_hz must be finite")
    sample_rate = float(sample_rate)
    if not np.isfinite(sample_rate) or sample_rate < 1000.0:
        raise ParameterError(f"sample_rate must be at least 1000 Hz, got {sample_rate:g}")
    if np.any(freqs_hz <= 0) or np.any(freqs_hz >= sample_rate / 2):
        raise ParameterError(f"freqs_hz must lie in (0, {sample_rate / 2:g}) Hz")
    if weights is None:
        weights = np.ones(freqs_hz.size)
    else:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (freqs_hz.size,) or np.any(weights < 0) or not np.all(np.isfinite(weights)) or weights.sum() <= 0:
            raise ParameterError(f"weights must be {freqs_hz.size} finite non-negative values, not all zero")
    return curve_db, freqs_hz, weights, sample_rate


def _starts(curve_db: np.ndarray, freqs_hz: np.ndarray, n_random: int, seed: int) -> np.ndarray:
    """Starting points (k, 13) in unit space for one curve: plugin defaults with gains read off
    the curve, all-zero defaults, then seeded random frequencies and Q."""
    default = EQParams.flat().to_vector()
    with_gains = default.copy()
    centres = default[[1, 3, 6, 9, 12]]
    interp = np.interp(np.log(centres), np.log(freqs_hz), curve_db)
    with_gains[[0, 2, 5, 8, 11]] = np.clip(interp, -12, 12)
    with_gains[[2, 5, 8]] -= 0.5 * (with_gains[0] + with_gains[11])  # the shelves already reach the middle partly
    with_gains = np.clip(with_gains, _LOWS, _HIGHS)
    starts = [with_gains, default]
    rng = np.random.default_rng(seed)
    for _ in range(n_random):
        v = _vectors_to_units(with_gains[None])[0]
        v[[1, 3, 4, 6, 7, 9, 10, 12]] = rng.uniform(0.1, 0.9, size=8)
        starts.append(_units_to_vectors(v[None])[0])
    return _vectors_to_units(np.stack(starts))


def fit_eq(curve_db, freqs_hz, sample_rate: float = 44100.0, weights=None, *, n_random_starts: int = 4,
           seed: int = 0) -> FitResult:
    """Least-squares fit of a SAFE 5-band EQ to a dB magnitude curve.

    Parameters
    ----------
    curve_db : array_like [shape=(n_freqs,)]
        Target response in dB.
    freqs_hz : array_like [shape=(n_freqs,)]
        Its frequencies in Hz, in (0, sample_rate / 2); log-spaced grids weigh octaves evenly.
    sample_rate : float
        Sample rate the EQ is designed for.
    weights : array_like [shape=(n_freqs,)], optional
        Non-negative weight of each point in the squared error (default: all 1).
    n_random_starts : int >= 0
        Seeded random starting points besides the two deterministic ones; the best fit wins.
    seed : int
        Seed of those starting points (the result is deterministic).

    Returns
    -------
    FitResult
        Parameters inside the SAFE ranges (peaks in ascending frequency where the ranges allow)
        and the unweighted error of their response.

    Raises
    ------
    ParameterError
        If the shapes disagree, values are not finite, or frequencies are out of range.

    Examples
    --------
    >>> from semeq import eq_response
    >>> f = np.geomspace(20, 20000, 64)
    >>> target = EQParams(low_shelf_gain_db=4.0, low_shelf_freq_hz=200.0)
    >>> fit = fit_eq(eq_response(target, f), f)
    >>> fit.mae_db < 0.05
    True
    """
    from scipy.optimize import least_squares

    curve_db, freqs_hz, weights, sample_rate = _check_curve(curve_db, freqs_hz, weights, sample_rate)
    if curve_db.ndim != 1:
        raise ParameterError(f"curve_db must be 1-D, got shape {curve_db.shape}; use fit_eq_batch for many curves")
    sqrt_w = np.sqrt(weights / weights.mean())

    def residual(x_unit: np.ndarray) -> np.ndarray:
        return (response_db_batch(_units_to_vectors(x_unit[None]), freqs_hz, sample_rate)[0] - curve_db) * sqrt_w

    # Global stage: batched multi-start LM with greedy peak moves; then a float64 polish.
    coarse = fit_eq_batch(curve_db[None], freqs_hz, sample_rate, n_steps=25, weights=weights,
                          n_starts=2 + int(n_random_starts), n_refine=2, seed=seed, dtype="float64")
    x0 = np.clip(_vectors_to_units(coarse), 0.0, 1.0)[0]
    sol = least_squares(residual, x0, bounds=(0.0, 1.0), method="trf", max_nfev=100)
    x_best = sol.x if sol.cost <= 0.5 * np.sum(residual(x0) ** 2) else x0
    vector, _ = sort_peaks(_units_to_vectors(x_best[None]))
    params = EQParams.clipped(vector[0])
    err = eq_response_single(params, freqs_hz, sample_rate) - curve_db
    return FitResult(params=params, rms_error_db=float(np.sqrt(np.mean(err**2))), mae_db=float(np.mean(np.abs(err))),
                     max_error_db=float(np.max(np.abs(err))))


def eq_response_single(params: EQParams, freqs_hz: np.ndarray, sample_rate: float) -> np.ndarray:
    """dB response of one EQ (numpy), without the checks of :func:`semeq.dsp.eq_response`."""
    return response_db_batch(params.to_vector()[None], freqs_hz, sample_rate)[0]


def _lm(x: "torch.Tensor", target: "torch.Tensor", freqs: "torch.Tensor", sqrt_w: "torch.Tensor", sample_rate: float,
        n_steps: int) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Projected Levenberg-Marquardt in unit space. x (B, 13), target (B, F) -> (x, cost (B,))."""
    import torch

    from .nn.response import eq_response_db, unit_to_physical

    n_rows = x.shape[0]
    h = 1e-4 if x.dtype == torch.float64 else 3e-3

    def residual(xu: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        return (eq_response_db(unit_to_physical(xu), freqs, sample_rate) - tgt) * sqrt_w

    eye = torch.eye(N_PARAMS, dtype=x.dtype)
    lam = torch.full((n_rows, 1, 1), 1e-2, dtype=x.dtype)
    cost = residual(x, target).pow(2).sum(dim=1)
    for _ in range(n_steps):
        # One-sided differences, stepping away from the nearer bound: (13 * B, 13) rows at once.
        step_sign = torch.where(x > 0.5, -1.0, 1.0).to(x.dtype)
        probes = x.unsqueeze(0) + h * step_sign.unsqueeze(0) * eye.unsqueeze(1)  # (13, B, 13)
        r0 = residual(x, target)
        r_probe = residual(probes.reshape(-1, N_PARAMS), target.repeat(N_PARAMS, 1)).reshape(N_PARAMS, n_rows, -1)
        jac = ((r_probe - r0.unsqueeze(0)) / (h * step_sign.T.unsqueeze(-1))).permute(1, 2, 0)  # (B, F, 13)
        jtj = jac.transpose(1, 2) @ jac  # (B, 13, 13)
        jtr = (jac.transpose(1, 2) @ r0.unsqueeze(-1)).squeeze(-1)  # (B, 13)
        diag = torch.diagonal(jtj, dim1=1, dim2=2)
        damped = jtj + lam * torch.diag_embed(diag + 1e-6 * diag.mean(dim=1, keepdim=True) + 1e-9)
        step = torch.linalg.solve(damped, -jtr)
        x_new = torch.clamp(x + step, 0.0, 1.0)
        cost_new = residual(x_new, target).pow(2).sum(dim=1)
        better = cost_new < cost
        x = torch.where(better[:, None], x_new, x)
        cost = torch.where(better, cost_new, cost)
        lam = torch.where(better[:, None, None], lam / 3.0, lam * 4.0).clamp(1e-7, 1e7)
    return x, cost


def _move_weakest_peak(x_unit: np.ndarray, resid_db: np.ndarray, freqs_hz: np.ndarray) -> np.ndarray:
    """Greedy restart: put the weakest peak that can reach it on the largest remaining error."""
    vectors = _units_to_vectors(x_unit)
    out = vectors.copy()
    idx = np.argmax(np.abs(resid_db), axis=1)
    f_err = freqs_hz[idx]
    g_err = -resid_db[np.arange(len(idx)), idx]  # residual = fit - target
    for row in range(vectors.shape[0]):
        best_k, best_gain = None, np.inf
        for k, (a, _) in enumerate(_PEAK_SLICES):
            if _LOWS[a + 1] <= f_err[row] <= _HIGHS[a + 1] and abs(vectors[row, a]) < best_gain:
                best_k, best_gain = k, abs(vectors[row, a])
        if best_k is None:
            continue
        a = _PEAK_SLICES[best_k][0]
        out[row, a] = np.clip(vectors[row, a] + g_err[row], -12, 12)
        out[row, a + 1] = f_err[row]
        out[row, a + 2] = 2.0
    return _vectors_to_units(np.clip(out, _LOWS, _HIGHS))


def fit_eq_batch(curves_db, freqs_hz, sample_rate: float = 44100.0, n_steps: int = 30, *, weights=None,
                 n_starts: int = 3, n_refine: int = 2, seed: int = 0, dtype: str = "float32") -> np.ndarray:
    """Fit SAFE 5-band EQs to many dB curves at once (batched Levenberg-Marquardt in torch).

    Parameters
    ----------
    curves_db : array_like [shape=(n, n_freqs)]
        Target responses in dB.
    freqs_hz : array_like [shape=(n_freqs,)]
        Their frequencies in Hz, in (0, sample_rate / 2). 64-128 log-spaced points are plenty;
        the cost grows linearly with the number of points.
    sample_rate : float
    n_steps : int >= 1
        Levenberg-Marquardt iterations per start and per refinement round.
    weights : array_like [shape=(n_freqs,)], optional
        Non-negative weight per frequency.
    n_starts : int >= 1
        Starting points per curve (plugin defaults with gains read off the curve, all-zero
        defaults, then seeded random frequencies); the best per curve is kept.
    n_refine : int >= 0
        Greedy rounds that move the weakest peak onto the largest remaining error and refit,
        keeping the result only where it is better.
    seed : int
        Seed of the random starts (the result is deterministic).
    dtype : {"float32", "float64"}
        Precision of the iterations (float32: faster; its response is within 3e-4 dB of float64).

    Returns
    -------
    params : ndarray [shape=(n, 13)]
        Physical values in SAFE order, inside the SAFE ranges, peaks in ascending frequency
        where the ranges allow.

    Notes
    -----
    Works in the normalised space with box projection, with a finite-difference Jacobian of
    the response of :mod:`semeq.nn.response`.
    """
    import torch

    curves_db, freqs_hz, weights, sample_rate = _check_curve(curves_db, freqs_hz, weights, sample_rate)
    if curves_db.ndim != 2:
        raise ParameterError(f"curves_db must have shape (n, n_freqs), got {curves_db.shape}")
    if int(n_steps) < 1 or int(n_starts) < 1 or int(n_refine) < 0:
        raise ParameterError(f"n_steps and n_starts must be at least 1 and n_refine at least 0, got {n_steps}, {n_starts}, {n_refine}")
    if dtype not in ("float32", "float64"):
        raise ParameterError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    tdtype = torch.float32 if dtype == "float32" else torch.float64
    n = curves_db.shape[0]
    if n == 0:
        return np.zeros((0, N_PARAMS))
    starts = np.stack([_starts(c, freqs_hz, max(int(n_starts) - 2, 0), int(seed) + i)[: int(n_starts)]
                       for i, c in enumerate(curves_db)], axis=1)  # (k, n, 13)
    k = starts.shape[0]
    freqs = torch.as_tensor(freqs_hz, dtype=tdtype)
    sqrt_w = torch.as_tensor(np.sqrt(weights / weights.mean()), dtype=tdtype)
    target = torch.as_tensor(curves_db, dtype=tdtype)
    with torch.no_grad():
        x, cost = _lm(torch.as_tensor(starts.reshape(k * n, N_PARAMS), dtype=tdtype), target.repeat(k, 1), freqs, sqrt_w,
                      sample_rate, int(n_steps))
        best = cost.reshape(k, n).argmin(dim=0)
        x = x.reshape(k, n, N_PARAMS)[best, torch.arange(n)]
        cost = cost.reshape(k, n)[best, torch.arange(n)]
        for _ in range(int(n_refine)):
            x_np = x.double().numpy()
            resid = response_db_batch(_units_to_vectors(x_np), freqs_hz, sample_rate) - curves_db
            x_try = torch.as_tensor(_move_weakest_peak(x_np, resid * np.sqrt(weights), freqs_hz), dtype=tdtype)
            x_try, cost_try = _lm(x_try, target, freqs, sqrt_w, sample_rate, int(n_steps))
            better = cost_try < cost
            x = torch.where(better[:, None], x_try, x)
            cost = torch.where(better, cost_try, cost)
    vectors, _ = sort_peaks(_units_to_vectors(x.double().numpy()))
    return np.clip(vectors, _LOWS, _HIGHS)
