import numpy as np
import pytest

from semeq import PARAMETERS, EQParams, ParameterError
from semeq.params import GAIN_INDICES, PARAM_NAMES


def test_thirteen_parameters_in_safe_order():
    assert len(PARAMETERS) == 13
    assert PARAM_NAMES[:2] == ("low_shelf_gain_db", "low_shelf_freq_hz")
    assert PARAM_NAMES[-2:] == ("high_shelf_gain_db", "high_shelf_freq_hz")
    assert [PARAM_NAMES[i] for i in GAIN_INDICES] == [
        "low_shelf_gain_db", "peak1_gain_db", "peak2_gain_db", "peak3_gain_db", "high_shelf_gain_db"]


def test_vector_round_trip(rng):
    lows = np.array([p.low for p in PARAMETERS])
    highs = np.array([p.high for p in PARAMETERS])
    for _ in range(20):
        v = lows + rng.random(13) * (highs - lows)
        p = EQParams.from_vector(v)
        np.testing.assert_allclose(p.to_vector(), v, rtol=0, atol=0)
        np.testing.assert_allclose(EQParams.from_unit_vector(p.to_unit_vector()).to_vector(), v, rtol=1e-12)


def test_unit_scale_ends_and_log_midpoint():
    for spec in PARAMETERS:
        assert spec.to_unit(spec.low) == pytest.approx(0.0, abs=1e-12)
        assert spec.to_unit(spec.high) == pytest.approx(1.0, abs=1e-12)
        mid = spec.from_unit(0.5)
        expected = np.sqrt(spec.low * spec.high) if spec.scale == "log" else (spec.low + spec.high) / 2
        assert mid == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "field,value",
    [("peak1_gain_db", 12.5), ("low_shelf_freq_hz", 21.0), ("peak3_freq_hz", 10001.0), ("peak2_q", 0.05),
     ("high_shelf_freq_hz", 25000.0), ("peak1_gain_db", float("nan")), ("peak1_q", float("inf"))],
)
def test_out_of_range_is_a_clear_error(field, value):
    with pytest.raises(ParameterError, match=field):
        EQParams(**{field: value})


def test_clipped_brings_model_outputs_into_range():
    v = np.array([20, 5, -30, 50000, 100, 0, 1000, 0.01, 0, 3000, 1, 0, 1])
    p = EQParams.clipped(v)
    assert p.low_shelf_gain_db == 12 and p.peak1_gain_db == -12
    assert p.peak1_freq_hz == 3900 and p.peak1_q == 10 and p.peak2_q == 0.1 and p.high_shelf_freq_hz == 580


def test_inverted_negates_gains_only():
    p = EQParams(low_shelf_gain_db=3, peak2_gain_db=-4, peak2_q=2.0, high_shelf_gain_db=6)
    inv = p.inverted()
    np.testing.assert_array_equal(inv.gains_db, -p.gains_db)
    assert inv.peak2_q == 2.0 and inv.peak2_freq_hz == p.peak2_freq_hz


def test_wrong_length_vector():
    with pytest.raises(ParameterError, match="13"):
        EQParams.from_vector([0.0] * 12)
