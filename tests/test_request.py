"""The one request object, the house's one-way data flow, and the seed's rule as mode 'latent'."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys

import numpy as np
import pytest

from semeq.adaptive import CURVE_FREQS_HZ, SemanticEQ
from semeq.analysis import GRID_FREQS_HZ
from semeq.dsp import eq_response
from semeq.errors import ParameterError
from semeq.request import DEFAULT_INTENSITY, MODES, EQRequest

SR = 44100


@pytest.fixture(scope="module")
def engine():
    return SemanticEQ()


@pytest.fixture(scope="module")
def music():
    """3 s of a tilted tone complex with a noise floor: something every mode can read."""
    rng = np.random.default_rng(5)
    t = np.arange(3 * SR) / SR
    x = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) / (1 + f / 500) for f in (110, 220, 440, 880, 1760, 3520, 7040))
    x = x + 0.02 * rng.standard_normal(t.size)
    return 0.2 * np.stack([x, np.roll(x, 7)]) / np.abs(x).max()


def test_request_checks_combinations_once(engine):
    warm = engine.understand("warm")
    with pytest.raises(ParameterError, match="auto-intensity measures the recording"):
        EQRequest(target=warm, intensity=None, mode="static")
    with pytest.raises(ParameterError, match="alpha needs a blend"):
        EQRequest(target=warm, alpha=0.3)
    with pytest.raises(ParameterError, match="goes with mode 'match'"):
        EQRequest(target=warm, reference="ref.wav", mode="toward")
    with pytest.raises(ParameterError, match="mode must be one of"):
        EQRequest(target=warm, mode="loud")
    with pytest.raises(ParameterError, match=r"intensity must be in \[0, 1\]"):
        EQRequest(target=warm, intensity=1.5)
    with pytest.raises(ParameterError, match=r"intensity must be a number in \[0, 1\]"):
        EQRequest(target=warm, intensity=True)
    assert EQRequest(target=warm, intensity=np.float32(0.25)).intensity == 0.25  # NumPy numbers are numbers
    assert EQRequest(target=warm, intensity=np.array(1)).intensity == 1.0
    with pytest.raises(ParameterError, match="understood phrase"):
        EQRequest(target="warm")
    req = EQRequest(target=warm)
    with pytest.raises(dataclasses.FrozenInstanceError):
        req.intensity = 0.9  # type: ignore[misc]
    assert req.replace(intensity=0.25).intensity == 0.25 and req.intensity == DEFAULT_INTENSITY


def test_engine_request_defaults(engine):
    assert engine.request("warm").intensity == DEFAULT_INTENSITY and engine.request("warm").intensity_source == "default"
    assert engine.request("warm", "auto").intensity is None
    assert engine.request("warm", reference=("x", 1)).mode == "match"  # a reference implies match
    assert engine.request("warm", static=True).mode == "static"
    blended = engine.request("warm", 0.7, blend="airy")
    assert blended.alpha == 0.5 and blended.label == "warm + airy (0.50)"
    with pytest.raises(ParameterError, match="'auto'"):
        engine.request("warm", "loud")


def test_apply_with_a_request_equals_the_keyword_api(engine, music):
    request = engine.request("bright", 0.6, blend="airy", alpha=0.3)
    a, ra = engine.apply(music, SR, request)
    b, rb = engine.apply(music, SR, "bright", 0.6, blend="airy", alpha=0.3)
    np.testing.assert_array_equal(a, b)
    assert ra.eq.params == rb.eq.params


def test_blend_is_the_latent_interpolation(engine):
    """--blend has always been (1 - alpha) z_target + alpha z_blend, decoded: it still is."""
    z = 0.7 * engine.eq_model.embedding("warm") + 0.3 * engine.eq_model.embedding("airy")
    np.testing.assert_allclose(engine.word_curve_db("warm", "airy", 0.3),
                               eq_response(engine.eq_model.decode(z), GRID_FREQS_HZ), atol=1e-12)


def test_the_facade_never_imports_the_file_pipeline(tmp_path):
    """No circle: the array API decides and renders without semeq.pipeline (which sits above it)."""
    code = ("import sys, numpy as np, semeq\n"
            "x = 0.1 * np.random.default_rng(0).standard_normal((2, 44100))\n"
            "semeq.SemanticEQ().apply(x, 44100, 'warm', 0.5)\n"
            "print('semeq.pipeline' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_models_dir_without_encoder_loads(tmp_path):
    """The default modes never read the audio encoder: a folder with the EQ model alone is enough."""
    from semeq.eq_model import default_weights_path

    weights = default_weights_path()
    for suffix in (".safetensors", ".json"):
        shutil.copy(weights.with_suffix(suffix), tmp_path / f"eq_vae{suffix}")
    seq = SemanticEQ.from_dir(tmp_path)
    assert seq._audio_encoder is None and seq.request("warm").mode == "toward"


# -- the seed's rule: mode "latent" -------------------------------------------------------------------
def test_latent_mode_is_the_seeds_rule_realised_as_one_5_band_eq(engine, music):
    assert "latent" in MODES
    request = engine.request("warm", 0.8, mode="latent")
    eq, _ = engine.decide(request, music, SR)
    z_audio = engine.encode(music, SR)
    z_final = z_audio + 0.8 * (engine.eq_model.embedding("warm") - z_audio)
    expected = eq_response(engine.eq_model.decode(z_final), GRID_FREQS_HZ) - eq_response(
        engine.eq_model.decode(z_audio), GRID_FREQS_HZ)
    held = eq.balance.held
    np.testing.assert_allclose(eq.designed_db[held], expected[held], atol=1e-9)
    assert len(eq.cascade) == 1  # one 5-band setting, the one shown
    assert eq.fit.rms_error_db < 1.0
    np.testing.assert_allclose(eq.curve_db[CURVE_FREQS_HZ < 0.5 * SR],
                               eq_response(eq.params, CURVE_FREQS_HZ[CURVE_FREQS_HZ < 0.5 * SR], SR), atol=1e-9)


def test_latent_mode_bypass_and_refusals(engine, music):
    out, result = engine.apply(music, SR, "warm", 0.0, mode="latent")
    np.testing.assert_array_equal(out, music)
    with pytest.raises(ParameterError, match="not 'less X'"):
        engine.apply(music, SR, EQRequest(target=_negated(engine, "warm"), intensity=0.5, mode="latent"))
    freqs = np.fft.rfftfreq(1024, 1 / SR)
    with pytest.raises(ParameterError, match="no streaming form"):
        engine.design_from_power(freqs, 1.0 / (1.0 + freqs), engine.request("warm", 0.5, mode="latent"))


def test_cli_latent_mode_names_its_output(tmp_path, music, capsys):
    import soundfile as sf

    from semeq.cli import main

    src = tmp_path / "song.wav"
    sf.write(src, music.T, SR, subtype="FLOAT")
    out = tmp_path / "out"
    out.mkdir()
    assert main(["apply", str(src), "--target", "warm", "--mode", "latent", "--intensity", "0.6",
                 "-o", str(out / "song_latent.wav")]) == 0
    printed = capsys.readouterr().out
    assert "latent 'warm'" in printed and (out / "song_latent.wav").is_file()


def _negated(engine, word):
    """'less WORD' built by hand (the phrase parser builds the same)."""
    import dataclasses

    interp = engine.understand(word)
    return dataclasses.replace(interp, text=f"less {word}",
                               terms=tuple(dataclasses.replace(t, sign=-1) for t in interp.terms))


def test_latent_mode_reads_the_recording_through_the_chosen_encoder(music):
    """SemanticEQ(encoder="analytic") is the latent mode with the analytic encoder: a run path of its own."""
    analytic = SemanticEQ(encoder="analytic")
    eq_a, _ = analytic.decide(analytic.request("warm", 0.8, mode="latent"), music, SR)
    cnn = SemanticEQ()
    eq_c, _ = cnn.decide(cnn.request("warm", 0.8, mode="latent"), music, SR)
    z = analytic.encode(music, SR)
    assert z.shape == (32,) and not np.allclose(z, cnn.encode(music, SR))
    assert len(eq_a.cascade) == 1 and not np.allclose(eq_a.designed_db, eq_c.designed_db)
