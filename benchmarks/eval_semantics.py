"""Does a word ever move a recording against itself? Measured from the output audio.

On the 12 development clips x the well-supported words x intensities 0.3, 0.7 and 1.0, for
``mode="toward"`` (the default), ``mode="match"`` (the balance moved to the word's point) and
``mode="latent"`` (the seed's own rule: the audio encoder's latent moved toward the word's), every
figure is read from the rendered audio, never from the designed curves:

* ``delta(f)``: the output's level-normalised long-term spectrum minus the input's, over the band
  the clip holds (:mod:`semeq.reference`);
* ``w(f)``: the word's own EQ (its static EQ at intensity 1), level-free over the same band;
* **against**: ``<delta, w> < 0``: the change goes against the word (target 0 cases);
* **size**: ``RMS(delta) / RMS(I w)`` over 100 Hz-10 kHz: the change against the word's own EQ at
  that intensity (target <= 2x);
* **restraint**: the word's own EQ applied 0, 1, 2, 3 times beforehand, then semeq at intensity
  0.7: the change (RMS of delta) shrinks at every step on >= 90 % of clips, and after 3 it is at
  most 0.6x the first (median over clips);
* **adaptation**: "bright" at 0.7 on the darkest third of clips (lowest spectral centroid) against
  the brightest third: the projection of delta on ``w``, ratio of the means;
* **monotone**: the projection grows from 0.3 to 0.7 to 1.0 (share of clip x word cases).

Usage: ``PYTHONPATH=src python benchmarks/eval_semantics.py [--words warm,bright] [--modes toward,match,latent]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from semeq import apply_eq  # noqa: E402
from semeq.adaptive import PROFILE_MIN_CONFIDENCE, SemanticEQ  # noqa: E402
from semeq.analysis import NORM_MASK as NORM, long_term_spectrum_db  # noqa: E402
from semeq.data.paths import data_dir  # noqa: E402
from semeq.io import load_audio  # noqa: E402
from semeq.params import EQParams  # noqa: E402

INTENSITIES = (0.3, 0.7, 1.0)


def level_free(curve: np.ndarray, band: np.ndarray) -> np.ndarray:
    return np.where(band, curve - curve[band].mean(), 0.0)


def delta_db(before: np.ndarray, after: np.ndarray, sample_rate: float, band: np.ndarray) -> np.ndarray:
    """Change of the level-normalised long-term spectrum, level-free over ``band``."""
    return level_free(long_term_spectrum_db(after, sample_rate) - long_term_spectrum_db(before, sample_rate), band)


def rms(x: np.ndarray, band: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x[band] ** 2)))


def evaluate(seq: SemanticEQ, clips: dict, words: list[str], mode: str) -> dict:
    against, sizes, monotone, restraint_ok, restraint_ratio, fit_errors = [], [], [], [], [], []
    bright_proj = {}
    worst = (0.0, "")
    for name, (x, sr) in clips.items():
        m = seq.measure(x, sr)
        band = m.held & NORM
        for word in words:
            w = level_free(seq.word_curve_db(word), band)
            w_unit = w / max(np.sqrt(np.sum(w**2)), 1e-12)
            proj = []
            for intensity in INTENSITIES:
                eq = seq.design(m, sr, seq.request(word, intensity, mode=mode), audio=(x, sr))
                out = apply_eq(x, sr, list(eq.cascade)) if eq.cascade else x
                if eq.cascade and eq.fit is not None:
                    fit_errors.append(eq.fit.rms_error_db)
                d = delta_db(x, out, sr, band)
                p = float(d @ w_unit)
                proj.append(p)
                against.append(p < 0.0)
                ratio = rms(d, band) / max(intensity * rms(w, band), 1e-9)
                sizes.append(ratio)
                if ratio > worst[0]:
                    worst = (ratio, f"{name} {word} {intensity}")
                if word == "bright" and intensity == 0.7:
                    bright_proj[name] = p
            monotone.append(proj[0] <= proj[1] <= proj[2])
            # restraint: the word's own EQ applied k times beforehand
            own = seq.eq_model.decode(seq.target_latent(word))
            steps = []
            xk = x
            for k in range(4):
                if k:
                    xk = apply_eq(xk, sr, own)
                mk = seq.measure(xk, sr)
                eq = seq.design(mk, sr, seq.request(word, 0.7, mode=mode), audio=(xk, sr))
                out = apply_eq(xk, sr, list(eq.cascade)) if eq.cascade else xk
                steps.append(rms(delta_db(xk, out, sr, band), band))
            restraint_ok.append(all(b < a or a < 1e-3 for a, b in zip(steps, steps[1:])))
            restraint_ratio.append(steps[3] / steps[0] if steps[0] > 1e-3 else 0.0)
    return {"against": against, "sizes": sizes, "worst": worst, "monotone": monotone, "restraint_ok": restraint_ok,
            "restraint_ratio": restraint_ratio, "bright_proj": bright_proj, "fit_errors": fit_errors}


def centroid_hz(x: np.ndarray, sr: float) -> float:
    spec = np.abs(np.fft.rfft(x.mean(axis=0))) ** 2
    f = np.fft.rfftfreq(x.shape[1], 1 / sr)
    return float(np.sum(f * spec) / np.sum(spec))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--words", help="comma-separated words (default: the well-supported ones)")
    parser.add_argument("--modes", default="toward,match,latent")
    parser.add_argument("--clips", type=int, default=12, help="how many development clips (default all 12)")
    args = parser.parse_args()
    seq = SemanticEQ()
    words = args.words.split(",") if args.words else [e.word for e in seq.eq_model.vocabulary if e.confidence >= PROFILE_MIN_CONFIDENCE]
    files = sorted((data_dir() / "music-dev").glob("*.flac"))[: args.clips]
    clips = {f.stem[:3]: load_audio(f)[:2] for f in files}
    print(f"{len(clips)} development clips x {len(words)} words x intensities {INTENSITIES}; "
          f"reference: {seq.reference.n_tracks} tracks ({seq.reference.source.get('kind', '?')})")
    print(f"{'mode':<8} {'against':>9} {'max size':>9} {'p95 size':>9} {'restraint':>10} {'after 3':>8} "
          f"{'adapt':>7} {'monotone':>9} {'time':>6}")
    order = sorted(clips, key=lambda k: centroid_hz(*clips[k]))
    third = max(1, len(order) // 3)
    for mode in args.modes.split(","):
        t0 = time.perf_counter()
        r = evaluate(seq, clips, words, mode)
        dark = [r["bright_proj"][k] for k in order[:third] if k in r["bright_proj"]]
        bright = [r["bright_proj"][k] for k in order[-third:] if k in r["bright_proj"]]
        adapt = (np.mean(dark) / np.mean(bright)) if bright and abs(np.mean(bright)) > 1e-6 else float("inf")
        adapt_text = f"{adapt:6.1f}x" if np.isfinite(adapt) else ("  inf" if dark else "   n/a")
        if dark and bright:
            adapt_text += f" ({np.mean(dark):+.2f} vs {np.mean(bright):+.2f} dB)"
        print(f"{mode:<8} {sum(r['against']):>4}/{len(r['against']):<4} {max(r['sizes']):8.2f}x "
              f"{np.percentile(r['sizes'], 95):8.2f}x {100 * np.mean(r['restraint_ok']):9.0f}% "
              f"{np.median(r['restraint_ratio']):7.2f}x {adapt_text} {100 * np.mean(r['monotone']):8.0f}% "
              f"{time.perf_counter() - t0:5.0f}s")
        fe = np.array(r["fit_errors"])
        print(f"         largest size: {r['worst'][1]}; 5-band fit error over the held band (dB RMS): median "
              f"{np.median(fe):.2f}, 95th percentile {np.percentile(fe, 95):.2f}, max {fe.max():.2f}, "
              f"{int((fe > 0.5).sum())} of {fe.size} above 0.5")
    print("targets (toward): against 0, max size <= 2x, restraint >= 90 % and after 3 <= 0.6x, adapt clearly > 1, "
          "monotone 100 %, fit within 0.5 dB RMS")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
