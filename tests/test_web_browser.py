"""End to end in a real headless Chromium: `semeq web --no-browser`, upload, A/B, download, ABX.

Skips only when the web extra is not installed or the development data is absent. When the
browser cannot start (Chromium missing, Playwright missing) the test FAILS: install Debian's
``chromium`` (``.ci/run`` does) -- Playwright drives it through ``executable_path`` and never
downloads a browser of its own.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the web extra is not installed: pip install 'semeq[web]'")

import soundfile as sf  # noqa: E402

from semeq.web.abx import binomial_p_value  # noqa: E402

CHROMIUM = os.environ.get("SEMEQ_CHROMIUM", "/usr/bin/chromium")
CLIP = "music-dev/d06_orch_strings_supertux.flac"
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = _free_port()
    db = tmp_path / "abx.sqlite3"
    server_tmp = tmp_path / "server-tmp"  # the server's private upload folder goes in here
    server_tmp.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
               XDG_DATA_HOME=str(tmp_path / "data"), OMP_NUM_THREADS="1", TMPDIR=str(server_tmp))
    proc = subprocess.Popen([sys.executable, "-m", "semeq.cli", "web", "--no-browser", "--port", str(port), "--db", str(db)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "serving on" not in line:
        proc.kill()
        raise AssertionError(f"semeq web did not start: {line} {proc.stderr.read()}")
    try:
        yield f"http://127.0.0.1:{port}/", db, server_tmp
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    # Stopped: its private folder of uploads and renders is gone. (ONNX Runtime, which mode latent
    # loads, leaves a small ".ses" file of its own in TMPDIR: not the server's.)
    assert [p for p in server_tmp.iterdir() if p.name.startswith("semeq-web-")] == []


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright  # missing Playwright: a failure, not a skip

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        try:
            yield b
        finally:
            b.close()


_CSP_WATCH = """document.addEventListener("securitypolicyviolation",
    (e) => (window.__csp = window.__csp || []).push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));"""


def _watched_page(browser, errors: list[str], **kwargs):
    """A page under the server's own Content-Security-Policy (not bypassed), every page error,
    console error and CSP violation collected into ``errors``."""
    page = browser.new_page(**kwargs)
    page.add_init_script(_CSP_WATCH)  # runs before the page's own scripts, outside its CSP
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    # Every console error or warning counts, except the browser's own line for a 4xx answer that the
    # test provoked on purpose (a file that is not audio, an unknown word): the page shows those itself.
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") and not m.text.startswith("Failed to load resource: the server "
                                                                         "responded with a status of 4") else None)
    return page


def _wait_js(page, expression: str, timeout: int = 30_000) -> None:
    """Poll a JS expression until it is truthy. (Playwright's wait_for_function evaluates a string
    with eval inside the page, which the page's CSP rightly refuses; page.evaluate is not affected.)"""
    deadline = time.monotonic() + timeout / 1000.0
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.05)


def _csp_violations(page) -> list[str]:
    return page.evaluate("window.__csp || []")


