"""The audio encoder's examples, targets and training loop.

An example is a (source, setting) pair; its audio is synthesised in the spectral domain
(:func:`semeq.data.synth.spectral_bin_gains`): cached STFT power x the EQ's power gain x a
random level + a noise floor, sometimes cut to a shorter crop. Its target is
``fit(B_s + H_E)`` encoded by the frozen EQ model (see :mod:`semeq.training.audio`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..analysis import ANALYSIS_SAMPLE_RATE, FIT_WEIGHTS, GRID_FREQS_HZ
from .audio_data import Sources
from .settings import Settings

__all__ = ["Pairs", "make_pairs", "fit_targets", "bin_gains", "batch_log_mel", "curve_mae", "train_epochs"]

CURVE_BAND = (GRID_FREQS_HZ >= 100.0) & (GRID_FREQS_HZ <= 12000.0)
"""The band of the curve term and of the validation curve error."""


@dataclass
class Pairs:
    """Examples: source index, physical setting (n, 13) and word index (-1: none) of each."""

    source: np.ndarray
    params: np.ndarray
    word: np.ndarray

    def __len__(self) -> int:
        return len(self.source)


def make_pairs(source_pool: np.ndarray, settings: Settings, n: int, flat_fraction: float, rng: np.random.Generator) -> Pairs:
    """``n`` random (source, setting) pairs; a ``flat_fraction`` share gets the flat EQ (no word)."""
    from ..params import EQParams

    s = rng.choice(source_pool, size=n)
    e = rng.integers(0, len(settings.params), size=n)
    params = settings.params[e].copy()
    word = settings.word[e].copy()
    flat = rng.uniform(size=n) < flat_fraction
    params[flat] = EQParams.flat().to_vector()
    word[flat] = -1
    return Pairs(source=s, params=params, word=word)


def fit_targets(curves_db: np.ndarray, config, chunk: int = 512, progress=None) -> np.ndarray:
    """5-band EQs (n, 13) fitted to grid curves (n, 60), in chunks (each chunk seeded by its offset)."""
    from ..fitting import fit_eq_batch

    out = []
    for i in range(0, curves_db.shape[0], chunk):
        out.append(fit_eq_batch(curves_db[i:i + chunk], GRID_FREQS_HZ, ANALYSIS_SAMPLE_RATE, n_steps=config.fit_steps,
                                weights=FIT_WEIGHTS, n_starts=config.fit_starts, seed=i))
        if progress is not None:
            progress.update(min(chunk, curves_db.shape[0] - i))
    return np.concatenate(out)


def bin_gains(params: np.ndarray, bins_hz: np.ndarray, chunk: int = 2048) -> "torch.Tensor":
    """float32 power gains (n, n_bins) of settings (n, 13), computed in float64, in chunks."""
    import torch

    from ..data.synth import spectral_bin_gains

    with torch.no_grad():
        return torch.cat([
            spectral_bin_gains(torch.as_tensor(params[i:i + chunk], dtype=torch.float64), bins_hz, ANALYSIS_SAMPLE_RATE).float()
            for i in range(0, len(params), chunk)])


def batch_log_mel(net, sources: Sources, src_idx: np.ndarray, gains: "torch.Tensor", rng: np.random.Generator,
                  config, augment: bool) -> "torch.Tensor":
    """Spectral-domain synthesis: cached power x EQ power gain x level + floor -> log-mel.

    With ``augment`` the batch gets a random level per example and, with probability
    ``config.short_crop_fraction``, one shorter crop (draws from ``rng``); without it no draw.
    """
    import torch

    power = sources.power[torch.as_tensor(src_idx)] * gains[:, :, None]  # (B, n_bins, n_frames)
    n_frames = power.shape[2]
    if augment:
        level = torch.as_tensor(10.0 ** (rng.uniform(config.level_db_low, 0.0, size=(len(src_idx), 1, 1)) / 10.0),
                                dtype=power.dtype)
        power = power * level
        if rng.uniform() < config.short_crop_fraction:
            length = int(rng.integers(config.min_crop_frames, n_frames))
            start = int(rng.integers(0, n_frames - length + 1))
            power = power[:, :, start:start + length]
    window_energy = float((net.front_end.window**2).sum())
    floor = 10.0 ** (config.noise_floor_db / 10.0) * window_energy
    return net.front_end.from_power(power + floor)


def curve_mae(eq_model, z_a: np.ndarray, z_b: np.ndarray, mask: np.ndarray = CURVE_BAND) -> float:
    """Mean |dB| between the decoded curves of two sets of latents, over ``mask`` of the grid."""
    from ..fitting import response_db_batch

    ca = response_db_batch(eq_model.decode_batch(z_a), GRID_FREQS_HZ)
    cb = response_db_batch(eq_model.decode_batch(z_b), GRID_FREQS_HZ)
    return float(np.mean(np.abs(ca - cb)[:, mask]))


@dataclass
class TrainTensors:
    """What the loop needs of the training examples (torch) and of the validation ones."""

    sources: Sources
    train: Pairs
    val: Pairs
    z_train: np.ndarray  # (n_train, latent) target latents
    z_val: np.ndarray
    z_source: np.ndarray  # (n_sources, latent) latents of the sources themselves
    fitted_train: np.ndarray  # (n_train, 13) the fitted target EQs
    gains_train: "torch.Tensor"  # (n_train, n_bins)
    gains_val: "torch.Tensor"


def train_epochs(net, eq_model, data: TrainTensors, config, rng: np.random.Generator, *, show_progress: bool,
                 log: Callable[[str], None], on_best: Callable[[dict], None], t_start: float) -> tuple[list[dict], dict]:
    """AdamW + one-cycle over ``config.epochs``; after each epoch the validation latent MSE
    picks the best epoch, and ``on_best(record)`` is called when it improves.

    Loss: ``MSE(z, z_target) + contrastive_weight * SupCon(z - z_source, word)
    + curve_weight * MSE(curve(decode(z)), curve(E_target)) / 25``.
    """
    import torch
    from tqdm import tqdm

    from ..fitting import response_db_batch
    from ..nn.response import eq_response_db, unit_to_physical
    from .losses import supcon_loss

    curve_freqs = torch.as_tensor(GRID_FREQS_HZ[CURVE_BAND], dtype=torch.float32)
    c_tr_t = torch.as_tensor(response_db_batch(data.fitted_train, GRID_FREQS_HZ[CURVE_BAND]), dtype=torch.float32)
    vae = eq_model.vae

    def decoded_curve(z):
        return eq_response_db(unit_to_physical(vae.decode_unit(z).clamp(0.0, 1.0)), curve_freqs, ANALYSIS_SAMPLE_RATE)

    z_tr_t = torch.as_tensor(data.z_train, dtype=torch.float32)
    z_src_t = torch.as_tensor(data.z_source, dtype=torch.float32)
    word_tr_t = torch.as_tensor(data.train.word)
    tr_src, va_src = data.train.source, data.val.source
    n_tr, n_va = len(data.train), len(data.val)

    optimiser = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = n_tr // config.batch_size
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.learning_rate,
                                                    total_steps=config.epochs * steps_per_epoch, pct_start=0.15)
    history, best = [], None
    for epoch in range(1, config.epochs + 1):
        net.train()
        order = rng.permutation(n_tr)
        sums = {"mse": 0.0, "contrastive": 0.0, "curve": 0.0}
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{config.epochs}", unit="batch", disable=not show_progress)
        for step in bar:
            idx = order[step * config.batch_size:(step + 1) * config.batch_size]
            log_mel = batch_log_mel(net, data.sources, tr_src[idx], data.gains_train[idx], rng, config, augment=True)
            z = net.forward_log_mel(log_mel)
            mse = torch.mean((z - z_tr_t[idx]) ** 2)
            con = supcon_loss(z - z_src_t[torch.as_tensor(tr_src[idx])], word_tr_t[idx], config.temperature)
            loss = mse + config.contrastive_weight * con
            if config.curve_weight > 0:
                curve = torch.mean((decoded_curve(z) - c_tr_t[idx]) ** 2) / 25.0
                loss = loss + config.curve_weight * curve
                sums["curve"] += float(curve.detach())
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            sums["mse"] += float(mse.detach())
            sums["contrastive"] += float(con.detach())
            bar.set_postfix(mse=f"{sums['mse'] / (step + 1):.4f}", con=f"{sums['contrastive'] / (step + 1):.3f}")
        bar.close()
        net.eval()
        with torch.no_grad():
            z_pred = torch.cat([
                net.forward_log_mel(batch_log_mel(net, data.sources, va_src[i:i + 256], data.gains_val[i:i + 256], rng, config,
                                                  augment=False))
                for i in range(0, n_va, 256)
            ]).numpy()
        val_mse = float(np.mean((z_pred - data.z_val) ** 2))
        record = {
            "epoch": epoch,
            "train_mse": sums["mse"] / steps_per_epoch,
            "train_contrastive": sums["contrastive"] / steps_per_epoch,
            "train_curve": sums["curve"] / steps_per_epoch,
            "val_mse": val_mse,
            "val_curve_mae_db": curve_mae(eq_model, z_pred, data.z_val),
            "elapsed_s": time.perf_counter() - t_start,
        }
        history.append(record)
        log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        if best is None or val_mse < best["val_mse"]:
            best = record
            on_best(best)
    return history, best
