"""Closed-form facts about the RBJ biquads and offline filtering."""

import numpy as np
import pytest
from scipy.signal import sosfilt

from semeq import EQParams, ParameterError, apply_eq, design_sos, eq_response
from semeq.dsp import NYQUIST_FRACTION

PEAK_TOL_DB = 0.05
SHELF_TOL_DB = 0.1
SAMPLE_RATES = [8000, 22050, 44100, 48000, 96000, 192000]


@pytest.mark.parametrize("band", [1, 2, 3])
@pytest.mark.parametrize("gain_db", [-12.0, -3.5, 6.0, 12.0])
@pytest.mark.parametrize("q", [0.1, 0.71, 4.0, 10.0])
def test_peak_gives_its_gain_at_its_centre(band, gain_db, q):
    freq_hz = {1: 500.0, 2: 1500.0, 3: 6000.0}[band]
    p = EQParams(**{f"peak{band}_gain_db": gain_db, f"peak{band}_freq_hz": freq_hz, f"peak{band}_q": q})
    assert eq_response(p, [freq_hz], 48000)[0] == pytest.approx(gain_db, abs=PEAK_TOL_DB)


@pytest.mark.parametrize("gain_db", [-12.0, -6.0, 6.0, 12.0])
def test_shelves_reach_their_gain_a_decade_beyond_the_corner(gain_db):
    low = EQParams(low_shelf_gain_db=gain_db, low_shelf_freq_hz=1000.0)
    high = EQParams(high_shelf_gain_db=gain_db, high_shelf_freq_hz=1000.0)
    assert eq_response(low, [100.0], 44100)[0] == pytest.approx(gain_db, abs=SHELF_TOL_DB)
    assert eq_response(high, [10000.0], 44100)[0] == pytest.approx(gain_db, abs=SHELF_TOL_DB)
    # And half the gain (in dB) at the corner, the RBJ shelf's defining property.
    assert eq_response(low, [1000.0], 44100)[0] == pytest.approx(gain_db / 2, abs=1e-9)
    assert eq_response(high, [1000.0], 44100)[0] == pytest.approx(gain_db / 2, abs=1e-9)


def test_zero_gains_leave_audio_identical(rng):
    x = rng.standard_normal((2, 4096))
    params = EQParams(low_shelf_freq_hz=80, peak1_freq_hz=300, peak1_q=3, peak3_q=9, high_shelf_freq_hz=12000)
    np.testing.assert_array_equal(apply_eq(x, 44100, params), x)


def _random_params(rng) -> EQParams:
    return EQParams.from_unit_vector(rng.random(13))


@pytest.mark.parametrize("sample_rate", [8000, 44100, 192000])
def test_negated_gain_inverts_exactly(rng, sample_rate):
    x = rng.standard_normal((2, 8192))
    for _ in range(5):
        p = _random_params(rng)
        y = apply_eq(apply_eq(x, sample_rate, p), sample_rate, p.inverted())
        assert np.max(np.abs(y - x)) < 1e-9
        z = apply_eq(x, sample_rate, [p, p.inverted()])
        assert np.max(np.abs(z - x)) < 1e-9
        freqs = np.geomspace(20, sample_rate / 2 * 0.99, 64)
        np.testing.assert_allclose(eq_response([p, p.inverted()], freqs, sample_rate), 0.0, atol=1e-9)


def test_response_adds_in_db_over_a_cascade(rng):
    a, b = _random_params(rng), _random_params(rng)
    f = np.geomspace(20, 20000, 100)
    np.testing.assert_allclose(eq_response([a, b], f), eq_response(a, f) + eq_response(b, f), atol=1e-9)


def test_response_matches_the_filtered_sine():
    sample_rate = 44100
    p = EQParams(peak2_gain_db=9.0, peak2_freq_hz=1000.0, peak2_q=2.0)
    t = np.arange(sample_rate) / sample_rate
    x = np.sin(2 * np.pi * 700.0 * t)[None]
    y = apply_eq(x, sample_rate, p)
    measured_db = 20 * np.log10(np.std(y[0, sample_rate // 2:]) / np.std(x[0, sample_rate // 2:]))
    assert measured_db == pytest.approx(eq_response(p, [700.0], sample_rate)[0], abs=0.01)


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
def test_stable_and_finite_across_safe_ranges(rng, sample_rate):
    from semeq import PARAMETERS

    corners = []
    for _ in range(30):
        corners.append(_random_params(rng))
    lows = EQParams.from_vector([p.low for p in PARAMETERS])
    highs = EQParams.from_vector([p.high for p in PARAMETERS])
    for p in corners + [lows, highs, lows.inverted(), highs.inverted()]:
        sos = design_sos(p, sample_rate)
        assert sos.dtype == np.float64
        for section in sos:
            poles = np.roots(section[3:])
            assert np.all(np.abs(poles) < 1.0)
            zeros = np.roots(section[:3])
            assert np.all(np.abs(zeros) < 1.0 + 1e-9)  # minimum phase: the inverse is stable too
        x = rng.standard_normal((1, 2048))
        assert np.all(np.isfinite(apply_eq(x, sample_rate, p)))


def test_frequencies_above_nyquist_are_clamped():
    p = EQParams(peak3_gain_db=6.0, peak3_freq_hz=10000.0, peak3_q=1.0, high_shelf_gain_db=6.0, high_shelf_freq_hz=20000.0)
    clamped = EQParams(peak3_gain_db=6.0, peak3_freq_hz=NYQUIST_FRACTION * 4000.0, peak3_q=1.0,
                       high_shelf_gain_db=6.0, high_shelf_freq_hz=NYQUIST_FRACTION * 4000.0)
    np.testing.assert_array_equal(design_sos(p, 8000), design_sos(clamped, 8000))
    assert eq_response(p, [NYQUIST_FRACTION * 4000.0], 8000)[0] == pytest.approx(6.0 + 3.0, abs=0.05)


def test_float32_input_is_filtered_in_float64(rng):
    x = rng.standard_normal((1, 1000)).astype(np.float32)
    p = EQParams(low_shelf_gain_db=6.0)
    y = apply_eq(x, 44100, p)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, sosfilt(design_sos(p, 44100), x.astype(np.float64)), rtol=0, atol=0)


@pytest.mark.parametrize("bad", [np.zeros(10), np.zeros((1, 0)), np.array([[0.0, np.nan]]), np.array([[np.inf, 0.0]])])
def test_bad_audio_is_a_clear_error(bad):
    with pytest.raises(ParameterError):
        apply_eq(bad, 44100, EQParams.flat())


def test_bad_sample_rate():
    with pytest.raises(ParameterError, match="sample_rate"):
        design_sos(EQParams.flat(), 0)


def test_float_and_array_designs_agree(rng):
    from semeq.dsp.biquad import _design_arrays, _design_floats

    vectors = np.stack([_random_params(rng).to_vector() for _ in range(50)])
    for sample_rate in SAMPLE_RATES:
        a, b = _design_floats(vectors, sample_rate), _design_arrays(vectors, sample_rate)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_closed_form_matches_designed_sections(rng):
    """The closed-form magnitude equals the complex response of the designed sections."""
    from semeq.dsp.biquad import sos_response_db

    for sample_rate in SAMPLE_RATES:
        freqs = np.geomspace(10.0, sample_rate / 2, 300)
        for _ in range(10):
            p = _random_params(rng)
            np.testing.assert_allclose(eq_response(p, freqs, sample_rate),
                                       sos_response_db(design_sos(p, sample_rate), freqs, sample_rate), atol=1e-7)
