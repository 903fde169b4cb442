"""The differentiable torch response matches the float64 numpy biquads."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the differentiable response is training code (semeq[train])")

from semeq.dsp import eq_response
from semeq.errors import ParameterError
from semeq.nn.response import EQResponse, eq_response_db, physical_to_unit, unit_to_physical
from semeq.params import EQParams

TOL_F64_DB = 1e-6
TOL_F32_DB = 1e-3


def _random_params(rng: np.random.Generator, n: int) -> np.ndarray:
    units = rng.uniform(size=(n, 13))
    units[0] = 0.0  # every parameter at its lower bound
    units[1] = 1.0  # and at its upper bound
    return np.stack([EQParams.from_unit_vector(u).to_vector() for u in units])


@pytest.mark.parametrize("sample_rate", [8000.0, 44100.0, 96000.0])
def test_matches_numpy_response(rng, sample_rate):
    vectors = _random_params(rng, 64)
    freqs = np.geomspace(20.0, sample_rate / 2, 200)
    expected = np.stack([eq_response(EQParams.from_vector(v), freqs, sample_rate) for v in vectors])
    got64 = eq_response_db(torch.tensor(vectors), freqs, sample_rate).numpy()
    got32 = eq_response_db(torch.tensor(vectors, dtype=torch.float32), freqs, sample_rate).numpy()
    assert np.max(np.abs(got64 - expected)) < TOL_F64_DB
    assert np.max(np.abs(got32 - expected)) < TOL_F32_DB


def test_peak_gain_at_centre_and_shelf_limits():
    p = EQParams(peak2_gain_db=-7.0, peak2_freq_hz=2000.0, peak2_q=3.0, low_shelf_gain_db=5.0, low_shelf_freq_hz=60.0,
                 high_shelf_gain_db=-4.0, high_shelf_freq_hz=12000.0)
    only_peak = EQParams(peak2_gain_db=-7.0, peak2_freq_hz=2000.0, peak2_q=3.0)
    got = eq_response_db(torch.tensor(only_peak.to_vector()[None]), [2000.0]).item()
    assert got == pytest.approx(-7.0, abs=1e-9)
    low_high = eq_response_db(torch.tensor(p.to_vector()[None]), [1e-3, 22050.0]).numpy()[0]
    assert low_high[0] == pytest.approx(5.0, abs=1e-6)  # low shelf at DC
    assert low_high[1] == pytest.approx(-4.0, abs=1e-6)  # high shelf at Nyquist


def test_flat_is_zero_and_gradient_flows(rng):
    flat = torch.tensor([EQParams.flat().to_vector()], requires_grad=True)
    resp = eq_response_db(flat, np.geomspace(20, 20000, 50))
    assert torch.max(torch.abs(resp)).item() < 1e-12
    vectors = torch.tensor(_random_params(rng, 4), requires_grad=True)
    eq_response_db(vectors, np.geomspace(20, 20000, 50)).sum().backward()
    assert torch.all(torch.isfinite(vectors.grad))
    assert torch.any(vectors.grad[:, 0] != 0)  # the low shelf gain moves the curve


def test_unit_mapping_roundtrip(rng):
    vectors = _random_params(rng, 16)
    units = np.stack([EQParams.from_vector(v).to_unit_vector() for v in vectors])
    assert np.allclose(physical_to_unit(torch.tensor(vectors)).numpy(), units, atol=1e-12)
    assert np.allclose(unit_to_physical(torch.tensor(units)).numpy(), vectors, rtol=1e-10)


def test_module_and_shape_errors():
    module = EQResponse(np.geomspace(20, 20000, 32))
    assert module(torch.zeros(3, 13, dtype=torch.float64) + torch.tensor(EQParams.flat().to_vector())).shape == (3, 32)
    with pytest.raises(ParameterError, match="shape"):
        eq_response_db(torch.zeros(3, 12), [100.0])
