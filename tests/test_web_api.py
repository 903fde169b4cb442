"""The web app's API, in process (Starlette's test client): results, every bad input, safety."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import warnings

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the web extra is not installed: pip install 'semeq[web]'")
pytest.importorskip("httpx", reason="starlette's test client needs httpx")
import soundfile as sf  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from semeq.loudness import integrated_loudness  # noqa: E402
from semeq.web.abx import SCHEMA_VERSION, binomial_p_value  # noqa: E402
from semeq.web.app import create_app  # noqa: E402
from semeq.web.engine import Engine  # noqa: E402

SR = 44100
LSB16 = 1.0 / 32768.0


def _music_like(seconds: float, sample_rate: int = SR, channels: int = 2, seed: int = 0) -> np.ndarray:
    """Pink-ish noise with a slow level movement (a stand-in for music; no data needed)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    spec = np.fft.rfft(rng.standard_normal((channels, n)), axis=-1)
    f = np.fft.rfftfreq(n, 1 / sample_rate)
    spec /= np.sqrt(np.maximum(f, 20.0))
    x = np.fft.irfft(spec, n, axis=-1)
    x *= 1.0 + 0.3 * np.sin(2 * np.pi * 0.5 * np.arange(n) / sample_rate)
    return 0.2 * x / np.max(np.abs(x))


def _file(audio: np.ndarray, sample_rate: int = SR, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio.T, sample_rate, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.fixture(scope="module")
def engine():
    return Engine()


@pytest.fixture
def make_client(engine, tmp_path):
    clients = []

    def make(**kwargs):
        kwargs.setdefault("db_path", tmp_path / "abx.sqlite3")
        app = create_app(engine=engine, **kwargs)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture(scope="module")
def wav5():
    return _music_like(5.0)


def _upload(client, data: bytes, name: str = "clip.wav") -> dict:
    r = client.post("/api/uploads", files={"file": (name, data)})
    assert r.status_code == 201, r.text
    return r.json()


def _error(r, status: int, match: str | None = None) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) <= {"error", "suggestions"} and "Traceback" not in body["error"]
    if match:
        assert match in body["error"], body["error"]
    return body["error"]


def _wait(client, job: str) -> dict:
    import time

    for _ in range(600):
        st = client.get(f"/api/jobs/{job}").json()
        if st["state"] in ("done", "failed", "cancelled"):
            return st
        time.sleep(0.05)
    raise AssertionError("render did not finish")


# -- results ---------------------------------------------------------------------------------------
def test_vocabulary_is_the_whole_model_vocabulary_with_spanish(client, engine):
    words = client.get("/api/vocabulary").json()["words"]
    assert len(words) == len(engine.seq.eq_model.vocabulary)
    langs = {w["language"] for w in words}
    assert langs == {"en", "es"}
    warm = next(w for w in words if w["word"] == "warm")
    assert 0.0 < warm["confidence"] <= 1.0


def test_upload_is_decoded_stored_privately_and_analysed(client, wav5):
    u = _upload(client, _file(wav5), name="../../etc/pass wd.wav")
    assert u["name"] == "pass wd" and u["sample_rate"] == SR and u["channels"] == 2
    assert u["duration_s"] == pytest.approx(5.0)
    store = client.app.state.semeq.store
    files = store.files()
    assert [p.name for p in files] == [f"{u['upload']}.wav"]  # named by its decoded format, never the client's name
    assert oct(store.root.stat().st_mode & 0o777) == "0o700"
    prof = u["analysis"]["profile"]
    assert prof and all(0.0 <= e["score"] <= 1.0 for e in prof)
    bal = u["analysis"]["balance"]
    assert len(bal["freqs_hz"]) == len(bal["balance_db"])
    # The balance is level-normalised: its mean over 100 Hz-10 kHz is 0 dB.
    f = np.array(bal["freqs_hz"])
    v = np.array([np.nan if x is None else x for x in bal["balance_db"]])
    assert abs(np.nanmean(v[(f >= 100) & (f <= 10000)])) < 0.05


def test_preview_is_the_region_loudness_matched(client, wav5):
    u = _upload(client, _file(wav5))
    r = client.post(f"/api/uploads/{u['upload']}/preview",
                    json={"target": "warm", "intensity": 0.8, "start_s": 1.0, "end_s": 4.0})
    assert r.status_code == 200, r.text
    out, sr = sf.read(io.BytesIO(r.content), always_2d=True)
    assert sr == SR and out.shape == (3 * SR, 2)
    design = json.loads(r.headers["X-Semeq-Design"])
    assert design["intensity"] == pytest.approx(0.8) and not design["is_bypass"]
    shortfall = float(r.headers["X-Semeq-Original-Gain-Db"])
    assert shortfall <= 0.0
    region = sf.read(io.BytesIO(_file(wav5)))[0].T[:, SR : 4 * SR]  # what the server decoded
    loud_in = integrated_loudness(region, SR)
    # Matched: the processed region is as loud as the original region (less any ceiling shortfall).
    assert integrated_loudness(out.T, SR) == pytest.approx(loud_in + shortfall, abs=0.05)
    # And it is not the original: the EQ changed it.
    assert np.max(np.abs(out.T - region)) > 1e-3


def test_design_reports_the_five_bands_and_auto_intensity(client, wav5):
    u = _upload(client, _file(wav5))
    d = client.post(f"/api/uploads/{u['upload']}/design", json={"target": "bright", "intensity": "auto"}).json()
    assert d["settings"]["auto_intensity"] and 0.0 < d["intensity"] <= 1.0
    assert d["suggestion"]["intensity"] == pytest.approx(d["intensity"], abs=1e-3)
    assert set(d["bands"]) >= {"low_shelf_gain_db", "peak1_freq_hz", "high_shelf_freq_hz"}
    static = client.post(f"/api/uploads/{u['upload']}/design", json={"target": "bright", "intensity": 1.0, "mode": "static"}).json()
    toward = client.post(f"/api/uploads/{u['upload']}/design", json={"target": "bright", "intensity": 1.0}).json()
    assert static["curve"]["gain_db"] != toward["curve"]["gain_db"]


@pytest.mark.parametrize("rate,fmt,subtype,mode", [(48000, "FLAC", "PCM_24", "toward"), (44100, "WAV", "PCM_16", "match")])
def test_full_render_is_semeq_apply_sample_for_sample(client, engine, tmp_path, rate, fmt, subtype, mode):
    """The page's download is what `semeq apply` writes for the same file and settings (one kitchen)."""
    from semeq.pipeline import apply_file

    audio = _music_like(4.0, sample_rate=rate, seed=3)
    data = _file(audio, rate, fmt=fmt, subtype=subtype)
    suffix = "." + fmt.lower()
    u = _upload(client, data, name="take" + suffix)
    job = client.post(f"/api/uploads/{u['upload']}/render", json={"target": "warm", "intensity": 0.7, "mode": mode}).json()["job"]
    assert _wait(client, job)["state"] == "done"
    r = client.get(f"/api/jobs/{job}/download")
    assert r.status_code == 200 and r.headers["content-type"] == f"audio/{fmt.lower()}"
    assert f'filename="take_warm_{mode}_0_70{suffix}"' in r.headers["content-disposition"]
    info = sf.info(io.BytesIO(r.content))
    assert (info.format, info.subtype, info.samplerate, info.channels) == (fmt, subtype, rate, 2)
    src, dst = tmp_path / ("in" + suffix), tmp_path / ("out" + suffix)
    src.write_bytes(data)
    apply_file(src, dst, engine.seq.request("warm", 0.7, mode=mode), engine=engine.seq)
    expected, _ = sf.read(dst, always_2d=True, dtype="int32")
    got, _ = sf.read(io.BytesIO(r.content), always_2d=True, dtype="int32")
    np.testing.assert_array_equal(got, expected)
    settings = client.get(f"/api/jobs/{job}/settings.json").json()
    assert settings["intensity"] == pytest.approx(0.7) and settings["input"]["sample_rate"] == rate
    assert settings["settings"]["target"] == "warm" and settings["settings"]["mode"] == mode and settings["bands"]
    assert settings["request"]["target"]["terms"][0]["word"] == "warm"


