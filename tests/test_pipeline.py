"""apply_file: the file pipeline in constant memory, sample for sample the array path."""

import tracemalloc

import numpy as np
import pytest
import soundfile as sf

import semeq.io as semeq_io
from semeq import AudioFileError, ParameterError
from semeq.adaptive import SemanticEQ
from semeq.io import load_audio
from semeq.pipeline import ApplyFileResult, apply_file, read_analysis_excerpt

SAMPLE_RATE = 44100


@pytest.fixture(scope="module")
def engine():
    return SemanticEQ()


def _music_like(seconds, seed=0, channels=2):
    """Pink-ish noise with a slow level swell: loudness gating and the ceiling both have work to do."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    white = rng.standard_normal((channels, n))
    spectrum = np.fft.rfft(white, axis=-1)
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum /= np.sqrt(np.maximum(freqs, 20.0))
    x = np.fft.irfft(spectrum, n, axis=-1)
    x *= 0.15 / np.std(x) * (0.3 + 0.7 * np.sin(np.linspace(0, 3 * np.pi, n)) ** 2)
    return x


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    path = tmp_path_factory.mktemp("song") / "song.wav"
    sf.write(str(path), _music_like(12.0).T, SAMPLE_RATE, subtype="PCM_16")
    return path


@pytest.mark.parametrize("kwargs", [
    dict(intensity=0.7), dict(intensity=None), dict(intensity=0.8, static=True), dict(intensity=0.6, loudness_match=False),
    dict(intensity=0.5, blend="bright", alpha=0.3),
])
def test_the_file_equals_the_array_path_sample_for_sample(tmp_path, engine, song, kwargs):
    kwargs = dict(kwargs)
    intensity = kwargs.pop("intensity")
    audio, sample_rate, _ = load_audio(song)
    expected, result = engine.apply(audio, sample_rate, "warm", intensity, **kwargs)
    out = tmp_path / "out.wav"
    got = apply_file(song, out, "warm", intensity, subtype="DOUBLE", engine=engine, **kwargs)
    written, rate = sf.read(str(out), dtype="float64", always_2d=True)
    assert rate == sample_rate and written.shape == expected.T.shape
    assert np.array_equal(written.T, expected)  # bit for bit
    assert isinstance(got, ApplyFileResult) and got.gain_db == result.gain_db
    np.testing.assert_equal(vars(got.stats_out), vars(result.stats_out))  # NaN (unmeasured) equals NaN here
    np.testing.assert_equal(vars(got.stats_in), vars(result.stats_in))
    assert got.eq.intensity == result.eq.intensity and got.analysed_s == pytest.approx(12.0)


def test_the_output_is_loudness_matched_below_the_ceiling(tmp_path, engine, song):
    from semeq.loudness import level_stats

    result = apply_file(song, tmp_path / "o.wav", "bright", 0.8, subtype="FLOAT", engine=engine)
    audio_in, _, _ = load_audio(song)
    audio_out, _, _ = load_audio(tmp_path / "o.wav")
    before, after = level_stats(audio_in, SAMPLE_RATE), level_stats(audio_out, SAMPLE_RATE)
    limited = any("ceiling" in note for note in result.notes)
    assert after.true_peak_dbtp <= -1.0 + 1e-3
    if not limited:
        assert after.loudness_lufs == pytest.approx(before.loudness_lufs, abs=0.01)
    assert after.loudness_lufs == pytest.approx(result.stats_out.loudness_lufs, abs=0.01)


def test_intensity_zero_copies_the_bytes(tmp_path, engine, song):
    result = apply_file(song, tmp_path / "same.wav", "warm", 0.0, engine=engine)
    assert result.copied and (tmp_path / "same.wav").read_bytes() == song.read_bytes()
    result = apply_file(song, tmp_path / "same.flac", "warm", 0.0, engine=engine)  # another format: transcoded
    assert not result.copied
    np.testing.assert_array_equal(load_audio(tmp_path / "same.flac")[0], load_audio(song)[0])


def test_a_long_file_is_analysed_from_evenly_spaced_windows(tmp_path, monkeypatch):
    x = _music_like(9.0, seed=3)
    path = tmp_path / "long.wav"
    sf.write(str(path), x.T, SAMPLE_RATE, subtype="FLOAT")
    monkeypatch.setattr(semeq_io, "ANALYSIS_FULL_MAX_S", 4.0)
    monkeypatch.setattr(semeq_io, "ANALYSIS_N_WINDOWS", 3)
    excerpt, rate, analysed_s = read_analysis_excerpt(path)
    window = int(2.0 * SAMPLE_RATE)
    stored = x.astype(np.float32).astype(np.float64)
    starts = [0, (x.shape[1] - window) // 2, x.shape[1] - window]  # first, middle, last
    expected = np.concatenate([stored[:, s : s + window] for s in starts], axis=1)
    assert rate == SAMPLE_RATE and analysed_s == pytest.approx(6.0)
    np.testing.assert_array_equal(excerpt, expected)


def test_memory_does_not_grow_with_the_file(tmp_path, engine, monkeypatch):
    """Past the analysis excerpt, peak memory is a few blocks, whatever the length."""
    monkeypatch.setattr(semeq_io, "ANALYSIS_FULL_MAX_S", 4.0)
    monkeypatch.setattr(semeq_io, "ANALYSIS_N_WINDOWS", 2)
    peaks = {}
    for seconds in (20.0, 80.0):
        src = tmp_path / f"in{seconds:g}.wav"
        with sf.SoundFile(str(src), "w", SAMPLE_RATE, 2, subtype="PCM_16") as f:
            for k in range(int(seconds // 10)):
                f.write(_music_like(10.0, seed=k).T)
        apply_file(src, tmp_path / "warmup.wav", "warm", 0.5, engine=engine, force=True)  # imports, caches
        tracemalloc.start()
        try:
            apply_file(src, tmp_path / f"out{seconds:g}.wav", "warm", 0.5, engine=engine)
            peaks[seconds] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    input_bytes_80 = 80 * SAMPLE_RATE * 2 * 8
    assert peaks[80.0] < 1.25 * peaks[20.0], peaks  # 4x the audio, (about) the same memory
    assert peaks[80.0] < input_bytes_80 / 2, peaks  # below holding the file as float64 even once


def test_progress_reports_fractions_up_to_one(tmp_path, engine, song):
    seen = []
    apply_file(song, tmp_path / "o.wav", "warm", 0.5, engine=engine, progress=seen.append)
    assert seen and seen[-1] == pytest.approx(1.0) and all(b >= a for a, b in zip(seen, seen[1:]))


def test_outputs_are_checked_before_any_work(tmp_path, engine, song, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("processing started")

    monkeypatch.setattr(SemanticEQ, "adaptive_eq", refuse)
    existing = tmp_path / "exists.wav"
    existing.write_bytes(b"keep")
    for dst, match in ((tmp_path / "o.xyz", "unknown output format"), (existing, "already exists"),
                       (tmp_path / "none" / "o.wav", "does not exist"), (song, "overwrite the input")):
        with pytest.raises(AudioFileError, match=match):
            apply_file(song, dst, "warm", 0.5, engine=engine)
    with pytest.raises(AudioFileError, match="cannot hold"):
        apply_file(song, tmp_path / "o.flac", "warm", 0.5, engine=engine, subtype="FLOAT")
    with pytest.raises(ParameterError, match="intensity"):
        apply_file(song, tmp_path / "o.wav", "warm", 1.5, engine=engine)
    assert existing.read_bytes() == b"keep" and sorted(p.name for p in tmp_path.iterdir()) == ["exists.wav"]


def test_a_truncated_input_is_refused_and_nothing_is_written(tmp_path, engine, song):
    data = song.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioFileError, match="truncated"):
        apply_file(cut, tmp_path / "o.wav", "warm", 0.5, engine=engine)
    assert not (tmp_path / "o.wav").exists()


def _stderr_on_a_terminal(argv, cwd):
    """Run the CLI with stderr on a pseudo-terminal (120 columns); return what it drew there."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios
    from pathlib import Path

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    src = str(Path(__file__).resolve().parents[1] / "src")
    proc = subprocess.Popen([sys.executable, "-m", "semeq.cli", *map(str, argv)], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=slave, env=dict(os.environ, PYTHONPATH=src))
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
        elif proc.poll() is not None:
            break
    proc.wait(timeout=120)
    os.close(master)
    assert proc.returncode == 0, out
    return out.decode(errors="replace")


def test_a_progress_bar_for_files_over_a_minute_on_a_terminal(tmp_path):
    long, short = tmp_path / "long.wav", tmp_path / "short.wav"
    sf.write(str(long), _music_like(61.0, channels=1).T, SAMPLE_RATE)
    sf.write(str(short), _music_like(10.0, channels=1).T, SAMPLE_RATE)
    common = ["--target", "warm", "--intensity", "0.5", "--force"]
    assert "semeq long.wav:" in _stderr_on_a_terminal(["apply", long, "-o", tmp_path / "a.wav", *common], tmp_path)
    assert "semeq long.wav:" not in _stderr_on_a_terminal(["apply", long, "-o", tmp_path / "b.wav", "--no-progress", *common],
                                                         tmp_path)
    assert "%|" not in _stderr_on_a_terminal(["apply", short, "-o", tmp_path / "c.wav", *common], tmp_path)
