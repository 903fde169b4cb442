"""The audio encoder with its shipped weights: shapes, invariances, neutral answers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from semeq.analysis import GRID_FREQS_HZ, ANALYSIS_SAMPLE_RATE  # noqa: E402
from semeq.audio_encoder import AudioEncoder  # noqa: E402
from semeq.data.synth import pink_noise, shaped_noise  # noqa: E402
from semeq.dsp import apply_eq  # noqa: E402
from semeq.errors import ParameterError  # noqa: E402
from semeq.fitting import response_db_batch  # noqa: E402
from semeq.params import EQParams  # noqa: E402

SR = ANALYSIS_SAMPLE_RATE
BAND = (GRID_FREQS_HZ >= 100.0) & (GRID_FREQS_HZ <= 12000.0)
LEVEL_TOL_DB = 0.5


@pytest.fixture(scope="module")
def encoder() -> AudioEncoder:
    return AudioEncoder.load()


@pytest.fixture(scope="module")
def eq_model():
    from semeq.eq_model import EQModel

    return EQModel.load()


def _curve(eq_model, z):
    return response_db_batch(eq_model.decode_batch(np.atleast_2d(z)), GRID_FREQS_HZ)[0]


def _curve_mae(eq_model, za, zb) -> float:
    return float(np.mean(np.abs(_curve(eq_model, za) - _curve(eq_model, zb))[BAND]))


def _music_like(seconds=4.0, channels=2, seed=0):
    """Reference-shaped noise: a recording at the reference balance."""
    enc = AudioEncoder.load()
    log_grid = np.log(GRID_FREQS_HZ)
    amp = lambda f: 10 ** (np.interp(np.log(f), log_grid, enc.reference_db) / 20)
    return shaped_noise(amp, int(seconds * SR), SR, np.random.default_rng(seed), n_channels=channels)


def test_shapes_and_metadata(encoder):
    x = pink_noise(int(3 * SR), SR, np.random.default_rng(0), n_channels=2)
    z = encoder.encode(x, SR)
    assert z.shape == (32,) and z.dtype == np.float64 and np.all(np.isfinite(z))
    assert encoder.encode(x[:1], SR).shape == (32,)
    assert encoder.reference_db.shape == GRID_FREQS_HZ.shape
    assert encoder.cnn.n_parameters <= 300_000


def test_weights_are_small_safetensors_plus_json():
    from semeq.audio_encoder import DEFAULT_WEIGHTS

    size = DEFAULT_WEIGHTS.with_suffix(".safetensors").stat().st_size + DEFAULT_WEIGHTS.with_suffix(".json").stat().st_size
    assert size < 3_000_000


def test_deterministic(encoder):
    x = _music_like(3.0)
    np.testing.assert_array_equal(encoder.encode(x, SR), encoder.encode(x, SR))


def test_mono_equals_identical_stereo(encoder):
    x = _music_like(3.0, channels=1)
    np.testing.assert_allclose(encoder.encode(np.vstack([x, x]), SR), encoder.encode(x, SR), atol=1e-5)


@pytest.mark.parametrize("peak_db", [-30.0, -10.0])
def test_level_is_not_eq(encoder, eq_model, peak_db):
    x = _music_like(4.0)
    x = x / np.max(np.abs(x))
    assert _curve_mae(eq_model, encoder.encode(x * 10 ** (peak_db / 20), SR), encoder.encode(x, SR)) < LEVEL_TOL_DB


def test_level_and_mono_on_real_music(encoder, eq_model, data_root):
    from semeq.io import load_audio

    x, sr, _ = load_audio(data_root / "music-dev" / "d05_electronic_voice_ufoai.flac")
    x = x[:, : int(6 * sr)]
    x = x / np.max(np.abs(x))
    z0 = encoder.encode(x, sr)
    assert _curve_mae(eq_model, encoder.encode(x * 10 ** (-30 / 20), sr), z0) < LEVEL_TOL_DB
    # A mono signal as one channel or as two identical ones. (A stereo recording and its mono
    # downmix are different signals: side content cancels, and the balance changes with it.)
    mono = x.mean(axis=0, keepdims=True)
    assert _curve_mae(eq_model, encoder.encode(np.vstack([mono, mono]) * 10 ** (-20 / 20), sr),
                      encoder.encode(mono, sr)) < LEVEL_TOL_DB


@pytest.mark.parametrize("sample_rate", [48000.0, 96000.0])
def test_other_rates_are_resampled(encoder, eq_model, sample_rate):
    # Rates whose Nyquist lies above the 12 kHz evaluation band keep the same content.
    import soxr

    x = _music_like(4.0)
    y = soxr.resample(x.T, SR, sample_rate).T
    assert _curve_mae(eq_model, encoder.encode(y, sample_rate), encoder.encode(x, SR)) < 1.0


@pytest.mark.parametrize("kind", ["silence", "dc", "click", "tiny"])
def test_no_usable_energy_gives_the_neutral_latent(encoder, eq_model, kind):
    x = np.zeros((2, int(2 * SR)))
    if kind == "dc":
        x += 0.3
    elif kind == "click":
        x[:, 1000] = 1.0
    elif kind == "tiny":
        x = np.zeros((1, 10))
    z = encoder.encode(x, SR)
    assert np.all(np.isfinite(z))
    np.testing.assert_array_equal(z, encoder.neutral_latent)
    # The neutral latent is the flat EQ's.
    assert float(np.max(np.abs(_curve(eq_model, z)))) < 0.5


def test_long_file_agrees_with_its_windows(encoder, eq_model):
    x = _music_like(12.0)
    assert _curve_mae(eq_model, encoder.encode(x, SR), encoder.encode(x[:, : int(2 * SR)], SR)) < LEVEL_TOL_DB


def test_a_treble_boost_moves_the_decoded_curve_up_at_the_top(encoder, eq_model):
    x = _music_like(4.0)
    eq = EQParams(high_shelf_gain_db=9.0, high_shelf_freq_hz=4000.0)
    delta = _curve(eq_model, encoder.encode(apply_eq(x, SR, eq), SR)) - _curve(eq_model, encoder.encode(x, SR))
    top = (GRID_FREQS_HZ >= 6000) & (GRID_FREQS_HZ <= 12000)
    bottom = (GRID_FREQS_HZ >= 100) & (GRID_FREQS_HZ <= 1000)
    assert delta[top].mean() - delta[bottom].mean() > 5.0


def test_bad_input_raises(encoder):
    with pytest.raises(ParameterError, match="channels, samples"):
        encoder.encode(np.zeros(1000), SR)
    with pytest.raises(ParameterError, match="NaN"):
        encoder.encode(np.full((1, 1000), np.nan), SR)
    with pytest.raises(ParameterError, match="sample_rate"):
        encoder.encode(np.zeros((1, 1000)), 0)


def test_import_semeq_does_not_import_torch():
    code = "import sys, semeq; assert 'torch' not in sys.modules; semeq.AudioEncoder; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
