"""The file pipeline against its floor: wall time and peak RSS of ``semeq apply`` on long files.

For stereo 44.1 kHz PCM_16 WAVs of 3, 15 and 60 minutes (real music from the development set,
tiled; generated pink noise where the data is absent), each in its own process:

- floor: read the file in blocks, run 10 biquads over it with ``scipy.signal.sosfilt`` (carried
  state), write PCM_16 -- the least any EQ of a file can cost;
- apply: ``semeq apply FILE --target warm --intensity 0.5 -o OUT`` (the CLI, models included).

Printed: seconds and the ratio apply / floor, peak RSS of each (``ru_maxrss`` of the child),
and on the 3-minute file the largest difference between ``apply_file`` and the whole-array
``SemanticEQ.apply`` (written as DOUBLE, so nothing is rounded away) and where the peak memory
comes from (RSS after loading the models, reading the analysis excerpt, deciding the EQ, and the
streaming passes).

Run: PYTHONPATH=src python benchmarks/bench_files.py [--minutes 3 15 60] [--tmp DIR]
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 44100
ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def make_file(path: Path, minutes: float) -> str:
    """A stereo PCM_16 WAV of ``minutes``: the dev-set music tiled, or pink noise. Returns its kind."""
    sys.path.insert(0, str(SRC))
    from semeq.data.paths import find_data_dir

    root = find_data_dir()
    clips = sorted(glob.glob(str(root / "music-dev" / "*.flac"))) if root else []
    n_total, done, k = int(minutes * 60 * SAMPLE_RATE), 0, 0
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", SAMPLE_RATE, 2, subtype="PCM_16") as f:
        while done < n_total:
            if clips:
                x, rate = sf.read(clips[k % len(clips)], dtype="float64", always_2d=True)
                if rate != SAMPLE_RATE:
                    k += 1
                    continue
                x = np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x[:, :2]
            else:
                n = 10 * SAMPLE_RATE
                spectrum = np.fft.rfft(rng.standard_normal((2, n)), axis=-1)
                spectrum /= np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0))
                x = np.fft.irfft(spectrum, n, axis=-1).T
                x *= 0.1 / np.std(x)
            x = x[: n_total - done]
            f.write(x)
            done += len(x)
            k += 1
    return "music-dev tiled" if clips else "pink noise"


FLOOR = textwrap.dedent("""
    import sys
    import numpy as np, soundfile as sf
    from scipy.signal import butter, sosfilt
    src, dst = sys.argv[1], sys.argv[2]
    sos = np.concatenate([butter(2, f, output="sos", fs=44100) for f in (100, 300, 1000, 3000, 8000)] * 2)  # 10 biquads
    with sf.SoundFile(src) as fin, sf.SoundFile(dst, "w", fin.samplerate, fin.channels, subtype="PCM_16") as fout:
        zi = np.zeros((sos.shape[0], fin.channels, 2))
        while True:
            block = fin.read(1 << 16, dtype="float64", always_2d=True)
            if not len(block):
                break
            y, zi = sosfilt(sos, block.T, axis=-1, zi=zi)
            fout.write(0.25 * y.T)
""")

IDENTITY = textwrap.dedent("""
    import sys
    import numpy as np, soundfile as sf
    from semeq.adaptive import SemanticEQ
    from semeq.io import load_audio
    from semeq.pipeline import apply_file
    src, dst = sys.argv[1], sys.argv[2]
    engine = SemanticEQ()
    audio, rate, _ = load_audio(src)
    expected, _ = engine.apply(audio, rate, "warm", 0.5)
    del audio
    apply_file(src, dst, "warm", 0.5, engine=engine, subtype="DOUBLE", force=True, progress=False)
    got = sf.read(dst, dtype="float64", always_2d=True)[0].T
    print(float(np.max(np.abs(got - expected))), bool(np.array_equal(got, expected)))
""")


BREAKDOWN = textwrap.dedent("""
    import resource, sys
    def rss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from semeq.adaptive import SemanticEQ
    from semeq.pipeline import apply_file, read_analysis_excerpt
    engine = SemanticEQ()
    stages = [("models loaded", rss())]
    excerpt, rate, _ = read_analysis_excerpt(sys.argv[1])
    stages.append(("analysis excerpt read", rss()))
    engine.decide(engine.request("warm", 0.5), excerpt, rate)
    stages.append(("EQ decided (encoder, fit)", rss()))
    del excerpt
    apply_file(sys.argv[1], sys.argv[2], "warm", 0.5, engine=engine, force=True, progress=False)
    stages.append(("apply_file done", rss()))
    print(";".join(f"{name}={mb:.0f}" for name, mb in stages))
""")


def run(argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of a child process."""
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed ({proc.returncode}):\n{err}")
    return wall, usage.ru_maxrss / 1024.0, out


def file_rows(minutes_list, tmp: str | None = None, *, verbose: bool = True) -> list[dict]:
    """For each length: the floor and ``semeq apply`` (wall s, peak RSS MB); 3 min adds the identity check."""
    rows = []
    with tempfile.TemporaryDirectory(dir=tmp) as tmp:
        tmp = Path(tmp)
        if verbose:
            print(f"{'file':>8} {'floor s':>8} {'apply s':>8} {'ratio':>6} {'floor RSS MB':>13} {'apply RSS MB':>13}")
        for minutes in minutes_list:
            src = tmp / f"in_{minutes:g}min.wav"
            kind = make_file(src, minutes)
            floor_s, floor_mb, _ = run([sys.executable, "-c", FLOOR, str(src), str(tmp / "floor.wav")])
            apply_s, apply_mb, _ = run([sys.executable, "-m", "semeq.cli", "apply", str(src), "--target", "warm",
                                        "--intensity", "0.5", "-o", str(tmp / "out.wav"), "--force", "--no-progress"])
            row = {"minutes": minutes, "floor_s": floor_s, "apply_s": apply_s, "floor_mb": floor_mb, "apply_mb": apply_mb}
            if verbose:
                print(f"{minutes:>5g} min {floor_s:8.2f} {apply_s:8.2f} {apply_s / floor_s:5.2f}x {floor_mb:13.0f} {apply_mb:13.0f}"
                      f"   ({kind})", flush=True)
            if minutes == 3.0:
                _, identity_mb, out = run([sys.executable, "-c", IDENTITY, str(src), str(tmp / "double.wav")])
                diff, exact = out.split()
                row["identity_max_diff"], row["identity_exact"] = float(diff), exact
                if verbose:
                    print(f"      3 min: apply_file vs SemanticEQ.apply: max |difference| {float(diff):.3g}, "
                          f"bit for bit: {exact}", flush=True)
                    _, _, out = run([sys.executable, "-c", BREAKDOWN, str(src), str(tmp / "out.wav")])
                    print("      3 min: peak RSS (MB) after " + ", ".join(f"{item.split('=')[0]}: {item.split('=')[1]}"
                                                                          for item in out.strip().split(";")), flush=True)
            rows.append(row)
            for p in tmp.glob("*.wav"):
                p.unlink()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[3.0, 15.0, 60.0])
    parser.add_argument("--tmp", help="folder for the test files (default: a temporary one; 60 min needs ~1.3 GB)")
    args = parser.parse_args()
    file_rows(args.minutes, args.tmp)


if __name__ == "__main__":
    main()
