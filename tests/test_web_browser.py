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
    # Stopped: its private folder of uploads and renders is gone.
    assert list(server_tmp.iterdir()) == []


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright  # missing Playwright: a failure, not a skip

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        try:
            yield b
        finally:
            b.close()


def test_studio_ab_download_and_abx_in_chromium(server, browser, data_root, tmp_path):
    url, db, server_tmp = server
    clip = Path(data_root) / CLIP
    errors: list[str] = []
    # bypass_csp lets Playwright evaluate its own helpers; the page is served with a strict CSP.
    page = browser.new_page(viewport={"width": 1280, "height": 1300}, accept_downloads=True, bypass_csp=True)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)

    # A file that is not audio: a clear message in the page.
    bad = tmp_path / "notes.wav"
    bad.write_text("these are my notes, not a recording " * 50)
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert "notes.wav: not a readable audio file" in page.inner_text("#error")

    # Upload a development clip and choose "warm" from the type-ahead.
    page.set_input_files("#file", str(clip))
    page.wait_for_function("document.getElementById('preview-info').dataset.ms", timeout=60_000)
    page.fill("#word", "")
    page.type("#word", "war")
    page.wait_for_selector("#word-list li", timeout=10_000)
    page.locator("#word-list li", has_text="warm").first.click()
    assert page.input_value("#word") == "warm"
    assert "English" in page.inner_text("#word-meta")

    # Move the intensity: the EQ and the preview follow.
    page.fill("#intensity", "0.8")
    page.wait_for_function("document.getElementById('eq-hint').textContent.includes('intensity 0.80')", timeout=30_000)
    page.wait_for_function("document.querySelectorAll('#bands tbody tr').length === 5", timeout=30_000)

    # Play, then toggle A/B: the position is kept and playback goes on. Wait for the background
    # render first, so that the processed buffer is not swapped in the middle of the check.
    page.wait_for_selector("#dl-audio:not(.disabled)", timeout=60_000)
    page.click("#play")
    page.wait_for_function("window.semeq.player.playing && window.semeq.player.position() > 0.5", timeout=10_000)
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
    assert audio_path.name == "d06_orch_strings_supertux_warm_0_80.flac"
    info, src = sf.info(str(audio_path)), sf.info(str(clip))
    assert (info.format, info.samplerate, info.channels, info.frames) == (src.format, src.samplerate, src.channels, src.frames)
    with page.expect_download() as dl:
        page.click("#dl-settings")
    settings = json.loads(Path(dl.value.path()).read_text())
    assert settings["settings"]["target"] == "warm" and settings["intensity"] == pytest.approx(0.8)
    page.screenshot(path=str(tmp_path / "studio.png"), full_page=True)

    # A second tab with another clip works alongside the first.
    tab2 = browser.new_page(bypass_csp=True)
    tab2.on("pageerror", lambda e: errors.append(str(e)))
    tab2.goto(url)
    tab2.wait_for_selector("body[data-ready='1']", timeout=60_000)
    tab2.set_input_files("#file", str(Path(data_root) / "music-dev/d03_techno_ufoai.flac"))
    tab2.wait_for_function("document.getElementById('preview-info').dataset.ms", timeout=60_000)
    assert "d03_techno_ufoai" in tab2.inner_text("#file-info")
    (private,) = server_tmp.iterdir()  # one private folder, holding both tabs' uploads
    assert private.name.startswith("semeq-web-") and (private.stat().st_mode & 0o777) == 0o700
    assert len([f for f in private.iterdir() if f.suffix == ".upload"]) == 2
    assert "d06_orch_strings_supertux" in page.inner_text("#file-info")
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
    page.screenshot(path=str(tmp_path / "abx.png"), full_page=True)
    assert errors == []
