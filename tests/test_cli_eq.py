"""``semeq eq`` and the CLI's error contract: one line, non-zero exit, input untouched, no partial file."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from semeq import EQParams, apply_eq, load_audio
from semeq.cli import main


@pytest.fixture
def wav(tmp_path, rng):
    path = tmp_path / "in.wav"
    sf.write(str(path), 0.2 * rng.standard_normal((44100, 2)), 44100, subtype="PCM_24")
    return path


def _run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_eq_applies_the_manual_eq(tmp_path, wav, capsys):
    out = tmp_path / "out.wav"
    code, stdout, _ = _run(capsys, "eq", str(wav), "-o", str(out), "--low-shelf", "3@120", "--peak", "-2@400/1.4",
                           "--peak", "4@2k/2", "--high-shelf", "-6@8000", "--plot", str(tmp_path / "c.png"))
    assert code == 0
    audio, sample_rate, info = load_audio(wav)
    expected = apply_eq(audio, sample_rate, EQParams(
        low_shelf_gain_db=3, low_shelf_freq_hz=120, peak1_gain_db=-2, peak1_freq_hz=400, peak1_q=1.4,
        peak2_gain_db=4, peak2_freq_hz=2000, peak2_q=2, high_shelf_gain_db=-6, high_shelf_freq_hz=8000))
    got, _, out_info = load_audio(out)
    assert out_info.subtype == "PCM_24" and got.shape == audio.shape
    assert np.max(np.abs(got - expected)) < 2.0 / 2**23 + 1e-12
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert "peak 2" in stdout


def _corrupt_cases(tmp_path, wav):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "text.wav"
    text.write_text("hello")
    data = wav.read_bytes()
    truncated = tmp_path / "trunc.wav"
    truncated.write_bytes(data[: len(data) // 3])
    zero = tmp_path / "zero.wav"
    sf.write(str(zero), np.zeros((0, 2)), 44100)
    nan = tmp_path / "nan.wav"
    sf.write(str(nan), np.array([[0.0], [np.nan]]), 44100, subtype="FLOAT")
    existing = tmp_path / "exists.wav"
    existing.write_bytes(b"keep me")
    out = str(tmp_path / "out.wav")
    return [
        (["eq", str(tmp_path / "missing.wav"), "-o", out], "no such file"),
        (["eq", str(tmp_path), "-o", out], "directory"),
        (["eq", str(empty), "-o", out], "empty"),
        (["eq", str(text), "-o", out], "not a readable audio file"),
        (["eq", str(truncated), "-o", out], "truncated"),
        (["eq", str(zero), "-o", out], "zero samples"),
        (["eq", str(nan), "-o", out], "NaN"),
        (["eq", str(wav), "-o", out, "--peak", "20@1000/1"], "peak1_gain_db=20"),
        (["eq", str(wav), "-o", out, "--high-shelf", "3@30000"], "high_shelf_freq_hz"),
        (["eq", str(wav), "-o", out, "--peak", "3@loud"], "cannot read band"),
        (["eq", str(wav), "-o", str(wav), "--peak", "3@1000/1"], "overwrite the input"),
        (["eq", str(wav), "-o", str(tmp_path / "no" / "x.wav")], "does not exist"),
        (["eq", str(wav), "-o", str(existing)], "already exists"),
    ]


def test_bad_input_gives_one_line_and_touches_nothing(tmp_path, wav, capsys):
    original = wav.read_bytes()
    for argv, match in _corrupt_cases(tmp_path, wav):
        before = sorted(os.listdir(tmp_path))
        code, _, err = _run(capsys, *argv)
        assert code != 0, argv
        lines = err.strip().splitlines()
        assert len(lines) == 1 and match in lines[0] and "Traceback" not in err, (argv, err)
        assert sorted(os.listdir(tmp_path)) == before, argv  # no partial file
    assert wav.read_bytes() == original
    assert (tmp_path / "exists.wav").read_bytes() == b"keep me"


def test_force_overwrites(tmp_path, wav, capsys):
    out = tmp_path / "o.flac"
    out.write_bytes(b"old")
    assert _run(capsys, "eq", str(wav), "-o", str(out), "--force")[0] == 0
    assert load_audio(out)[0].shape == (2, 44100)


def test_console_entry_point_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "semeq.cli", "eq", str(tmp_path / "x.wav"), "-o", str(tmp_path / "y.wav")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no such file" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "semeq.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("semeq ")
    proc = subprocess.run([sys.executable, "-m", "semeq.cli", "eq"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
