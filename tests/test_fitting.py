"""Fitting a 5-band EQ to a dB curve recovers known EQs and stays in range."""

from __future__ import annotations

import numpy as np
import pytest

from semeq.dsp import eq_response
from semeq.errors import ParameterError
from semeq.fitting import fit_eq, fit_eq_batch, response_db_batch, sort_peaks
from semeq.params import PARAMETERS, EQParams

RECOVER_MAE_DB = 0.1
FREQS = np.geomspace(20.0, 20000.0, 128)


def _moderate_random_eq(rng: np.random.Generator) -> EQParams:
    """A random in-range EQ, away from the range edges (Q 0.4-4, peaks an octave apart or more)."""
    while True:
        units = rng.uniform(0.2, 0.8, size=13)
        p = EQParams.from_unit_vector(units)
        f = sorted([p.peak1_freq_hz, p.peak2_freq_hz, p.peak3_freq_hz])
        if f[1] / f[0] > 2 and f[2] / f[1] > 2:
            return p


def test_fit_eq_recovers_known_eq(rng):
    for _ in range(3):
        target = _moderate_random_eq(rng)
        curve = eq_response(target, FREQS)
        fit = fit_eq(curve, FREQS)
        assert fit.mae_db < RECOVER_MAE_DB
        assert fit.max_error_db >= fit.rms_error_db >= fit.mae_db * 0.999
        assert np.allclose(eq_response(fit.params, FREQS), curve, atol=max(0.5, 5 * fit.max_error_db))


def test_fit_eq_flat_curve_gives_flat_eq():
    fit = fit_eq(np.zeros(FREQS.size), FREQS)
    assert fit.max_error_db < 0.01


def test_fit_eq_out_of_reach_curve_stays_in_range():
    fit = fit_eq(np.full(FREQS.size, 80.0), FREQS)  # five bands of +12 dB reach 60 dB at most
    v = fit.params.to_vector()
    assert all(s.low - 1e-9 <= x <= s.high + 1e-9 for s, x in zip(PARAMETERS, v))
    assert fit.mae_db > 20.0


def test_fit_eq_batch_recovers_known_eqs(rng):
    targets = [_moderate_random_eq(rng) for _ in range(24)]
    curves = np.stack([eq_response(p, FREQS) for p in targets])
    fitted = fit_eq_batch(curves, FREQS)
    assert fitted.shape == (24, 13)
    mae = np.mean(np.abs(response_db_batch(fitted, FREQS) - curves), axis=1)
    assert np.median(mae) < RECOVER_MAE_DB
    assert np.mean(mae < RECOVER_MAE_DB) >= 0.8
    lows = np.array([s.low for s in PARAMETERS])
    highs = np.array([s.high for s in PARAMETERS])
    assert np.all(fitted >= lows) and np.all(fitted <= highs)


def test_fit_eq_batch_is_deterministic(rng):
    curves = np.stack([eq_response(_moderate_random_eq(rng), FREQS) for _ in range(4)])
    assert np.array_equal(fit_eq_batch(curves, FREQS, n_steps=5), fit_eq_batch(curves, FREQS, n_steps=5))


def test_sort_peaks_keeps_response_and_ranges(rng):
    p = EQParams(peak1_gain_db=3, peak1_freq_hz=3000, peak1_q=2, peak2_gain_db=-4, peak2_freq_hz=500, peak2_q=1,
                 peak3_gain_db=2, peak3_freq_hz=1000, peak3_q=0.5)
    out, changed = sort_peaks(p.to_vector()[None])
    assert changed[0]
    q = EQParams.from_vector(out[0])
    assert q.peak1_freq_hz == 500 and q.peak2_freq_hz == 1000 and q.peak3_freq_hz == 3000
    assert np.allclose(eq_response(q, FREQS), eq_response(p, FREQS), atol=1e-9)
    # Peak 3 at 8 kHz cannot become peak 2 (180-4700 Hz): the row is left alone.
    r = EQParams(peak1_freq_hz=1000, peak2_freq_hz=4000, peak3_freq_hz=300)
    out, changed = sort_peaks(r.to_vector()[None])
    assert changed[0]  # 300 <= 3900 for peak 1, 1000 in peak 2's range, 4000 in peak 3's
    r2 = EQParams(peak1_freq_hz=3800, peak2_freq_hz=4600, peak3_freq_hz=9000)
    _, changed = sort_peaks(r2.to_vector()[None])
    assert not changed[0]  # already ascending


def test_fit_errors():
    with pytest.raises(ParameterError, match="points"):
        fit_eq(np.zeros(10), FREQS)
    with pytest.raises(ParameterError, match="finite"):
        fit_eq(np.full(FREQS.size, np.nan), FREQS)
    with pytest.raises(ParameterError, match="weights"):
        fit_eq(np.zeros(FREQS.size), FREQS, weights=-np.ones(FREQS.size))
    with pytest.raises(ParameterError, match="shape"):
        fit_eq_batch(np.zeros(FREQS.size), FREQS)
