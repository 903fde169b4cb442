"""The real-time adaptive EQ, driven by a deterministic stand-in analyzer (tests/tilt_analyzer.py)."""

from __future__ import annotations

import gc
import sys
import threading
import tracemalloc
import types

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt
from tilt_analyzer import TiltAnalyzer, TiltPowerAnalyzer

from semeq import EQParams, apply_eq
from semeq.cli import main
from semeq.cli.stream import stream_file
from semeq.dsp import StreamingEQ, design_sos
from semeq.dsp import streaming as dsp_streaming
from semeq.errors import ParameterError, SemeqError, UnknownWordError
from semeq.io import load_audio, save_audio
from semeq.streaming import StreamingAdaptiveEQ

SR = 44100
FRAME = 512
CLICK_FLOOR_DB = -60.0  # the click criterion: residual above 1 kHz vs the sine
CONVERGENCE_DB = -80.0  # streamed vs offline render, once the analysis window is full


class FixedAnalyzer(TiltAnalyzer):
    """encode returns one latent whatever the audio: the target stays put while the glide runs."""

    def __init__(self, z=(-0.5, 0.3), **kw):
        super().__init__(**kw)
        self.z = np.zeros(32)
        self.z[: len(z)] = z

    def encode(self, audio, sample_rate):
        super().encode(audio[:, :16], sample_rate)  # the events and counters
        return self.z.copy()


def run_stream(engine, x, frame=FRAME, wait=True):
    outs = []
    for start in range(0, x.shape[1], frame):
        outs.append(engine.process(x[:, start : start + frame]))
        if wait:
            engine.wait_for_analysis()
    return np.concatenate(outs, axis=1)


def noise(rng, seconds, channels=2):
    return 0.1 * rng.standard_normal((channels, int(seconds * SR)))


def test_an_analyzer_missing_a_method_is_refused():
    class NoCascade:  # a latent analyzer without cascade_for()
        encode, target_latent = TiltAnalyzer.encode, TiltAnalyzer.target_latent

    with pytest.raises(ParameterError, match="cascade_for"):
        StreamingAdaptiveEQ(SR, 2, analyzer=NoCascade())


