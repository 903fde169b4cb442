"""The adaptive generator's contract, with the shipped models."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from semeq import EQParams, ParameterError, UnknownWordError, apply_eq, eq_response
from semeq.adaptive import CURVE_FREQS_HZ, SemanticEQ
from semeq.analysis import GRID_FREQS_HZ, reference_spectrum_db
from semeq.cli import main
from semeq.data.synth import shaped_noise
from semeq.io import load_audio

SAMPLE_RATE = 44100


@pytest.fixture(scope="module")
def engine():
    return SemanticEQ()


def reference_noise(seconds=4.0, sample_rate=SAMPLE_RATE, channels=2, seed=0):
    """Noise whose long-term spectrum is the reference balance: a recording that stands at neutral."""
    ref = reference_spectrum_db()
    amp = lambda f: 10 ** (np.interp(np.log(f), np.log(GRID_FREQS_HZ), ref) / 20)  # noqa: E731
    return shaped_noise(amp, int(seconds * sample_rate), sample_rate, np.random.default_rng(seed), channels, rms=0.1)


def test_intensity_zero_is_an_exact_bypass(engine, rng):
    x = 0.2 * rng.standard_normal((2, SAMPLE_RATE))
    for static in (False, True):
        out, result = engine.apply(x, SAMPLE_RATE, "warm", 0.0, static=static)
        assert np.array_equal(out, x) and result.eq.is_bypass
        assert np.all(result.eq.curve_db == 0.0)


def test_the_applied_eq_is_the_change_between_two_absolute_curves(engine):
    x = reference_noise()
    eq = engine.adaptive_eq(x, SAMPLE_RATE, "bright", 0.6, fit=False)
    expected = engine.decode_curve(eq.z_final) - engine.decode_curve(eq.z_audio)
    np.testing.assert_allclose(eq.curve_db, expected, atol=1e-9)
    assert len(eq.cascade) == 2 and eq.cascade[1] == engine.eq_model.decode(eq.z_audio).inverted()


def test_input_already_at_the_target_gets_almost_no_eq(engine):
    x = reference_noise()
    warm_eq = engine.eq_model.decode(engine.target_latent("warm"))
    bright_eq = engine.eq_model.decode(engine.target_latent("bright"))
    made_warm = apply_eq(x, SAMPLE_RATE, warm_eq)
    made_bright = apply_eq(x, SAMPLE_RATE, bright_eq)
    change_warm = engine.adaptive_eq(made_warm, SAMPLE_RATE, "warm", 1.0, fit=False).change_rms_db
    change_bright = engine.adaptive_eq(made_bright, SAMPLE_RATE, "warm", 1.0, fit=False).change_rms_db
    change_neutral = engine.adaptive_eq(x, SAMPLE_RATE, "warm", 1.0, fit=False).change_rms_db
    assert change_bright >= 3.0 * change_warm, (change_warm, change_bright)
    # And small in absolute terms: well under what the neutral clip gets (measured 0.78 vs 1.54 dB).
    assert change_warm < 0.6 * change_neutral, (change_warm, change_neutral)


def test_dark_and_bright_inputs_get_different_eq(engine):
    x = reference_noise()
    dark = apply_eq(x, SAMPLE_RATE, EQParams(high_shelf_gain_db=-9, high_shelf_freq_hz=2000))
    bright = apply_eq(x, SAMPLE_RATE, EQParams(high_shelf_gain_db=9, high_shelf_freq_hz=2000))
    eq_dark = engine.adaptive_eq(dark, SAMPLE_RATE, "bright", 1.0, fit=False)
    eq_bright = engine.adaptive_eq(bright, SAMPLE_RATE, "bright", 1.0, fit=False)
    hf = CURVE_FREQS_HZ > 4000
    # The dark input needs more top end than the bright one, by a good part of the 18 dB between them.
    assert np.mean(eq_dark.curve_db[hf] - eq_bright.curve_db[hf]) > 6.0


def test_profile_is_calibrated(engine):
    x = reference_noise()
    for word in ("warm", "bright"):
        eq = engine.eq_model.decode(engine.target_latent(word))
        assert engine.score(apply_eq(x, SAMPLE_RATE, eq), SAMPLE_RATE, word) > engine.score(x, SAMPLE_RATE, word) + 0.1
    profile = engine.profile(x, SAMPLE_RATE, top_k=5)
    assert len(profile.entries) == 5
    scores = [e.score for e in profile.entries]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)


def test_auto_intensity_is_continuous_and_monotone(engine):
    d = np.linspace(0.0, 40.0, 4001)
    i = np.array([SemanticEQ.intensity_for_distance(v) for v in d])
    assert i[0] == 1.0 and np.all((i > 0) & (i <= 1))
    assert np.all(np.diff(i) <= 0)  # monotone
    assert np.max(np.abs(np.diff(i))) < 1e-3  # no jumps on a 0.01 dB step
    change = i * d
    assert np.all(np.diff(change) >= 0) and change[-1] < 6.0  # the change grows but stays under M
    s = engine.suggest_intensity(reference_noise(), SAMPLE_RATE, "warm")
    assert 0 < s.intensity <= 1 and "dB" in s.explanation


def test_blend_endpoints(engine):
    np.testing.assert_allclose(engine.target_latent("warm", "bright", 0.0), engine.target_latent("warm"))
    np.testing.assert_allclose(engine.target_latent("warm", "bright", 1.0), engine.target_latent("bright"))


def test_the_5band_fit_of_the_net_curve(engine):
    eq = engine.adaptive_eq(reference_noise(), SAMPLE_RATE, "warm", 0.8)
    np.testing.assert_allclose(eq_response(eq.fit.params, CURVE_FREQS_HZ) - eq.curve_db, 0.0, atol=eq.fit.max_error_db + 1e-9)
    assert eq.fit.rms_error_db < 1.0


@pytest.mark.parametrize("sample_rate", [8000, 22050, 48000, 96000, 192000])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_shape_and_rate_preserved(engine, sample_rate, channels):
    x = reference_noise(1.0, sample_rate, channels)
    from semeq.loudness import level_stats

    out, result = engine.apply(x, sample_rate, "bright", 0.7)
    assert out.shape == x.shape and np.all(np.isfinite(out))
    measured, before = level_stats(out, sample_rate), level_stats(x, sample_rate)  # measured, not derived
    assert measured.true_peak_dbtp <= -1.0 + 1e-6
    if not result.notes:  # the ceiling did not bind: loudness matched
        assert measured.loudness_lufs == pytest.approx(before.loudness_lufs, abs=0.01)


def test_short_audio_still_works(engine):
    x = reference_noise(0.3)
    out, result = engine.apply(x, SAMPLE_RATE, "warm", 0.5)
    assert out.shape == x.shape and np.all(np.isfinite(out))


def test_loudness_matched_and_never_over_the_ceiling(engine):
    from semeq.loudness import level_stats

    x = reference_noise(3.0)
    quiet = 0.05 * x / np.max(np.abs(x))
    out, result = engine.apply(quiet, SAMPLE_RATE, "bright", 1.0)
    measured = level_stats(out, SAMPLE_RATE)  # measured on the output itself, not derived
    assert measured.loudness_lufs == pytest.approx(level_stats(quiet, SAMPLE_RATE).loudness_lufs, abs=0.05)
    assert measured.loudness_lufs == pytest.approx(result.stats_out.loudness_lufs, abs=1e-6)
    assert not result.notes

    hot = 0.95 * x / np.max(np.abs(x))  # the EQ pushes it over: the ceiling binds, and says so
    out, result = engine.apply(hot, SAMPLE_RATE, "bright", 1.0)
    measured = level_stats(out, SAMPLE_RATE)
    assert measured.true_peak_dbtp == pytest.approx(-1.0, abs=1e-6)
    assert measured.loudness_lufs < level_stats(hot, SAMPLE_RATE).loudness_lufs - 0.1
    assert any("ceiling" in n for n in result.notes)


def test_without_loudness_match_the_eq_level_stays_under_the_ceiling(engine):
    from semeq.loudness import level_stats

    x = reference_noise(3.0)
    quiet = 0.05 * x / np.max(np.abs(x))
    out, result = engine.apply(quiet, SAMPLE_RATE, "bright", 1.0, loudness_match=False)
    assert result.gain_db == 0.0
    np.testing.assert_allclose(out, apply_eq(quiet, SAMPLE_RATE, list(result.eq.cascade)), atol=1e-12)
    hot = 0.89 * x / np.max(np.abs(x))
    out, result = engine.apply(hot, SAMPLE_RATE, "warm", 0.3, loudness_match=False)
    assert level_stats(out, SAMPLE_RATE).true_peak_dbtp <= -1.0 + 1e-6


@pytest.mark.parametrize("sample_rate", [8000, 22050])
def test_reported_curve_is_the_applied_response_at_low_rates(engine, sample_rate):
    x = reference_noise(2.0, sample_rate)
    eq = engine.adaptive_eq(x, sample_rate, "bright", 0.8)
    below = CURVE_FREQS_HZ < sample_rate / 2
    np.testing.assert_allclose(eq.curve_db[below], eq_response(list(eq.cascade), CURVE_FREQS_HZ[below], sample_rate), atol=1e-9)
    assert eq.fit.rms_error_db < 1.0


def test_bad_arguments(engine):
    x = reference_noise(1.0)
    with pytest.raises(UnknownWordError, match="warm"):
        engine.apply(x, SAMPLE_RATE, "wram", 0.5)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ParameterError, match="intensity"):
            engine.apply(x, SAMPLE_RATE, "warm", bad)
        with pytest.raises(ParameterError, match="alpha"):
            engine.apply(x, SAMPLE_RATE, "warm", 0.5, blend="bright", alpha=bad)


# -- the CLI -------------------------------------------------------------------------------

@pytest.fixture
def song(tmp_path):
    path = tmp_path / "song.wav"
    sf.write(str(path), reference_noise(2.0).T, SAMPLE_RATE, subtype="PCM_16")
    return path


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_intensity_zero_file_in_file_out(tmp_path, song, capsys):
    out = tmp_path / "same.wav"
    assert _run(capsys, "apply", song, "--target", "warm", "--intensity", "0", "-o", out)[0] == 0
    a, sr_a, info_a = load_audio(song)
    b, sr_b, info_b = load_audio(out)
    assert np.array_equal(a, b) and sr_a == sr_b and info_a.subtype == info_b.subtype == "PCM_16"


def test_cli_apply_auto_names_plots_and_prints_json(tmp_path, song, capsys, monkeypatch):
    import json

    monkeypatch.chdir(tmp_path)
    code, stdout, _ = _run(capsys, "apply", song, "--target", "warm", "--intensity", "0.7", "--json", "--plot", "c.png")
    assert code == 0
    facts = json.loads(stdout)
    assert facts["output"].endswith("song_warm_0_70.wav") and (tmp_path / "processed" / "song_warm_0_70.wav").exists()
    assert facts["eq"]["intensity"] == 0.7 and "fit_5band" in facts["eq"] and (tmp_path / "c.png").stat().st_size > 1000
    code, stdout, _ = _run(capsys, "apply", song, "--target", "warm", "--auto-intensity", "--blend", "bright")
    assert code == 0 and "auto-intensity" in stdout


def test_cli_bad_input(tmp_path, song, capsys):
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros((44100, 2)), SAMPLE_RATE)
    existing = tmp_path / "exists.wav"
    existing.write_bytes(b"keep")
    cases = [
        (["apply", song, "--target", "wram", "-o", tmp_path / "o.wav"], "closest"),
        (["apply", song, "--target", "warm", "--intensity", "1.5", "-o", tmp_path / "o.wav"], "intensity"),
        (["apply", song, "--target", "warm", "--blend", "bright", "--alpha", "-1", "-o", tmp_path / "o.wav"], "alpha"),
        (["apply", silent, "--target", "warm", "-o", tmp_path / "o.wav"], "silent"),
        (["apply", song, "--target", "warm", "-o", existing], "already exists"),
        (["apply", song, "--target", "warm", "-o", song], "overwrite the input"),
        (["analyze", tmp_path / "missing.wav"], "no such file"),
    ]
    for argv, match in cases:
        code, _, err = _run(capsys, *argv)
        assert code != 0 and len(err.strip().splitlines()) == 1 and match in err, (argv, err)
    assert not (tmp_path / "o.wav").exists() and existing.read_bytes() == b"keep"


def test_cli_batch_continues_past_bad_files(tmp_path, song, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(str(folder / "a.wav"), reference_noise(1.0).T, SAMPLE_RATE)
    sf.write(str(folder / "b.flac"), reference_noise(1.0, channels=1).T, SAMPLE_RATE)
    (folder / "broken.wav").write_text("not audio")
    code, stdout, err = _run(capsys, "apply", folder, "--target", "bright", "--intensity", "0.5", "-o", tmp_path / "out",
                             "--workers", "2")
    assert code == 1 and "2 processed, 1 failed" in stdout and "broken.wav" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_bright_0_50.wav", "b_bright_0_50.flac"]


def test_cli_analyze(song, capsys):
    code, stdout, _ = _run(capsys, "analyze", song, "--top-k", "3")
    assert code == 0 and "semantic profile" in stdout and "balance against the reference" in stdout


def test_cli_batch_names_every_failed_file(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(str(folder / "quiet.wav"), np.zeros((44100, 2)), SAMPLE_RATE)
    sf.write(str(folder / "ok.wav"), reference_noise(1.0).T, SAMPLE_RATE)
    code, stdout, err = _run(capsys, "apply", folder, "--target", "warm", "-o", tmp_path / "out", "--workers", "1")
    assert code == 1 and "quiet.wav" in err and "silent" in err


def test_cli_plot_never_replaces_the_input_or_the_output(tmp_path, song, capsys):
    original = song.read_bytes()
    out = tmp_path / "o.wav"
    for plot, match in ((song, "overwrite the input"), (out, "same file"), (tmp_path / "no" / "p.png", "does not exist")):
        code, _, err = _run(capsys, "apply", song, "--target", "warm", "-o", out, "--plot", plot, "--force")
        assert code == 2 and match in err, err
        assert not out.exists()  # nothing written before the checks passed
    assert song.read_bytes() == original


def test_cli_intensity_zero_copies_a_lossy_file_byte_for_byte(tmp_path, capsys):
    src = tmp_path / "song.ogg"
    sf.write(str(src), reference_noise(1.0).T * 0.5, SAMPLE_RATE, format="OGG", subtype="VORBIS")
    out = tmp_path / "same.ogg"
    assert _run(capsys, "apply", src, "--target", "warm", "--intensity", "0", "-o", out)[0] == 0
    assert out.read_bytes() == src.read_bytes()


def test_cli_demo_checks_before_writing(tmp_path, capsys):
    code, _, err = _run(capsys, "demo", "--out-dir", tmp_path / "d", "--intensity", "2")
    assert code == 2 and "intensity" in err and not (tmp_path / "d").exists()
    assert _run(capsys, "demo", "--out-dir", tmp_path / "d")[0] == 0
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["demo_input.wav", "demo_warm.png", "demo_warm.wav"]
    code, _, err = _run(capsys, "demo", "--out-dir", tmp_path / "d")
    assert code == 2 and "already exists" in err


def test_profile_ranks_well_supported_words_unless_asked(engine):
    x = reference_noise()
    assert all(not e.low_confidence for e in engine.profile(x, SAMPLE_RATE, top_k=50).entries)
    assert len(engine.profile(x, SAMPLE_RATE, top_k=50, min_confidence=0.0).entries) == 50


def test_streaming_with_the_shipped_models_converges_to_the_offline_render(engine):
    """Issue 6: a stationary input and a fixed target; measured -44 dB (RMS of the difference), the
    CNN reading the stream's kept mel frames. Without the stream's make-up gain: the offline render
    keeps the EQ's level."""
    from semeq.streaming import StreamingAdaptiveEQ

    n = np.arange(6 * SAMPLE_RATE)
    x = np.stack([sum(np.sin(2 * np.pi * 100.0 * h * n / SAMPLE_RATE + ph * h) / h for h in range(1, 60)) * 0.05
                  for ph in (0.0, 1.3)])
    with StreamingAdaptiveEQ(SAMPLE_RATE, 2, analyzer=engine, auto_gain=False) as stream:
        stream.set_target("bright", 0.7)
        out = []
        for i in range(0, x.shape[1], 512):
            out.append(stream.process(x[:, i : i + 512]))
            stream.wait_for_analysis(10.0)
        out = np.concatenate(out, axis=1)
    offline, result = engine.apply(x, SAMPLE_RATE, "bright", 0.7, loudness_match=False)
    assert result.eq.change_rms_db > 1.0  # a real EQ
    last = slice(4 * SAMPLE_RATE, None)  # once the 2 s window is full, plus the glide
    diff_db = 20 * np.log10(np.std(out[:, last] - offline[:, last]) / np.std(offline[:, last]))
    assert diff_db < -35.0, diff_db
    assert np.array_equal(out[:, : SAMPLE_RATE // 4], x[:, : SAMPLE_RATE // 4])  # before any analysis: the input


def test_models_from_a_folder_and_a_mismatched_pair_is_refused(tmp_path, song, capsys):
    import shutil

    from semeq.errors import DataError

    weights = Path(__file__).resolve().parents[1] / "src" / "semeq" / "weights"
    for f in weights.iterdir():
        shutil.copy(f, tmp_path / f.name)
    assert _run(capsys, "apply", song, "--target", "warm", "--models", tmp_path, "-o", tmp_path / "o.wav")[0] == 0
    # An encoder trained against another EQ model: refused, not silently wrong.
    meta = json.loads((tmp_path / "audio_encoder.json").read_text())
    meta["eq_model_sha256"] = "0" * 64
    (tmp_path / "audio_encoder.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="another EQ model"):
        SemanticEQ.from_dir(tmp_path)


def test_a_damaged_encoder_checkpoint_is_a_clear_error(tmp_path):
    import shutil

    from semeq.audio_encoder import AudioEncoder
    from semeq.errors import DataError

    weights = Path(__file__).resolve().parents[1] / "src" / "semeq" / "weights"
    shutil.copy(weights / "audio_encoder.json", tmp_path / "audio_encoder.json")
    (tmp_path / "audio_encoder.safetensors").write_bytes((weights / "audio_encoder.safetensors").read_bytes()[:1000])
    with pytest.raises(DataError):
        AudioEncoder.load(tmp_path)
    shutil.copy(weights / "audio_encoder.safetensors", tmp_path / "audio_encoder.safetensors")
    (tmp_path / "audio_encoder.json").write_text('{"format": "semeq-audio-encoder"}')
    with pytest.raises(DataError, match="damaged"):
        AudioEncoder.load(tmp_path)
