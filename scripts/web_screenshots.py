"""Regenerate docs/web_studio.png and docs/web_abx_result.png in headless Chromium.

Run: python scripts/web_screenshots.py [--chromium /usr/bin/chromium]

Starts `semeq web --no-browser` on a free port with a throw-away ABX database, uploads a
development clip (music-dev d06), picks "warm" at intensity 0.7 on a 15 s loop, plays it, and
shoots the studio; then runs a 16-trial ABX test answered by a fixed pattern (a screenshot, not
a listening result) and shoots the result page. Also prints the preview time the page measured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wait_js(page, expression: str, timeout_s: float = 60.0) -> None:
    """Poll a JS expression until truthy (wait_for_function evals a string, which the page's CSP refuses)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.05)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from playwright.sync_api import sync_playwright

    from semeq.data.paths import data_dir

    clip = data_dir() / "music-dev" / "d06_orch_strings_supertux.flac"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = Path(tempfile.mkdtemp(prefix="semeq-shots-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    server = subprocess.Popen([sys.executable, "-m", "semeq.cli", "web", "--no-browser", "--port", str(port),
                               "--db", str(tmp / "abx.sqlite3")], env=env, stdout=subprocess.PIPE, text=True)
    try:
        server.stdout.readline()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium,
                                        args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
            # Under the page's own Content-Security-Policy, as a user's browser shows it.
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            page.set_input_files("#file", str(clip))
            wait_js(page, "document.getElementById('preview-info').dataset.ms")
            page.fill("#start", "2")
            page.fill("#end", "17")
            page.dispatch_event("#end", "change")
            page.fill("#intensity", "0.7")
            wait_js(page, "document.getElementById('eq-hint').textContent.includes('intensity 0.70')")
            wait_js(page, "document.querySelectorAll('#bands tbody tr').length === 5")
            page.wait_for_selector("#dl-audio:not(.disabled)", timeout=60_000)
            print("preview measured by the page:", page.inner_text("#preview-info"))
            page.click("#play")
            time.sleep(1.5)
            page.screenshot(path=str(ROOT / "docs" / "web_studio.png"), full_page=True)
            page.click("#play")
            for pattern in ("ABBABAABABBAABAB", "AABBABABBBAABAAB"):
                page.click("#abx-begin") if pattern[0] == "A" and page.is_visible("#abx-begin") else page.click("#abx-again")
                for trial, answer in enumerate(pattern, start=1):
                    page.wait_for_selector(f"body[data-abx-trial='{trial}']", timeout=30_000)
                    page.click("#ans-a" if answer == "A" else "#ans-b")
                page.wait_for_selector("#abx-result:not([hidden])", timeout=30_000)
                page.evaluate("document.body.dataset.abxTrial = ''")
            time.sleep(0.5)
            page.screenshot(path=str(ROOT / "docs" / "web_abx_result.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(15)
        shutil.rmtree(tmp, ignore_errors=True)
    print("wrote docs/web_studio.png and docs/web_abx_result.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
