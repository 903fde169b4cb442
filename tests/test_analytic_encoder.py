"""The analytic encoder: balance -> fitted 5-band EQ -> the EQ model's latent."""

from __future__ import annotations

import numpy as np
import pytest

from semeq.analysis import GRID_FREQS_HZ
from semeq.analytic_encoder import AnalyticEncoder, select_encoder
from semeq.data.synth import pink_noise
from semeq.dsp import apply_eq
from semeq.errors import ParameterError
from semeq.fitting import response_db_batch
from semeq.params import EQParams

SR = 44100
BAND = (GRID_FREQS_HZ >= 100.0) & (GRID_FREQS_HZ <= 10000.0)


@pytest.fixture(scope="module")
def encoder():
    return AnalyticEncoder()


@pytest.fixture(scope="module")
def noise():
    return pink_noise(4 * SR, SR, np.random.default_rng(7), n_channels=2)


def _curve(enc, z):
    return response_db_batch(enc.eq_model.decode_batch(np.atleast_2d(z)), GRID_FREQS_HZ)[0]


def test_silence_is_the_flat_eqs_latent(encoder):
    np.testing.assert_array_equal(encoder.encode(np.zeros((2, SR)), SR), encoder.neutral_latent)
    np.testing.assert_allclose(encoder.neutral_latent, encoder.eq_model.encode(EQParams.flat()))


def test_level_and_channel_invariance(encoder, noise):
    z = encoder.encode(noise, SR)
    quiet = _curve(encoder, encoder.encode(noise * 10 ** (-30 / 20), SR))
    assert np.max(np.abs(quiet - _curve(encoder, z))[BAND]) < 0.01  # the balance is level-normalised
    mono = noise[:1]
    dual = _curve(encoder, encoder.encode(np.vstack([mono, mono]), SR))
    assert np.max(np.abs(dual - _curve(encoder, encoder.encode(mono, SR)))[BAND]) < 0.01


def test_change_of_latent_follows_an_applied_shelf(encoder, noise):
    # Measured against the noise's own spectrum, the dry balance is flat and the wet one is the
    # shelf's curve up to a level: the fit and the EQ model should give the shelf back.
    from semeq.analysis import compute_reference, long_term_spectrum_db

    encoder = AnalyticEncoder(encoder.eq_model, reference_db=compute_reference(long_term_spectrum_db(noise, SR)[None]))
    eq = EQParams(high_shelf_gain_db=6.0, high_shelf_freq_hz=3000.0)
    dry = _curve(encoder, encoder.encode(noise, SR))
    wet = _curve(encoder, encoder.encode(apply_eq(noise, SR, eq), SR))
    h = response_db_batch(eq.to_vector()[None], GRID_FREQS_HZ)[0]
    err = (wet - dry - h)[BAND]
    err -= err.mean()  # a balance cannot see the broadband level
    assert np.mean(np.abs(err)) < 1.0
    assert (wet - dry)[GRID_FREQS_HZ > 8000].mean() - (wet - dry)[GRID_FREQS_HZ < 300].mean() > 4.0  # brighter


def test_select_encoder_and_semantic_eq_hook(encoder, noise):
    from semeq import SemanticEQ

    with pytest.raises(ParameterError, match="encoder must be one of"):
        select_encoder("fft", encoder.eq_model)
    assert select_encoder("cnn", encoder.eq_model, "given") == "given"
    seq = SemanticEQ(eq_model=encoder.eq_model, encoder="analytic")
    assert isinstance(seq.audio_encoder, AnalyticEncoder)
    np.testing.assert_allclose(seq.encode(noise, SR), encoder.encode(noise, SR))
    with pytest.raises(ParameterError, match="encoder must be one of"):
        SemanticEQ(eq_model=encoder.eq_model, encoder="wavelet")


def test_bad_reference_is_a_parameter_error(encoder):
    with pytest.raises(ParameterError, match="reference_db"):
        AnalyticEncoder(encoder.eq_model, reference_db=np.zeros(5))
