"""The dynamic part (semeq.dynamic): its guarantees, its time constants, offline equals streaming."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import butter, sosfilt, sosfiltfilt, sosfreqz

from semeq.analysis import GRID_FREQS_HZ
from semeq.dsp import apply_eq
from semeq.dynamic import (CONTROL_MS, REGIONS, DynamicEQ, DynamicPlan, DynamicSettings, FrameBalance,
                           detection_sos, plan_dynamic, region_response, render_dynamic, smooth_gain)
from semeq.errors import ParameterError
from semeq.params import EQParams

SR = 44100
NAMES = [r.name for r in REGIONS]
BOUND_TOL_DB = 1e-9
CLICK_FLOOR_DB = -60.0  # residual far from a stationary sine, re the sine (the streaming engine's criterion)
STREAM_DB = -60.0  # offline vs streaming


def pink(rng, seconds, channels=2, level=0.1):
    n = int(seconds * SR)
    spectrum = np.fft.rfft(rng.standard_normal((channels, n)), axis=-1)
    spectrum /= np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0))
    x = np.fft.irfft(spectrum, n, axis=-1)
    return level * x / np.std(x)


def with_bursts(x, rng, band_hz, gain_db, period_s=1.0, burst_s=0.25, first_s=0.5):
    """``x`` with noise bursts in ``band_hz``, ``gain_db`` above x's own level in that band; and the burst mask."""
    sos = butter(4, band_hz, btype="bandpass", fs=SR, output="sos")
    level = np.sqrt(np.mean(sosfiltfilt(sos, x, axis=-1) ** 2)) * 10 ** (gain_db / 20)
    out, mask = x.copy(), np.zeros(x.shape[1], dtype=bool)
    m = int(burst_s * SR)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(441) / 441)
    env = np.concatenate([ramp, np.ones(m - 2 * 441), ramp[::-1]])
    for t0 in np.arange(first_s, x.shape[1] / SR - burst_s, period_s):
        i = int(t0 * SR)
        noise = sosfiltfilt(sos, rng.standard_normal((x.shape[0], m)), axis=-1)
        out[:, i : i + m] += noise / np.std(noise) * level * env
        mask[i + 441 : i + m - 441] = True
    return out, mask


def word_curve(low_db=2.0, high_db=-4.0):
    """A word on the grid: ``low_db`` below ~300 Hz, ``high_db`` above ~2 kHz, smooth in log f."""
    octave = np.log2(GRID_FREQS_HZ / 800.0)
    return 0.5 * (low_db + high_db) + 0.5 * (high_db - low_db) * np.tanh(1.5 * octave)


def make_plan(x, *, word_db=None, static_db=None, intensity=1.0, settings=None, sample_rate=SR):
    """A plan for ``x`` from synthetic spectra: the recording and the reference centre both pink."""
    spectrum = -10 * np.log10(GRID_FREQS_HZ)
    held = GRID_FREQS_HZ < 0.45 * sample_rate
    balance = FrameBalance(sample_rate, x.shape[0])
    balance.update(x)
    return plan_dynamic(spectrum_db=np.where(held, spectrum, np.nan), held=held, word_db=word_curve() if word_db is None else word_db,
                        static_db=np.zeros(60) if static_db is None else static_db, intensity=intensity,
                        sample_rate=sample_rate, typical_db=balance.median_db(), settings=settings)


def run(plan, x, block=None, trace_step_s=1e-9, sample_rate=SR):
    """The dynamic part on x (in blocks), and its trace at every control period."""
    dyn = DynamicEQ(plan, sample_rate, x.shape[0], trace_step_s=trace_step_s)
    block = block or x.shape[1]
    out = np.concatenate([dyn.process(x[:, i : i + block]) for i in range(0, x.shape[1], block)], axis=1)
    return out, dyn.trace(), dyn


