"""Issue 13: fail fast, fail safe. Each test failed before its fix (checked against 51b4632)."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from semeq import AudioFileError, EQParams, ParameterError, StreamingEQ, apply_eq, load_audio, save_audio
from semeq.adaptive import SemanticEQ
from semeq.cli import main
from semeq.io import check_output_path
from semeq.loudness import integrated_loudness

SAMPLE_RATE = 44100
SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def engine():
    return SemanticEQ()


def _noise(seconds=2.0, channels=2, seed=0, level=0.1):
    return level * np.random.default_rng(seed).standard_normal((channels, int(seconds * SAMPLE_RATE)))


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _entry_points(engine):
    """Every public entry point that takes audio, as f(audio, sample_rate)."""
    return {
        "apply": lambda a, sr: engine.apply(a, sr, "warm", 0.5),
        "profile": lambda a, sr: engine.profile(a, sr),
        "score": lambda a, sr: engine.score(a, sr, "warm"),
        "suggest_intensity": lambda a, sr: engine.suggest_intensity(a, sr, "warm"),
        "adaptive_eq": lambda a, sr: engine.adaptive_eq(a, sr, "warm", 0.5),
        "encode": lambda a, sr: engine.encode(a, sr),
        "apply_eq": lambda a, sr: apply_eq(a, sr, EQParams(peak1_gain_db=3.0)),
        "StreamingEQ": lambda a, sr: StreamingEQ(sr, 2, EQParams(peak1_gain_db=3.0)).process(a),
    }


# -- 1. (samples, channels) arrays --------------------------------------------------------------
@pytest.mark.parametrize("name", ["apply", "profile", "score", "suggest_intensity", "adaptive_eq", "encode", "apply_eq"])
def test_a_transposed_array_is_refused_at_once_with_a_hint(engine, name):
    x = _noise(2.0).T.copy()  # (88200, 2): what soundfile.read returns
    call = _entry_points(engine)[name]
    with pytest.raises(ParameterError, match=r"x\.T"):
        call(x[:1000], SAMPLE_RATE)  # first call: imports done outside the measurement
    tracemalloc.start()
    try:
        with pytest.raises(ParameterError, match=r"x\.T"):
            call(x, SAMPLE_RATE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes / 16  # refused before anything proportional to the input was allocated


def test_save_audio_refuses_a_transposed_array(tmp_path):
    with pytest.raises(ParameterError, match=r"x\.T"):
        save_audio(tmp_path / "x.wav", _noise(0.5).T, SAMPLE_RATE)
    assert os.listdir(tmp_path) == []


# -- 2. one sample-rate check -------------------------------------------------------------------
@pytest.mark.parametrize("bad", [0, -44100, float("nan"), float("inf"), "44100", None, True, 10**9])
@pytest.mark.parametrize("name", ["apply", "profile", "score", "suggest_intensity", "adaptive_eq", "encode", "apply_eq",
                                  "StreamingEQ"])
def test_a_bad_sample_rate_is_the_same_clear_error_everywhere(engine, name, bad):
    with pytest.raises(ParameterError, match="sample_rate"):
        _entry_points(engine)[name](_noise(0.2), bad)


def test_save_audio_checks_the_sample_rate(tmp_path):
    for bad in (0, "44100", float("nan")):
        with pytest.raises(ParameterError, match="sample_rate"):
            save_audio(tmp_path / "x.wav", _noise(0.1), bad)
    assert os.listdir(tmp_path) == []


# -- 3. integer PCM is scaled by its full scale -----------------------------------------------------
def test_int16_audio_is_scaled_by_full_scale(engine):
    x = np.round(_noise(3.0, level=0.05) * 32767).astype(np.int16)
    as_float = x / 32768.0
    out_int, result_int = engine.apply(x, SAMPLE_RATE, "warm", 0.5)
    out_float, _ = engine.apply(as_float, SAMPLE_RATE, "warm", 0.5)
    np.testing.assert_array_equal(out_int, out_float)
    # Level-matched to the input's real loudness (about -20 LUFS), not taken as +70 LUFS.
    assert integrated_loudness(out_int, SAMPLE_RATE) == pytest.approx(result_int.stats_in.loudness_lufs, abs=0.1)
    assert result_int.stats_in.loudness_lufs < 0.0
    np.testing.assert_array_equal(apply_eq(x, SAMPLE_RATE, EQParams()), as_float)


def test_integers_without_a_pcm_convention_are_refused():
    for dtype in (np.int64, np.uint16, np.bool_):
        with pytest.raises(ParameterError, match="dtype"):
            apply_eq(np.zeros((1, 100), dtype=dtype), SAMPLE_RATE, EQParams())


# -- 4. Ctrl-C ---------------------------------------------------------------------------------------
def _spawn(argv, cwd):
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {SRC!r})
        import semeq.cli
        print("ready", flush=True)
        sys.exit(semeq.cli.main({[str(a) for a in argv]!r}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_ctrl_c_early_in_a_single_run_is_one_line(tmp_path):
    src = tmp_path / "in.wav"
    sf.write(str(src), _noise(5.0).T, SAMPLE_RATE)
    for delay in (0.0, 0.5):
        out = tmp_path / f"out{delay}.wav"
        proc = _spawn(["apply", src, "--target", "warm", "-o", out], tmp_path)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and err.strip().splitlines() == ["semeq: interrupted"], err
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]  # no partial file


def test_ctrl_c_stops_a_batch_with_a_summary_and_nothing_partial(tmp_path):
    folder, out_dir = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    n_files = 8
    for k in range(n_files):
        sf.write(str(folder / f"f{k}.wav"), _noise(30.0, seed=k).T, SAMPLE_RATE)
    proc = _spawn(["apply", folder, "--target", "bright", "--intensity", "0.5", "-o", out_dir, "--workers", "2"], tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(out_dir.glob(".*.part")) and not any(out_dir.glob("*.wav")):
        time.sleep(0.05)  # until the first file is being written
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # a second Ctrl-C must not hang the process
    stopped = time.monotonic()
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # hung: do not leave it (or its workers) behind
            subprocess.run(["pkill", "-KILL", "-P", str(proc.pid)], check=False)  # its workers, by parent id
            proc.kill()
            proc.wait()
    elapsed = time.monotonic() - stopped
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err and "not done" in err, err
    written = sorted(p.name for p in out_dir.iterdir())
    assert all(not name.endswith(".part") for name in written), written  # nothing partial left
    assert len(written) < n_files  # the queue was cancelled, not worked through
    assert out.count("not done:") == n_files - len(written) - err.count("failed:")
    for name in written:  # what was written is complete
        assert sf.info(str(out_dir / name)).frames == 30 * SAMPLE_RATE
    assert elapsed < 20, elapsed  # generous: a whole file takes longer on this machine


# -- 5. special files ------------------------------------------------------------------------------
def test_force_never_replaces_a_fifo_or_a_device(tmp_path, capsys):
    src = tmp_path / "in.wav"
    sf.write(str(src), _noise(1.0).T, SAMPLE_RATE)
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    code, _, err = _run(capsys, "eq", src, "-o", fifo, "--peak", "3@1k/1", "--force")
    assert code == 2 and "FIFO" in err and len(err.strip().splitlines()) == 1
    assert fifo.is_fifo()
    with pytest.raises(AudioFileError, match="character device"):
        check_output_path("/dev/null", force=True)


def test_a_dangling_symlink_counts_as_existing(tmp_path, capsys):
    src = tmp_path / "in.wav"
    sf.write(str(src), _noise(1.0).T, SAMPLE_RATE)
    link = tmp_path / "link.wav"
    link.symlink_to(tmp_path / "nowhere.wav")
    code, _, err = _run(capsys, "eq", src, "-o", link, "--peak", "3@1k/1")
    assert code == 2 and "already exists" in err
    assert link.is_symlink() and not (tmp_path / "nowhere.wav").exists()


# -- 6. every output checked before any work ------------------------------------------------------
@pytest.fixture
def no_processing(monkeypatch):
    """Make any analysis fail loudly: a check that comes after the work shows up as this error."""
    def refuse(*args, **kwargs):
        raise RuntimeError("processing started")

    monkeypatch.setattr(SemanticEQ, "adaptive_eq", refuse)


def test_an_unknown_output_format_is_refused_before_processing(tmp_path, capsys, no_processing):
    src = tmp_path / "in.wav"
    sf.write(str(src), _noise(1.0).T, SAMPLE_RATE)
    code, _, err = _run(capsys, "apply", src, "--target", "warm", "-o", tmp_path / "out.xyz")
    assert code == 2 and "unknown output format" in err, err


def test_a_batch_rerun_is_refused_before_processing(tmp_path, capsys, monkeypatch):
    folder, out_dir = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for k in range(3):
        sf.write(str(folder / f"f{k}.wav"), _noise(1.0, seed=k).T, SAMPLE_RATE)
    argv = ["apply", folder, "--target", "bright", "--intensity", "0.5", "-o", out_dir, "--workers", "1"]
    assert _run(capsys, *argv)[0] == 0
    before = {p.name: p.stat().st_mtime_ns for p in out_dir.iterdir()}

    def refuse(*args, **kwargs):
        raise RuntimeError("processing started")

    monkeypatch.setattr(SemanticEQ, "adaptive_eq", refuse)
    code, _, err = _run(capsys, *argv)
    assert code == 2 and "already exists" in err and "processing started" not in err, err
    assert {p.name: p.stat().st_mtime_ns for p in out_dir.iterdir()} == before


# -- 7. disk full, file too large -----------------------------------------------------------------
def test_disk_full_names_the_cause_and_leaves_nothing(tmp_path, monkeypatch):
    import semeq.io

    real_open = open

    class FullDisk:
        def __init__(self, path, mode, buffering=-1):
            self._f = real_open(path, mode, buffering=buffering)
            self._written = 0

        def write(self, data):
            if self._written + len(data) > 4096:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self._written += len(data)
            return self._f.write(data)

        def __getattr__(self, name):
            return getattr(self._f, name)

    monkeypatch.setattr(semeq.io, "open", FullDisk, raising=False)
    with pytest.raises(AudioFileError, match="no space left.*ENOSPC"):
        save_audio(tmp_path / "x.wav", _noise(1.0), SAMPLE_RATE)
    assert os.listdir(tmp_path) == []


def test_a_file_size_limit_names_the_cause_and_leaves_nothing(tmp_path):
    src = tmp_path / "in.wav"
    sf.write(str(src), _noise(2.0).T, SAMPLE_RATE)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {SRC!r})
        resource.setrlimit(resource.RLIMIT_FSIZE, (100000, 100000))
        import semeq.cli
        sys.exit(semeq.cli.main(["eq", {str(src)!r}, "-o", {str(out_dir / "o.wav")!r}, "--peak", "-3@1k/1"]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "file too large" in proc.stderr and "EFBIG" in proc.stderr and "Traceback" not in proc.stderr
    assert os.listdir(out_dir) == []


# -- 8. a hot result can be written -----------------------------------------------------------------
def test_subtype_float_writes_what_pcm_would_clip(tmp_path, capsys):
    src = tmp_path / "in.wav"
    sf.write(str(src), 0.5 * np.sin(2 * np.pi * 1000 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)[:, None] * [1, 1],
             SAMPLE_RATE, subtype="PCM_16")
    out = tmp_path / "out.wav"
    code, _, err = _run(capsys, "eq", src, "-o", out, "--peak", "12@1k/1")
    assert code == 2 and "would clip" in err and "--subtype FLOAT" in err and not out.exists()
    code, _, err = _run(capsys, "eq", src, "-o", out, "--peak", "12@1k/1", "--subtype", "FLOAT")
    assert code == 0, err
    audio, _, info = load_audio(out)
    assert info.subtype == "FLOAT" and 20 * np.log10(np.max(np.abs(audio))) == pytest.approx(20 * np.log10(0.5) + 12, abs=0.1)


def test_apply_writes_the_subtype_asked_for(tmp_path, capsys):
    src = tmp_path / "in.wav"
    sf.write(str(src), _noise(2.0).T, SAMPLE_RATE, subtype="PCM_24")
    out = tmp_path / "out.wav"
    code, _, err = _run(capsys, "apply", src, "--target", "warm", "--intensity", "0.5", "-o", out, "--subtype", "PCM_16")
    assert code == 0, err
    assert sf.info(str(out)).subtype == "PCM_16"
