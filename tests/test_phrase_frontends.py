"""One phrase, one EQ: the CLI, the Python API and the streaming engine all reach the same rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from semeq.adaptive import SemanticEQ
from semeq.cli import main
from semeq.params import EQParams

SR = 44100
PHRASES = ("a bit darker", "too boomy", "less harsh", "warm with a touch of air", "más cálido")


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    rng = np.random.default_rng(9)
    t = np.arange(4 * SR) / SR
    x = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (80, 160, 330, 700, 1500, 3100, 6400, 9000))
    x = x + 0.05 * rng.standard_normal(t.size)
    audio = 0.2 * np.stack([x, np.roll(x, 11)]) / np.abs(x).max()
    path = tmp_path_factory.mktemp("song") / "song.wav"
    sf.write(path, audio.T, SR, subtype="DOUBLE")
    return path, audio


@pytest.fixture(scope="module")
def engine():
    return SemanticEQ()


@pytest.mark.parametrize("phrase", PHRASES)
def test_cli_json_and_api_give_the_same_eq(phrase, song, engine, tmp_path, capsys):
    path, audio = song
    assert main(["apply", str(path), "--target", phrase, "--json", "-o", str(tmp_path / "o.wav")]) == 0
    facts = json.loads(capsys.readouterr().out)
    understood = facts["eq"]["understood"]
    assert understood["text"] == phrase and understood["terms"]
    cli = EQParams(**{k: v for k, v in facts["eq"]["fit_5band"].items() if not k.endswith("error_db")})
    interp = engine.understand(phrase)
    intensity = interp.intensity if interp.intensity is not None else 0.5
    _, result = engine.apply(audio, SR, phrase, intensity)
    np.testing.assert_allclose(cli.to_vector(), result.eq.params.to_vector(), atol=1e-9)
    assert facts["eq"]["intensity"] == pytest.approx(intensity)


def test_the_cli_prints_how_it_understood_the_phrase(song, tmp_path, capsys):
    path, _ = song
    assert main(["apply", str(path), "--target", "too boomy", "-o", str(tmp_path / "o.wav")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith('understood "too boomy" as: less \'boomy\'') and 'from "too"' in first


def test_an_explicit_intensity_overrides_the_amount_word_with_a_note(song, tmp_path, capsys):
    path, _ = song
    assert main(["apply", str(path), "--target", "a bit warmer", "--intensity", "0.9", "--json",
                 "-o", str(tmp_path / "o.wav")]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["eq"]["intensity"] == pytest.approx(0.9)
    assert any("overridden" in note for note in facts["notes"])


def test_gibberish_is_refused_on_the_command_line_with_suggestions(song, tmp_path, capsys):
    path, _ = song
    assert main(["apply", str(path), "--target", "qwzx", "-o", str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "closest known words" in err[0] and not (tmp_path / "o.wav").exists()


def test_the_stream_understands_the_same_phrase(engine):
    """set_target with a phrase builds the very request the other front ends build."""
    from semeq.streaming import StreamingAdaptiveEQ

    with StreamingAdaptiveEQ(SR, 2, analyzer=SemanticEQ()) as stream:
        stream.set_target("less harsh", 0.7)
        assert stream.target == ("less harsh", 0.7)
        assert stream._worker.target.word == engine.request("less harsh", 0.7)
        stream.set_target("a bit warmer")  # no number: the amount word's intensity
        assert stream.target == ("warm", engine.understand("a bit warmer").intensity)


WEB_PHRASES = ("too boomy", "a bit warmer", "less harsh", "más cálido")


@pytest.fixture(scope="module")
def web(engine):
    """The web app in process, on the same loaded engine (starlette's test client)."""
    pytest.importorskip("starlette", reason="the web extra is not installed: pip install 'semeq[web]'")
    pytest.importorskip("httpx", reason="starlette's test client needs httpx")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from semeq.web.app import create_app
    from semeq.web.engine import Engine

    with TestClient(create_app(engine=Engine(seq=engine)), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("intensity", [None, 0.7])
@pytest.mark.parametrize("phrase", WEB_PHRASES)
def test_the_web_cli_and_api_give_the_same_eq(phrase, intensity, song, engine, web, tmp_path, capsys):
    """One phrase, one 5-band EQ from POST /api/apply (X-Semeq-Settings), `semeq apply --json` and
    SemanticEQ.apply: without an intensity the phrase's amount words set it in every front end."""
    path, audio = song
    fields = {"target": phrase} | ({} if intensity is None else {"intensity": str(intensity)})
    r = web.post("/api/apply", files={"file": ("song.wav", path.read_bytes())}, data=fields)
    assert r.status_code == 200, r.text
    applied = json.loads(r.headers["X-Semeq-Settings"])
    argv = ["apply", str(path), "--target", phrase, "--json", "-o", str(tmp_path / "o.wav")]
    assert main(argv + ([] if intensity is None else ["--intensity", str(intensity)])) == 0
    facts = json.loads(capsys.readouterr().out)
    interp = engine.understand(phrase)
    expected = intensity if intensity is not None else (interp.intensity if interp.intensity is not None else 0.5)
    _, result = engine.apply(audio, SR, phrase, expected)
    api = result.eq.params.to_vector()
    web_bands = EQParams(**applied["bands"]).to_vector()
    (cli_cascade,) = facts["eq"]["cascade"]
    np.testing.assert_allclose(web_bands, api, atol=1e-9)
    np.testing.assert_allclose(EQParams(**cli_cascade).to_vector(), api, atol=1e-9)
    assert applied["eq"]["cascade"] == facts["eq"]["cascade"]  # the very setting, as both print it
    assert applied["intensity"] == pytest.approx(expected) and facts["eq"]["intensity"] == pytest.approx(expected)
    assert applied["request"]["intensity_source"] == ("given" if intensity is not None else
                                                      "amount" if interp.intensity is not None else "default")
    assert applied["output_gain_db"] == facts["output_gain_db"] == round(result.gain_db, 3)
    assert applied["understood"] == facts["eq"]["understood"] == interp.to_dict()