# -- the filters ------------------------------------------------------------------------------------
@pytest.mark.parametrize("sample_rate", [44100, 48000])
@pytest.mark.parametrize("gain_db", [-6.0, 4.0])
def test_a_region_moves_between_0_db_and_its_gain_and_reaches_it_at_its_centre(sample_rate, gain_db):
    freqs = np.geomspace(20.0, 0.45 * sample_rate, 400)
    k_lin = 10 ** (gain_db / 20)
    response = 20 * np.log10(np.abs(1 + (k_lin - 1) * region_response(freqs, sample_rate)))  # (5, n)
    lo, hi = min(gain_db, 0.0), max(gain_db, 0.0)
    assert np.all(response >= lo - 1e-9) and np.all(response <= hi + 1e-9)
    centres = [1.0, 350.0, 1000.0, 3200.0, 0.5 * sample_rate]  # DC for the low shelf, Nyquist for the high one
    at_centre = 20 * np.log10(np.abs(1 + (k_lin - 1) * region_response(np.array(centres), sample_rate)))
    np.testing.assert_allclose(np.diag(at_centre), gain_db, atol=0.01)


def test_each_detector_band_and_its_rest_are_power_complementary():
    sos, usable = detection_sos(SR)
    assert usable.all()
    freqs = np.geomspace(10.0, 20000.0, 300)
    for k in range(len(REGIONS)):
        _, h_band = sosfreqz(sos[k, 0], worN=freqs, fs=SR)
        _, h_rest = sosfreqz(sos[k, 1], worN=freqs, fs=SR)
        np.testing.assert_allclose(np.abs(h_band) ** 2 + np.abs(h_rest) ** 2, 1.0, atol=1e-9)
    assert not detection_sos(11025)[1][NAMES.index("highs")]  # 6 kHz is past a 11 kHz rate's band


# -- the plan ---------------------------------------------------------------------------------------
def test_the_plan_takes_the_words_sign_and_leaves_twice_the_word_less_the_static_change(rng):
    x = pink(rng, 2.0)
    static = 0.8 * word_curve()  # a static change in the word's direction
    plan = make_plan(x, static_db=static, intensity=0.7)
    used = plan.sign != 0
    assert set(plan.region_names) == {"lows", "presence", "highs"} and used.sum() <= 3
    np.testing.assert_array_equal(plan.sign[used], np.sign(plan.word_db[used]))
    np.testing.assert_allclose(plan.cap_db[used], 2 * 0.7 * np.abs(plan.word_db[used]) - plan.sign[used] * plan.static_db[used])
    assert np.all(plan.cap_db[~used] == 0.0)
    assert make_plan(x, intensity=0.0) is None
    assert make_plan(x, word_db=np.full(60, 3.0)) is None  # a level change is not EQ: nothing moves


def test_frame_balance_median_ignores_a_flare_that_a_power_mean_follows(rng):
    x = pink(rng, 6.0)
    y, _ = with_bursts(x, rng, (6500, 12000), 15.0, period_s=1.0, burst_s=0.17)
    k = NAMES.index("highs")
    clean, flared = FrameBalance(SR, 2), FrameBalance(SR, 2)
    clean.update(x)
    for i in range(0, y.shape[1], 4097):  # any blocks
        flared.update(y[:, i : i + 4097])
    band = detection_sos(SR)[0][k, 0]
    power_shift = 10 * np.log10(np.mean(sosfilt(band, y, axis=-1) ** 2) / np.mean(sosfilt(band, x, axis=-1) ** 2))
    assert power_shift > 4.0  # the flare lifts the band's long-term power by several dB
    assert abs(flared.median_db()[k] - clean.median_db()[k]) < 1.0  # the typical moment hardly moves
    whole = FrameBalance(SR, 2)
    whole.update(y)
    np.testing.assert_array_equal(whole.median_db(), flared.median_db())