def _with_glare_bursts(audio: np.ndarray, sample_rate: int, gain_db: float = 18.0) -> np.ndarray:
    """Music-like noise with 0.25 s bursts of 5-10 kHz noise, ``gain_db`` above its own level there,
    starting at 0.5 s and every second after (the recording's typical balance ignores them)."""
    from scipy.signal import butter, sosfiltfilt

    rng = np.random.default_rng(7)
    sos = butter(4, (5000, 10000), btype="bandpass", fs=sample_rate, output="sos")
    level = np.sqrt(np.mean(sosfiltfilt(sos, audio, axis=-1) ** 2)) * 10 ** (gain_db / 20)
    out, m = audio.copy(), int(0.25 * sample_rate)
    for t0 in np.arange(0.5, audio.shape[1] / sample_rate - 0.25, 1.0):
        i = int(t0 * sample_rate)
        noise = sosfiltfilt(sos, rng.standard_normal((audio.shape[0], m)), axis=-1)
        out[:, i : i + m] += noise / np.std(noise) * level * np.hanning(m)
    return 0.5 * out / np.max(np.abs(out))


@pytest.mark.parametrize("rate,fmt,subtype", [(44100, "WAV", "PCM_16"), (48000, "FLAC", "PCM_24")])
def test_dynamic_download_and_api_apply_are_semeq_apply_dynamic_sample_for_sample(client, engine, tmp_path, rate, fmt, subtype):
    """The page's render and /api/apply with dynamic=1 both write what apply_file(..., dynamic=True) writes."""
    from semeq.pipeline import apply_file

    data = _file(_with_glare_bursts(_music_like(4.0, sample_rate=rate, seed=5), rate), rate, fmt=fmt, subtype=subtype)
    suffix = "." + fmt.lower()
    src, dst, plain = tmp_path / ("in" + suffix), tmp_path / ("out" + suffix), tmp_path / ("static" + suffix)
    src.write_bytes(data)
    request = engine.seq.request("warm", 0.8, dynamic=True)
    apply_file(src, dst, request, engine=engine.seq)
    apply_file(src, plain, engine.seq.request("warm", 0.8), engine=engine.seq)
    expected, _ = sf.read(dst, always_2d=True, dtype="int32")
    assert np.any(expected != sf.read(plain, always_2d=True, dtype="int32")[0])  # the dynamic part acted

    u = _upload(client, data, name="take" + suffix)
    job = client.post(f"/api/uploads/{u['upload']}/render", json={"target": "warm", "intensity": 0.8, "dynamic": True}).json()["job"]
    assert _wait(client, job)["state"] == "done"
    r = client.get(f"/api/jobs/{job}/download")
    assert f'filename="take_warm_toward_dynamic_0_80{suffix}"' in r.headers["content-disposition"]
    np.testing.assert_array_equal(sf.read(io.BytesIO(r.content), always_2d=True, dtype="int32")[0], expected)

    r = client.post("/api/apply", files={"file": ("take" + suffix, data)},
                    data={"target": "warm", "intensity": "0.8", "dynamic": "1"})
    assert r.status_code == 200, r.text
    assert json.loads(r.headers["X-Semeq-Settings"])["settings"]["dynamic"] is True
    np.testing.assert_array_equal(sf.read(io.BytesIO(r.content), always_2d=True, dtype="int32")[0], expected)


def test_dynamic_preview_differs_from_the_static_one_during_the_bursts(client):
    """The loop preview with dynamic differs from the static one: "less bright" moves its lows
    while the highs flare (the bursts), and hardly between them."""
    from scipy.signal import butter, sosfilt

    audio = _with_glare_bursts(_music_like(5.0, seed=6), SR)
    u = _upload(client, _file(audio))
    body = {"target": "less bright", "intensity": 0.8, "start_s": 1.0, "end_s": 4.0}
    static = sf.read(io.BytesIO(client.post(f"/api/uploads/{u['upload']}/preview", json=body).content), always_2d=True)[0].T
    r = client.post(f"/api/uploads/{u['upload']}/preview", json=body | {"dynamic": True})
    assert r.status_code == 200, r.text
    assert json.loads(r.headers["X-Semeq-Design"])["settings"]["dynamic"] is True
    dynamic = sf.read(io.BytesIO(r.content), always_2d=True)[0].T
    assert dynamic.shape == static.shape
    lp = butter(4, 150, fs=SR, output="sos")

    def lows_share_db(x, t0, t1):
        seg = slice(int((t0 - 1.0) * SR), int((t1 - 1.0) * SR))  # file seconds -> loop samples
        return 10 * np.log10(np.sum(sosfilt(lp, x)[:, seg] ** 2) / np.sum(x[:, seg] ** 2))

    during = lows_share_db(dynamic, 2.55, 2.7) - lows_share_db(static, 2.55, 2.7)  # mid-burst
    between = lows_share_db(dynamic, 2.0, 2.4) - lows_share_db(static, 2.0, 2.4)
    assert during > 0.3 and during > between + 0.3  # measured: 0.59 and 0.06 dB
    assert client.post(f"/api/uploads/{u['upload']}/preview", json=body | {"dynamic": "maybe"}).status_code == 400


def test_intensity_zero_downloads_the_input_bytes(client, wav5):
    data = _file(wav5)
    u = _upload(client, data)
    job = client.post(f"/api/uploads/{u['upload']}/render", json={"target": "warm", "intensity": 0}).json()["job"]
    assert _wait(client, job)["state"] == "done"
    assert client.get(f"/api/jobs/{job}/download").content == data


