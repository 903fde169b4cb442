"""The A/B preview as the listener meets it: from a moved slider to the new buffer playing, in Chromium.

Run: python benchmarks/bench_web_browser.py [--moves 8] [--chromium /usr/bin/chromium]

Builds a 40 s stereo 44.1 kHz FLAC from two development clips in a temporary folder (deleted
afterwards), starts `semeq web --no-browser`, uploads it in headless Chromium, sets a 30 s loop
(5-35 s) and moves the intensity ``--moves`` times, waiting each time for the page to have the new
preview decoded into its WebAudio buffer (the page's own measurement: request, server render,
transfer, decodeAudioData). The background full render is left running as in real use.
Baseline in the same run: the server's own time for the same requests (X-Semeq-Render-Ms).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=8)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--pause-s", type=float, default=1.5, help="wait between moves (the listener listening)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import numpy as np
    import soundfile as sf
    from playwright.sync_api import sync_playwright

    from semeq.data.paths import data_dir

    root = data_dir() / "music-dev"
    a, sr = sf.read(root / "d01_hard_rock_sectoid.flac", always_2d=True)
    b, _ = sf.read(root / "d07_piano_supertux.flac", always_2d=True)
    with tempfile.TemporaryDirectory(prefix="semeq-bench-") as tmp:
        clip = Path(tmp) / "forty_seconds.flac"
        sf.write(clip, np.concatenate([a, b]), sr, subtype="PCM_16")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
        server = subprocess.Popen([sys.executable, "-m", "semeq.cli", "web", "--no-browser", "--port", str(port),
                                   "--db", str(Path(tmp) / "abx.sqlite3")], env=env, stdout=subprocess.PIPE, text=True)
        page_ms, server_ms = [], []
        try:
            server.stdout.readline()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
                page = browser.new_page(bypass_csp=True)
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector("body[data-ready='1']", timeout=60_000)
                page.set_input_files("#file", str(clip))
                page.wait_for_function("document.getElementById('preview-info').dataset.ms", timeout=60_000)
                page.fill("#start", "5")
                page.fill("#end", "35")
                page.dispatch_event("#end", "change")
                page.wait_for_function("document.getElementById('preview-info').textContent.includes('preview of 30.0 s')",
                                       timeout=60_000)
                for i in range(args.moves):
                    value = f"{0.30 + 0.05 * i:.2f}"
                    page.evaluate("document.getElementById('preview-info').dataset.ms = ''")
                    page.fill("#intensity", value)
                    page.wait_for_function("document.getElementById('preview-info').dataset.ms", timeout=60_000)
                    text = page.inner_text("#preview-info")
                    page_ms.append(float(page.evaluate("document.getElementById('preview-info').dataset.ms")))
                    server_ms.append(1000.0 * float(text.split("(server ")[1].split(" s)")[0]))
                    page.wait_for_timeout(1000 * args.pause_s)  # the bands and the background render start meanwhile
                browser.close()
        finally:
            server.terminate()
            server.wait(15)
    print(f"30 s stereo {sr} Hz loop, {args.moves} intensity moves {args.pause_s:g} s apart, measured by the page (request to decoded buffer; the 120 ms debounce comes before)")
    print(f"  slider -> new buffer ready   median {statistics.median(page_ms) / 1000:.3f} s   worst {max(page_ms) / 1000:.3f} s")
    print(f"  server render (baseline)     median {statistics.median(server_ms) / 1000:.3f} s   worst {max(server_ms) / 1000:.3f} s")
    print(f"  ratio page / server          median {statistics.median(page_ms) / statistics.median(server_ms):.2f}")
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