# -- the guarantees ---------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["cut highs", "boost highs"])
def test_the_gain_has_the_words_sign_or_is_zero_and_stays_within_twice_the_word(rng, case):
    x = pink(rng, 5.0)
    if case == "cut highs":  # flares in the highs move them away from a word that cuts them
        y, _ = with_bursts(x, rng, (5000, 10000), 18.0)
        word = word_curve(2.0, -4.0)
    else:  # drop-outs of the highs move them away from a word that lifts them
        y = x.copy()
        low = sosfilt(butter(4, 1500, fs=SR, output="sos"), x, axis=-1)
        for t0 in np.arange(0.5, 4.5, 1.0):
            i = int(t0 * SR)
            y[:, i : i + 11025] = low[:, i : i + 11025]
        word = word_curve(-2.0, 4.0)
    static = 0.4 * word
    plan = make_plan(y, word_db=word, static_db=static, intensity=0.8)
    out, trace, _ = run(plan, y)
    assert np.all(np.isfinite(out))
    moved = 0.0
    for i, name in enumerate(trace.regions):
        k = NAMES.index(name)
        g = trace.gain_db[i]
        assert np.all(plan.sign[k] * g >= 0.0)  # the word's sign, or exactly 0
        assert np.all(np.abs(plan.static_db[k] + g) <= 2 * 0.8 * abs(plan.word_db[k]) + BOUND_TOL_DB)
        moved = max(moved, float(np.max(np.abs(g))))
    assert moved > 1.0  # the dynamic part did act
    assert trace.regions == plan.region_names


def test_intensity_zero_is_an_exact_bypass_offline_and_streaming(rng):
    from semeq import SemanticEQ
    from semeq.streaming import StreamingAdaptiveEQ

    engine = SemanticEQ()
    x = pink(rng, 2.0)
    out, result = engine.apply(x, SR, "warm", 0.0, dynamic=True)
    assert np.array_equal(out, x) and result.eq.dynamic is None and result.dynamic_trace is None
    assert render_dynamic(x, SR, None)[0].tolist() == x.tolist()
    with StreamingAdaptiveEQ(SR, 2, analyzer=engine, dynamic=True) as stream:
        stream.set_target("warm", 0.0)
        frames = []
        for i in range(0, x.shape[1], 512):
            frames.append(stream.process(x[:, i : i + 512]))
            stream.wait_for_analysis(5.0)
        assert stream.stats.n_analyses > 0
    assert np.array_equal(np.concatenate(frames, axis=1), x)


