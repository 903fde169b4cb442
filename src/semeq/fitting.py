"""Fit a SAFE 5-band EQ to any dB magnitude curve (numpy and SciPy; no torch).

:func:`fit_eq` fits one curve: a multi-start search with :func:`fit_eq_batch`, then SciPy's
bounded least squares from the best start;
:func:`fit_eq_batch` fits thousands at once with a batched Levenberg-Marquardt in numpy (for
training-target generation). Both work in the normalised [0, 1] parameter space, so every
result lies inside the SAFE ranges, and both minimise the squared dB error at the given
frequencies. The response is :func:`semeq.dsp.biquad.response_db_batch`, the closed form
every part of semeq uses.

The three peaking bands are the same filter, so a fit may come back with its peaks in any
order; :func:`sort_peaks` puts them in ascending centre frequency wherever the ranges allow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dsp.biquad import DB_PER_NEPER2, band_power_ratios, response_db_batch
from .dsp.validation import check_sample_rate
from .errors import ParameterError
from .params import (
    BANDS,
    FREQ_INDICES,
    GAIN_INDICES,
    GAIN_DB_RANGE,
    LOG_INDICES,
    N_BANDS,
    N_PARAMS,
    Q_INDICES,
    PARAM_HIGHS as _HIGHS,
    PARAM_LOWS as _LOWS,
    EQParams,
    band_values,
    values_from_unit,
    values_to_unit,
)

__all__ = ["FitResult", "fit_eq", "fit_eq_batch", "sort_peaks", "response_db_batch"]

# Parameter columns of each band, in BANDS order.
_BAND_COLS = tuple((b.gain_col, b.freq_col) + ((b.q_col,) if b.q_col is not None else ()) for b in BANDS)
_BAND_OF_COL = np.array([next(k for k, cols in enumerate(_BAND_COLS) if c in cols) for c in range(N_PARAMS)])
# Runs of equal band kinds: (kind, band slice, parameter columns of those bands).
_KIND_GROUPS = []
for _k, _band in enumerate(BANDS):
    if _KIND_GROUPS and _KIND_GROUPS[-1][0] == _band.kind:
        _KIND_GROUPS[-1][1].append(_k)
    else:
        _KIND_GROUPS.append((_band.kind, [_k]))
_KIND_GROUPS = [(kind, slice(bands[0], bands[-1] + 1), sorted(c for k in bands for c in _BAND_COLS[k]))
                for kind, bands in _KIND_GROUPS]
# (gain, freq, Q) columns of peaks 1-3.
_PEAK_COLS = tuple((b.gain_col, b.freq_col, b.q_col) for b in BANDS if b.kind == "peak")


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
    """(n, 13) unit values -> physical values (clipped into [0, 1] first)."""
    return values_from_unit(np.clip(x_unit, 0.0, 1.0))


def _vectors_to_units(vectors: np.ndarray) -> np.ndarray:
    return values_to_unit(vectors)


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
    peaks = np.stack([vectors[:, list(cols)] for cols in _PEAK_COLS], axis=1)  # (n, 3, 3): gain, freq, Q
    order = np.argsort(peaks[:, :, 1], axis=1, kind="stable")
    sorted_peaks = np.take_along_axis(peaks, order[:, :, None], axis=1)
    freq_lo = _LOWS[[f for _, f, _ in _PEAK_COLS]]
    freq_hi = _HIGHS[[f for _, f, _ in _PEAK_COLS]]
    fits = np.all((sorted_peaks[:, :, 1] >= freq_lo - 1e-6) & (sorted_peaks[:, :, 1] <= freq_hi + 1e-6), axis=1)
    changed = fits & np.any(order != np.arange(3), axis=1)
    out = vectors.copy()
    for k, cols in enumerate(_PEAK_COLS):
        out[np.ix_(changed, cols)] = sorted_peaks[changed, k, :]
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
    sample_rate = check_sample_rate(sample_rate)
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
    gains, freqs, peaks = list(GAIN_INDICES), list(FREQ_INDICES), [g for g, _, _ in _PEAK_COLS]
    interp = np.interp(np.log(default[freqs]), np.log(freqs_hz), curve_db)
    with_gains[gains] = np.clip(interp, *GAIN_DB_RANGE)
    shelves = [b.gain_col for b in BANDS if b.kind != "peak"]
    with_gains[peaks] -= 0.5 * with_gains[shelves].sum()  # the shelves already reach the middle partly
    with_gains = np.clip(with_gains, _LOWS, _HIGHS)
    starts = [with_gains, default]
    rng = np.random.default_rng(seed)
    for _ in range(n_random):
        v = _vectors_to_units(with_gains[None])[0]
        v[list(LOG_INDICES)] = rng.uniform(0.1, 0.9, size=len(LOG_INDICES))
        starts.append(_units_to_vectors(v[None])[0])
    return _vectors_to_units(np.stack(starts))


def fit_eq(curve_db, freqs_hz, sample_rate: float = 44100.0, weights=None, *, n_random_starts: int = 4,
           seed: int = 0, start: EQParams | None = None, start_tolerance_db: float = 0.25) -> FitResult:
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
    start : EQParams, optional
        A warm start (the streaming engine passes its previous fit): a local polish from it is
        kept when its RMS error is at most ``start_tolerance_db``; otherwise the global search runs.
    start_tolerance_db : float
        See ``start``.

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

    gain_cols = list(GAIN_INDICES)
    gain_span_db = GAIN_DB_RANGE[1] - GAIN_DB_RANGE[0]
    penalty_jac = np.zeros((len(gain_cols), N_PARAMS))
    penalty_jac[np.arange(len(gain_cols)), gain_cols] = GAIN_PENALTY * gain_span_db

    def curve_residual(x_unit: np.ndarray) -> np.ndarray:
        return (response_db_batch(_units_to_vectors(x_unit[None]), freqs_hz, sample_rate)[0] - curve_db) * sqrt_w

    def residual(x_unit: np.ndarray) -> np.ndarray:
        # The curve's error, then a light pull of the five gains toward 0 dB: among settings with
        # (nearly) the same response, the one without large opposing peaks.
        gains_db = GAIN_DB_RANGE[0] + gain_span_db * x_unit[gain_cols]
        return np.concatenate([curve_residual(x_unit), GAIN_PENALTY * gains_db])

    def jacobian(x_unit: np.ndarray) -> np.ndarray:
        # The same one-sided differences as the LM stage, all 13 probes in one batched call.
        jac = _jacobian(x_unit[None], curve_residual(x_unit)[None], curve_db[None], freqs_hz, sqrt_w, sample_rate)[0]
        return np.concatenate([jac, penalty_jac])

    def result(x_unit: np.ndarray) -> FitResult:
        vector, _ = sort_peaks(_units_to_vectors(x_unit[None]))
        params = EQParams.clipped(vector[0])
        return fit_errors(params, curve_db, freqs_hz, sample_rate)

    if start is not None:  # warm start: a Gauss-Newton step on the five gains, then a short polish
        stepped = _gain_step(start, curve_db, freqs_hz, sqrt_w, sample_rate)
        if stepped.rms_error_db <= start_tolerance_db:
            return stepped
        x_start = np.clip(start.to_unit_vector(), 0.0, 1.0)
        warm = result(least_squares(residual, x_start, jac=jacobian, bounds=(0.0, 1.0), method="trf", max_nfev=15).x)
        if warm.rms_error_db <= start_tolerance_db:
            return warm

    # Global stage: batched multi-start LM with greedy peak moves; then a float64 polish.
    coarse = fit_eq_batch(curve_db[None], freqs_hz, sample_rate, n_steps=25, weights=weights,
                          n_starts=2 + int(n_random_starts), n_refine=2, seed=seed)
    x0 = np.clip(_vectors_to_units(coarse), 0.0, 1.0)[0]
    sol = least_squares(residual, x0, jac=jacobian, bounds=(0.0, 1.0), method="trf", max_nfev=100)
    x_best = sol.x if sol.cost <= 0.5 * np.sum(residual(x0) ** 2) else x0
    return result(x_best)


_GAIN_STEP_DB = 0.01  # finite-difference step of the gains-only Gauss-Newton step
GAIN_PENALTY = 0.07
"""Weight (per dB of band gain) of the pull toward 0 dB in :func:`fit_eq`'s least squares: against
60 points of curve error it costs a few hundredths of a dB of fit, and it keeps the setting a
person types into a DAW free of large opposing peaks that cancel each other."""


def _gain_step(start: EQParams, curve_db: np.ndarray, freqs_hz: np.ndarray, sqrt_w: np.ndarray,
               sample_rate: float) -> FitResult:
    """One Gauss-Newton step on the five gains from ``start`` (frequencies and Q kept).

    The response is nearly linear in the gains in dB, so when the target has moved a little (the
    streaming engine's next window) this lands within a fraction of a dB, for six response
    evaluations in one batched call.
    """
    x0 = start.to_vector()
    probes = np.repeat(x0[None], 1 + len(GAIN_INDICES), axis=0)  # (6, 13): start, then each gain nudged
    for k, col in enumerate(GAIN_INDICES):
        probes[1 + k, col] += _GAIN_STEP_DB if x0[col] < 0 else -_GAIN_STEP_DB
    resp = response_db_batch(probes, freqs_hz, sample_rate)  # (6, F)
    jac = ((resp[1:] - resp[0]) / (probes[1:, list(GAIN_INDICES)] - x0[list(GAIN_INDICES)]).sum(axis=1)[:, None]).T  # (F, 5)
    g0 = x0[list(GAIN_INDICES)]
    a = np.vstack([jac * sqrt_w[:, None], GAIN_PENALTY * np.eye(len(GAIN_INDICES))])  # with fit_eq's pull to 0 dB
    b = np.concatenate([(curve_db - resp[0]) * sqrt_w, -GAIN_PENALTY * g0])
    delta, *_ = np.linalg.lstsq(a, b, rcond=None)
    x1 = x0.copy()
    x1[list(GAIN_INDICES)] = np.clip(x0[list(GAIN_INDICES)] + delta, *GAIN_DB_RANGE)
    return fit_errors(EQParams.from_vector(x1), curve_db, freqs_hz, sample_rate)


def fit_errors(params: EQParams, curve_db: np.ndarray, freqs_hz: np.ndarray, sample_rate: float,
               mask: np.ndarray | None = None) -> FitResult:
    """``params`` with its errors against ``curve_db`` (dB), over ``mask`` (default: every point)."""
    err = eq_response_single(params, freqs_hz, float(sample_rate)) - curve_db
    if mask is not None:
        err = err[mask]
    return FitResult(params=params, rms_error_db=float(np.sqrt(np.mean(err**2))), mae_db=float(np.mean(np.abs(err))),
                     max_error_db=float(np.max(np.abs(err))))


def eq_response_single(params: EQParams, freqs_hz: np.ndarray, sample_rate: float) -> np.ndarray:
    """dB response of one EQ (numpy), without the checks of :func:`semeq.dsp.eq_response`."""
    return response_db_batch(params.to_vector()[None], freqs_hz, sample_rate)[0]


_FD_STEP = 1e-4  # finite-difference step in unit space


def _jacobian(x: np.ndarray, r0: np.ndarray, target: np.ndarray, freqs_hz: np.ndarray, sqrt_w: np.ndarray,
              sample_rate: float) -> np.ndarray:
    """One-sided finite-difference Jacobian of the weighted residual, stepping away from the nearer
    bound. x (B, 13) unit values, r0 (B, F) their residuals -> (B, F, 13).

    A probe moves one parameter, so only its band is re-evaluated (the other bands' power ratios
    are reused): 13 band evaluations per row instead of 65, in one call per band kind.
    """
    step = _FD_STEP * np.where(x > 0.5, -1.0, 1.0)  # (B, 13)
    base = band_values(values_from_unit(x))  # gain_db, freq_hz, q: (B, 5) each
    moved = values_from_unit(x + step)  # (B, 13): column c holds parameter c probed, alone
    # Probe c evaluates band _BAND_OF_COL[c] with parameter c replaced: (13, B) per band value.
    probe = [v[:, _BAND_OF_COL].T.copy() for v in base]
    for which, cols in enumerate((GAIN_INDICES, FREQ_INDICES, Q_INDICES)):
        probe[which][list(cols)] = moved[:, list(cols)].T
    base_ratio = np.empty((N_BANDS,) + r0.shape)  # (5, B, F)
    base_gain = np.empty((N_BANDS, x.shape[0], 1))
    probe_ratio = np.empty((N_PARAMS,) + r0.shape)  # (13, B, F)
    probe_gain = np.empty((N_PARAMS, x.shape[0], 1))
    for kind, bands, cols in _KIND_GROUPS:
        r, gt = band_power_ratios(np, kind, base[0][:, bands], base[1][:, bands], base[2][:, bands], freqs_hz,
                                  sample_rate)  # (B, k, F), (B, k)
        base_ratio[bands] = r.transpose(1, 0, 2)
        base_gain[bands] = np.asarray(gt).T[:, :, None]
        r, gt = band_power_ratios(np, kind, probe[0][cols, :, None], probe[1][cols, :, None], probe[2][cols, :, None],
                                  freqs_hz, sample_rate)  # (m, B, 1, F), (m, B, 1)
        probe_ratio[cols] = r[:, :, 0]
        probe_gain[cols] = gt
    total = base_ratio.prod(axis=0)  # (B, F)
    total_gain = base_gain.sum(axis=0)  # (B, 1)
    others = total / base_ratio[_BAND_OF_COL]  # (13, B, F): the product of the bands a probe leaves alone
    resp = DB_PER_NEPER2 * np.log(others * probe_ratio) + (total_gain - base_gain[_BAND_OF_COL] + probe_gain)
    r_probe = (resp - target) * sqrt_w  # (13, B, F)
    return ((r_probe - r0) / step.T[:, :, None]).transpose(1, 2, 0)


def _lm(x: np.ndarray, target: np.ndarray, freqs_hz: np.ndarray, sqrt_w: np.ndarray, sample_rate: float,
        n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Projected Levenberg-Marquardt in unit space. x (B, 13), target (B, F) -> (x, cost (B,))."""
    n_rows = x.shape[0]

    def residual(xu: np.ndarray, tgt: np.ndarray) -> np.ndarray:
        return (response_db_batch(values_from_unit(xu), freqs_hz, sample_rate) - tgt) * sqrt_w

    eye = np.eye(N_PARAMS)
    lam = np.full((n_rows, 1, 1), 1e-2)
    r0 = residual(x, target)
    cost = np.einsum("bf,bf->b", r0, r0)
    for _ in range(n_steps):
        jac = _jacobian(x, r0, target, freqs_hz, sqrt_w, sample_rate)  # (B, F, 13)
        jtj = np.einsum("bfi,bfj->bij", jac, jac)  # (B, 13, 13)
        jtr = np.einsum("bfi,bf->bi", jac, r0)  # (B, 13)
        diag = np.einsum("bii->bi", jtj)
        damping = diag + 1e-6 * diag.mean(axis=1, keepdims=True) + 1e-9  # (B, 13)
        damped = jtj + lam * (damping[:, :, None] * eye)
        delta = np.linalg.solve(damped, -jtr[:, :, None])[:, :, 0]
        x_new = np.clip(x + delta, 0.0, 1.0)
        r_new = residual(x_new, target)
        cost_new = np.einsum("bf,bf->b", r_new, r_new)
        better = cost_new < cost
        x = np.where(better[:, None], x_new, x)
        r0 = np.where(better[:, None], r_new, r0)
        cost = np.where(better, cost_new, cost)
        lam = np.clip(np.where(better[:, None, None], lam / 3.0, lam * 4.0), 1e-7, 1e7)
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
        for k, (g, f, _) in enumerate(_PEAK_COLS):
            if _LOWS[f] <= f_err[row] <= _HIGHS[f] and abs(vectors[row, g]) < best_gain:
                best_k, best_gain = k, abs(vectors[row, g])
        if best_k is None:
            continue
        g, f, q = _PEAK_COLS[best_k]
        out[row, g] = np.clip(vectors[row, g] + g_err[row], *GAIN_DB_RANGE)
        out[row, f] = f_err[row]
        out[row, q] = 2.0
    return _vectors_to_units(np.clip(out, _LOWS, _HIGHS))


def fit_eq_batch(curves_db, freqs_hz, sample_rate: float = 44100.0, n_steps: int = 30, *, weights=None,
                 n_starts: int = 3, n_refine: int = 2, seed: int = 0) -> np.ndarray:
    """Fit SAFE 5-band EQs to many dB curves at once (batched Levenberg-Marquardt in numpy).

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

    Returns
    -------
    params : ndarray [shape=(n, 13)]
        Physical values in SAFE order, inside the SAFE ranges, peaks in ascending frequency
        where the ranges allow.

    Notes
    -----
    Works in the normalised space with box projection, with a one-sided finite-difference
    Jacobian of :func:`semeq.dsp.biquad.response_db_batch`.
    """
    curves_db, freqs_hz, weights, sample_rate = _check_curve(curves_db, freqs_hz, weights, sample_rate)
    if curves_db.ndim != 2:
        raise ParameterError(f"curves_db must have shape (n, n_freqs), got {curves_db.shape}")
    if int(n_steps) < 1 or int(n_starts) < 1 or int(n_refine) < 0:
        raise ParameterError(f"n_steps and n_starts must be at least 1 and n_refine at least 0, got {n_steps}, {n_starts}, {n_refine}")
    n = curves_db.shape[0]
    if n == 0:
        return np.zeros((0, N_PARAMS))
    starts = np.stack([_starts(c, freqs_hz, max(int(n_starts) - 2, 0), int(seed) + i)[: int(n_starts)]
                       for i, c in enumerate(curves_db)], axis=1)  # (k, n, 13)
    k = starts.shape[0]
    sqrt_w = np.sqrt(weights / weights.mean())
    x, cost = _lm(starts.reshape(k * n, N_PARAMS), np.tile(curves_db, (k, 1)), freqs_hz, sqrt_w, sample_rate,
                  int(n_steps))
    best = cost.reshape(k, n).argmin(axis=0)
    x = x.reshape(k, n, N_PARAMS)[best, np.arange(n)]
    cost = cost.reshape(k, n)[best, np.arange(n)]
    for _ in range(int(n_refine)):
        resid = response_db_batch(_units_to_vectors(x), freqs_hz, sample_rate) - curves_db
        x_try, cost_try = _lm(_move_weakest_peak(x, resid * np.sqrt(weights), freqs_hz), curves_db, freqs_hz, sqrt_w,
                              sample_rate, int(n_steps))
        better = cost_try < cost
        x = np.where(better[:, None], x_try, x)
        cost = np.where(better, cost_try, cost)
    vectors, _ = sort_peaks(_units_to_vectors(x))
    return np.clip(vectors, _LOWS, _HIGHS)
