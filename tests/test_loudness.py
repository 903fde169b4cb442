"""BS.1770 loudness and true peak against closed-form cases."""

import numpy as np
import pyloudnorm
import pytest

from semeq.loudness import integrated_loudness, level_stats, loudness_match_gain_db, true_peak_dbfs


@pytest.mark.parametrize("sample_rate", [44100, 48000])
def test_full_scale_1khz_sine_in_one_channel_reads_minus_3_lufs(sample_rate):
    # BS.1770-4: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS.
    t = np.arange(3 * sample_rate) / sample_rate
    x = np.sin(2 * np.pi * 997.0 * t)[None]
    assert integrated_loudness(x, sample_rate) == pytest.approx(-3.01, abs=0.05)


@pytest.mark.parametrize("channels", [1, 2, 5])
def test_agrees_with_pyloudnorm(rng, channels):
    x = 0.1 * rng.standard_normal((channels, 48000 * 4)) * np.linspace(0.05, 1, 48000 * 4)
    assert integrated_loudness(x, 48000) == pytest.approx(pyloudnorm.Meter(48000).integrated_loudness(x.T), abs=1e-6)


def test_silence_and_six_channels(rng):
    assert integrated_loudness(np.zeros((2, 48000)), 48000) == float("-inf")
    x = 0.1 * rng.standard_normal((6, 48000))
    lfe_louder = x.copy()
    lfe_louder[3] *= 10  # the LFE channel does not count
    assert integrated_loudness(lfe_louder, 48000) == pytest.approx(integrated_loudness(x, 48000), abs=1e-9)


def test_true_peak_finds_the_peak_between_samples():
    sample_rate = 48000
    n = np.arange(4800)
    x = np.sin(2 * np.pi * n / 4 + np.pi / 4)[None]  # samples at +-0.707, the sine peaks at 1.0 between them
    assert 20 * np.log10(np.max(np.abs(x))) == pytest.approx(-3.01, abs=0.01)
    # Oversampling filters may over-read slightly (the safe side for a ceiling), never under-read.
    assert 0.0 - 0.01 <= true_peak_dbfs(x, sample_rate) <= 0.2


def test_match_gain_matches_loudness_and_respects_the_ceiling(rng):
    sample_rate = 44100
    ref = 0.05 * rng.standard_normal((2, sample_rate * 2))
    quiet = 0.25 * ref
    gain = loudness_match_gain_db(ref, quiet, sample_rate)
    assert gain == pytest.approx(20 * np.log10(4), abs=1e-6)
    loud_ref = 0.5 * rng.standard_normal((2, sample_rate * 2))
    gain = loudness_match_gain_db(loud_ref, 0.1 * loud_ref, sample_rate)
    assert true_peak_dbfs(0.1 * loud_ref * 10 ** (gain / 20), sample_rate) == pytest.approx(-1.0, abs=1e-6)


def test_level_stats_of_a_sine():
    t = np.arange(44100) / 44100
    s = level_stats(0.5 * np.sin(2 * np.pi * 1000 * t)[None], 44100)
    assert s.peak_dbfs == pytest.approx(-6.02, abs=0.01)
    assert s.crest_factor_db == pytest.approx(3.01, abs=0.01)


# -- the block meter (issue 11, item 5) -----------------------------------------------------------
from scipy.signal import resample_poly, sosfilt  # noqa: E402

from semeq.loudness import LevelMeter, TruePeakMeter, k_weighting_sos  # noqa: E402


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000, 96000])
@pytest.mark.parametrize("block", [1, 63, 64, 65, 4097, 100000])
def test_the_meter_gives_the_same_bits_however_the_signal_is_cut(rng, sample_rate, block):
    n = int(2.3 * sample_rate)
    x = 0.2 * rng.standard_normal((2, n)) * np.linspace(0.1, 1, n)
    whole = level_stats(x, sample_rate)
    meter = LevelMeter(sample_rate, 2)
    step = block if block > 1 else 7  # 1-sample blocks would take minutes; 7 is as ragged
    for start in range(0, n, step):
        meter.update(x[:, start : start + step])
    assert meter.result() == whole


@pytest.mark.parametrize("sample_rate", [32000, 44100, 48000, 96000])
def test_k_weighting_sections_are_pyloudnorms_filters(sample_rate):
    meter = pyloudnorm.Meter(sample_rate)
    for row, stage in zip(k_weighting_sos(sample_rate), meter._filters.values()):
        np.testing.assert_allclose(row, np.concatenate([stage.b, stage.a]), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("sample_rate", [44100, 96000])
def test_agrees_with_pyloudnorm_at_other_rates(rng, sample_rate):
    x = 0.1 * rng.standard_normal((2, sample_rate * 3)) * np.linspace(0.01, 1, sample_rate * 3)
    assert integrated_loudness(x, sample_rate) == pytest.approx(pyloudnorm.Meter(sample_rate).integrated_loudness(x.T), abs=1e-6)


@pytest.mark.parametrize("sample_rate,factor", [(44100, 4), (48000, 4), (96000, 2)])
def test_true_peak_equals_a_whole_array_oversampled_reference(rng, sample_rate, factor):
    # Band-limited bursts with inter-sample peaks, between quiet stretches the meter may skip.
    n = sample_rate
    x = 0.05 * rng.standard_normal((2, n))
    t = np.arange(2000) / sample_rate
    x[:, 30000:32000] += 0.8 * np.sin(2 * np.pi * 0.23 * sample_rate * t + 0.4)
    x = sosfilt(np.array([[0.2, 0.4, 0.2, 1.0, -0.3, 0.1]]), x, axis=-1)
    reference = 20 * np.log10(np.max(np.abs(resample_poly(x, factor, 1, axis=-1))))
    meter = TruePeakMeter(sample_rate, 2)
    for start in range(0, n, 4097):
        meter.update(x[:, start : start + 4097])
    meter.finish()
    assert meter.factor == factor
    assert meter.peak_dbtp() == pytest.approx(reference, abs=1e-9)
    assert meter.peak_dbtp() > 20 * np.log10(np.max(np.abs(x)))  # it found a peak between samples