def test_no_click_on_a_stationary_sine_while_the_gain_moves():
    t = np.arange(int(2.0 * SR)) / SR
    x = np.stack([0.3 * np.sin(2 * np.pi * 300.0 * t)] * 2)  # in the low-mids
    k = NAMES.index("low-mids")
    sign = np.zeros(5, dtype=np.int64)
    sign[k] = -1

    def plan(cap):
        return DynamicPlan(sign=sign, word_db=np.where(sign != 0, -4.0, 0.0), static_db=np.zeros(5),
                           cap_db=np.where(sign != 0, cap, 0.0), reference_db=np.full(5, -40.0), intensity=1.0)

    dyn = DynamicEQ(plan(0.0), SR, 2, trace_step_s=1e-9)
    out = []
    for i in range(0, x.shape[1], 512):  # the gain attacks to 6 dB, ramps down to 2 dB, releases to 0
        if i == 512 * 40:
            dyn.set_plan(plan(6.0))
        elif i == 512 * 100:
            dyn.set_plan(plan(2.0))
        elif i == 512 * 140:
            dyn.set_plan(None)
        out.append(dyn.process(x[:, i : i + 512]))
    out = np.concatenate(out, axis=1)
    g = dyn.trace().gain_db[0]
    assert g.min() < -5.9 and g[-1] > -0.5  # it moved the whole way and back
    a_attack = math.exp(-CONTROL_MS / DynamicSettings().attack_ms)
    assert np.max(np.abs(np.diff(g))) <= (1 - a_attack) * 6.0 + 1e-9  # a bounded slope: never a step
    far = sosfiltfilt(butter(8, 2000.0, "highpass", fs=SR, output="sos"), out[:, SR // 10 :], axis=-1)
    residual_db = 20 * np.log10(np.std(far) / np.std(x))
    assert residual_db < CLICK_FLOOR_DB, residual_db


def test_smoothing_time_constants_in_closed_form():
    settings = DynamicSettings()
    period_ms = 33 / SR * 1e3  # one control period at 44.1 kHz
    a = math.exp(-period_ms / settings.attack_ms)
    r = math.exp(-period_ms / settings.release_ms)
    k = np.arange(400)
    up, _ = smooth_gain(np.full(400, 5.0), 0.0, a, r)
    np.testing.assert_allclose(up, 5.0 * (1 - a ** (k + 1)), rtol=1e-12)
    down, _ = smooth_gain(np.zeros(400), 5.0, a, r)
    np.testing.assert_allclose(down, 5.0 * r ** (k + 1), rtol=1e-12)
    capped, cap = smooth_gain(np.full(10, 5.0), 4.0, a, r, cap=4.0, cap_target=1.0, cap_step=0.5)
    np.testing.assert_allclose(capped, [3.5, 3.0, 2.5, 2.0, 1.5, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert cap == 1.0


def test_attack_and_release_of_the_processor_on_a_step(rng):
    """A loud flare switched on and off: the gain reaches 63 % of its cap within the attack time
    plus the detector's, and then decays with the release time constant."""
    x = pink(rng, 3.0, level=0.05)
    on, off = int(1.0 * SR), int(1.5 * SR)
    hiss = sosfiltfilt(butter(4, 9000, "highpass", fs=SR, output="sos"), rng.standard_normal(x.shape), axis=-1)
    y = x.copy()
    y[:, on:off] += 0.5 * hiss[:, on:off]  # +30 dB and more in the highs
    plan = make_plan(x)
    _, trace, dyn = run(plan, y)
    g = np.abs(trace.gain_db[trace.regions.index("highs")])
    cap = plan.cap_db[NAMES.index("highs")]
    t = trace.times_s
    assert g[(t > 0.1) & (t < 0.95)].max() < 0.1 * cap and g[(t > 1.2) & (t < 1.5)].min() > 0.99 * cap
    t63 = t[np.argmax((t > 1.0) & (g >= (1 - math.exp(-1)) * cap))] - 1.0
    settings = plan.settings
    detector_ms = 2 * CONTROL_MS + REGIONS[NAMES.index("highs")].rms_ms * 0.5
    assert settings.attack_ms * 1e-3 <= t63 <= (settings.attack_ms + detector_ms) * 1e-3, t63
    late = (t > 1.5 + 0.05) & (t < 1.5 + 0.4)
    slope = np.polyfit(t[late], np.log(g[late]), 1)[0]
    assert -1 / slope == pytest.approx(settings.release_ms * 1e-3, rel=0.03)


# -- offline and streaming --------------------------------------------------------------------------
@pytest.mark.parametrize("block", [1, 63, 64, 65, 4097])
def test_any_block_size_gives_the_whole_signal_result(rng, block):
    seconds = 0.3 if block == 1 else 3.0
    y, _ = with_bursts(pink(rng, seconds), rng, (5000, 10000), 18.0, period_s=0.3, burst_s=0.1, first_s=0.05)
    plan = make_plan(y)
    whole, trace_whole, _ = run(plan, y)
    chunked, trace_chunked, _ = run(plan, y, block=block)
    assert np.max(np.abs(chunked - whole)) <= 1e-12 * np.max(np.abs(whole))
    np.testing.assert_allclose(trace_chunked.gain_db, trace_whole.gain_db, atol=1e-9)
    assert np.max(np.abs(trace_whole.gain_db)) > 1.0


class _FixedAnalyzer:
    """The streaming engine's analyzer, handing it a fixed cascade and plan."""

    def __init__(self, cascade, plan):
        self.cascade, self.plan = cascade, plan
        self.typical = []

    def design_from_power(self, freqs_hz, power, target, intensity, *, blend=None, alpha=0.0):
        return self.cascade

    def dynamic_from_power(self, freqs_hz, power, request, cascade, *, typical_db=None):
        self.typical.append(typical_db)
        return self.plan


def test_the_streaming_engine_runs_the_offline_dynamic_part(rng):
    from semeq.phrases import Interpretation, Term
    from semeq.request import EQRequest
    from semeq.streaming import StreamingAdaptiveEQ

    y, _ = with_bursts(pink(rng, 6.0), rng, (5000, 10000), 18.0)
    plan = make_plan(y)
    cascade = (EQParams(low_shelf_gain_db=2.0, high_shelf_gain_db=-3.0),)
    analyzer = _FixedAnalyzer(cascade, plan)
    request = EQRequest(target=Interpretation(text="warm", terms=(Term(word="warm"),)), intensity=0.7, dynamic=True)
    with StreamingAdaptiveEQ(SR, 2, analyzer=analyzer, auto_gain=False) as stream:
        stream.set_target(request)
        out = []
        for i in range(0, y.shape[1], 512):
            out.append(stream.process(y[:, i : i + 512]))
            stream.wait_for_analysis(5.0)
        out = np.concatenate(out, axis=1)
        ranges = stream.dynamic_range_db
    moved, _ = render_dynamic(y, SR, plan)
    offline = apply_eq(moved, SR, list(cascade))
    last = slice(3 * SR, None)
    diff_db = 20 * np.log10(np.std(out[:, last] - offline[:, last]) / np.std(offline[:, last]))
    assert diff_db < STREAM_DB, diff_db
    assert ranges["highs"][0] < -1.0 and analyzer.typical[-1] is not None
    # the window's typical balance is the file's statistic, read from the stream's own frames
    file_typical = FrameBalance(SR, 2)
    file_typical.update(y[:, -int(2.0 * SR):])
    np.testing.assert_allclose(analyzer.typical[-1], file_typical.median_db(), atol=0.3)


def test_the_stream_refuses_a_lookahead_and_an_analyzer_without_the_dynamic_hook():
    from semeq.phrases import Interpretation, Term
    from semeq.request import EQRequest
    from semeq.streaming import StreamingAdaptiveEQ

    request = EQRequest(target=Interpretation(text="warm", terms=(Term(word="warm"),)), intensity=0.7, dynamic=True,
                        lookahead_ms=5.0)
    with StreamingAdaptiveEQ(SR, 2, analyzer=_FixedAnalyzer((), None)) as stream:
        with pytest.raises(ParameterError, match="look-ahead"):
            stream.set_target(request)

    class NoHook(_FixedAnalyzer):
        dynamic_from_power = None

    with StreamingAdaptiveEQ(SR, 2, analyzer=NoHook((), None)) as stream:
        with pytest.raises(ParameterError, match="dynamic_from_power"):
            stream.set_target(request.replace(lookahead_ms=0.0))


def test_a_lookahead_moves_the_same_gain_earlier(rng):
    y, _ = with_bursts(pink(rng, 3.0), rng, (5000, 10000), 18.0)
    plan = make_plan(y)
    ahead = make_plan(y, settings=DynamicSettings(lookahead_ms=5.0))
    out0, trace0 = render_dynamic(y, SR, plan, trace_step_s=1e-9)
    out5, trace5 = render_dynamic(y, SR, ahead, trace_step_s=1e-9)
    assert out5.shape == y.shape == out0.shape
    n = trace0.times_s.size
    np.testing.assert_array_equal(trace5.gain_db[:, :n], trace0.gain_db)
    np.testing.assert_allclose(trace0.times_s - trace5.times_s[:n], round(0.005 * SR) / SR)
    assert not np.allclose(out5, out0)


def test_the_trace_stays_bounded_and_keeps_its_peaks(rng, monkeypatch):
    import semeq.dynamic as dynamic

    monkeypatch.setattr(dynamic, "MAX_TRACE_POINTS", 64)
    y, _ = with_bursts(pink(rng, 4.0), rng, (5000, 10000), 18.0)
    plan = make_plan(y)
    _, fine = render_dynamic(y, SR, plan)
    _, coarse, dyn = run(plan, y, block=4096, trace_step_s=0.01)
    assert coarse.times_s.size <= 2 * 64 and coarse.step_s > 0.01
    k = coarse.regions.index("highs")
    assert coarse.gain_db[k].min() == pytest.approx(fine.gain_db[k].min())  # peak hold keeps the deepest cut
    assert coarse.min_db[k] == fine.min_db[k]


# -- the request, the array and file paths, the CLI -------------------------------------------------
def test_the_request_checks_its_dynamic_settings():
    from semeq import SemanticEQ

    engine = SemanticEQ()
    with pytest.raises(ParameterError, match="toward or static"):
        engine.request("warm", 0.5, mode="match", dynamic=True)
    with pytest.raises(ParameterError, match="goes with the dynamic"):
        engine.request("warm", 0.5, lookahead_ms=5.0)
    with pytest.raises(ParameterError, match=r"\[0, 50\]"):
        engine.request("warm", 0.5, dynamic=True, lookahead_ms=80.0)
    with pytest.raises(ParameterError, match="attack_ms"):
        DynamicSettings(attack_ms=0.0)
    assert engine.request("warm", 0.5, dynamic=True).to_dict()["dynamic"] is True


@pytest.mark.parametrize("lookahead_ms", [0.0, 5.0])
def test_the_file_path_equals_the_array_path_with_the_dynamic_part(tmp_path, rng, lookahead_ms):
    import soundfile as sf

    from semeq import SemanticEQ
    from semeq.pipeline import apply_file

    engine = SemanticEQ()
    y, _ = with_bursts(pink(rng, 5.0), rng, (5000, 10000), 18.0)
    src = tmp_path / "in.wav"
    sf.write(str(src), y.T, SR, subtype="DOUBLE")
    expected, result = engine.apply(y, SR, "deep", 1.0, dynamic=True, lookahead_ms=lookahead_ms)
    got = apply_file(src, tmp_path / "out.wav", "deep", 1.0, subtype="DOUBLE", engine=engine, dynamic=True,
                     lookahead_ms=lookahead_ms)
    written, _ = sf.read(str(tmp_path / "out.wav"), dtype="float64", always_2d=True)
    assert np.array_equal(written.T, expected)  # bit for bit: the same frames, blocks and sums
    assert got.gain_db == result.gain_db
    assert got.dynamic_trace.ranges() == result.dynamic_trace.ranges()
    assert "dynamic_trace" in got.to_dict() and got.to_dict()["eq"]["dynamic"]["regions"]
    assert min(lo for lo, _ in got.dynamic_trace.ranges().values()) < -0.2  # it acted


def test_cli_apply_dynamic_prints_the_range_and_plots_the_trace(tmp_path, rng, capsys):
    import soundfile as sf

    from semeq.cli import main

    y, _ = with_bursts(pink(rng, 4.0), rng, (5000, 10000), 18.0)
    src = tmp_path / "in.wav"
    sf.write(str(src), y.T, SR, subtype="FLOAT")
    code = main(["apply", str(src), "--target", "warm", "--intensity", "1", "--dynamic", "-o", str(tmp_path / "o.wav"),
                 "--plot", str(tmp_path / "p.png")])
    out = capsys.readouterr().out
    assert code == 0 and "dynamic part" in out and "highs" in out
    assert (tmp_path / "p.png").stat().st_size > 10000
    code = main(["apply", str(src), "--target", "warm", "--lookahead-ms", "5", "-o", str(tmp_path / "o2.wav")])
    err = capsys.readouterr().err
    assert code != 0 and "--dynamic" in err and "Traceback" not in err


def test_cli_stream_dynamic_prints_the_range(tmp_path, rng, capsys):
    import soundfile as sf

    from semeq.cli import main

    y, _ = with_bursts(pink(rng, 4.0), rng, (5000, 10000), 18.0)
    src = tmp_path / "in.wav"
    sf.write(str(src), y.T, SR, subtype="FLOAT")
    code = main(["stream", str(src), "-o", str(tmp_path / "o.wav"), "--target", "warm", "--intensity", "1",
                 "--dynamic", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "dynamic part: gain range per region" in out
