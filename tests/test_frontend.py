"""The one analysis front end: its STFT, activity rule and block-wise accumulator."""

from __future__ import annotations

import numpy as np
import pytest

from semeq import frontend
from semeq.analysis import active_frames, prepare_audio
from semeq.errors import ParameterError

SR = frontend.SAMPLE_RATE
REL_TOL = 1e-9


def test_constants_are_the_ones_the_models_were_trained_with():
    import json

    from semeq.audio_encoder import DEFAULT_WEIGHTS

    config = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())["encoder_config"]
    assert (config["mel"]["n_fft"], config["mel"]["hop_length"], config["mel"]["sample_rate"]) == (
        frontend.N_FFT, frontend.HOP, frontend.SAMPLE_RATE)
    assert config["window_s"] == frontend.WINDOW_S
    assert frontend.WINDOW_SAMPLES == 88200


def test_uncentred_frames_are_the_inner_centred_frames(rng):
    x = rng.standard_normal((2, 20000))
    centred = frontend.stft_power(x, center=True)
    inner = frontend.stft_power(x, center=False)
    assert centred.shape[1] == 1 + 20000 // frontend.HOP and inner.shape[1] == 1 + (20000 - frontend.N_FFT) // frontend.HOP
    np.testing.assert_array_equal(inner, centred[:, 1:-1])


def test_band_power_is_the_mean_square_of_an_in_band_sine():
    t = np.arange(int(SR)) / SR
    for amplitude, freq_hz in ((1.0, 1000.0), (0.01, 300.0)):
        x = amplitude * np.sin(2 * np.pi * freq_hz * t)[None]
        power = frontend.frame_band_power(frontend.stft_power(x, center=False))
        np.testing.assert_allclose(power, amplitude**2 / 2, rtol=1e-3)  # Parseval with the Hann gain removed
    below = np.sin(2 * np.pi * 40.0 * t)[None]  # outside BAND_HZ: almost nothing in the band
    assert frontend.frame_band_power(frontend.stft_power(below, center=False)).max() < 1e-3 * 0.5


def test_welch_matches_scipy(rng):
    from scipy.signal import welch

    for n in (1000, 4096, 30001):
        x = rng.standard_normal((2, n))
        freqs, psd = frontend.welch_psd(x)
        nper = min(frontend.LTAS_N_FFT, n)
        f_ref, p_ref = welch(x, fs=SR, window="hann", nperseg=nper, noverlap=nper // 2, axis=-1, detrend=False)
        np.testing.assert_allclose(freqs, f_ref)
        np.testing.assert_allclose(psd, p_ref.mean(axis=0), rtol=REL_TOL)


@pytest.mark.parametrize("block", [1, 63, 64, 65, 511, 4097, 100000])
def test_accumulator_block_by_block_equals_the_whole_array(rng, block):
    x = 0.3 + rng.standard_normal((2, 23456)) * np.linspace(0.0, 1.0, 23456)  # a DC offset and a fade-in
    x[:, 5000:9000] = 0.3  # a stretch of pure DC: inactive frames
    acc = frontend.SpectrumAccumulator(2)
    for i in range(0, x.shape[1], block):
        acc.update(x[:, i:i + block])
    prepared = prepare_audio(x, SR)
    _, psd_whole = frontend.welch_psd(prepared)
    np.testing.assert_allclose(acc.welch_psd()[1], psd_whole, rtol=1e-8, atol=1e-12 * psd_whole.max())
    np.testing.assert_array_equal(frontend.activity_mask(acc.band_power()), active_frames(prepared))
    assert 0 < frontend.activity_mask(acc.band_power()).sum() < acc.band_power().size


def test_accumulator_short_recordings_and_errors(rng):
    for n in (10, 1000, 3000):
        x = rng.standard_normal((1, n))
        acc = frontend.SpectrumAccumulator(1)
        acc.update(x[:, : n // 2])
        acc.update(x[:, n // 2:])
        np.testing.assert_allclose(acc.welch_psd()[1], frontend.welch_psd(prepare_audio(x, SR))[1], rtol=1e-9)
        np.testing.assert_array_equal(frontend.activity_mask(acc.band_power()), active_frames(prepare_audio(x, SR)))
    acc = frontend.SpectrumAccumulator(2)
    with pytest.raises(ParameterError, match="no audio"):
        acc.welch_psd()
    with pytest.raises(ParameterError, match="shaped"):
        acc.update(np.zeros((1, 10)))
    with pytest.raises(ParameterError, match="NaN"):
        acc.update(np.full((2, 10), np.nan))


def test_long_audio_is_transformed_in_chunks_with_the_same_result(rng):
    x = rng.standard_normal((1, (4096 + 3) * frontend.HOP + frontend.N_FFT + 100))  # crosses a chunk boundary
    whole = frontend.frame_band_power(frontend.stft_power(x, center=False))
    np.testing.assert_allclose(frontend.audio_band_power(x), whole, rtol=1e-12)
    assert whole.size == 4096 + 4
