"""Audio-encoder acceptance figures on music-dev with held-out EQ settings.

Held-out settings: the SAFE-DB *test* split (contributors never used for training or for
checkpoint selection). EQ is applied in the time domain (``semeq.dsp.apply_eq``) to the whole
20 s clips.

* Equivariance: for clip x and setting E, MAE over 100 Hz-12 kHz (grid points) between
  ``curve(decode(encode(x E))) - curve(decode(encode(x)))`` and E's own curve; mean over clips
  and settings. Printed for the CNN, for the analytic pipeline (``fit(balance)`` encoded), and
  for the same analytic fit before the EQ model (no VAE); and the VAE's own floor
  (``curve(decode(encode(E)))`` vs ``curve(E)``). Split into training clips and held-out clips.
* Discrimination: held-out "warm" and "bright" settings; the latent change
  ``encode(x E) - encode(x)`` is assigned to the nearer of the two centroids of
  ``EQModel.encode(E) - EQModel.encode(flat)`` over the *training* warm and bright settings.
  The same classifier on the settings' own latents gives the ceiling.
* Level and channels: each clip at peak -30, -20, -10 and 0 dBFS, stereo and mono downmix;
  MAE of each decoded curve against the 0 dBFS stereo one.

Run: PYTHONPATH=src python benchmarks/eval_encoder.py [--weights PATH] [--n-settings N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from semeq.analysis import ANALYSIS_SAMPLE_RATE, FIT_WEIGHTS, GRID_FREQS_HZ, balance_db
from semeq.audio_encoder import AudioEncoder
from semeq.data.paths import data_dir
from semeq.dsp import apply_eq
from semeq.eq_model import EQModel
from semeq.fitting import fit_eq_batch, response_db_batch
from semeq.params import EQParams
from semeq.training.audio import load_clips
from semeq.training.audio_settings import safe_split

BAND = (GRID_FREQS_HZ >= 100.0) & (GRID_FREQS_HZ <= 12000.0)


def curves(eq_model: EQModel, z: np.ndarray) -> np.ndarray:
    return response_db_batch(eq_model.decode_batch(np.atleast_2d(z)), GRID_FREQS_HZ)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None)
    parser.add_argument("--n-settings", type=int, default=40, help="held-out settings for equivariance (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    enc = AudioEncoder.load(args.weights)
    eq_model = EQModel.load()
    holdout = set(enc.meta["train_config"]["holdout_clips"])
    root = data_dir()
    clips = load_clips(root)
    names = sorted(clips)
    safe, split = safe_split(root)
    desc = np.array(safe.descriptors, dtype=object)
    rng = np.random.default_rng(args.seed)
    test_idx = np.flatnonzero(split == 2)
    chosen = rng.choice(test_idx, size=min(args.n_settings, test_idx.size), replace=False)
    settings = safe.params[chosen]
    h_true = response_db_batch(settings, GRID_FREQS_HZ)

    # Encodings of the dry clips and of every (clip, setting).
    z_dry = np.stack([enc.encode(clips[n], ANALYSIS_SAMPLE_RATE) for n in names])
    bal_dry = np.stack([balance_db(clips[n], ANALYSIS_SAMPLE_RATE, enc.reference_db) for n in names])
    z_wet = np.zeros((len(names), len(settings), enc.latent_dim))
    bal_wet = np.zeros((len(names), len(settings), GRID_FREQS_HZ.size))
    for i, n in enumerate(names):
        for j, p in enumerate(settings):
            wet = apply_eq(clips[n], ANALYSIS_SAMPLE_RATE, EQParams.from_vector(p))
            z_wet[i, j] = enc.encode(wet, ANALYSIS_SAMPLE_RATE)
            bal_wet[i, j] = balance_db(wet, ANALYSIS_SAMPLE_RATE, enc.reference_db)

    def equivariance(c_dry, c_wet, aligned=False):  # (n_clips, F), (n_clips, n_settings, F) -> (n_clips, n_settings)
        err = (c_wet - c_dry[:, None] - h_true[None])[..., BAND]
        if aligned:  # up to one broadband level: the part a level-free analysis can see
            err = err - err.mean(axis=-1, keepdims=True)
        return np.mean(np.abs(err), axis=-1)

    c_dry = curves(eq_model, z_dry)
    c_wet = curves(eq_model, z_wet.reshape(-1, enc.latent_dim)).reshape(len(names), len(settings), -1)
    fit_dry = fit_eq_batch(bal_dry, GRID_FREQS_HZ, weights=FIT_WEIGHTS)
    fit_wet = fit_eq_batch(bal_wet.reshape(-1, GRID_FREQS_HZ.size), GRID_FREQS_HZ, weights=FIT_WEIGHTS)
    pairs = {
        "CNN audio encoder": (c_dry, c_wet),
        "analytic fit(balance) via EQ model": (
            curves(eq_model, eq_model.encode(fit_dry)),
            curves(eq_model, eq_model.encode(fit_wet)).reshape(len(names), len(settings), -1)),
        "analytic fit(balance), no EQ model": (
            response_db_batch(fit_dry, GRID_FREQS_HZ),
            response_db_batch(fit_wet, GRID_FREQS_HZ).reshape(len(names), len(settings), -1)),
    }
    # The broadband level of E cannot be seen by a level-free analysis: E's curve minus its
    # band mean is what "balance" measures; its mean over 100 Hz-10 kHz, |m_E|, is the floor
    # of the raw figure for an analysis that puts the level at the band mean.
    m_e = np.abs(h_true[:, (GRID_FREQS_HZ >= 100.0) & (GRID_FREQS_HZ <= 10000.0)].mean(axis=1))
    vae_floor = np.mean(np.abs(curves(eq_model, eq_model.encode(settings)) - h_true)[:, BAND])
    is_hold = np.array([n in holdout for n in names])
    print(f"equivariance on real music, {len(names)} clips x {len(settings)} held-out SAFE settings (test split), "
          f"MAE over 100 Hz-12 kHz (target <= 1.5 dB):")
    for aligned in (False, True):
        print("  raw (E's whole curve, level included):" if not aligned else
              "  up to one broadband level (curves aligned by their mean difference over the band):")
        for label, (cd, cw) in pairs.items():
            err = equivariance(cd, cw, aligned)
            print(f"    {label:38s} all {err.mean():.2f} dB | training clips {err[~is_hold].mean():.2f} dB | "
                  f"held-out clips ({', '.join(sorted(holdout))}) {err[is_hold].mean():.2f} dB")
    print(f"  level of E alone, mean |band mean of E's curve| over these settings: {m_e.mean():.2f} dB")
    print(f"  EQ model floor, curve(decode(encode(E))) vs curve(E): {vae_floor:.2f} dB")

    # Discrimination.
    flat_z = eq_model.encode(EQParams.flat().to_vector()[None])[0]
    centroid = {w: (eq_model.encode(safe.params[(split == 0) & (desc == w)]) - flat_z).mean(axis=0) for w in ("warm", "bright")}
    correct, ceiling, n = 0, 0, 0
    for w in ("warm", "bright"):
        held = safe.params[(split == 2) & (desc == w)]
        for p in held:
            dz_true = eq_model.encode(p[None])[0] - flat_z
            ceiling += int(_nearest(dz_true, centroid) == w)
        for i, name in enumerate(names):
            for p in held:
                dz = enc.encode(apply_eq(clips[name], ANALYSIS_SAMPLE_RATE, EQParams.from_vector(p)), ANALYSIS_SAMPLE_RATE) - z_dry[i]
                correct += int(_nearest(dz, centroid) == w)
                n += 1
    n_held = int(np.sum((split == 2) & np.isin(desc, ["warm", "bright"])))
    print(f"discrimination warm vs bright: {100 * correct / n:.1f} % of {n} (clip, held-out setting) pairs "
          f"(target >= 95 %); ceiling from the settings' own latents {100 * ceiling / n_held:.1f} % of {n_held}")

    # Level and channels.
    level_errs, mono_errs, downmix_errs, downmix_balance = [], [], [], []
    for i, name in enumerate(names):
        x = clips[name] / np.max(np.abs(clips[name]))
        mono = x.mean(axis=0, keepdims=True)
        variants = [x * 10 ** (peak_db / 20) for peak_db in (-30.0, -20.0, -10.0)]
        variants += [mono * 10 ** (peak_db / 20) for peak_db in (-30.0, 0.0)] + [np.vstack([mono, mono]), mono, x]
        c = curves(eq_model, np.stack([enc.encode(v, ANALYSIS_SAMPLE_RATE) for v in variants]))
        mae = lambda a, b: float(np.mean(np.abs(a - b)[BAND]))
        level_errs += [mae(c[k], c[-1]) for k in range(3)] + [mae(c[3], c[4])]  # stereo and mono, -30..0 dBFS
        mono_errs.append(mae(c[5], c[6]))  # dual-mono stereo vs mono
        downmix_errs.append(mae(c[6], c[-1]))  # mono downmix vs the stereo original
        downmix_balance.append(mae(balance_db(mono, ANALYSIS_SAMPLE_RATE, enc.reference_db),
                                   balance_db(x, ANALYSIS_SAMPLE_RATE, enc.reference_db)))
    print(f"level: decoded-curve MAE between peak -30/-20/-10 dBFS and 0 dBFS (stereo and mono): "
          f"mean {np.mean(level_errs):.3f} dB, max {np.max(level_errs):.3f} dB (target < 0.5 dB)")
    print(f"mono vs the same signal as two identical channels: max {np.max(mono_errs):.3f} dB (target < 0.5 dB)")
    print(f"stereo original vs its mono downmix (a different signal: side content cancels): "
          f"mean {np.mean(downmix_errs):.2f} dB, max {np.max(downmix_errs):.2f} dB; the analytic balance itself "
          f"changes by mean {np.mean(downmix_balance):.2f} dB, max {np.max(downmix_balance):.2f} dB")
    print(f"({time.perf_counter() - t0:.0f} s)")


def _nearest(dz: np.ndarray, centroid: dict) -> str:
    return min(centroid, key=lambda w: float(np.sum((dz - centroid[w]) ** 2)))


if __name__ == "__main__":
    main()
