"""Training-data synthesis: pink noise is really pink, spectral-domain EQ equals filtering."""

from __future__ import annotations

import numpy as np
import pytest

from semeq.data.synth import pink_noise, random_balance_db, shaped_noise

PINK_SLOPE_DB_PER_OCTAVE = -10.0 * np.log10(2.0)  # -3.0103
BAND_TOL_DB = 0.3
SLOPE_TOL_DB = 0.05


def _band_levels_db(x: np.ndarray, sample_rate: float, edges_hz: np.ndarray) -> np.ndarray:
    """Mean power per Hz in each band, from the exact periodogram of the whole signal."""
    spec = np.abs(np.fft.rfft(x[0])) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], 1.0 / sample_rate)
    return np.array([10 * np.log10(spec[(freqs >= lo) & (freqs < hi)].mean()) for lo, hi in zip(edges_hz[:-1], edges_hz[1:])])


@pytest.mark.parametrize("sample_rate", [44100.0, 48000.0])
def test_pink_noise_slope_is_minus_3_01_db_per_octave(sample_rate):
    # 60 s: the 50-100 Hz octave holds 3000 bins, so its level scatters by about 0.08 dB.
    x = pink_noise(int(60 * sample_rate), sample_rate, np.random.default_rng(7))
    edges = 50.0 * 2.0 ** np.arange(0, 8.33, 1.0 / 3.0)  # third octaves 50 Hz .. 16 kHz
    edges = edges[edges <= 16000.0 * 1.0001]
    levels = _band_levels_db(x, sample_rate, edges)
    centres_oct = np.log2(np.sqrt(edges[:-1] * edges[1:]))
    slope, intercept = np.polyfit(centres_oct, levels, 1)
    assert abs(slope - PINK_SLOPE_DB_PER_OCTAVE) < SLOPE_TOL_DB
    # No staircase: each third-octave band within 0.3 dB of the ideal -3.01 dB/octave line.
    ideal = PINK_SLOPE_DB_PER_OCTAVE * centres_oct
    deviation = levels - ideal
    deviation -= deviation.mean()
    assert np.max(np.abs(deviation)) < BAND_TOL_DB


def test_pink_noise_shape_rms_and_independent_channels():
    x = pink_noise(44100, 44100, np.random.default_rng(1), n_channels=2, rms=0.25)
    assert x.shape == (2, 44100)
    np.testing.assert_allclose(np.sqrt(np.mean(x**2, axis=1)), 0.25, rtol=1e-12)
    assert abs(np.corrcoef(x)[0, 1]) < 0.2
    assert abs(x.mean()) < 1e-12  # no DC bin


def test_shaped_noise_follows_the_requested_spectrum():
    sample_rate = 44100.0
    # +12 dB per octave above 1 kHz relative to white: a ramp in amplitude.
    x = shaped_noise(lambda f: np.maximum(f / 1000.0, 1.0) ** 2, int(30 * sample_rate), sample_rate, np.random.default_rng(3))
    levels = _band_levels_db(x, sample_rate, np.array([400.0, 800.0, 2000.0, 4000.0, 8000.0, 16000.0]))
    # Band 0 (400-800) is flat; 2-4k vs 4-8k vs 8-16k rise by 12 dB per octave (band means of f^4).
    mean_f4 = lambda lo, hi: (hi**5 - lo**5) / (5 * (hi - lo))
    expected = [10 * np.log10(mean_f4(lo, hi) / mean_f4(2000.0, 4000.0)) for lo, hi in ((4000.0, 8000.0), (8000.0, 16000.0))]
    np.testing.assert_allclose(levels[3:] - levels[2], expected, atol=0.15)


def test_random_balance_is_seeded_and_smooth():
    f = 20.0 * 2.0 ** (np.arange(60) / 6.0)
    a = random_balance_db(f, np.random.default_rng(5), 4)
    b = random_balance_db(f, np.random.default_rng(5), 4)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 60)
    # Smooth: neighbouring 1/6-octave points differ by far less than the curves' range.
    assert np.max(np.abs(np.diff(a, axis=1))) < 0.25 * np.ptp(a, axis=1).max() + 1.0


@pytest.mark.parametrize("q", [0.7, 3.0])
def test_spectral_domain_eq_matches_time_domain_filtering(q):
    torch = pytest.importorskip("torch")
    from semeq.data.synth import spectral_bin_gains
    from semeq.dsp import apply_eq
    from semeq.nn.mel import LogMel
    from semeq.params import EQParams

    sample_rate = 44100.0
    x = pink_noise(int(2 * sample_rate), sample_rate, np.random.default_rng(11), n_channels=2)
    eq = EQParams(low_shelf_gain_db=6.0, low_shelf_freq_hz=120.0, peak1_gain_db=-8.0, peak1_freq_hz=700.0, peak1_q=q,
                  peak3_gain_db=9.0, peak3_freq_hz=4000.0, peak3_q=q, high_shelf_gain_db=-6.0, high_shelf_freq_hz=9000.0)
    front = LogMel()
    with torch.no_grad():
        p_dry = front.power(torch.as_tensor(x, dtype=torch.float32)[None])
        p_wet = front.power(torch.as_tensor(apply_eq(x, sample_rate, eq), dtype=torch.float32)[None])
        bins = np.arange(front.config.n_bins) * sample_rate / front.config.n_fft
        gains = spectral_bin_gains(torch.as_tensor(eq.to_vector()[None]), bins, sample_rate).float()
        synth = front.from_power(p_dry * gains[:, :, None]).mean(dim=2)[0].numpy()
        real = front.from_power(p_wet).mean(dim=2)[0].numpy()
    band = (front.centres_hz >= 100.0) & (front.centres_hz <= 16000.0)
    # Mean log-mel per band over the 2 s window: spectral synthesis within 0.3 dB of filtering.
    assert np.max(np.abs(synth - real)[band]) < 0.3
