"""Audio-encoder figures, CNN vs analytic, on the corpus's test packages and the development clips.

Encoders: the trained CNN (``semeq.AudioEncoder``) and the analytic baseline
(``semeq.analytic_encoder.AnalyticEncoder``: balance -> fitted 5-band EQ -> the EQ model's
latent), both measured against the same reference balance (the CNN's).

Music: a bounded subset of the corpus's *test*-package tracks (round-robin over the packages,
one excerpt from the middle of each track), and the ``music-dev`` clips (whole 20 s clips) for
comparison with the figures recorded before the corpus. Held-out EQ settings: the SAFE-DB rows
of the EQ model's *test* split, applied in the time domain (``semeq.dsp.apply_eq``).

* Equivariance: for music x and setting E, MAE over 100 Hz-12 kHz (grid points) between
  ``curve(decode(encode(x E))) - curve(decode(encode(x)))`` and E's own curve; raw, and with the
  mean difference over the band removed (level-removed: what a level-free analysis can see).
* Stability: decoded curves of 2 s windows at 10, 30, 50, 70 and 90 % of a track; their
  standard deviation per grid point, averaged over 100 Hz-12 kHz, mean over tracks.
* Warm vs bright: held-out "warm" and "bright" settings; the change of latent
  ``encode(x E) - encode(x)`` goes to the nearer of the two centroids of
  ``EQModel.encode(E) - EQModel.encode(flat)`` over the *training* warm and bright settings.
* Level: peak -30, -20, -10 dBFS against 0 dBFS (decoded-curve MAE, 100 Hz-12 kHz).
  Channels: mono against the same signal as two identical channels.
* Speed: median wall time of one ``encode`` of a 2 s stereo window at 44.1 kHz.

Targets (issue 10): level-removed equivariance <= 1.0 dB, warm/bright >= 95 %, invariance < 0.1 dB.

Run: PYTHONPATH=src python benchmarks/eval_encoder.py --music-manifest CSV [--music-cache DIR] [--weights LABEL=PATH ...]
     [--n-tracks 12] [--n-settings 12] [--n-word-settings 8] [--excerpt-s 8] [--weights PATH] [--no-dev] [--no-analytic]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from semeq.analysis import ANALYSIS_SAMPLE_RATE, GRID_FREQS_HZ
from semeq.analytic_encoder import AnalyticEncoder
from semeq.audio_encoder import AudioEncoder
from semeq.data.paths import data_dir
from semeq.dsp import apply_eq
from semeq.eq_model import EQModel
from semeq.fitting import response_db_batch
from semeq.params import EQParams
from semeq.training.audio_data import load_clips, read_music_manifest
from semeq.training.settings import safe_split

BAND = (GRID_FREQS_HZ >= 100.0) & (GRID_FREQS_HZ <= 12000.0)
WINDOW_S = 2.0
STABILITY_POSITIONS = (0.1, 0.3, 0.5, 0.7, 0.9)


def curves(eq_model: EQModel, z: np.ndarray) -> np.ndarray:
    return response_db_batch(eq_model.decode_batch(np.atleast_2d(z)), GRID_FREQS_HZ)


def _read(path: Path, start: int, frames: int) -> np.ndarray:
    import soundfile as sf
    import soxr

    data, rate = sf.read(str(path), start=start, frames=frames, dtype="float64", always_2d=True)
    audio = data.T
    if rate != ANALYSIS_SAMPLE_RATE:
        audio = soxr.resample(audio.T, rate, ANALYSIS_SAMPLE_RATE).T
    return np.ascontiguousarray(audio)


def test_tracks(manifest: Path, cache: Path, n_tracks: int, excerpt_s: float, seed: int):
    """{name: excerpt} and {name: [2 s windows]} of a round-robin subset of the test packages."""
    import soundfile as sf

    tracks = [t for t in read_music_manifest(manifest, cache) if t.split == "test"]
    by_package: dict[str, list] = {}
    for t in tracks:
        by_package.setdefault(t.package, []).append(t)
    rng = np.random.default_rng(seed)
    for p in by_package.values():
        rng.shuffle(p)
    chosen = []
    while len(chosen) < n_tracks and any(by_package.values()):
        for p in sorted(by_package):
            if by_package[p] and len(chosen) < n_tracks:
                chosen.append(by_package[p].pop())
    excerpts, windows = {}, {}
    for t in chosen:
        try:
            info = sf.info(str(t.path))
        except (OSError, RuntimeError) as exc:
            print(f"  skipped {t.track_id}: {exc}")
            continue
        n = int(excerpt_s * info.samplerate)
        w = int(WINDOW_S * info.samplerate) + 1
        if info.frames < max(n, w):
            continue
        name = f"{t.package}/{t.track_id}"
        excerpts[name] = _read(t.path, (info.frames - n) // 2, n)
        windows[name] = [_read(t.path, int(pos * (info.frames - w)), w)[:, : int(WINDOW_S * ANALYSIS_SAMPLE_RATE)]
                         for pos in STABILITY_POSITIONS]
    return excerpts, windows, sorted({n.split("/")[0] for n in excerpts})


def evaluate(encoders: dict, eq_model: EQModel, music: dict[str, np.ndarray], settings: np.ndarray,
             word_settings: dict[str, np.ndarray], centroid: dict, windows: dict | None) -> dict:
    """Every figure for every encoder on one set of music (see the module docstring)."""
    sr = ANALYSIS_SAMPLE_RATE
    names = sorted(music)
    h_true = response_db_batch(settings, GRID_FREQS_HZ)
    out = {label: {} for label in encoders}
    z_dry = {label: np.stack([enc.encode(music[n], sr) for n in names]) for label, enc in encoders.items()}
    z_wet = {label: np.zeros((len(names), len(settings), eq_model.latent_dim)) for label in encoders}
    dz_word = {label: [] for label in encoders}
    for i, n in enumerate(names):
        for j, p in enumerate(settings):
            wet = apply_eq(music[n], sr, EQParams.from_vector(p))
            for label, enc in encoders.items():
                z_wet[label][i, j] = enc.encode(wet, sr)
        for w, params in word_settings.items():
            for p in params:
                wet = apply_eq(music[n], sr, EQParams.from_vector(p))
                for label, enc in encoders.items():
                    dz_word[label].append((w, enc.encode(wet, sr) - z_dry[label][i]))
    for label, enc in encoders.items():
        r = out[label]
        c_dry = curves(eq_model, z_dry[label])
        c_wet = curves(eq_model, z_wet[label].reshape(-1, eq_model.latent_dim)).reshape(len(names), len(settings), -1)
        err = (c_wet - c_dry[:, None] - h_true[None])[..., BAND]
        r["equivariance_raw_db"] = float(np.mean(np.abs(err)))
        r["equivariance_level_removed_db"] = float(np.mean(np.abs(err - err.mean(axis=-1, keepdims=True))))
        pairs = dz_word[label]
        r["warm_bright_acc"] = float(np.mean([_nearest(dz, centroid) == w for w, dz in pairs])) if pairs else float("nan")
        r["n_warm_bright"] = len(pairs)
        level, chan = [], []
        for n in names:
            x = music[n] / np.max(np.abs(music[n]))
            mono = x.mean(axis=0, keepdims=True)
            variants = [x * 10 ** (db / 20) for db in (-30.0, -20.0, -10.0)] + [x, mono, np.vstack([mono, mono])]
            c = curves(eq_model, np.stack([enc.encode(v, sr) for v in variants]))
            level += [float(np.mean(np.abs(c[k] - c[3])[BAND])) for k in range(3)]
            chan.append(float(np.mean(np.abs(c[4] - c[5])[BAND])))
        r["level_mean_db"], r["level_max_db"] = float(np.mean(level)), float(np.max(level))
        r["channel_max_db"] = float(np.max(chan))
        if windows:
            stds = []
            for n in names:
                cw = curves(eq_model, np.stack([enc.encode(v, sr) for v in windows[n]]))
                stds.append(float(np.mean(cw.std(axis=0)[BAND])))
            r["stability_std_db"] = float(np.mean(stds))
    return out


def speed(encoders: dict, n_runs: int = 7) -> dict:
    x = 0.1 * np.random.default_rng(0).standard_normal((2, int(WINDOW_S * ANALYSIS_SAMPLE_RATE)))
    out = {}
    for label, enc in encoders.items():
        enc.encode(x, ANALYSIS_SAMPLE_RATE)  # warm-up
        times = []
        for _ in range(n_runs):
            t0 = time.perf_counter()
            enc.encode(x, ANALYSIS_SAMPLE_RATE)
            times.append(time.perf_counter() - t0)
        out[label] = 1000.0 * float(np.median(times))
    return out


def report(title: str, results: dict) -> None:
    print(title)
    for label, r in results.items():
        stab = f"; stability over 2 s windows {r['stability_std_db']:.2f} dB" if "stability_std_db" in r else ""
        print(f"  {label:12s} equivariance raw {r['equivariance_raw_db']:.2f} dB, level-removed "
              f"{r['equivariance_level_removed_db']:.2f} dB [<= 1.0]; warm/bright {100 * r['warm_bright_acc']:.1f} % of "
              f"{r['n_warm_bright']} [>= 95]; level mean {r['level_mean_db']:.3f} / max {r['level_max_db']:.3f} dB, "
              f"mono vs dual mono max {r['channel_max_db']:.3f} dB [< 0.1]{stab}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", action="append", default=None, metavar="[LABEL=]PATH",
                        help="CNN weights to measure, repeatable (default: the shipped ones, labelled CNN)")
    parser.add_argument("--music-manifest", default=None, help="corpus manifest CSV (its test packages are measured)")
    parser.add_argument("--music-cache", default=None, help="corpus audio cache (default: ${XDG_CACHE_HOME:-~/.cache}/semeq/corpus)")
    parser.add_argument("--n-tracks", type=int, default=12, help="test-package tracks (default 12)")
    parser.add_argument("--excerpt-s", type=float, default=8.0, help="seconds of each track, from its middle (default 8)")
    parser.add_argument("--n-settings", type=int, default=12, help="held-out SAFE settings for equivariance (default 12)")
    parser.add_argument("--n-word-settings", type=int, default=8, help="held-out warm and bright settings each (default 8)")
    parser.add_argument("--no-dev", action="store_true", help="skip the development clips")
    parser.add_argument("--no-analytic", action="store_true", help="measure the CNN weights only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    eq_model = EQModel.load()
    encoders = {}
    for spec in args.weights or [None]:
        label, _, path = (spec or "").rpartition("=") if spec and "=" in spec else ("CNN", "", spec)
        encoders[label] = AudioEncoder.load(path)
    cnn = next(iter(encoders.values()))
    if not args.no_analytic:
        encoders["analytic"] = AnalyticEncoder(eq_model, cnn.reference_db)
    root = data_dir()
    safe, split = safe_split(root, eq_model)
    desc = np.array(safe.descriptors, dtype=object)
    rng = np.random.default_rng(args.seed)
    test_idx = np.flatnonzero(split == 2)
    settings = safe.params[rng.choice(test_idx, size=min(args.n_settings, test_idx.size), replace=False)]
    word_settings = {}
    for w in ("warm", "bright"):
        idx = np.flatnonzero((split == 2) & (desc == w))
        word_settings[w] = safe.params[rng.choice(idx, size=min(args.n_word_settings, idx.size), replace=False)]
    flat_z = eq_model.encode(EQParams.flat().to_vector()[None])[0]
    centroid = {w: (eq_model.encode(safe.params[(split == 0) & (desc == w)]) - flat_z).mean(axis=0) for w in ("warm", "bright")}
    ceiling = np.mean([_nearest(eq_model.encode(p[None])[0] - flat_z, centroid) == w
                       for w, ps in word_settings.items() for p in ps])
    vae_floor = np.mean(np.abs(curves(eq_model, eq_model.encode(settings)) - response_db_batch(settings, GRID_FREQS_HZ))[:, BAND])
    print(f"{len(settings)} held-out SAFE settings (EQ model's test split), {sum(map(len, word_settings.values()))} held-out "
          f"warm/bright settings; EQ model floor curve(decode(encode(E))) vs curve(E) {vae_floor:.2f} dB; warm/bright "
          f"ceiling from the settings' own latents {100 * ceiling:.1f} %")
    speeds = speed(encoders)
    print("speed per 2 s stereo window (median of 7, 2 torch threads): " + ", ".join(f"{k} {v:.1f} ms" for k, v in speeds.items())
          + (f" (analytic / {next(iter(speeds))}: {speeds['analytic'] / next(iter(speeds.values())):.1f}x)" if "analytic" in speeds else ""))

    if args.music_manifest:
        cache = Path(args.music_cache) if args.music_cache else \
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "semeq" / "corpus"
        music, windows, packages = test_tracks(Path(args.music_manifest), cache, args.n_tracks, args.excerpt_s, args.seed)
        res = evaluate(encoders, eq_model, music, settings, word_settings, centroid, windows)
        report(f"corpus test packages: {len(music)} tracks ({args.excerpt_s:g} s from the middle of each) from "
               f"{len(packages)} packages ({', '.join(packages)}):", res)
        print(f"  ({time.perf_counter() - t0:.0f} s so far)")
    if not args.no_dev:
        clips = load_clips(root)
        holdout = set(cnn.meta["train_config"]["holdout_clips"])
        for title, subset in (("development clips the CNN trained on", {k: v for k, v in clips.items() if k not in holdout}),
                              (f"development clips held out ({', '.join(sorted(holdout))})",
                               {k: v for k, v in clips.items() if k in holdout})):
            res = evaluate(encoders, eq_model, subset, settings, word_settings, centroid, None)
            report(f"{title}: {len(subset)} whole 20 s clips:", res)
    print(f"({time.perf_counter() - t0:.0f} s)")


def _nearest(dz: np.ndarray, centroid: dict) -> str:
    return min(centroid, key=lambda w: float(np.sum((dz - centroid[w]) ** 2)))


if __name__ == "__main__":
    main()
