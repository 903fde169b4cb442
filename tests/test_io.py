"""load_audio / save_audio: formats, bit depths, layouts, and every way a file can be bad."""

import os

import numpy as np
import pytest
import soundfile as sf

from semeq import AudioFileError, ParameterError, load_audio, save_audio


def _write(path, audio, sample_rate=44100, subtype="PCM_16"):
    sf.write(str(path), audio.T, sample_rate, subtype=subtype)
    return path


@pytest.mark.parametrize("suffix,subtype,tol", [
    (".wav", "int16", 2 / 2**15), (".wav", "int24", 2 / 2**23), (".wav", "int32", 2 / 2**31),
    (".wav", "float", 1e-7), (".flac", "int16", 2 / 2**15), (".flac", "int24", 2 / 2**23), (".ogg", None, 0.2),
])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_round_trip(tmp_path, rng, suffix, subtype, tol, channels):
    audio = 0.5 * rng.uniform(-1, 1, (channels, 4410))
    path = save_audio(tmp_path / f"x{suffix}", audio, 44100, subtype=subtype)
    back, sample_rate, info = load_audio(path)
    assert back.shape == audio.shape and back.dtype == np.float64 and sample_rate == 44100
    assert info.channels == channels and info.frames == 4410
    if suffix != ".ogg":  # lossy: only check it decodes
        assert np.max(np.abs(back - audio)) <= tol


def test_keeps_the_input_format(tmp_path, rng):
    src = _write(tmp_path / "in.wav", 0.1 * rng.standard_normal((2, 1000)), subtype="PCM_24")
    audio, sample_rate, info = load_audio(src)
    out = save_audio(tmp_path / "out.wav", audio, sample_rate, like=info)
    assert sf.info(str(out)).subtype == "PCM_24"


def test_refuses_to_clobber_without_force(tmp_path, rng):
    out = tmp_path / "out.wav"
    out.write_bytes(b"precious")
    with pytest.raises(AudioFileError, match="already exists"):
        save_audio(out, np.zeros((1, 10)), 44100)
    assert out.read_bytes() == b"precious"
    save_audio(out, np.zeros((1, 10)), 44100, force=True)
    assert load_audio(out)[0].shape == (1, 10)


def test_failed_write_leaves_no_partial_file(tmp_path):
    with pytest.raises(ParameterError):
        save_audio(tmp_path / "nan.wav", np.array([[0.0, np.nan]]), 44100)
    with pytest.raises(AudioFileError, match="unknown output format"):
        save_audio(tmp_path / "x.xyz", np.zeros((1, 10)), 44100)
    assert os.listdir(tmp_path) == []


def test_missing_output_folder(tmp_path):
    with pytest.raises(AudioFileError, match="does not exist"):
        save_audio(tmp_path / "nope" / "x.wav", np.zeros((1, 10)), 44100)


def _truncated_wav(tmp_path, rng):
    full = _write(tmp_path / "full.wav", 0.1 * rng.standard_normal((2, 10000)))
    data = full.read_bytes()
    path = tmp_path / "truncated.wav"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("make,match", [
    (lambda d, r: d / "missing.wav", "no such file"),
    (lambda d, r: d, "directory"),
    (lambda d, r: (d / "empty.wav").write_bytes(b"") and d / "empty.wav" or d / "empty.wav", "empty"),
    (lambda d, r: (d / "text.wav").write_text("not audio at all") and d / "text.wav", "not a readable audio file"),
    (_truncated_wav, "truncated"),
    (lambda d, r: _write(d / "zero.wav", np.zeros((1, 0))), "zero samples"),
    (lambda d, r: _write(d / "nan.wav", np.array([[0.0, np.nan, 0.1]]), subtype="FLOAT"), "NaN or Inf"),
    (lambda d, r: _write(d / "inf.wav", np.array([[0.0, np.inf, 0.1]]), subtype="FLOAT"), "NaN or Inf"),
])
def test_bad_files_are_clear_errors(tmp_path, rng, make, match):
    path = make(tmp_path, rng)
    with pytest.raises(AudioFileError, match=match):
        load_audio(path)


def test_integer_formats_refuse_samples_past_full_scale(tmp_path):
    loud = np.array([[0.0, 1.5, -0.2]])
    with pytest.raises(AudioFileError, match="would clip"):
        save_audio(tmp_path / "x.flac", loud, 44100)
    assert os.listdir(tmp_path) == []
    save_audio(tmp_path / "x.wav", loud, 44100, subtype="float")
    assert load_audio(tmp_path / "x.wav")[0].max() == 1.5


def test_outputs_get_ordinary_permissions_and_unwritable_places_are_clear(tmp_path):
    path = save_audio(tmp_path / "x.wav", np.zeros((1, 10)), 44100)
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == 0o666 & ~umask
    with pytest.raises(AudioFileError, match="x.wav"):
        save_audio("/proc/x.wav", np.zeros((1, 10)), 44100)
