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
