"""StreamingEQ: chunked equals offline, parameter changes are click-free."""

import numpy as np
import pytest

from semeq import EQParams, ParameterError, StreamingEQ, apply_eq

CHUNK_TOL = 1e-12
CLICK_FLOOR_DB = -60.0


def _chunks(x, block):
    return [x[:, i : i + block] for i in range(0, x.shape[1], block)]


@pytest.mark.parametrize("block", [1, 63, 64, 65, 512, 4097])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_chunked_equals_offline(rng, block, channels):
    x = rng.standard_normal((channels, 9000))
    p = EQParams(low_shelf_gain_db=6, peak1_gain_db=-9, peak1_freq_hz=300, peak1_q=4, peak3_gain_db=3,
                 high_shelf_gain_db=-4, high_shelf_freq_hz=5000)
    eq = StreamingEQ(44100, channels, p)
    y = np.concatenate([eq.process(c) for c in _chunks(x, block)], axis=1)
    assert np.max(np.abs(y - apply_eq(x, 44100, p))) < CHUNK_TOL


def test_cascade_and_empty_blocks(rng):
    x = rng.standard_normal((2, 3000))
    a, b = EQParams(peak2_gain_db=5), EQParams(high_shelf_gain_db=-3)
    eq = StreamingEQ(48000, 2, [a, b])
    parts = [eq.process(x[:, :1000]), eq.process(x[:, 1000:1000]), eq.process(x[:, 1000:])]
    assert np.max(np.abs(np.concatenate(parts, axis=1) - apply_eq(x, 48000, [a, b]))) < CHUNK_TOL


def _hf_residual_db(y, sample_rate):
    """Peak of everything above 1 kHz relative to the sine's peak, in dB.

    A 10th-order Butterworth high-pass at 1 kHz (zero-phase) takes out the sine (-170 dB at
    100 Hz); the first and last 0.1 s, where the sine starts and the zero-phase filter has its
    edges, are left out.
    """
    from scipy.signal import butter, sosfiltfilt

    edge = int(0.1 * sample_rate)
    hp = sosfiltfilt(butter(10, 1000.0, "highpass", fs=sample_rate, output="sos"), y)
    return 20 * np.log10(np.max(np.abs(hp[edge:-edge])) / np.max(np.abs(y[edge:-edge])))


def test_parameter_change_mid_sine_is_click_free():
    sample_rate = 44100
    t = np.arange(sample_rate) / sample_rate
    x = 0.5 * np.sin(2 * np.pi * 100.0 * t)[None]
    before = EQParams(low_shelf_gain_db=-6.0, low_shelf_freq_hz=200.0)
    after = EQParams(low_shelf_gain_db=9.0, low_shelf_freq_hz=120.0, peak1_gain_db=8.0, peak1_freq_hz=100.0, peak1_q=2.0)
    eq = StreamingEQ(sample_rate, 1, before)
    blocks = _chunks(x, 512)
    out = []
    for i, b in enumerate(blocks):
        if i == len(blocks) // 2:
            eq.set_params(after)
        out.append(eq.process(b))
    y = np.concatenate(out, axis=1)[0]
    assert _hf_residual_db(y, sample_rate) < CLICK_FLOOR_DB
    # The same switch without a fade does click: the test can fail.
    hard = StreamingEQ(sample_rate, 1, before, crossfade_ms=0.0)
    out = []
    for i, b in enumerate(blocks):
        if i == len(blocks) // 2:
            hard.set_params(after)
        out.append(hard.process(b))
    assert _hf_residual_db(np.concatenate(out, axis=1)[0], sample_rate) > CLICK_FLOOR_DB


def test_fade_ends_on_the_new_filter(rng):
    x = rng.standard_normal((2, 20000))
    a, b = EQParams(peak2_gain_db=6), EQParams(peak2_gain_db=-6, high_shelf_gain_db=3)
    eq = StreamingEQ(44100, 2, a, crossfade_ms=5.0)
    eq.process(x[:, :5000])
    eq.set_params(b)
    eq.set_params(a)  # waits for the first fade, then fades back
    eq.set_params(b)  # replaces the waiting change: only the latest is kept
    y = eq.process(x)
    assert eq.params == b
    # Long after the fades, the output follows filter b alone (states converge).
    ref = apply_eq(x, 44100, b)
    assert np.max(np.abs(y[:, -2000:] - ref[:, -2000:])) < 1e-6


def test_reset_clears_state(rng):
    x = rng.standard_normal((1, 1000))
    p = EQParams(peak1_gain_db=9)
    eq = StreamingEQ(44100, 1, p)
    eq.process(rng.standard_normal((1, 777)))
    eq.reset()
    np.testing.assert_allclose(eq.process(x), apply_eq(x, 44100, p), atol=CHUNK_TOL)


def test_bad_blocks_and_arguments():
    eq = StreamingEQ(44100, 2, EQParams.flat())
    with pytest.raises(ParameterError, match="shaped"):
        eq.process(np.zeros((1, 10)))
    with pytest.raises(ParameterError, match="shaped"):
        eq.process(np.zeros(10))
    with pytest.raises(ParameterError, match="cascade"):
        eq.set_params([EQParams.flat(), EQParams.flat()])
    with pytest.raises(ParameterError, match="channels"):
        StreamingEQ(44100, 0, EQParams.flat())