def test_api_analyze_and_apply(client, wav5):
    data = _file(wav5, 48000)
    r = client.post("/api/analyze", files={"file": ("a.wav", data)})
    assert r.status_code == 200
    body = r.json()
    assert body["sample_rate"] == 48000 and body["profile"] and body["balance"]["balance_db"]
    r = client.post("/api/apply", files={"file": ("a.wav", data)},
                    data={"target": "bright", "intensity": "0.6", "mode": "toward", "blend": "warm", "alpha": "0.25"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav"
    info = sf.info(io.BytesIO(r.content))
    assert (info.format, info.subtype, info.samplerate) == ("WAV", "PCM_16", 48000)
    applied = json.loads(r.headers["X-Semeq-Settings"])
    assert applied["settings"] == {"target": "bright", "label": "bright + warm (0.25)", "intensity": 0.6,
                                   "auto_intensity": False, "mode": "toward", "blend": "warm", "alpha": 0.25,
                                   "dynamic": False}
    assert applied["understood"]["terms"][0]["word"] == "bright" and applied["request"]["blend"]["label"] == "warm"
    assert "curve" not in applied and applied["bands"]
    assert 'filename="a_bright_toward.wav"' in r.headers["content-disposition"]
    assert client.app.state.semeq.store.files() == []  # the scripting API keeps nothing


def test_two_tabs_at_once(client):
    a, b = _music_like(3.0, seed=1), _music_like(3.0, seed=2)
    ua, ub = _upload(client, _file(a)), _upload(client, _file(b))
    results = {}

    def run(key, upload_id, word):
        r = client.post(f"/api/uploads/{upload_id}/preview", json={"target": word, "intensity": 0.9, "start_s": 0, "end_s": 3})
        results[key] = (r.status_code, sf.read(io.BytesIO(r.content))[0] if r.status_code == 200 else r.text)

    threads = [threading.Thread(target=run, args=("a", ua["upload"], "warm")),
               threading.Thread(target=run, args=("b", ub["upload"], "bright"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["a"][0] == 200 and results["b"][0] == 200
    assert not np.allclose(results["a"][1], results["b"][1])


def test_idle_uploads_are_swept_and_the_folder_removed_on_exit(make_client, wav5):
    import time

    client = make_client(idle_s=60.0)
    u = _upload(client, _file(wav5))
    store = client.app.state.semeq.store
    assert store.sweep(now=time.monotonic() + 30.0) == 0
    assert store.sweep(now=time.monotonic() + 61.0) == 1
    assert store.files() == []
    _error(client.get(f"/api/uploads/{u['upload']}/original.wav"), 404)
    root = store.root
    client.__exit__(None, None, None)
    assert not root.exists()


# -- bad input ---------------------------------------------------------------------------------------
def _truncated_wav(wav5) -> bytes:
    data = _file(wav5)
    return data[: len(data) // 2]


def _nan_wav() -> bytes:
    x = np.zeros((1, SR))
    x[0, 100] = np.nan
    return _file(x, subtype="FLOAT")


@pytest.mark.parametrize("route", ["/api/uploads", "/api/analyze"])
@pytest.mark.parametrize("case,status,match", [
    ("empty", 400, "empty"),
    ("text", 400, "not a readable audio file"),
    ("truncated", 400, "truncated"),
    ("silent", 400, "silent"),
    ("nan", 400, "NaN"),
    ("no-file", 400, "field 'file'"),
    ("two-files", 400, "multipart"),
])
def test_bad_uploads_are_4xx_json(client, wav5, route, case, status, match):
    files = {
        "empty": {"file": ("a.wav", b"")},
        "text": {"file": ("a.wav", b"this is not audio at all, just text pretending to be a wav file" * 10)},
        "truncated": {"file": ("a.wav", _truncated_wav(wav5))},
        "silent": {"file": ("a.wav", _file(np.zeros((2, SR))))},
        "nan": {"file": ("a.wav", _nan_wav())},
        "no-file": {"other": ("a.wav", _file(wav5))},
        "two-files": [("file", ("a.wav", _file(wav5))), ("file", ("b.wav", _file(wav5)))],
    }[case]
    _error(client.post(route, files=files), status, match)
    assert client.app.state.semeq.store.files() == []  # nothing left behind


def test_not_multipart_is_415(client):
    _error(client.post("/api/uploads", json={"file": "x"}), 415, "multipart")
    _error(client.post("/api/apply", content=b"raw", headers={"content-type": "audio/wav"}), 415)


def test_size_cap_refuses_before_reading_it_all(make_client, wav5):
    client = make_client(max_upload_bytes=100_000)
    data = _file(wav5)  # 880 kB
    assert len(data) > 200_000
    _error(client.post("/api/uploads", files={"file": ("a.wav", data)}), 413, "larger than")
    # Without a Content-Length the stream is counted as it arrives.
    def chunks():
        boundary = b"----semeqtest"
        yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]
        yield b"\r\n--" + boundary + b"--\r\n"
    r = client.post("/api/uploads", content=chunks(), headers={"content-type": "multipart/form-data; boundary=----semeqtest"})
    _error(r, 413, "larger than")
    assert client.app.state.semeq.store.files() == []


def test_duration_cap(make_client, wav5):
    client = make_client(max_duration_s=2.0)
    _error(client.post("/api/uploads", files={"file": ("a.wav", _file(wav5))}), 413, "lasts 5 s")
    assert client.app.state.semeq.store.files() == []


@pytest.mark.parametrize("fields,status,match", [
    ({"intensity": "0.5"}, 400, "'target' is required"),
    ({"target": "brigth"}, 422, "closest known words: bright"),
    ({"target": "warm", "intensity": "1.5"}, 400, "intensity must be in [0, 1]"),
    ({"target": "warm", "intensity": "nan"}, 400, "intensity must be in [0, 1]"),
    ({"target": "warm", "intensity": "loud"}, 400, "intensity must be a number"),
    ({"target": "warm", "mode": "sideways"}, 400, "mode must be one of"),
    ({"target": "warm", "alpha": "0.3"}, 400, "alpha needs a blend word"),
    ({"target": "warm", "blend": "bright", "alpha": "-1"}, 400, "alpha must be in [0, 1]"),
    ({"target": "warm", "blend": "brite"}, 422, "unknown word 'brite'"),
    ({"target": "warm", "intensity": "auto", "mode": "static"}, 400, "auto-intensity"),
    ({"target": "w" * 201}, 400, "at most 200 characters"),
])
def test_bad_settings_on_apply(client, wav5, fields, status, match):
    _error(client.post("/api/apply", files={"file": ("a.wav", _file(wav5))}, data=fields), status, match)
    assert client.app.state.semeq.store.files() == []


@pytest.mark.parametrize("mode", ["toward", "match", "static", "latent"])
def test_every_library_mode_is_offered_and_applies(client, wav5, mode):
    assert client.get("/api/info").json()["modes"] == ["toward", "match", "static", "latent"]
    assert client.get("/api/info").json()["mode_help"][mode]
    r = client.post("/api/apply", files={"file": ("a.wav", _file(wav5))}, data={"target": "warm", "mode": mode})
    assert r.status_code == 200, r.text
    applied = json.loads(r.headers["X-Semeq-Settings"])
    assert applied["settings"]["mode"] == mode and not applied["is_bypass"]
    out = sf.read(io.BytesIO(r.content))[0]
    assert np.max(np.abs(out - sf.read(io.BytesIO(_file(wav5)))[0])) > 1e-3


def test_bad_ids_regions_and_bodies(client, wav5):
    u = _upload(client, _file(wav5))["upload"]
    for bad in ("..%2F..%2Fetc%2Fpasswd", "0" * 32, "nothex" * 6, "A" * 32):
        _error(client.get(f"/api/uploads/{bad}/original.wav"), 404)
        _error(client.get(f"/api/jobs/{bad}"), 404)
        _error(client.get(f"/api/jobs/{bad}/download"), 404)
    for body, match in [({"target": "warm", "start_s": 2, "end_s": 2.2}, "at least 0.5 s"),
                        ({"target": "warm", "start_s": 0, "end_s": 9}, "end_s must be in"),
                        ({"target": "warm", "start_s": -1, "end_s": 2}, "start_s must be in"),
                        ({"target": "warm", "start_s": "x"}, "start_s must be a number")]:
        _error(client.post(f"/api/uploads/{u}/preview", json=body), 400, match)
    _error(client.post(f"/api/uploads/{u}/preview", content=b"{not json", headers={"content-type": "application/json"}), 400, "JSON")
    _error(client.post(f"/api/uploads/{u}/preview", json=[1, 2]), 400, "JSON object")
    _error(client.get("/api/nothing-here"), 404, "not found")
    _error(client.get("/api/uploads"), 405, "method not allowed")
    _error(client.get("/static/../app.py"), 404)
    assert client.delete(f"/api/uploads/{u}").json() == {"deleted": True}
    _error(client.delete(f"/api/uploads/{u}"), 404)


def test_long_region_is_refused(make_client):
    client = make_client()
    u = _upload(client, _file(_music_like(62.0, channels=1)))["upload"]
    _error(client.post(f"/api/uploads/{u}/preview", json={"target": "warm", "start_s": 0, "end_s": 61.5}), 400, "at most 60 s")


def test_internal_errors_are_one_json_line(make_client, engine, wav5, monkeypatch):
    client = make_client()

    def boom(*a, **k):
        raise RuntimeError("/secret/server/path exploded")

    monkeypatch.setattr(engine, "analyze", boom)
    err = _error(client.post("/api/analyze", files={"file": ("a.wav", _file(wav5))}), 500)
    assert "secret" not in err and "RuntimeError" in err


def test_page_and_assets_are_served_locally_with_a_strict_csp(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/app.css"):
        assert client.get(asset).status_code == 200
    # No outside host anywhere in the page or its assets.
    import re

    for text in (r.text, client.get("/static/app.js").text, client.get("/static/app.css").text):
        assert not re.search(r"https?://(?!127\.0\.0\.1)", text)


def test_untrusted_host_header_is_refused(make_client):
    client = make_client(allowed_hosts=["127.0.0.1", "localhost"])
    _error(client.get("/api/info", headers={"host": "evil.example"}), 400, "invalid Host header")
    _error(client.get("/api/info", headers={"host": "evil.example:8000"}), 400, "invalid Host header")
    assert client.get("/api/info", headers={"host": "127.0.0.1:8000"}).status_code == 200


# -- ABX ---------------------------------------------------------------------------------------------
def test_binomial_p_value_closed_form():
    assert binomial_p_value(16, 16) == 2.0**-16
    assert binomial_p_value(12, 16) == pytest.approx(2517 / 65536, rel=1e-12)  # 1820+560+120+16+1
    assert binomial_p_value(8, 16) == pytest.approx(39203 / 65536, rel=1e-12)
    assert binomial_p_value(0, 16) == 1.0


def _abx(client, upload: str, n: int = 16, **extra) -> dict:
    r = client.post("/api/abx/sessions", json={"upload": upload, "target": "warm", "intensity": 0.8, "n_trials": n,
                                               "start_s": 0.5, "end_s": 3.0} | extra)
    assert r.status_code == 201, r.text
    return r.json()


def test_abx_session_hides_x_records_sqlite_and_reports_p(client, wav5, tmp_path):
    u = _upload(client, _file(wav5))["upload"]
    s = _abx(client, u)
    sid = s["session"]
    a = sf.read(io.BytesIO(client.get(f"/api/abx/sessions/{sid}/A.wav").content))[0]
    b = sf.read(io.BytesIO(client.get(f"/api/abx/sessions/{sid}/B.wav").content))[0]
    assert a.shape == b.shape == (int(2.5 * SR), 2)
    assert np.max(np.abs(a - b)) > 100 * LSB16  # the EQ is audible in the numbers
    a_again = sf.read(io.BytesIO(client.get(f"/api/abx/sessions/{sid}/A.wav").content))[0]
    assert not np.array_equal(a_again, a)  # every presentation is a fresh rendering (two may lie close together)
    session = client.app.state.semeq.abx[sid]
    answers = []
    for trial in range(1, 17):
        r = client.get(f"/api/abx/sessions/{sid}/trials/{trial}/X.wav")
        assert r.status_code == 200
        assert not any(v in ("A", "B") for k, v in r.headers.items() if k.lower().startswith("x-"))
        x_audio = sf.read(io.BytesIO(r.content))[0]
        truth = session._x[trial]  # the server's secret; the page never sees it
        source = session.a_audio if truth == "A" else session.b_audio
        # Not a trivial match to its source (the page script found X within 2 LSB of it)...
        assert np.max(np.abs(x_audio - source.T)) > 30 * LSB16
        # ... but the same sound: 0.05 to 0.1 dB below its level, and within one sample of its time.
        level_db = 20 * np.log10(np.sqrt(np.mean(x_audio**2)) / np.sqrt(np.mean(source**2)))
        assert -0.1 - 0.005 <= level_db <= -0.05 + 0.005
        assert _lag_samples(x_audio[:, 0], source[0]) in (0, 1)
        answer = truth if trial <= 12 else ("B" if truth == "A" else "A")  # 12 of 16 right
        r = client.post(f"/api/abx/sessions/{sid}/answer", json={"trial": trial, "answer": answer})
        assert r.status_code == 200
        body = r.json()
        answers.append(answer)
        if trial < 16:
            assert body == {"answered": trial, "done": False, "next_trial": trial + 1}  # no hint of X
    assert body["done"] and body["result"] == {"correct": 12, "total": 16, "p_value": pytest.approx(2517 / 65536)}
    db = tmp_path / "abx.sqlite3"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    rows = con.execute("SELECT trial, x, answer, correct, response_ms, presented_at, answered_at FROM trials "
                       "WHERE session_id = ? ORDER BY trial", (sid,)).fetchall()
    assert [r[0] for r in rows] == list(range(1, 17)) and [r[2] for r in rows] == answers
    assert sum(r[3] for r in rows) == 12 and all(r[4] >= 0 and r[5] <= r[6] for r in rows)
    settings, n, done = con.execute("SELECT settings_json, n_trials, completed_at FROM sessions WHERE id = ?", (sid,)).fetchone()
    assert json.loads(settings)["target"] == "warm" and n == 16 and done
    hist = client.get("/api/abx/history").json()["sessions"]
    assert hist[0]["session"] == sid and hist[0]["correct"] == 12 and hist[0]["p_value"] == pytest.approx(2517 / 65536)
    csv_text = client.get("/api/abx/export.csv").text.splitlines()
    assert len(csv_text) == 17 and csv_text[0].startswith("session,") and all(sid in line for line in csv_text[1:])
    # The session is over: its audio is gone, answers are refused.
    _error(client.post(f"/api/abx/sessions/{sid}/answer", json={"trial": 17, "answer": "A"}), 404)


def _lag_samples(x: np.ndarray, ref: np.ndarray) -> int:
    """The whole-sample lag of ``x`` behind ``ref`` (circular cross-correlation peak)."""
    n = len(ref)
    xc = np.fft.irfft(np.fft.rfft(x) * np.conj(np.fft.rfft(ref)), n)
    lag = int(np.argmax(xc))
    return lag if lag <= n // 2 else lag - n


def test_abx_x_is_drawn_fairly(client, wav5):
    u = _upload(client, _file(wav5))["upload"]
    sid = _abx(client, u, n=100)["session"]
    session = client.app.state.semeq.abx[sid]
    xs = []
    for trial in range(1, 101):
        xs.append(session.x_for(trial))
        session.answer(trial, "A")
    # Binomial(100, 1/2) lies in [30, 70] with probability 1 - 8e-5.
    assert 30 <= xs.count("A") <= 70


def test_abx_bad_requests(client, wav5):
    u = _upload(client, _file(wav5))["upload"]
    for n in (0, 101, "16", True, 2.5):
        _error(client.post("/api/abx/sessions", json={"upload": u, "target": "warm", "n_trials": n, "start_s": 0, "end_s": 2}),
               400, "n_trials")
    _error(client.post("/api/abx/sessions", json={"upload": u, "target": "warm", "intensity": 0, "start_s": 0, "end_s": 2}),
           400, "bypass")
    _error(client.post("/api/abx/sessions", json={"upload": "../x", "target": "warm"}), 404)
    sid = _abx(client, u, n=3)["session"]
    _error(client.post(f"/api/abx/sessions/{sid}/answer", json={"trial": 1, "answer": "A"}), 409, "not been played")
    _error(client.get(f"/api/abx/sessions/{sid}/trials/2/X.wav"), 409, "not the current trial")
    assert client.get(f"/api/abx/sessions/{sid}/trials/1/X.wav").status_code == 200
    _error(client.post(f"/api/abx/sessions/{sid}/answer", json={"trial": 1, "answer": "C"}), 400, "'A' or 'B'")
    _error(client.post(f"/api/abx/sessions/{sid}/answer", json={"trial": "1", "answer": "A"}), 400, "integer")
    _error(client.post(f"/api/abx/sessions/{sid}/answer", json={"trial": 2, "answer": "A"}), 409, "not the current trial")
    assert client.post(f"/api/abx/sessions/{sid}/answer", json={"trial": 1, "answer": "A"}).status_code == 200
    _error(client.post(f"/api/abx/sessions/{sid}/answer", json={"trial": 1, "answer": "A"}), 409, "not the current trial")
    _error(client.get(f"/api/abx/sessions/{sid}/C.wav"), 404)
    _error(client.get(f"/api/abx/sessions/{'f' * 32}/A.wav"), 404)


@pytest.mark.parametrize("fmt,subtype,rate,media", [
    ("WAV", "PCM_24", 96000, "audio/wav"),
    ("WAV", "FLOAT", 22050, "audio/wav"),
    ("FLAC", "PCM_16", 44100, "audio/flac"),
    ("OGG", "VORBIS", 48000, "audio/ogg"),
    ("AIFF", "PCM_16", 32000, "audio/aiff"),
    ("MP3", "MPEG_LAYER_III", 44100, "audio/mpeg"),
])
def test_apply_keeps_the_input_format_and_rate(client, fmt, subtype, rate, media):
    data = _file(_music_like(3.0, sample_rate=rate, seed=5), rate, fmt=fmt, subtype=subtype)
    r = client.post("/api/apply", files={"file": ("in.bin", data)}, data={"target": "claro", "intensity": "0.5"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media
    info = sf.info(io.BytesIO(r.content))
    assert (info.format, info.subtype, info.samplerate, info.channels) == (fmt, subtype, rate, 2)
    assert json.loads(r.headers["X-Semeq-Settings"])["sample_rate"] == rate


def test_preview_raw_float32_is_the_wav_preview(client, wav5):
    u = _upload(client, _file(wav5))["upload"]
    body = {"target": "warm", "intensity": 0.6, "start_s": 0.0, "end_s": 2.0}
    wav = client.post(f"/api/uploads/{u}/preview", json=body)
    raw = client.post(f"/api/uploads/{u}/preview", json=body | {"format": "f32"})
    assert raw.headers["X-Semeq-Channels"] == "2" and raw.headers["X-Semeq-Sample-Rate"] == str(SR)
    planar = np.frombuffer(raw.content, dtype="<f4").reshape(2, -1)
    np.testing.assert_array_equal(planar, sf.read(io.BytesIO(wav.content), dtype="float32")[0].T)
    _error(client.post(f"/api/uploads/{u}/preview", json=body | {"format": "mp3"}), 400, "format must be")


def test_least_recently_used_upload_is_evicted(make_client):
    client = make_client()
    store = client.app.state.semeq.store
    ids = [_upload(client, _file(_music_like(1.0, seed=s)))["upload"] for s in range(store.max_uploads + 1)]
    assert store.get(ids[0]) is None and all(store.get(i) is not None for i in ids[1:])
    assert len(store.files()) == store.max_uploads


def test_newer_settings_cancel_stale_renders(client, wav5):
    """A render whose settings are stale is cancelled, by a newer render or by a preview."""
    u = _upload(client, _file(wav5))["upload"]
    state = client.app.state.semeq
    gate = threading.Event()
    state.renders.submit(gate.wait, 30)  # holds the render queue so that the jobs below wait in it
    try:
        first = client.post(f"/api/uploads/{u}/render", json={"target": "warm", "intensity": 0.3}).json()["job"]
        second = client.post(f"/api/uploads/{u}/render", json={"target": "warm", "intensity": 0.4}).json()["job"]
        assert client.get(f"/api/jobs/{first}").json()["state"] == "cancelled"
        # A preview with the same settings keeps the render; other settings cancel it.
        body = {"target": "warm", "intensity": 0.4, "start_s": 0, "end_s": 1}
        assert client.post(f"/api/uploads/{u}/preview", json=body).status_code == 200
        assert client.get(f"/api/jobs/{second}").json()["state"] == "queued"
        assert client.post(f"/api/uploads/{u}/preview", json=body | {"intensity": 0.5}).status_code == 200
        assert client.get(f"/api/jobs/{second}").json()["state"] == "cancelled"
        _error(client.get(f"/api/jobs/{second}/download"), 409, "cancelled")
    finally:
        gate.set()
    third = client.post(f"/api/uploads/{u}/render", json={"target": "warm", "intensity": 0.5}).json()["job"]
    assert _wait(client, third)["state"] == "done"


# -- issue 21: other sites, content types, blinding, bounds, busy server, words ------------------
OWN = "http://testserver"  # the test client's origin: Host testserver, scheme http


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://testserver.evil.example"},
    {"Origin": "http://testserver:8001"},
    {"Referer": "http://evil.example/attack.html"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": OWN},
])
def test_state_changing_requests_from_other_sites_are_refused(client, wav5, headers):
    store = client.app.state.semeq.store
    _error(client.post("/api/uploads", files={"file": ("a.wav", _file(wav5))}, headers=headers), 403, "cross-site")
    assert store.files() == []
    u = _upload(client, _file(wav5))["upload"]  # no Origin (curl, a script): served
    _error(client.post(f"/api/uploads/{u}/render", json={"target": "warm"}, headers=headers), 403, "cross-site")
    _error(client.post("/api/abx/sessions", json={"upload": u, "target": "warm"}, headers=headers), 403)
    _error(client.delete(f"/api/uploads/{u}", headers=headers), 403)
    _error(client.post("/api/apply", files={"file": ("a.wav", _file(wav5))}, data={"target": "warm"}, headers=headers), 403)
    assert store.jobs_of(u) == [] and store.get(u) is not None
    assert client.get("/api/info", headers=headers).status_code == 200  # reading is not changing


def test_own_origin_and_no_origin_are_served(client, wav5):
    r = client.post("/api/uploads", files={"file": ("a.wav", _file(wav5))},
                    headers={"Origin": OWN, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 201, r.text
    r = client.post("/api/apply", files={"file": ("a.wav", _file(wav5))}, data={"target": "warm"})  # curl
    assert r.status_code == 200, r.text
    r = client.post("/api/apply", files={"file": ("a.wav", _file(wav5))}, data={"target": "warm"},
                    headers={"Referer": OWN + "/", "Sec-Fetch-Site": "none"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None])
def test_json_routes_take_json_only(client, wav5, ctype):
    u = _upload(client, _file(wav5))["upload"]
    body = json.dumps({"target": "warm", "intensity": 0.5, "start_s": 0, "end_s": 1, "upload": u}).encode()
    headers = {} if ctype is None else {"content-type": ctype}
    for route in (f"/api/uploads/{u}/preview", f"/api/uploads/{u}/design", f"/api/uploads/{u}/render", "/api/abx/sessions"):
        _error(client.post(route, content=body, headers=headers), 415, "application/json")
    assert client.app.state.semeq.store.jobs_of(u) == [] and client.app.state.semeq.abx == {}
    ok = client.post(f"/api/uploads/{u}/design", content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert ok.status_code == 200, ok.text


def test_abx_results_stay_hidden_until_the_session_is_complete(client, wav5):
    from semeq.web.abx import format_table

    u = _upload(client, _file(wav5))["upload"]
    sid = _abx(client, u, n=4)["session"]
    session = client.app.state.semeq.abx[sid]
    for trial in (1, 2, 3):  # three answers, all right
        client.get(f"/api/abx/sessions/{sid}/trials/{trial}/X.wav")
        r = client.post(f"/api/abx/sessions/{sid}/answer", json={"trial": trial, "answer": session._x[trial]})
        assert r.json() == {"answered": trial, "done": False, "next_trial": trial + 1}
    (row,) = [s for s in client.get("/api/abx/history").json()["sessions"] if s["session"] == sid]
    assert row["answered"] == 3 and not row["complete"]
    assert row["correct"] is None and row["p_value"] is None and row["mean_response_ms"] is None
    assert sid not in client.get("/api/abx/export.csv").text
    status = client.get(f"/api/abx/sessions/{sid}").json()
    assert set(status) == {"session", "n_trials", "trial", "done"}
    table = format_table(client.app.state.semeq.abx_db.sessions())
    assert "unfinished: 3 of 4 answered, no result" in table and "3/3" not in table
    client.get(f"/api/abx/sessions/{sid}/trials/4/X.wav")
    wrong = "B" if session._x[4] == "A" else "A"
    done = client.post(f"/api/abx/sessions/{sid}/answer", json={"trial": 4, "answer": wrong}).json()
    assert done["result"] == {"correct": 3, "total": 4, "p_value": pytest.approx(5 / 16)}
    (row,) = [s for s in client.get("/api/abx/history").json()["sessions"] if s["session"] == sid]
    assert row["complete"] and row["correct"] == 3 and row["p_value"] == pytest.approx(5 / 16)
    assert len([ln for ln in client.get("/api/abx/export.csv").text.splitlines() if sid in ln]) == 4


def test_presentations_differ_inaudibly_from_their_source():
    """Level 0.05 to 0.1 dB down, delay within one sample, and far more than a few LSB from the source."""
    from semeq.web.abx import presentation_wav

    src = _music_like(2.0, seed=7)
    first = sf.read(io.BytesIO(presentation_wav(src, SR)))[0].T
    for seed in range(8):
        x = sf.read(io.BytesIO(presentation_wav(src, SR, np.random.default_rng(seed))))[0].T
        level_db = 20 * np.log10(np.sqrt(np.mean(x**2)) / np.sqrt(np.mean(src**2)))
        assert -0.1 - 0.005 <= level_db <= -0.05 + 0.005
        assert _lag_samples(x[0], src[0]) in (0, 1)
        assert np.sqrt(np.mean((x - src) ** 2)) > 10 * LSB16 and np.max(np.abs(x - src)) > 30 * LSB16
        assert not np.array_equal(x, first)
    # Undone (the known delay and gain removed), what is left is the dither: within 1.5 LSB RMS.
    rng = np.random.default_rng(3)
    gain_db, delay = -rng.uniform(0.05, 0.1), rng.uniform(0.25, 0.75)
    x = sf.read(io.BytesIO(presentation_wav(src, SR, np.random.default_rng(3))))[0].T
    spec = np.fft.rfft(src, axis=-1) * np.exp(-2j * np.pi * np.arange(src.shape[1] // 2 + 1) * delay / src.shape[1])
    expected = np.fft.irfft(spec, src.shape[1], axis=-1) * 10 ** (gain_db / 20) * 32767 / 32768
    assert np.sqrt(np.mean((x - expected) ** 2)) < 1.5 * LSB16


def test_one_render_per_upload_is_kept(client, wav5):
    """27 renders of one clip used 220 MB: now each new render replaces the previous one."""
    store = client.app.state.semeq.store
    u = _upload(client, _file(wav5))["upload"]
    jobs = []
    for i in range(6):
        job = client.post(f"/api/uploads/{u}/render", json={"target": "warm", "intensity": 0.3 + 0.1 * i}).json()["job"]
        assert _wait(client, job)["state"] == "done"
        jobs.append(job)
        assert len(store.files()) == 2  # the upload and its newest render
    assert sorted(p.name for p in store.files()) == sorted([f"{u}.wav", store.job(jobs[-1]).out_path.name])
    for old in jobs[:-1]:
        assert client.get(f"/api/jobs/{old}").json()["state"] == "replaced"
        _error(client.get(f"/api/jobs/{old}/download"), 410, "replaced by a newer one")
    assert client.get(f"/api/jobs/{jobs[-1]}/download").status_code == 200
    assert client.get(f"/api/jobs/{jobs[-1]}/listen.wav").status_code == 200


def test_a_render_being_downloaded_outlives_its_replacement(client, wav5):
    store = client.app.state.semeq.store
    u = _upload(client, _file(wav5))["upload"]
    first = client.post(f"/api/uploads/{u}/render", json={"target": "warm", "intensity": 0.4}).json()["job"]
    assert _wait(client, first)["state"] == "done"
    job = store.job(first)
    path = store.open_download(job)  # a download in progress
    second = client.post(f"/api/uploads/{u}/render", json={"target": "warm", "intensity": 0.6}).json()["job"]
    assert _wait(client, second)["state"] == "done"
    assert job.state == "replaced" and path.exists()
    store.close_download(job)
    assert not path.exists() and len(store.files()) == 2


def test_listen_wav_is_the_downloaded_samples(client, wav5):
    u = _upload(client, _file(wav5))["upload"]
    job = client.post(f"/api/uploads/{u}/render", json={"target": "bright", "intensity": 0.8}).json()["job"]
    assert _wait(client, job)["state"] == "done"
    listen = sf.read(io.BytesIO(client.get(f"/api/jobs/{job}/listen.wav").content))
    download = sf.read(io.BytesIO(client.get(f"/api/jobs/{job}/download").content))
    assert listen[1] == download[1] and listen[0].shape == download[0].shape
    np.testing.assert_allclose(listen[0], download[0], atol=1e-7)  # float32 of the 16-bit samples
    original = sf.read(io.BytesIO(client.get(f"/api/uploads/{u}/original.wav").content))[0]
    np.testing.assert_allclose(original, sf.read(io.BytesIO(_file(wav5)))[0], atol=1e-7)


def test_temporary_folder_size_is_capped(make_client, wav5):
    data = _file(wav5)  # 882 kB
    client = make_client(max_temp_bytes=int(2.5 * len(data)))
    store = client.app.state.semeq.store
    first = _upload(client, data)["upload"]
    second = _upload(client, _file(_music_like(5.0, seed=9)))["upload"]
    job = client.post(f"/api/uploads/{second}/render", json={"target": "warm", "intensity": 0.5}).json()["job"]
    assert _wait(client, job)["state"] == "done"
    assert store.get(first) is None and store.get(second) is not None  # the older upload made room
    assert store.used_bytes() <= store.max_bytes
    big = _file(_music_like(16.0, seed=4))  # more than the whole folder may hold
    _error(client.post("/api/uploads", files={"file": ("big.wav", big)}), 507, "temporary folder is full")
    assert store.used_bytes() <= store.max_bytes


def test_api_calls_beyond_the_cap_are_503_with_retry_after(make_client, engine, wav5, monkeypatch):
    client = make_client(max_api_calls=1)
    inside, release = threading.Event(), threading.Event()
    real = engine.apply_file

    def slow_apply(*args, **kwargs):
        inside.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "apply_file", slow_apply)
    results = {}

    def first():
        results["first"] = client.post("/api/apply", files={"file": ("a.wav", _file(wav5))}, data={"target": "warm"})

    t = threading.Thread(target=first)
    t.start()
    try:
        assert inside.wait(30)
        for route, kwargs in [("/api/apply", {"data": {"target": "warm"}}), ("/api/analyze", {}), ("/api/uploads", {})]:
            r = client.post(route, files={"file": ("a.wav", _file(wav5))}, **kwargs)
            _error(r, 503, "busy")
            assert r.headers["retry-after"] == "5"
    finally:
        release.set()
        t.join(60)
    assert results["first"].status_code == 200
    assert client.post("/api/analyze", files={"file": ("a.wav", _file(wav5))}).status_code == 200  # free again
    assert client.app.state.semeq.store.files() == []


def test_queued_renders_beyond_the_cap_are_503(make_client, wav5):
    client = make_client(max_queued_renders=2)
    state = client.app.state.semeq
    uploads = [_upload(client, _file(_music_like(2.0, seed=s)))["upload"] for s in range(3)]
    gate = threading.Event()
    state.renders.submit(gate.wait, 30)  # holds the render thread: the jobs below wait in the queue
    try:
        a = client.post(f"/api/uploads/{uploads[0]}/render", json={"target": "warm"})
        b = client.post(f"/api/uploads/{uploads[1]}/render", json={"target": "warm"})
        assert a.status_code == b.status_code == 202
        r = client.post(f"/api/uploads/{uploads[2]}/render", json={"target": "warm"})
        _error(r, 503, "already queued")
        assert r.headers["retry-after"] == "5"
        # A newer render of a queued upload replaces its own: it is not refused.
        assert client.post(f"/api/uploads/{uploads[1]}/render", json={"target": "bright"}).status_code == 202
        assert state.store.active_jobs() == 2
    finally:
        gate.set()


def test_understand_route(client, engine):
    r = client.get("/api/understand", params={"text": "Warm"})
    assert r.status_code == 200
    body = r.json()
    assert body["understood"] == engine.understand("Warm").to_dict() and body["understood"]["terms"][0]["word"] == "warm"
    assert body["description"] == engine.understand("Warm").describe()
    r = client.get("/api/understand", params={"text": "brigth"})
    _error(r, 422, "unknown word")
    assert r.json()["suggestions"][0] == "bright"
    r = client.get("/api/understand", params={"text": "zzqxj"})
    _error(r, 422)
    assert "semeq terms" not in r.json()["error"]  # the page has no command line
    _error(client.get("/api/understand", params={"text": "w" * 201}), 400, "at most 200")
    _error(client.get("/api/understand"), 422, "empty")


@pytest.mark.parametrize("phrase", ["Warm", "a bit warmer", "less boomy", "warm and airy"])
def test_api_apply_takes_phrases_as_the_library_understands_them(client, engine, wav5, phrase):
    """The HTTP API passes the phrase to SemanticEQ.understand unchanged: the same interpretation
    (header X-Semeq-Settings) where it is understood, the same 422 where it is not."""
    from semeq.errors import UnknownWordError

    r = client.post("/api/apply", files={"file": ("a.wav", _file(wav5))}, data={"target": phrase})
    try:
        interp = engine.understand(phrase)
    except UnknownWordError as exc:
        assert _error(r, 422) == str(exc).replace("; see 'semeq terms' for the vocabulary", " (no known word is close)")
        return
    assert r.status_code == 200, r.text
    applied = json.loads(r.headers["X-Semeq-Settings"])
    assert applied["understood"] == interp.to_dict() and applied["request"]["target"] == interp.to_dict()
    assert applied["settings"]["target"] == phrase and applied["settings"]["label"] == interp.label


def test_download_name_names_mode_and_blend(client, wav5):
    u = _upload(client, _file(wav5), name="my song.wav")["upload"]
    job = client.post(f"/api/uploads/{u}/render",
                      json={"target": "bright", "blend": "warm", "alpha": 0.3, "intensity": 0.6, "mode": "match"}).json()["job"]
    st = _wait(client, job)
    assert st["download_name"] == "my song_bright_warm-0_30_match_0_60.wav"


def test_format_p_is_never_zero():
    from semeq.web.abx import format_p

    assert format_p(2517 / 65536) == "0.0384"
    assert format_p(1.5e-5) == "1.5e-05"
    assert format_p(2.0**-16) == "1.5e-05"


def test_a_download_cut_short_still_lets_go_of_its_file(client, wav5):
    """The hold on a render's file ends however its response ends (here: the client stops reading)."""
    import anyio

    from semeq.web import routes_jobs

    store = client.app.state.semeq.store
    u = _upload(client, _file(wav5))["upload"]
    first = client.post(f"/api/uploads/{u}/render", json={"target": "warm", "intensity": 0.4}).json()["job"]
    assert _wait(client, first)["state"] == "done"
    job = store.job(first)
    path = store.open_download(job)

    class Gone(Exception):
        pass

    async def inner(scope, receive, send):
        raise Gone  # the client went away mid-response

    with pytest.raises(Gone):
        anyio.run(routes_jobs.Releasing(inner, lambda: store.close_download(job)), {"type": "http"}, None, None)
    assert job.readers == 0
    second = client.post(f"/api/uploads/{u}/render", json={"target": "warm", "intensity": 0.6}).json()["job"]
    assert _wait(client, second)["state"] == "done"
    assert not path.exists() and len(store.files()) == 2


# -- presets for EQ plugins (semeq.export) --------------------------------------------------------
def _cli(argv: list[str]) -> str:
    import contextlib

    from semeq.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue()


def _preset_files(filename: str, data: bytes) -> dict[str, bytes]:
    """A download's files: the zip's members (an LV2 bundle) or the one file."""
    import zipfile

    if not filename.endswith(".zip"):
        return {filename: data}
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _written_files(path) -> dict[str, bytes]:
    """What `semeq export` / `semeq apply --export` wrote, named as in a download."""
    if path.is_dir():
        return {f"{path.name}/{f.name}": f.read_bytes() for f in sorted(path.iterdir())}
    return {path.name: path.read_bytes()}


@pytest.fixture(scope="module")
def rendered_presets(engine, tmp_path_factory):
    """A render of "warm" at 0.7 through the page's routes, every preset downloaded; the same file
    through ``semeq apply --json --export`` for each format, and ``semeq export`` of the page's settings."""
    from semeq.export import FORMATS

    folder = tmp_path_factory.mktemp("web_presets")
    data = _file(_music_like(5.0, seed=7), subtype="FLOAT")
    (folder / "take.wav").write_bytes(data)
    app = create_app(engine=engine, db_path=folder / "abx.sqlite3")
    with TestClient(app, raise_server_exceptions=False) as client:
        u = _upload(client, data, name="take.wav")["upload"]
        job = client.post(f"/api/uploads/{u}/render", json={"target": "warm", "intensity": 0.7}).json()["job"]
        status = _wait(client, job)
        assert status["state"] == "done"
        audio = client.get(f"/api/jobs/{job}/download").content
        settings = client.get(f"/api/jobs/{job}/settings.json").content
        downloads = {}
        for p in status["presets"]:
            r = client.get(p["url"])
            assert r.status_code == 200, r.text
            assert r.headers["content-disposition"] == f'attachment; filename="{p["filename"]}"'
            downloads[p["format"]] = (p["filename"], r.content, r.headers["content-type"])
    (folder / "web.wav").write_bytes(audio)
    (folder / "settings.json").write_bytes(settings)
    (folder / "cli").mkdir()
    (folder / "export").mkdir()

    def target(base, fmt):
        return base / downloads[fmt][0].removesuffix(".zip")  # the same names, so that the LV2 URIs match

    argv = ["apply", str(folder / "take.wav"), "--target", "warm", "--intensity", "0.7", "--json",
            "-o", str(folder / "cli.wav")]
    for fmt in FORMATS:
        argv += ["--export", f"{fmt}:{target(folder / 'cli', fmt)}"]
        _cli(["export", str(folder / "settings.json"), "--format", fmt, "-o", str(target(folder / "export", fmt))])
    facts = json.loads(_cli(argv))
    return {"status": status, "downloads": downloads, "folder": folder, "facts": facts,
            "cli": {fmt: _written_files(target(folder / "cli", fmt)) for fmt in FORMATS},
            "export": {fmt: _written_files(target(folder / "export", fmt)) for fmt in FORMATS}}


def test_every_preset_format_is_offered_with_the_render(rendered_presets, client):
    from semeq.export import FORMATS

    offered = client.get("/api/info").json()["export_formats"]
    assert [f["format"] for f in offered] == list(FORMATS)
    assert all(f["title"] == FORMATS[f["format"]].title and f["hosts"] == FORMATS[f["format"]].hosts for f in offered)
    presets = rendered_presets["status"]["presets"]
    assert [p["format"] for p in presets] == list(FORMATS) and all("error" not in p for p in presets)
    names = [p["filename"] for p in presets]
    assert len(set(names)) == len(names)  # apo and audacity are both .txt: the format is in the name
    assert names[0] == "take_warm_toward_0_70_lsp.preset.lv2.zip" and names[1] == "take_warm_toward_0_70_apo.txt"
    types = {fmt: d[2] for fmt, d in rendered_presets["downloads"].items()}
    assert types == {"lsp": "application/zip", "apo": "text/plain; charset=utf-8", "easyeffects": "application/json",
                     "audacity": "text/plain; charset=utf-8", "audacity-xml": "application/xml"}


@pytest.mark.parametrize("fmt", ["lsp", "apo", "easyeffects", "audacity", "audacity-xml"])
def test_web_presets_are_the_files_semeq_export_and_semeq_apply_write(rendered_presets, fmt):
    """Byte for byte: the page's preset = `semeq export` of the page's settings download = what
    `semeq apply --export` writes for the same file and settings (the same EQ and output gain)."""
    filename, data, _ = rendered_presets["downloads"][fmt]
    files = _preset_files(filename, data)
    assert files == rendered_presets["export"][fmt]
    assert files == rendered_presets["cli"][fmt]
    if fmt == "apo":
        text = data.decode()
        assert text.startswith("# semeq: warm 0.70") and f"Preamp: {rendered_presets['facts']['output_gain_db']:.3f} dB" in text


def test_the_web_lsp_preset_renders_like_the_web_download(rendered_presets):
    """The LV2 bundle downloaded from the page, unzipped where a host looks, read by lilv as hosts
    read presets and rendered through LSP Parametric Equalizer by lv2apply: the page's own audio."""
    import zipfile

    test_export = pytest.importorskip("test_export", reason="tests/test_export.py holds the LV2 helpers")
    if test_export.needs_lv2.args[0]:
        pytest.skip(test_export.needs_lv2.kwargs["reason"])
    folder = rendered_presets["folder"]
    filename, data, _ = rendered_presets["downloads"]["lsp"]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(folder / "lv2")
    found = [p for p in test_export.lilv_presets(folder / "lv2") if filename.removesuffix(".zip") in p["uri"]]
    assert len(found) == 1 and found[0]["loaded"] and found[0]["label"] == "semeq: warm 0.70"
    test_export.lv2apply(folder / "take.wav", folder / "lsp.wav", found[0]["ports"])
    plugin, sample_rate = sf.read(str(folder / "lsp.wav"))
    ours, _ = sf.read(str(folder / "web.wav"))
    assert plugin.shape == ours.shape
    rms_db, level_db = test_export.compare_renders(plugin, ours, sample_rate)
    print(f"\nweb LSP preset via lilv+lv2apply vs the web's download: third-octave RMS {rms_db:.4f} dB, "
          f"level {level_db:+.4f} dB, max sample difference {np.max(np.abs(plugin - ours)):.2e}")
    assert rms_db <= test_export.RENDER_RMS_TOL_DB and abs(level_db) <= test_export.LEVEL_TOL_DB


def test_a_preset_the_plugin_cannot_hold_is_listed_with_why_and_refused_4xx(client, wav5, monkeypatch):
    from semeq.export import lsp

    monkeypatch.setattr(lsp, "Q_RANGE", (0.0, 0.1))  # a plugin narrower than semeq: every peak's Q is outside
    u = _upload(client, _file(wav5))["upload"]
    job = client.post(f"/api/uploads/{u}/render", json={"target": "warm", "intensity": 0.7}).json()["job"]
    status = _wait(client, job)
    by_format = {p["format"]: p for p in status["presets"]}
    assert "url" not in by_format["lsp"] and "lsp: low shelf Q 0.71 is outside" in by_format["lsp"]["error"]
    assert "url" in by_format["apo"]  # the others still download
    message = _error(client.get(f"/api/jobs/{job}/preset/lsp"), 400, "outside the plugin's range 0 .. 0.1")
    assert message == by_format["lsp"]["error"]
    assert client.get(f"/api/jobs/{job}/preset/apo").status_code == 200
    _error(client.get(f"/api/jobs/{job}/preset/vst3"), 400, "unknown export format 'vst3'; known: lsp, apo")
    _error(client.get(f"/api/jobs/{'0' * 32}/preset/apo"), 404, "no such render")
    # A newer render replaces this one: its presets go with its audio.
    newer = client.post(f"/api/uploads/{u}/render", json={"target": "warm", "intensity": 0.5}).json()["job"]
    assert _wait(client, newer)["state"] == "done"
    _error(client.get(f"/api/jobs/{job}/preset/apo"), 410, "replaced")


def test_api_apply_export_answers_the_preset_of_the_applied_setting(client, wav5, tmp_path):
    from semeq.export import export_bytes, read_settings

    data = _file(wav5)
    fields = {"target": "a bit warmer", "mode": "toward"}
    audio = client.post("/api/apply", files={"file": ("a.wav", data)}, data=fields)
    assert audio.status_code == 200
    r = client.post("/api/apply", files={"file": ("a.wav", data)}, data=fields | {"export": "apo"})
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="a_warm_toward_apo.txt"'
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    applied = json.loads(r.headers["X-Semeq-Settings"])
    assert applied == json.loads(audio.headers["X-Semeq-Settings"])  # the same setting as the audio call
    assert applied["intensity"] == pytest.approx(0.3) and applied["request"]["intensity_source"] == "amount"
    assert applied["eq"]["cascade"] == [applied["bands"]]
    assert r.content == export_bytes("apo", read_settings(applied))[1]
    assert r.content.decode().startswith("# semeq: warm 0.30")
    # The header of an audio call, posted to /api/export, gives the same preset without a second render.
    e = client.post("/api/export/apo", json=json.loads(audio.headers["X-Semeq-Settings"]))
    assert e.status_code == 200 and e.content == r.content
    assert e.headers["content-disposition"] == 'attachment; filename="semeq_warm_0.30.txt"'
    # And semeq export of that header, saved as a file, writes the same bytes.
    (tmp_path / "applied.json").write_text(audio.headers["X-Semeq-Settings"])
    _cli(["export", str(tmp_path / "applied.json"), "--format", "apo", "-o", str(tmp_path / "x.txt")])
    assert (tmp_path / "x.txt").read_bytes() == e.content
    assert client.app.state.semeq.store.files() == []  # nothing kept


def test_api_export_refusals_are_4xx_json(client, wav5):
    good = {"sample_rate": 44100, "output_gain_db": -1.0, "bands": {"peak2_gain_db": 3.0}}
    _error(client.post("/api/apply", files={"file": ("a.wav", _file(wav5))}, data={"target": "warm", "export": "vst3"}),
           400, "unknown export format 'vst3'")
    assert client.app.state.semeq.store.files() == []
    _error(client.post("/api/export/apo", json={"sample_rate": 44100}), 400, "no EQ found")
    _error(client.post("/api/export/apo", json=good), 400, "lacks")  # 13 named values, not some
    from semeq.params import EQParams

    flat = EQParams.flat().to_dict()
    r = client.post("/api/export/easyeffects", json={"sample_rate": 44100, "output_gain_db": -1.0, "bands": flat})
    assert r.status_code == 200 and json.loads(r.content)["output"]["equalizer#0"]["output-gain"] == -1.0
    _error(client.post("/api/export/lsp", json={"sample_rate": 44100, "output_gain_db": 25.0, "bands": flat}),
           400, "lsp: the output gain +25.00 dB is outside the plugin's range")
    _error(client.post("/api/export/lsp", content=b"{}", headers={"content-type": "text/plain"}), 415)


# -- warm-up ------------------------------------------------------------------------------------
def test_warm_up_fits_the_unseen_word_map_before_any_unseen_word():
    """Engine.warm_up (run by `semeq web` at start) leaves the map that places unseen words fitted
    for the engine's model, so the first unseen word typed finds it and fits none."""
    from semeq import text_embedding
    from semeq.adaptive import SemanticEQ

    if not text_embedding.embedding_available():
        pytest.skip("the text embedding package (wordllama) is not installed")
    engine = Engine(seq=SemanticEQ())  # a model of its own: no other test has placed a word with it
    model = engine.seq.eq_model
    assert engine.ready() == {"models": True, "unseen_words": False}
    assert model not in text_embedding._MAPS
    engine.warm_up()
    assert engine.ready() == {"models": True, "unseen_words": True}
    fitted = text_embedding._MAPS[model][frozenset()]
    interp = engine.understand("silky")
    assert interp.terms[0].source == "embedding" and text_embedding._MAPS[model] == {frozenset(): fitted}
