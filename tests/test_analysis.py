"""The long-term spectrum, the reference balance and the usable-energy rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semeq.analysis import (
    GRID_FREQS_HZ,
    NORM_BAND_HZ,
    balance_db,
    compute_reference,
    has_usable_energy,
    long_term_spectrum_db,
    normalise_db,
    psd_to_grid_db,
    reference_spectrum_db,
)
from semeq.data.synth import pink_noise
from semeq.dsp import apply_eq, eq_response
from semeq.errors import DataError, ParameterError
from semeq.params import EQParams

SR = 44100.0
BAND = (GRID_FREQS_HZ >= NORM_BAND_HZ[0]) & (GRID_FREQS_HZ <= NORM_BAND_HZ[1])
TOL_DB = 0.3


def _pink(seconds=10.0, channels=1, seed=0, sample_rate=SR):
    return pink_noise(int(seconds * sample_rate), sample_rate, np.random.default_rng(seed), n_channels=channels)


def test_grid_is_sixth_octave_20_hz_to_18k():
    assert GRID_FREQS_HZ[0] == 20.0 and GRID_FREQS_HZ.size == 60
    np.testing.assert_allclose(np.diff(np.log2(GRID_FREQS_HZ)), 1.0 / 6.0)


def test_constant_psd_maps_to_constant_grid_level():
    freqs = np.arange(2049) * SR / 4096
    np.testing.assert_allclose(psd_to_grid_db(freqs, np.full(freqs.size, 1e-3)), -30.0, atol=1e-9)


def test_spectrum_is_level_normalised_and_level_free():
    x = _pink()
    s = long_term_spectrum_db(x, SR)
    assert abs(s[BAND].mean()) < 1e-9
    np.testing.assert_allclose(long_term_spectrum_db(x * 10 ** (-30 / 20), SR), s, atol=1e-6)


def test_mono_and_identical_stereo_agree():
    x = _pink()
    np.testing.assert_allclose(long_term_spectrum_db(np.vstack([x, x]), SR), long_term_spectrum_db(x, SR), atol=1e-9)


def test_pink_noise_spectrum_falls_3_01_db_per_octave():
    s = long_term_spectrum_db(_pink(20.0), SR)
    octaves = np.log2(GRID_FREQS_HZ[BAND])
    ideal = normalise_db(-10 * np.log10(2) * np.log2(GRID_FREQS_HZ))[BAND]
    assert np.max(np.abs(s[BAND] - ideal)) < TOL_DB
    assert abs(np.polyfit(octaves, s[BAND], 1)[0] + 3.0103) < 0.05


def test_eq_shifts_the_spectrum_by_its_curve():
    x = _pink(10.0, channels=2)
    eq = EQParams(low_shelf_gain_db=6.0, low_shelf_freq_hz=200.0, high_shelf_gain_db=-4.0, high_shelf_freq_hz=5000.0)
    diff = long_term_spectrum_db(apply_eq(x, SR, eq), SR) - long_term_spectrum_db(x, SR)
    expected = normalise_db(eq_response(eq, GRID_FREQS_HZ, SR))
    assert np.max(np.abs(diff - expected)[BAND]) < TOL_DB


def test_other_sample_rates_are_resampled():
    s44 = long_term_spectrum_db(_pink(10.0, seed=1), SR)
    s48 = long_term_spectrum_db(_pink(10.0, seed=2, sample_rate=48000.0), 48000.0)
    assert np.max(np.abs(s44 - s48)[BAND]) < 2 * TOL_DB


def test_balance_against_a_reference(tmp_path):
    ref = compute_reference(np.stack([long_term_spectrum_db(_pink(5.0, seed=s), SR) for s in range(3)]))
    assert np.max(np.abs(balance_db(_pink(10.0, seed=9), SR, reference_db=ref)[BAND])) < 2 * TOL_DB
    path = tmp_path / "enc.json"
    path.write_text(json.dumps({"reference": {"freqs_hz": GRID_FREQS_HZ.tolist(), "spectrum_db": ref.tolist()}}))
    np.testing.assert_allclose(reference_spectrum_db(path), ref)
    path.write_text(json.dumps({"reference": {"freqs_hz": GRID_FREQS_HZ[:10].tolist(), "spectrum_db": ref[:10].tolist()}}))
    with pytest.raises(DataError, match="grid"):
        reference_spectrum_db(path)


@pytest.mark.parametrize("kind", ["silence", "dc", "click", "short"])
def test_no_usable_energy_gives_the_neutral_zero_balance(kind):
    x = np.zeros((2, 88200))
    if kind == "dc":
        x += 0.5
    elif kind == "click":
        x[:, 44100] = 1.0
    elif kind == "short":
        x = _pink(0.05)  # 50 ms: fewer than MIN_ACTIVE_FRAMES frames
    assert not has_usable_energy(x, SR)
    np.testing.assert_array_equal(long_term_spectrum_db(x, SR), 0.0)
    np.testing.assert_array_equal(balance_db(x, SR, reference_db=np.ones(60)), 0.0)


def test_quiet_music_like_signal_is_usable():
    assert has_usable_energy(_pink(1.0) * 10 ** (-30 / 20), SR)


@pytest.mark.parametrize("bad", [np.zeros(100), np.zeros((1, 0)), np.full((1, 100), np.nan)])
def test_bad_audio_raises(bad):
    with pytest.raises(ParameterError):
        long_term_spectrum_db(bad, SR)


def test_analytic_eq_recovers_a_shelf_up_to_level():
    from semeq.analysis import analytic_eq

    ref = long_term_spectrum_db(_pink(10.0, seed=3), SR)
    eq = EQParams(low_shelf_gain_db=6.0, low_shelf_freq_hz=200.0)
    fit = analytic_eq(apply_eq(_pink(10.0, seed=4), SR, eq), SR, reference_db=ref)
    got = eq_response(fit.params, GRID_FREQS_HZ, SR)
    want = eq_response(eq, GRID_FREQS_HZ, SR)
    err = (got - want)[BAND]
    assert np.mean(np.abs(err - err.mean())) < 0.3  # the shape, exactly; the level is not observable
    assert fit.params.low_shelf_gain_db > 3.0
