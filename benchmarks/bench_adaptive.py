"""Does the adaptive EQ adapt? Measured on the real music clips in ../shared/data/music-dev.

Run: python benchmarks/bench_adaptive.py [--clips N] [--skip-e2e]

(a) Convergence: each clip gets a darker and a brighter variant (spectral tilt of -3 and
    +3 dB per octave around 1 kHz); a word is applied at intensity 1 to both. The spread of the
    two outputs' long-term spectra (1/3 octave, loudness-normalised; RMS difference over
    100 Hz-10 kHz) divided by the spread of the inputs', for each mode: ``match`` moves both
    to the word's point (far below 1), ``toward`` moves each only in the word's direction and at
    most twice the word (below 1, by design not to 0), ``static`` about 1.
(b) For the variant already tilted toward the word (darker for "warm", brighter for
    "bright"), the applied change (``toward``) is smaller than for the variant tilted away:
    target >= 90 % of clips.
(c) The size of the applied change grows monotonically with intensity 0, .25, .5, .75, 1:
    target >= 95 % of clips.
(d) End-to-end ``semeq apply`` on a 3-minute stereo file: wall time, its ratio to loading and
    saving the same file alone in the same run, and peak memory.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from semeq import load_audio, save_audio
from semeq.adaptive import MODES, SemanticEQ
from semeq.analysis import NORM_MASK, long_term_spectrum_db
from semeq.data.paths import data_dir

WORDS = ("warm", "bright")
TILT_DB_PER_OCTAVE = 3.0
_BAND = NORM_MASK


def tilt(audio: np.ndarray, sample_rate: float, db_per_octave: float) -> np.ndarray:
    """Spectral tilt around 1 kHz by zero-phase FFT weighting (20 Hz floor on the slope)."""
    spectrum = np.fft.rfft(audio, axis=-1)
    freqs = np.maximum(np.fft.rfftfreq(audio.shape[1], 1.0 / sample_rate), 20.0)
    gain_db = db_per_octave * np.log2(freqs / 1000.0)
    return np.fft.irfft(spectrum * 10.0 ** (gain_db / 20.0), n=audio.shape[1], axis=-1)


def spread_db(a: np.ndarray, b: np.ndarray, sample_rate: float) -> float:
    d = long_term_spectrum_db(a, sample_rate) - long_term_spectrum_db(b, sample_rate)
    return float(np.sqrt(np.mean(d[_BAND] ** 2)))


def e2e(seconds: float = 180.0) -> None:
    rng = np.random.default_rng(0)
    clip, sample_rate, _ = load_audio(sorted((data_dir() / "music-dev").glob("*.flac"))[0])
    reps = int(np.ceil(seconds * sample_rate / clip.shape[1]))
    audio = np.tile(clip, reps)[:, : int(seconds * sample_rate)] * (1 + 0.001 * rng.standard_normal())
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "long.wav"
        save_audio(src, audio, sample_rate, subtype="int16")
        t0 = time.perf_counter()
        x, sr, info = load_audio(src)
        save_audio(Path(tmp) / "copy.wav", x, sr, like=info)
        t_io = time.perf_counter() - t0
        cmd = [sys.executable, "-c", "import sys, resource; from semeq.cli import main; code = main(sys.argv[1:]); "
               "print('maxrss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)",
               "apply", str(src), "--target", "warm", "--intensity", "0.7", "-o", str(Path(tmp) / "out.wav")]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
        t_apply = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        rss_mb = int(proc.stderr.split("maxrss_kb")[-1].split()[0]) / 1024
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", "import semeq.adaptive"], capture_output=True)
        t_import = time.perf_counter() - t0
    print(f"(d) semeq apply, {seconds:.0f} s stereo 44.1 kHz int16 WAV: {t_apply:.2f} s wall (process start, imports "
          f"{t_import:.2f} s of it), load+save alone {t_io:.2f} s, ratio {t_apply / t_io:.1f}x; "
          f"{seconds / t_apply:.0f}x real time; peak memory {rss_mb:.0f} MB "
          f"(the audio itself: {audio.nbytes / 2**20:.0f} MB as float64)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    engine = SemanticEQ()
    clips = sorted((data_dir() / "music-dev").glob("*.flac"))[: args.clips]
    conv = {(mode, w): [] for mode in MODES for w in WORDS}
    toward_smaller = {w: [] for w in WORDS}
    monotone = []
    for path in clips:
        audio, sample_rate, _ = load_audio(path)
        dark = tilt(audio, sample_rate, -TILT_DB_PER_OCTAVE)
        bright = tilt(audio, sample_rate, +TILT_DB_PER_OCTAVE)
        spread_in = spread_db(dark, bright, sample_rate)
        for word in WORDS:
            for mode in MODES:
                out_d, _ = engine.apply(dark, sample_rate, word, 1.0, mode=mode)
                out_b, _ = engine.apply(bright, sample_rate, word, 1.0, mode=mode)
                conv[(mode, word)].append(spread_db(out_d, out_b, sample_rate) / spread_in)
            toward, away = (dark, bright) if word == "warm" else (bright, dark)
            c_toward = engine.adaptive_eq(toward, sample_rate, word, 1.0).change_rms_db
            c_away = engine.adaptive_eq(away, sample_rate, word, 1.0).change_rms_db
            toward_smaller[word].append(c_toward < c_away)
            m = engine.measure(audio, sample_rate)
            sizes = [engine.design_from_measurement(m, sample_rate, word, i).change_rms_db for i in (0.0, 0.25, 0.5, 0.75, 1.0)]
            monotone.append(bool(np.all(np.diff(sizes) > 0)) or sizes[-1] == 0.0)
    print(f"{len(clips)} clips from music-dev, words {', '.join(WORDS)}; tilt +-{TILT_DB_PER_OCTAVE:g} dB/octave around 1 kHz")
    for word in WORDS:
        print(f"(a) convergence '{word}' at intensity 1, output spread / input spread: "
              + ", ".join(f"{mode} {np.mean(conv[(mode, word)]):.3f}" for mode in MODES))
    for word in WORDS:
        ok = np.array(toward_smaller[word])
        print(f"(b) '{word}' (toward): change smaller for the variant already tilted toward it in {100 * ok.mean():.0f} % "
              f"of clips (target >= 90 %)")
    print(f"(c) change size strictly increasing over intensity 0, .25, .5, .75, 1 in {100 * np.mean(monotone):.0f} % "
          f"of clip/word pairs (target >= 95 %; a clip that needs nothing counts as monotone)")
    if not args.skip_e2e:
        e2e()


if __name__ == "__main__":
    main()