def test_bypass_exact_until_first_analysis(rng):
    x = noise(rng, 1.5)
    with StreamingAdaptiveEQ(SR, 2, analyzer=TiltAnalyzer()) as engine:
        engine.set_target("warm", 1.0)
        out = run_stream(engine, x)
        assert engine.stats.n_analyses >= 1
    # The first request is posted at the end of the frame where 0.5 s is reached; it lands
    # before the next frame (wait_for_analysis), so output differs from there on.
    first_request = -(-int(0.5 * SR) // FRAME) * FRAME
    np.testing.assert_array_equal(out[:, :first_request], x[:, :first_request])
    assert np.max(np.abs(out[:, first_request:] - x[:, first_request:])) > 1e-3


def test_zero_latency_impulse(rng):
    """Output sample k responds to an impulse at input sample k: nothing is delayed."""
    x = noise(rng, 1.5)
    k = int(1.2 * SR) + 100  # inside a frame, after the EQ is active
    y = x.copy()
    y[:, k] += 0.5
    outs = []
    for sig in (x, y):
        with StreamingAdaptiveEQ(SR, 2, analyzer=TiltAnalyzer()) as engine:
            engine.set_target("bright", 1.0)
            outs.append(run_stream(engine, sig))
            assert engine.latency_samples == 0
            assert engine.active
    diff = outs[1] - outs[0]
    np.testing.assert_array_equal(diff[:, :k], 0.0)
    assert np.all(np.abs(diff[:, k]) > 0.05)


def test_click_free_target_changes():
    """A 100 Hz sine through target and intensity changes: nothing above 1 kHz within 60 dB."""
    amp = 0.5
    t = np.arange(int(7.0 * SR)) / SR
    x = np.tile(amp * np.sin(2 * np.pi * 100.0 * t), (2, 1))
    schedule = [("bright", 1.0), ("warm", 1.0), ("dark", 0.5), ("airy", 1.0), ("warm", 0.0), ("bright", 1.0),
                ("dark", 1.0), ("warm", 0.3), ("bright", 1.0), ("dark", 0.0), ("warm", 1.0), ("airy", 0.7)]
    outs = []
    # Without the make-up gain, which would hold the sine's loudness (and hide the level check below).
    with StreamingAdaptiveEQ(SR, 2, smoothing_ms=100.0, analyzer=TiltAnalyzer(), auto_gain=False) as engine:
        step = int(0.5 * SR) // FRAME
        for i, start in enumerate(range(0, x.shape[1], FRAME)):
            if i % step == 0:
                engine.set_target(*schedule[(i // step) % len(schedule)])
            outs.append(engine.process(x[:, start : start + FRAME]))
            engine.wait_for_analysis()
        assert engine.stats.n_designs > 100
    out = np.concatenate(outs, axis=1)[0]
    hp = butter(8, 1000.0, "highpass", fs=SR, output="sos")
    edge = int(0.05 * SR)
    residual_db = 20 * np.log10(np.max(np.abs(sosfiltfilt(hp, out)[edge:-edge])) / amp)
    print(f"click residual {residual_db:.1f} dB")
    assert residual_db < CLICK_FLOOR_DB, residual_db
    # The test can fail: the EQ really moved the sine's level by several dB...
    levels = [np.sqrt(np.mean(out[i : i + SR // 4] ** 2)) for i in range(SR, len(out) - SR // 4, SR // 4)]
    assert 20 * np.log10(max(levels) / min(levels)) > 6.0
    # ...and the same change switched without the cross-fade leaves a residual well above the floor.
    eq = StreamingEQ(SR, 1, [EQParams(low_shelf_gain_db=6.0)], crossfade_ms=0.0)
    a = eq.process(x[:1, : SR // 2])
    eq.set_params([EQParams(low_shelf_gain_db=-6.0)])
    b = eq.process(x[:1, SR // 2 : SR])
    hard_db = 20 * np.log10(np.max(np.abs(sosfiltfilt(hp, np.concatenate([a, b], axis=1)[0])[edge:-edge])) / amp)
    print(f"hard switch {hard_db:.1f} dB")
    assert hard_db > CLICK_FLOOR_DB + 10.0, hard_db


def test_intensity_zero_is_exact_bypass(rng):
    x = noise(rng, 3.0)
    with StreamingAdaptiveEQ(SR, 2, analyzer=TiltAnalyzer()) as engine:
        engine.set_target("warm", 0.0)
        out = run_stream(engine, x)
        assert engine.stats.n_analyses > 10
    np.testing.assert_array_equal(out, x)


def test_glide_to_intensity_zero_ends_in_exact_bypass(rng):
    x = noise(rng, 4.0).astype(np.float32)
    with StreamingAdaptiveEQ(SR, 2, smoothing_ms=50.0, analyzer=TiltAnalyzer()) as engine:
        engine.set_target("bright", 1.0)
        run_stream(engine, x[:, : 2 * SR])
        assert engine.active
        engine.set_target("bright", 0.0)
        out = run_stream(engine, x[:, 2 * SR :])
        assert not engine.active
    assert out.dtype == np.float32
    # 50 ms glide to within 0.05 dB (~6 tau), a 20 ms fade, 0.3 s of ring-out: exact well before 1 s.
    np.testing.assert_array_equal(out[:, SR:], x[:, 3 * SR :])
    assert np.max(np.abs(out[:, :1000] - x[:, 2 * SR : 2 * SR + 1000])) > 1e-3  # it was not bypassed at once


@pytest.mark.parametrize("frame", [64, 4097])
def test_glide_time_constant_is_in_ms(frame):
    """Gains follow g_T * (1 - exp(-t / tau)) with t in samples since activation, whatever the frame size."""
    tau_ms = 300.0
    x = 0.1 * np.random.default_rng(5).standard_normal((1, 3 * SR))
    analyzer = FixedAnalyzer()
    with StreamingAdaptiveEQ(SR, 1, smoothing_ms=tau_ms, analyzer=analyzer) as engine:
        engine.set_target("bright", 1.0)
        target = np.array([p.gains_db for p in analyzer.cascade_for(analyzer.z, analyzer.target_latent("bright"), 1.0)])
        n_since = None
        checked = 0
        for start in range(0, x.shape[1], frame):
            chunk = x[:, start : start + frame]
            engine.process(chunk)
            engine.wait_for_analysis()
            if n_since is None and engine.active:
                n_since = 0
            if n_since is not None:
                n_since += chunk.shape[1]
                gains = np.array([p.gains_db for p in engine.current_params])
                expected = target * (1.0 - np.exp(-n_since / (tau_ms * 1e-3 * SR)))
                if np.max(np.abs(target - expected)) > 0.05:  # before the final snap (a 0.05 dB step)
                    np.testing.assert_allclose(gains, expected, atol=1e-9)
                    checked += 1
        assert checked >= 2


@pytest.mark.parametrize("frame", [1, 63, 64, 65, 4097, 8192])
def test_any_frame_size(frame, rng):
    x = noise(rng, 1.0 if frame > 1 else 0.7)
    with StreamingAdaptiveEQ(SR, 2, frame_size=FRAME, analyzer=TiltAnalyzer()) as engine:
        engine.set_target("warm", 1.0)
        out = run_stream(engine, x, frame=frame, wait=frame > 1)
        engine.wait_for_analysis()
        assert out.shape == x.shape and np.all(np.isfinite(out))
        tail = engine.process(x[:, :frame])
        assert tail.shape == (2, frame) and engine.active
    assert engine.process(np.zeros((2, 0))).shape == (2, 0)


def test_bad_frames_raise_and_leave_the_stream_running(rng):
    with StreamingAdaptiveEQ(SR, 2, analyzer=TiltAnalyzer()) as engine:
        x = noise(rng, 0.1)
        with pytest.raises(ParameterError, match=r"shaped \(2, n\)"):
            engine.process(x[:1])
        with pytest.raises(ParameterError, match=r"shaped \(2, n\)"):
            engine.process(x[0])
        with pytest.raises(ParameterError, match="float32 or float64"):
            engine.process((x * 32767).astype(np.int16))
        with pytest.raises(ParameterError, match="float32 or float64"):
            engine.process(x.astype(np.complex128))
        np.testing.assert_array_equal(engine.process(x), x)  # still streaming (bypass before the analysis)
        with pytest.raises(UnknownWordError, match="unknown word"):
            engine.set_target("no-such-word", 1.0)
        with pytest.raises(ParameterError, match=r"intensity must be in \[0, 1\]"):
            engine.set_target("warm", 1.5)
        assert engine.target is None


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"channels": 0}, "channels"), ({"frame_size": 0}, "frame_size"), ({"update_interval": 0}, "update_interval"),
    ({"analysis_window_s": 0.0}, "analysis_window_s"), ({"smoothing_ms": -1.0}, "smoothing_ms"),
    ({"sample_rate": 10.0}, "sample_rate"), ({"analyzer": object()}, "SemanticAnalyzer"),
])
def test_constructor_validates(kwargs, match):
    args = {"sample_rate": SR, "channels": 2, "analyzer": TiltAnalyzer()} | kwargs
    with pytest.raises(ParameterError, match=match):
        StreamingAdaptiveEQ(**args)


def test_nan_frames_are_zeroed_and_the_filter_recovers(rng):
    x = noise(rng, 2.0)
    dirty = x.copy()
    k = int(1.5 * SR)
    dirty[0, k : k + 300] = np.nan
    dirty[1, k + 10] = np.inf
    clean = np.where(np.isfinite(dirty), dirty, 0.0)
    outs = []
    for sig in (dirty, clean):
        with StreamingAdaptiveEQ(SR, 2, analyzer=TiltAnalyzer()) as engine:
            engine.set_target("warm", 1.0)
            outs.append(run_stream(engine, sig))
            n_nonfinite = engine.stats.n_nonfinite_frames
    assert np.all(np.isfinite(outs[0]))
    np.testing.assert_array_equal(outs[0], outs[1])  # exactly the stream of zeros in their place
    assert n_nonfinite == 0  # (of the clean run)
    assert np.max(np.abs(outs[0][:, k + 2000 :] - x[:, k + 2000 :])) > 1e-3  # filtering again


def test_analyzer_errors_do_not_stop_the_stream(rng):
    class Broken(TiltAnalyzer):
        def encode(self, audio, sample_rate):
            raise RuntimeError("model exploded")

    x = noise(rng, 1.0)
    with StreamingAdaptiveEQ(SR, 2, analyzer=Broken()) as engine:
        engine.set_target("warm", 1.0)
        out = run_stream(engine, x)
        stats = engine.stats
    np.testing.assert_array_equal(out, x)
    assert stats.n_analysis_errors >= 1 and "model exploded" in stats.last_error


def test_process_never_waits_for_the_worker(rng):
    """encode blocks until the test releases it; process() keeps returning bypass meanwhile."""
    started, finished, release = threading.Event(), threading.Event(), threading.Event()

    class Blocking(TiltAnalyzer):
        def encode(self, audio, sample_rate):
            started.set()
            release.wait(30.0)
            z = super().encode(audio, sample_rate)
            finished.set()
            return z

    x = noise(rng, 2.0)
    with StreamingAdaptiveEQ(SR, 2, analyzer=Blocking()) as engine:
        engine.set_target("warm", 1.0)
        n_before = int(0.6 * SR)
        out_before = run_stream(engine, x[:, :n_before], wait=False)
        assert started.wait(10.0)
        out_during = run_stream(engine, x[:, n_before:], wait=False)  # 1.4 s of frames while encode blocks
        assert not finished.is_set()
        np.testing.assert_array_equal(np.concatenate([out_before, out_during], axis=1), x)
        release.set()
        assert engine.wait_for_analysis(10.0)
        engine.process(x[:, :FRAME])
        assert engine.active


def periodic_512(seconds: float) -> np.ndarray:
    """A stereo tone complex with a period of exactly 512 samples (one hop): every analysis frame,
    and every window made of whole periods, has the same spectrum."""
    n = np.arange(int(seconds * SR))
    harmonics = np.arange(1, 60)
    return np.stack([
        sum(np.sin(2 * np.pi * h * n / 512 + ph * h) / h for h in harmonics) * 0.05 for ph in (0.0, 1.3)
    ])


@pytest.mark.parametrize("kind", ["latent", "power"])
def test_streaming_converges_to_offline_render(kind):
    """Stationary input, fixed target: once the glide has settled the stream is the offline render
    of the same EQ, with the make-up gain computed offline from the signal's Welch spectrum."""
    from scipy.signal import welch

    from semeq.dsp import sos_response_db
    from semeq.streaming import _LoudnessBins, makeup_gain_db

    window_s = 86 * 512 / SR  # whole periods, whole hops
    x = periodic_512(4.0)
    analyzer = TiltAnalyzer() if kind == "latent" else TiltPowerAnalyzer()
    with StreamingAdaptiveEQ(SR, 2, analysis_window_s=window_s, analyzer=analyzer) as engine:
        engine.set_target("bright", 0.7)
        out = run_stream(engine, x)
        assert engine.analysis_mode == ("audio" if kind == "latent" else "power")
        gain_stream = engine.current_gain_db
    # Frames on the stream's grid (multiples of the hop): the power of a frame depends on where it starts.
    freqs, psd = welch(x[:, 512 * 200 : 512 * 286], fs=SR, window="hann", nperseg=1024, noverlap=512, detrend=False)
    psd = psd.mean(axis=0)
    if kind == "latent":
        whole = x[:, 512 * 200 : 512 * 286]  # whole periods, as every window the stream analysed
        cascade = analyzer.cascade_for(analyzer.encode(whole, SR), analyzer.target_latent("bright"), 0.7)
    else:  # the design reads the file path's long frames (4096 points, half overlapped); the gain the short ones
        freqs_long, psd_long = welch(x[:, 512 * 200 : 512 * 286], fs=SR, window="hann", nperseg=4096, noverlap=2048,
                                     detrend=False)
        cascade = analyzer.design_from_power(freqs_long, psd_long.mean(axis=0), "bright", 0.7)
        assert len(cascade) == 1
    bins = _LoudnessBins(freqs, SR)
    gain_db = makeup_gain_db(bins.band_power(psd), sos_response_db(design_sos(list(cascade), SR), bins.freqs_hz, SR))
    assert abs(gain_db) > 1.0 and gain_stream == pytest.approx(gain_db, abs=1e-6)  # the gain is doing something
    offline = apply_eq(x, SR, list(cascade)) * 10.0 ** (gain_db / 20.0)
    assert max(abs(p.low_shelf_gain_db) + abs(p.high_shelf_gain_db) for p in cascade) > 3.0  # a real EQ
    last = slice(3 * SR, None)
    diff_db = 20 * np.log10(np.max(np.abs(out[:, last] - offline[:, last])) / np.max(np.abs(offline[:, last])))
    print(f"stream vs offline {diff_db:.1f} dB")
    assert diff_db < CONVERGENCE_DB, diff_db


def test_memory_stays_flat_and_threads_end(rng):
    """Ten minutes of audio through the real process() path, targets changing every 5 s."""
    frame = 4096
    x = 0.1 * rng.standard_normal((2, frame * 8))
    words = ["warm", "bright", "dark", "airy"]
    n_threads = threading.active_count()
    with StreamingAdaptiveEQ(SR, 2, frame_size=frame, update_interval=8, analyzer=FixedAnalyzer()) as engine:
        engine.set_target("warm", 1.0)
        tracemalloc.start()
        frames_per_5s = int(5 * SR / frame)
        for i in range(int(600 * SR / frame)):
            if i == 200:
                gc.collect()
                base, _ = tracemalloc.get_traced_memory()
            if i % frames_per_5s == 0:
                engine.set_target(words[(i // frames_per_5s) % 4], 1.0 if i % 3 else 0.0)
            out = engine.process(x[:, (i % 8) * frame : (i % 8 + 1) * frame])
            engine.wait_for_analysis()
        gc.collect()
        end, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert np.all(np.isfinite(out))
        assert engine.stats.n_analyses > 100 and engine.stats.n_designs > 100
    assert end - base < 1_000_000, end - base
    # Engines closed, or dropped without close(), leave no thread behind.
    for _ in range(5):
        with StreamingAdaptiveEQ(SR, 2, analyzer=TiltAnalyzer()):
            pass
    dropped = StreamingAdaptiveEQ(SR, 2, analyzer=TiltAnalyzer())
    thread = dropped._thread
    del dropped
    gc.collect()
    thread.join(5.0)
    assert threading.active_count() == n_threads


# -- the StreamingEQ fast path ---------------------------------------------------------------

@pytest.mark.parametrize("kernel", ["scipy-kernel", "public-sosfilt"])
def test_streaming_eq_chunked_equals_offline(kernel, rng, monkeypatch):
    if kernel == "public-sosfilt":
        monkeypatch.setattr(dsp_streaming, "_sosfilt_kernel", None)
    cascade = [EQParams(peak1_gain_db=9.0, peak1_freq_hz=82.0, peak1_q=10.0), EQParams(low_shelf_gain_db=-12.0)]
    x = rng.standard_normal((2, 10000))
    offline = apply_eq(x, SR, cascade)
    for block in (1, 63, 64, 65, 4097):
        eq = StreamingEQ(SR, 2, cascade)
        out = np.concatenate([eq.process(x[:, i : i + block]) for i in range(0, x.shape[1], block)], axis=1)
        np.testing.assert_allclose(out, offline, rtol=0, atol=1e-12)


def test_streaming_eq_set_sos_matches_set_params(rng):
    from semeq.dsp import design_sos

    a, b = EQParams(peak2_gain_db=6.0), EQParams(high_shelf_gain_db=-4.0)
    x = rng.standard_normal((1, 3000))
    eq1, eq2 = StreamingEQ(SR, 1, a), StreamingEQ(SR, 1, a)
    eq1.set_params(b)
    eq2.set_sos(design_sos(b, SR))
    assert eq1.fading and eq2.fading and eq1.params == b and eq2.params is None
    np.testing.assert_array_equal(eq1.process(x), eq2.process(x))
    assert not eq1.fading
    with pytest.raises(ParameterError, match="sos must be shaped"):
        eq2.set_sos(np.zeros((10, 6)))


# -- the command line ------------------------------------------------------------------------

def test_stream_file_front_end(tmp_path, rng):
    src = tmp_path / "in.wav"
    save_audio(src, noise(rng, 2.5) * 3, SR, subtype="float")
    report = stream_file(str(src), str(tmp_path / "out.wav"), target="warm", intensity=0.8, frame_size=256,
                         update_interval=8, analyzer=TiltAnalyzer(), progress=False)
    out, sr, _ = load_audio(tmp_path / "out.wav")
    x, _, _ = load_audio(src)
    assert sr == SR and out.shape == x.shape
    assert report.latency_samples == 0 and report.n_frames == -(-x.shape[1] // 256) and report.n_analyses > 10
    # The file front end is the live engine, frame by frame.
    with StreamingAdaptiveEQ(SR, 2, frame_size=256, update_interval=8, analyzer=TiltAnalyzer()) as engine:
        engine.set_target("warm", 0.8)
        expected = run_stream(engine, x, frame=256)
    # The input peaks near +10 dBFS: the whole render was lowered by one gain to the -1 dBTP ceiling.
    assert report.output_gain_db < -3.0
    np.testing.assert_allclose(out, expected * 10.0 ** (report.output_gain_db / 20.0), atol=1e-6)  # float WAV
    with pytest.raises(SemeqError, match="already exists"):
        stream_file(str(src), str(tmp_path / "out.wav"), target="warm", analyzer=TiltAnalyzer(), progress=False)


def test_cli_stream_argument_errors(capsys):
    assert main(["stream", "--target", "warm"]) == 2
    assert "needs INPUT and -o OUTPUT" in capsys.readouterr().err


def test_cli_live_without_sounddevice(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as when it is not installed
    assert main(["stream", "--live", "--target", "warm"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "semeq[live]"' in err


def test_cli_live_with_a_fake_sound_card(monkeypatch, capsys, rng):
    """The live path wired to a fake sounddevice that runs the callback on 40 blocks."""
    from semeq.cli import stream as cli_stream

    x = noise(rng, 40 * 512 / SR).astype(np.float32)
    captured = []

    class Stream:
        def __init__(self, *, callback, blocksize, channels, **kw):
            self.callback, self.blocksize, self.channels = callback, blocksize, channels

        def __enter__(self):
            for i in range(40):
                indata = np.ascontiguousarray(x[: self.channels, i * 512 : (i + 1) * 512].T)
                outdata = np.empty_like(indata)
                self.callback(indata, outdata, 512, None, None)
                captured.append(outdata)
            return self

        def __exit__(self, *exc):
            return False

    fake = types.SimpleNamespace(
        query_devices=lambda device, kind: {"name": "fake", "default_samplerate": SR, "max_input_channels": 2},
        Stream=Stream, PortAudioError=OSError,
    )
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    args = main.__globals__["build_parser"]().parse_args(["stream", "--live", "--target", "warm", "--duration", "0"])
    assert cli_stream.run_live(args, analyzer=TiltAnalyzer()) == 0
    np.testing.assert_array_equal(np.concatenate(captured).T, x)  # 0.46 s: bypass before the first analysis
    out = capsys.readouterr().out
    assert "40 frames" in out and "callback errors" not in out  # the pass-through was process(), not a fallback


# -- the incremental analysis ------------------------------------------------------------------

def test_sliding_spectrum_matches_the_batch_analysis(rng):
    """Frames transformed a few at a time, as the worker does, equal one batch pass: the PSD equals
    Welch's over the same frames, and the activity mask is semeq.analysis.active_frames'."""
    from scipy.signal import welch

    from semeq.analysis import active_frames
    from semeq.dsp.streaming import SlidingSpectrum
    from semeq.streaming import _FRAME_FLOOR, _FRAME_RANGE

    x = noise(rng, 3.0)
    x[:, SR : SR + SR // 2] *= 1e-5  # quiet frames: more than 60 dB below the loudest, inactive
    window_len = 86 * 512
    spec = SlidingSpectrum(SR, 2, window_len)
    for pos in range(2048, int(1.9 * SR), 4 * 512 + 37):  # updates at odd positions
        first, stop = spec.frames_needed(pos)
        spec.update(pos, x[:, first * 512 : (stop - 1) * 512 + 1024] if stop > first else x[:, :0], first)
    # The window now holds the frames that start at or after pos - window_len.
    frames = np.arange(spec.first, spec.first + spec.n_frames)
    assert spec.capacity == 85 and spec.n_frames in (84, 85)  # 84 when the window's start falls mid-hop
    segment = x[:, frames[0] * 512 : frames[-1] * 512 + 1024]
    active = spec.active(_FRAME_FLOOR, _FRAME_RANGE)
    np.testing.assert_array_equal(active, active_frames(segment))
    assert 10 < active.sum() < active.size  # the quiet half second is in the window, partly
    freqs, psd_frames = welch(segment[:, None, :], fs=SR, window="hann", nperseg=1024, noverlap=512, detrend=False,
                              average="mean")  # one Welch segment per frame
    sub = [segment[:, j * 512 : j * 512 + 1024] for j in np.flatnonzero(active)]
    _, psd = welch(np.concatenate(sub, axis=1), fs=SR, window="hann", nperseg=1024, noverlap=0, detrend=False)
    np.testing.assert_allclose(spec.window_psd(active), psd.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(spec.freqs_hz, freqs)


def test_each_update_transforms_only_the_new_frames(rng, monkeypatch):
    """Updates every 4 frames of 512 transform 4 new STFT frames each, not the whole window."""
    import semeq.dsp.streaming as dsp_stream

    counts = []
    real_rfft = np.fft.rfft

    def counting_rfft(a, *args, **kw):
        if a.shape[-1] == 1024:  # the short frames (activity, gain); the long ones are counted below
            counts.append(a.shape[1] if a.ndim == 3 else 1)
        else:
            long_counts.append(a.shape[1] if a.ndim == 3 else 1)
        return real_rfft(a, *args, **kw)

    long_counts = []

    monkeypatch.setattr(dsp_stream.np.fft, "rfft", counting_rfft)
    x = noise(rng, 4.0)
    with StreamingAdaptiveEQ(SR, 2, analyzer=TiltPowerAnalyzer()) as engine:
        engine.set_target("warm", 1.0)
        run_stream(engine, x)
        n_analyses = engine.stats.n_analyses
    assert n_analyses > 50
    # The first analysis transforms what has arrived (0.5 s: 42 frames); every later one 4.
    assert counts[0] == (int(0.5 * SR) // 512 * 512 + 512 - 1024) // 512 + 1 - 1 or counts[0] > 30
    assert all(c == 4 for c in counts[1:]), counts[:20]
    # The power mode's long frames (4096 points, hop 2048): one new frame every other update.
    assert long_counts[0] > 5 and all(c == 1 for c in long_counts[1:]), long_counts[:20]


def test_power_analyzer_gets_the_window_spectrum(rng):
    """design_from_power receives the long-frame PSD of the last window: a low-passed stream reads as one."""
    from scipy.signal import butter as butter_, sosfilt as sosfilt_

    x = sosfilt_(butter_(4, 2000.0, fs=SR, output="sos"), noise(rng, 3.0))
    analyzer = TiltPowerAnalyzer()
    with StreamingAdaptiveEQ(SR, 2, analyzer=analyzer) as engine:
        engine.set_target("bright", 1.0)
        run_stream(engine, x)
        freqs = engine._worker.ltas.freqs_hz
    power = analyzer.last_power
    in_band = power[(freqs > 200) & (freqs < 1000)].mean()
    above = power[(freqs > 8000) & (freqs < 16000)].mean()
    assert 10 * np.log10(in_band / above) > 60.0  # 4th order, 2 to 3 octaves up: > 60 dB down
    # Level: white noise of 0.1 RMS has a one-sided density of 2 * 0.01 / SR per Hz in the pass band.
    assert 10 * np.log10(in_band / (2 * 0.01 / SR)) == pytest.approx(0.0, abs=0.5)


def test_cascades_of_one_two_or_no_eq_mid_stream(rng):
    """An analyzer whose cascade grows from one EQ to two and shrinks to none: the glide pads with
    identity EQs (exact), and an empty cascade glides to an exact bypass."""

    class Switching(TiltPowerAnalyzer):
        n = 1

        def design_from_power(self, freqs_hz, power, target, intensity, **kw):
            (eq,) = super().design_from_power(freqs_hz, power, target, 1.0, **kw) or (EQParams(peak2_gain_db=3.0),)
            return (eq, EQParams(peak1_gain_db=-4.0))[: self.n]

    x = noise(rng, 6.0)
    analyzer = Switching()
    with StreamingAdaptiveEQ(SR, 2, smoothing_ms=50.0, analyzer=analyzer) as engine:
        engine.set_target("bright", 1.0)
        run_stream(engine, x[:, : 2 * SR])
        assert len(engine.current_params) == 1 and engine.active
        analyzer.n = 2
        engine.set_target("bright", 1.0)
        run_stream(engine, x[:, 2 * SR : 4 * SR])
        assert len(engine.current_params) == 2
        np.testing.assert_allclose(engine.current_params[1].peak1_gain_db, -4.0)
        analyzer.n = 0
        engine.set_target("bright", 1.0)
        out = run_stream(engine, x[:, 4 * SR :])
        assert not engine.active and engine.current_params == ()
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[:, SR:], x[:, 5 * SR :])


def test_streaming_eq_grow_is_exact(rng):
    x = rng.standard_normal((2, 5000))
    a = StreamingEQ(SR, 2, [EQParams(peak2_gain_db=6.0)])
    b = StreamingEQ(SR, 2, [EQParams(peak2_gain_db=6.0)])
    ya = np.concatenate([a.process(x[:, :1234]), a.process(x[:, 1234:])], axis=1)
    yb1 = b.process(x[:, :1234])
    b.grow(2)
    assert b.n_eq == 2
    np.testing.assert_array_equal(np.concatenate([yb1, b.process(x[:, 1234:])], axis=1), ya)
    with pytest.raises(ParameterError, match="cannot shrink"):
        b.grow(1)


# -- automatic gain compensation -------------------------------------------------------------

def pink(rng, seconds):
    n = int(seconds * SR)
    spectrum = np.fft.rfft(rng.standard_normal((2, n))) / np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0))
    x = np.fft.irfft(spectrum, n)
    return 0.1 * x / x.std()


@pytest.mark.parametrize("analyzer_cls", [TiltAnalyzer, TiltPowerAnalyzer])
def test_auto_gain_holds_the_loudness(analyzer_cls, rng):
    """The EQ changes the loudness by several LU; with the make-up gain the output stays within 0.5 LU."""
    from semeq.loudness import integrated_loudness

    x = pink(rng, 8.0)
    changes = {}
    for auto_gain in (False, True):
        with StreamingAdaptiveEQ(SR, 2, analyzer=analyzer_cls(), auto_gain=auto_gain) as engine:
            engine.set_target("bright", 1.0)
            out = run_stream(engine, x)
        last = slice(3 * SR, None)  # after the first window and the glide
        changes[auto_gain] = integrated_loudness(out[:, last], SR) - integrated_loudness(x[:, last], SR)
    print(changes)
    assert abs(changes[False]) > 1.5
    assert abs(changes[True]) < 0.25


def test_makeup_gain_db_closed_form():
    from semeq.streaming import makeup_gain_db

    # Two equal bands, one boosted by 10 dB: the power grows by (1 + 10) / 2.
    assert makeup_gain_db(np.array([1.0, 1.0]), np.array([0.0, 10.0])) == pytest.approx(-10 * np.log10(5.5))
    assert makeup_gain_db(np.zeros(2), np.array([3.0, 3.0])) == 0.0


# -- the file front end: errors before the work, never a refusal after it ---------------------------

class CountingAnalyzer(TiltAnalyzer):
    pass


def test_stream_checks_the_output_before_processing(tmp_path, rng, monkeypatch):
    src = tmp_path / "in.wav"
    save_audio(src, noise(rng, 1.0), SR, subtype="float")
    analyzer = TiltAnalyzer()
    with pytest.raises(SemeqError, match="unknown output format '.xyz'"):
        stream_file(str(src), str(tmp_path / "out.xyz"), target="warm", analyzer=analyzer, progress=False)
    with pytest.raises(SemeqError, match="does not exist"):
        stream_file(str(src), str(tmp_path / "no" / "out.wav"), target="warm", analyzer=analyzer, progress=False)
    # A folder that takes no new file (as root permissions do not stop a write: a refusing probe).
    import tempfile

    def refuse(*args, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(SemeqError, match="cannot write in .*Permission denied"):
        stream_file(str(src), str(tmp_path / "out.wav"), target="warm", analyzer=analyzer, progress=False)
    assert analyzer.n_encodes == 0  # nothing was processed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


def test_stream_keeps_the_true_peak_ceiling_when_writing(tmp_path, rng):
    """A hot 16-bit input and a boost: the render is lowered to -1 dBTP instead of refused."""
    from semeq.loudness import true_peak_dbfs

    src = tmp_path / "in.wav"
    x = noise(rng, 2.0)
    x *= 0.97 / np.max(np.abs(x))
    save_audio(src, x, SR, subtype="int16")
    report = stream_file(str(src), str(tmp_path / "out.wav"), target="bright", intensity=1.0,
                         analyzer=TiltAnalyzer(), progress=False, auto_gain=False)
    out, _, info = load_audio(tmp_path / "out.wav")
    assert info.subtype == "PCM_16"
    assert report.output_gain_db < -0.5
    assert true_peak_dbfs(out, SR) <= -1.0 + 0.01


def test_cli_stream_d03_bright_writes_16_bit_at_the_input_loudness(tmp_path, data_root, capsys):
    """issue 13, item 9: the techno clip with "bright" used to end in a refusal to clip PCM_16."""
    from semeq.loudness import integrated_loudness, true_peak_dbfs

    src = data_root / "music-dev" / "d03_techno_ufoai.flac"
    out_path = tmp_path / "out.wav"
    assert main(["stream", str(src), "-o", str(out_path), "--target", "bright", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    x, sr, _ = load_audio(src)
    out, _, info = load_audio(out_path)
    assert info.subtype == "PCM_16"
    change = integrated_loudness(out, sr) - integrated_loudness(x, sr)
    print(printed, change)
    assert abs(change) <= 1.0
    assert true_peak_dbfs(out, sr) <= -1.0 + 0.01


def test_reset_forgets_the_kept_spectrum(rng):
    """After reset() the power analyzer sees only audio from after it: white noise before, a
    low-passed stream after, and the new window's top octave is empty."""
    from scipy.signal import butter as butter_, sosfilt as sosfilt_

    analyzer = TiltPowerAnalyzer()
    with StreamingAdaptiveEQ(SR, 2, analyzer=analyzer) as engine:
        engine.set_target("bright", 1.0)
        run_stream(engine, noise(rng, 2.5))
        assert engine.active
        engine.reset()
        assert not engine.active
        low = sosfilt_(butter_(8, 1000.0, fs=SR, output="sos"), noise(rng, 1.0))
        out = run_stream(engine, low)
        freqs = engine._worker.ltas.freqs_hz
    first_request = -(-int(0.5 * SR) // FRAME) * FRAME
    np.testing.assert_array_equal(out[:, :first_request], low[:, :first_request])  # bypass until the new analysis
    power = analyzer.last_power
    assert 10 * np.log10(power[(freqs > 200) & (freqs < 800)].mean() / power[freqs > 8000].mean()) > 80.0


def test_a_transposed_frame_is_refused_with_the_fix_named():
    """Issue 13: a (samples, channels) frame, what soundfile gives, is refused at once with 'pass frame.T'."""
    from semeq.errors import ParameterError

    with StreamingAdaptiveEQ(SR, 2, analyzer=TiltPowerAnalyzer()) as engine:
        with pytest.raises(ParameterError, match=r"pass frame\.T"):
            engine.process(np.zeros((512, 2)))
        with pytest.raises(ParameterError, match="float32 or float64"):
            engine.process(np.zeros((2, 512), dtype=np.int16))
        assert engine.process(np.zeros((2, 512))).shape == (2, 512)  # the stream is as it was