def test_studio_ab_download_and_abx_in_chromium(server, browser, data_root, tmp_path):
    url, db, server_tmp = server
    clip = Path(data_root) / CLIP
    errors: list[str] = []
    page = _watched_page(browser, errors, viewport={"width": 1280, "height": 1300}, accept_downloads=True)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    assert "default-src 'self'" in page.evaluate("fetch('/').then((r) => r.headers.get('content-security-policy'))")

    # A file that is not audio: a clear message in the page.
    bad = tmp_path / "notes.wav"
    bad.write_text("these are my notes, not a recording " * 50)
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert "notes.wav: not a readable audio file" in page.inner_text("#error")

    # Upload a development clip and choose "warm" from the type-ahead.
    page.set_input_files("#file", str(clip))
    _wait_js(page, "document.getElementById('preview-info').dataset.ms", timeout=60_000)
    # The profile's bars are drawn to their values (the CSP once blocked their widths: all full length).
    bars = page.evaluate("""[...document.querySelectorAll('#profile .bar')].map((b) => ({
        bar: b.getBoundingClientRect().width, fill: b.firstElementChild.getBoundingClientRect().width,
        pct: parseFloat(b.nextElementSibling.textContent)}))""")
    assert len(bars) >= 5
    for b in bars:
        assert b["fill"] == pytest.approx(b["bar"] * max(2.0, b["pct"]) / 100.0, abs=0.006 * b["bar"] + 1)  # pct shown rounded
    fills = [b["fill"] for b in bars]
    assert max(fills) - min(fills) > 0.2 * bars[0]["bar"]  # they differ in length
    keys = page.evaluate("[...document.querySelectorAll('#balance-legend i')].map((i) => getComputedStyle(i).backgroundColor)")
    assert len(keys) >= 3 and len(set(keys)) == len(keys) and "rgba(0, 0, 0, 0)" not in keys  # coloured legend keys
    page.fill("#word", "")
    page.type("#word", "war")
    page.wait_for_selector("#word-list li", timeout=10_000)
    conf = page.evaluate("""[...document.querySelectorAll('#word-list .conf')].map((c) =>
        c.firstElementChild.getBoundingClientRect().width / c.getBoundingClientRect().width)""")
    assert len(set(round(c, 2) for c in conf)) > 1 and max(conf) <= 1.0  # type-ahead confidence bars to scale
    page.locator("#word-list li", has_text="warm").first.click()
    assert page.input_value("#word") == "warm"
    assert "English" in page.inner_text("#word-meta")
    _wait_js(page, "document.getElementById('understood').textContent.includes(\"more 'warm'\")", timeout=10_000)

    # Move the intensity: the EQ and the preview follow.
    page.fill("#intensity", "0.8")
    _wait_js(page, "document.getElementById('eq-hint').textContent.includes('intensity 0.80')", timeout=30_000)
    _wait_js(page, "document.querySelectorAll('#bands tbody tr').length === 5", timeout=30_000)

    # Play, then toggle A/B: the position is kept and playback goes on. Wait for the background
    # render first, so that the processed buffer is not swapped in the middle of the check.
    page.wait_for_selector("#dl-audio:not(.disabled)", timeout=60_000)
    page.click("#play")
    _wait_js(page, "window.semeq.player.playing && window.semeq.player.position() > 0.5", timeout=10_000)
    assert page.evaluate("window.semeq.player.ctx.state") == "running"
    clock = """(() => { const p = window.semeq.player;
        return {t0: p.t0, pos0: p.pos0, pos: p.position(), now: p.ctx.currentTime, loop: p.loop,
                sameSources: window.__srcs ? p.tracks.A.src === window.__srcs[0] && p.tracks.B.src === window.__srcs[1] : null,
                _: (window.__srcs = [p.tracks.A.src, p.tracks.B.src])}; })()"""
    before = page.evaluate(clock)
    assert page.evaluate("document.body.dataset.ab") == "B"
    page.keyboard.press("t")
    after = page.evaluate(clock)
    assert page.evaluate("document.body.dataset.ab") == "A"
    # The same two sources play on from the same start: switching moved only the gains, so the
    # position advanced exactly as the audio clock did (modulo the loop).
    assert after["sameSources"] and (after["t0"], after["pos0"]) == (before["t0"], before["pos0"])
    loop_s = after["loop"][1] - after["loop"][0]
    advanced = (after["pos"] - before["pos"]) % loop_s
    assert advanced == pytest.approx((after["now"] - before["now"]) % loop_s, abs=1e-6)
    page.wait_for_timeout(300)
    assert page.evaluate("window.semeq.player.playing")
    assert page.evaluate(clock)["now"] > after["now"]  # still playing
    gains = page.evaluate("(() => { const t = window.semeq.player.tracks; return [t.A.gain.gain.value, t.B.gain.gain.value]; })()")
    assert gains[0] > 0.5 and gains[1] < 1e-3  # only A is heard now
    page.click("#btn-b")
    assert page.evaluate("document.body.dataset.ab") == "B"
    page.click("#play")  # pause

    # Download the processed file and its settings (the background render is done).
    assert "intensity 0.80" in page.inner_text("#eq-hint")
    with page.expect_download() as dl:
        page.click("#dl-audio")
    audio_path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(audio_path)
    assert audio_path.name == "d06_orch_strings_supertux_warm_toward_0_80.flac"
    info, src = sf.info(str(audio_path)), sf.info(str(clip))
    assert (info.format, info.samplerate, info.channels, info.frames) == (src.format, src.samplerate, src.channels, src.frames)
    with page.expect_download() as dl:
        page.click("#dl-settings")
    settings = json.loads(Path(dl.value.path()).read_text())
    assert settings["settings"]["target"] == "warm" and settings["intensity"] == pytest.approx(0.8)

    # A preset for each EQ plugin format beside the audio; the APO download is `semeq export` of those settings.
    from semeq.export import FORMATS, export_bytes, read_settings

    links = page.evaluate("""[...document.querySelectorAll('#presets a')].map((a) => ({format: a.dataset.format,
        href: a.getAttribute('href'), download: a.getAttribute('download'), cls: a.className, title: a.title}))""")
    assert [a["format"] for a in links] == list(FORMATS)
    assert all(a["href"] and a["download"] and "disabled" not in a["cls"] for a in links)
    assert all(FORMATS[a["format"]].hosts in a["title"] for a in links)
    with page.expect_download() as dl:
        page.click("#dl-preset-apo")
    stem = "d06_orch_strings_supertux_warm_toward_0_80_apo"
    assert dl.value.suggested_filename == stem + ".txt"
    assert Path(dl.value.path()).read_bytes() == export_bytes("apo", read_settings(settings), stem)[1]
    assert page.inner_text("#preset-error") == ""
    page.screenshot(path=str(tmp_path / "studio.png"), full_page=True)

    # A second tab with another clip works alongside the first.
    tab2 = _watched_page(browser, errors)
    tab2.goto(url)
    tab2.wait_for_selector("body[data-ready='1']", timeout=60_000)
    tab2.set_input_files("#file", str(Path(data_root) / "music-dev/d03_techno_ufoai.flac"))
    _wait_js(tab2, "document.getElementById('preview-info').dataset.ms", timeout=60_000)
    assert "d03_techno_ufoai" in tab2.inner_text("#file-info")
    (private,) = [p for p in server_tmp.iterdir() if p.name != ".ses"]  # one private folder, holding both tabs' uploads
    assert private.name.startswith("semeq-web-") and (private.stat().st_mode & 0o777) == 0o700
    names = {f.name for f in private.iterdir()}
    for tab in (page, tab2):  # each upload under its random id, with the suffix of its decoded format
        assert tab.evaluate("window.semeq.state.upload.upload") + ".flac" in names
    assert "d06_orch_strings_supertux" in page.inner_text("#file-info")
    assert _csp_violations(tab2) == []
    tab2.close()

    # A 16-trial ABX session, answered by clicking.
    assert page.input_value("#abx-n") == "16"
    page.click("#abx-begin")
    for trial in range(1, 17):
        page.wait_for_selector(f"body[data-abx-trial='{trial}']", timeout=30_000)
        page.click("#abx-x")
        page.click("#ans-a" if trial % 3 else "#ans-b")
    page.wait_for_selector("#abx-result:not([hidden])", timeout=30_000)
    assert page.inner_text("#res-total") == "16"
    shown_correct = int(page.inner_text("#res-correct"))
    shown_p = page.inner_text("#res-p")

    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    (sid, n_trials, done), = con.execute("SELECT id, n_trials, completed_at FROM sessions").fetchall()
    rows = con.execute("SELECT trial, answer, correct FROM trials WHERE session_id = ? ORDER BY trial", (sid,)).fetchall()
    assert n_trials == 16 and done and [r[0] for r in rows] == list(range(1, 17))
    assert [r[1] for r in rows] == ["A" if t % 3 else "B" for t in range(1, 17)]
    correct = sum(r[2] for r in rows)
    assert shown_correct == correct
    p = binomial_p_value(correct, 16)
    assert float(shown_p) == pytest.approx(p, rel=1e-3, abs=1e-4)
    assert len(page.locator("#res-trials span").all()) == 16
    if p < 0.001:
        assert "e-" in shown_p and "0.00 %" not in page.inner_text("#res-verdict")
    page.screenshot(path=str(tmp_path / "abx.png"), full_page=True)
    page.click("#tab-history")
    page.wait_for_selector("#history tbody tr", timeout=10_000)
    assert _csp_violations(page) == []
    assert errors == []


def test_word_already_present_unknown_word_and_modes_in_chromium(server, browser, data_root):
    """Issue 21, items 5 and 6 as a musician meets them: a word the track already has, a typo, the modes."""
    url, _, _ = server
    errors: list[str] = []
    page = _watched_page(browser, errors, viewport={"width": 1280, "height": 1300})
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    assert "toward:" in page.inner_text("#mode-help")
    # d04 (dark ambient) is warmer than most of the reference music: "warm" changes it little, and the page says why.
    page.set_input_files("#file", str(Path(data_root) / "music-dev/d04_dark_ambient_ufoai.flac"))
    _wait_js(page, "document.getElementById('preview-info').dataset.ms", timeout=60_000)
    page.fill("#intensity", "0.8")
    _wait_js(page, "document.getElementById('eq-hint').textContent.includes('intensity 0.80')")
    assert "already has much of 'warm'" in page.inner_text("#suggestion")
    page.wait_for_selector("#dl-audio:not(.disabled)", timeout=60_000)

    # A typo: nothing on screen keeps the previous word's EQ, and the page suggests words.
    page.fill("#word", "brigth")
    page.press("#word", "Escape")
    page.press("#word", "Enter")
    page.wait_for_selector("body[data-stale='1']", timeout=30_000)
    assert "not understood" in page.inner_text("#eq-hint")
    assert page.locator("#bands tbody tr").count() == 0
    assert "disabled" in page.get_attribute("#dl-audio", "class") and page.get_attribute("#dl-audio", "href") is None
    assert page.is_disabled("#btn-b") and page.evaluate("document.body.dataset.ab") == "A"
    assert not page.evaluate("window.semeq.player.has('B')")
    assert "unknown word 'brigth'" in page.inner_text("#understood")
    assert page.is_hidden("#error") and "semeq terms" not in page.inner_text("body")
    page.locator("#understood .chip", has_text="bright").first.click()
    _wait_js(page, "!document.body.dataset.stale && document.getElementById('eq-hint').textContent.includes('“bright”')")
    assert page.input_value("#word") == "bright" and not page.is_disabled("#btn-b")
    page.wait_for_selector("#dl-audio:not(.disabled)", timeout=60_000)

    # Every mode of the library is offered and explained; latent runs through the engine too.
    assert page.evaluate("[...document.querySelectorAll('input[name=mode]')].map((r) => r.value)") == [
        "toward", "match", "static", "latent"]
    page.click("#mode label:has(input[value=latent])")
    assert "latent: the original seed rule" in page.inner_text("#mode-help")
    # The dynamic checkbox is offered, unticked, with its one-line explanation.
    assert page.is_visible("#dynamic") and not page.is_checked("#dynamic")
    assert "flares away" in page.inner_text("#dynamic-help")
    _wait_js(page, "document.getElementById('eq-hint').textContent.startsWith('latent')")

    # "hot" comes from the Spanish-language survey: the page says so, not that the word is Spanish.
    page.fill("#word", "hot")
    page.press("#word", "Escape")
    _wait_js(page, "document.getElementById('word-meta').textContent.includes('Spanish survey')")
    assert "not always of the word" in page.get_attribute("#word-meta", "title")

    # A phrase's amount words set the intensity, as on the command line, until the slider is moved for it.
    page.click("#mode label:has(input[value=toward])")
    page.fill("#word", "a bit warmer")
    page.press("#word", "Escape")
    page.press("#word", "Enter")
    _wait_js(page, "document.getElementById('eq-hint').textContent.startsWith('toward “a bit warmer”, intensity 0.30')")
    assert page.input_value("#intensity") == "0.3" and "overridden" not in page.inner_text("#suggestion")
    page.fill("#intensity", "0.6")
    _wait_js(page, "document.getElementById('eq-hint').textContent.includes('“a bit warmer”, intensity 0.60')")
    assert 'the amount "a bit" (0.30) was overridden by the explicit intensity 0.60' in page.inner_text("#suggestion")
    assert _csp_violations(page) == []
    assert errors == []
