"""Training and evaluation of the EQ VAE and its vocabulary.

Data: SAFE-DB settings (train split only; split by contributor) and the Audealize words fitted
to the 5-band layout after calibration, plus synthetic random settings for coverage of the
whole parameter space. Losses, summed with the weights of :class:`TrainConfig`:

- ``response``: mean absolute dB error of the decoded setting's magnitude response on a
  log-frequency grid (what a listener hears);
- ``param``: squared error of the normalised parameters, frequencies and Q of a band counted
  only where its gain is audible (a silent band's frequency is arbitrary);
- ``kl``: the VAE's Kullback-Leibler term (small weight);
- ``contrastive``: supervised contrastive loss (Khosla et al. 2020) on the latent means, so
  settings of the same word cluster;
- ``word``: for every training word, the decoded latent centroid of its settings against the
  mean response curve of those settings, so that decoding a word's embedding gives the word's
  mean curve (a nonlinear decoder does not do this by itself).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..data.audealize import AudealizeData, calibrate_scale, graphic_eq_response_db, read_audealize
from ..data.safe_db import SPLITS, SafeData, read_safe_db, split_by_contributor
from ..errors import DataError, ParameterError, SemeqError
from ..fitting import fit_eq_batch, response_db_batch
from ..nn.eq_vae import EQVAE, VAEConfig
from ..nn.response import eq_response_db, unit_to_physical
from ..params import GAIN_INDICES, N_PARAMS, PARAMETERS, EQParams, values_to_unit

__all__ = ["TrainConfig", "PreparedData", "prepare_data", "train_eq_model", "evaluate_eq_model", "EVAL_FREQS_HZ",
           "eval_freqs"]

EVAL_N_FREQS = 256


def eval_freqs() -> np.ndarray:
    """The acceptance grid: 256 log-spaced points, 20 Hz - 20 kHz."""
    return np.geomspace(20.0, 20000.0, EVAL_N_FREQS)


EVAL_FREQS_HZ = eval_freqs()
SAMPLE_RATE = 44100.0
FIDELITY_MIN_COUNT = 5
"""Words with at least this many SAFE settings are held to the word-fidelity threshold."""


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Everything that determines a training run (stored in the model's JSON).

    Attributes
    ----------
    seed : int
        Seeds the split, the initialisation, batching and the synthetic settings.
    epochs : int
        Passes over the real training settings.
    batch_real, batch_synthetic : int
        Real and synthetic settings per step.
    learning_rate : float
        Adam's peak learning rate (cosine decay to 5% of it).
    kl_weight, param_weight, contrastive_weight, word_weight : float
        Loss weights (the response loss has weight 1).
    temperature : float
        Temperature of the contrastive loss.
    n_train_freqs : int
        Points of the log-frequency grid (20 Hz - 20 kHz) the training losses use.
    split_fractions : (float, float, float)
        Train / validation / test shares of SAFE rows, split by contributor.
    silent_gain_db : float
        A band quieter than this does not count its frequency and Q in the parameter loss.
    synthetic_zero_prob : float
        Probability that a band of a synthetic setting has 0 dB gain (SAFE users leave bands alone).
    audealize_weighting : {"sqrt_count", "count", "equal"}
        Weight of each shared word when calibrating the Audealize scale.
    n_word_groups, max_group_size : int
        Each step also draws this many random subsets (2 to ``max_group_size`` settings) of
        one training word's settings and holds the decoded subset centroid to the subset's
        mean curve, so the centroid-to-mean-curve property holds for small, unseen words too.
    mixed_group_weight : float
        Weight of the same term on random subsets of settings of different words.
    word_scope : {"all", "train"}
        Which SAFE settings form the word groups of the ``word`` loss: "all" (the vocabulary's
        own groups; held-out settings enter only as detached latents and mean curves) or "train".
    proto_weight, proto_temperature : float
        Weight and temperature of a prototype loss: cross-entropy of ``-|mu - c_w|^2 / T`` over
        the training words' latent centroids ``c_w`` (training rows only), which shapes the
        space for nearest-embedding classification.
    n_threads : int
        torch CPU threads (1 is fastest for these small layers, and immune to a busy machine).
    """

    seed: int = 0
    epochs: int = 120
    batch_real: int = 128
    batch_synthetic: int = 128
    learning_rate: float = 2e-3
    kl_weight: float = 1e-3
    param_weight: float = 0.5
    contrastive_weight: float = 0.05
    word_weight: float = 1.0
    temperature: float = 0.3
    n_train_freqs: int = 96
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    silent_gain_db: float = 0.25
    synthetic_zero_prob: float = 0.3
    audealize_weighting: str = "sqrt_count"
    n_word_groups: int = 64
    max_group_size: int = 8
    mixed_group_weight: float = 0.5
    word_scope: str = "all"
    proto_weight: float = 0.3
    proto_temperature: float = 1.0
    iso_weight: float = 1.0
    iso_db_per_unit: float = 2.0
    jitter_unit: float = 0.03
    n_threads: int = 1

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ParameterError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_real < 2 or self.batch_synthetic < 0:
            raise ParameterError("batch_real must be at least 2 and batch_synthetic at least 0")
        if not self.learning_rate > 0:
            raise ParameterError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.word_scope not in ("all", "train"):
            raise ParameterError(f"word_scope must be 'all' or 'train', got {self.word_scope!r}")
        if self.audealize_weighting not in ("sqrt_count", "count", "equal"):
            raise ParameterError(f"audealize_weighting must be sqrt_count, count or equal, got {self.audealize_weighting!r}")
        object.__setattr__(self, "split_fractions", tuple(float(x) for x in self.split_fractions))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["split_fractions"] = list(self.split_fractions)
        return d


# ---------------------------------------------------------------------------- data
@dataclass(kw_only=True)
class PreparedData:
    """Cleaned, split and calibrated training data (see :func:`prepare_data`)."""

    safe: SafeData
    split: np.ndarray  # (n_safe,) 0 train, 1 val, 2 test
    audealize: AudealizeData | None
    audealize_scale_db: float | None = None
    audealize_calibration: dict = field(default_factory=dict)
    audealize_curves_db: np.ndarray | None = None  # (n_words, 256) on EVAL_FREQS_HZ
    audealize_params: np.ndarray | None = None  # (n_words, 13) fitted 5-band settings


def _mean_curves(curves: np.ndarray, words: np.ndarray, vocab: list[str]) -> np.ndarray:
    return np.stack([curves[words == w].mean(axis=0) for w in vocab])


def prepare_data(safe_csv: str | Path | None, audealize_json: str | Path | None, config: TrainConfig,
                 log: Callable[[str], None] = lambda s: None) -> PreparedData:
    """Read, clean and split SAFE-DB; read, calibrate and fit Audealize.

    The Audealize scale is calibrated on the shared English words with at least 5 SAFE settings
    (:func:`semeq.data.audealize.calibrate_scale`); the fitted settings use
    :func:`semeq.fitting.fit_eq_batch`.
    """
    safe = read_safe_db(safe_csv)
    split = split_by_contributor(safe.groups, fractions=config.split_fractions, seed=config.seed)
    for k, name in enumerate(SPLITS):
        if not np.any(split == k):
            raise DataError(f"the {name} split is empty: {safe.report['contributors']} contributors are too few to split")
    log(f"SAFE-DB: {len(safe)} settings kept of {safe.report['rows']} ({safe.report}); "
        f"split by contributor: {', '.join(f'{n} {int(np.sum(split == k))}' for k, n in enumerate(SPLITS))}")
    prepared = PreparedData(safe=safe, split=split, audealize=None)
    if audealize_json is None:
        return prepared
    aud = read_audealize(audealize_json)
    # Calibration targets: mean curves of the shared English words with >= 5 SAFE settings.
    # Every split is used: the scale is one number fitted to per-word means, and words such as
    # "deep" or "tinny" would otherwise vanish into the held-out splits.
    words = np.array(safe.descriptors, dtype=object)
    curves = response_db_batch(safe.params, EVAL_FREQS_HZ, SAMPLE_RATE)
    count_of = safe.counts()
    shared = [w for w, lang in zip(aud.words, aud.languages) if lang == "en" and count_of.get(w, 0) >= FIDELITY_MIN_COUNT]
    shared.sort(key=lambda w: -count_of[w])
    if not shared:
        raise DataError(f"no English word has {FIDELITY_MIN_COUNT} or more SAFE settings and an Audealize curve: cannot calibrate")
    targets = _mean_curves(curves, words, shared)
    idx = [aud.words.index(w) for w in shared]
    n = np.array([count_of[w] for w in shared], dtype=np.float64)
    weights = {"sqrt_count": np.sqrt(n), "count": n, "equal": np.ones_like(n)}[config.audealize_weighting]
    scale, rms = calibrate_scale(aud.settings[idx], targets, weights, EVAL_FREQS_HZ, SAMPLE_RATE)
    per_word = np.abs(graphic_eq_response_db(scale * aud.settings[idx], EVAL_FREQS_HZ) - targets).mean(axis=1)
    all_scales = {k: round(calibrate_scale(aud.settings[idx], targets, w, EVAL_FREQS_HZ, SAMPLE_RATE)[0], 4)
                  for k, w in (("count", n), ("sqrt_count", np.sqrt(n)), ("equal", np.ones_like(n)))}
    prepared.audealize_calibration = {
        "scale_db_per_unit": float(scale), "weighting": config.audealize_weighting, "rms_error_db": round(rms, 4),
        "shared_words": {w: {"safe_settings": int(count_of[w]), "mae_db": round(float(e), 3)} for w, e in zip(shared, per_word)},
        "scale_by_weighting": all_scales,
        "curve": "dB response of the 40-band graphic EQ (RBJ peaking, Q 4.31) with gains scale * settings",
    }
    log(f"Audealize: {len(aud)} words; scale {scale:.3f} dB per unit (weighted RMS {rms:.2f} dB against "
        f"{len(shared)} shared SAFE words: {', '.join(shared)})")
    aud_curves = graphic_eq_response_db(scale * aud.settings, EVAL_FREQS_HZ, SAMPLE_RATE)
    fit_freqs = np.geomspace(20.0, 20000.0, 128)
    fit_curves = graphic_eq_response_db(scale * aud.settings, fit_freqs, SAMPLE_RATE)
    t0 = time.time()
    aud_params = fit_eq_batch(fit_curves, fit_freqs, SAMPLE_RATE, n_steps=30, n_starts=3, n_refine=2, seed=config.seed)
    mae = np.abs(response_db_batch(aud_params, EVAL_FREQS_HZ, SAMPLE_RATE) - aud_curves).mean(axis=1)
    hard = np.flatnonzero(mae > 0.6)
    if hard.size:  # a harder search (more starts, more greedy peak moves) where the first fit is poor
        again = fit_eq_batch(fit_curves[hard], fit_freqs, SAMPLE_RATE, n_steps=40, n_starts=10, n_refine=5,
                             seed=config.seed + 1, dtype="float64")
        mae_again = np.abs(response_db_batch(again, EVAL_FREQS_HZ, SAMPLE_RATE) - aud_curves[hard]).mean(axis=1)
        better = mae_again < mae[hard]
        aud_params[hard[better]] = again[better]
        mae[hard[better]] = mae_again[better]
    log(f"Audealize 5-band fits: MAE {mae.mean():.3f} dB mean, {mae.max():.3f} dB max ({time.time() - t0:.1f} s)")
    prepared.audealize = aud
    prepared.audealize_scale_db = scale
    prepared.audealize_curves_db = aud_curves
    prepared.audealize_params = aud_params
    return prepared


# ---------------------------------------------------------------------------- losses
def _units(params: np.ndarray) -> np.ndarray:
    return values_to_unit(params)


def _supcon(mu: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., 2020) on L2-normalised latent means."""
    z = torch.nn.functional.normalize(mu, dim=1)
    logits = z @ z.T / temperature  # (B, B)
    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool)
    logits = logits.masked_fill(eye, -1e9)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    has_pos = pos.any(dim=1)
    if not torch.any(has_pos):
        return mu.new_zeros(())
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    mean_pos = (log_prob * pos).sum(dim=1) / pos.sum(dim=1).clamp(min=1)
    return -mean_pos[has_pos].mean()


def _param_mask(x_unit: torch.Tensor, silent_gain_db: float) -> torch.Tensor:
    """(B, 13) weights: gains always; freq and Q only where the band's gain is audible."""
    phys_gain = x_unit[:, list(GAIN_INDICES)] * 24.0 - 12.0  # (B, 5)
    audible = (phys_gain.abs() > silent_gain_db).to(x_unit.dtype)
    mask = torch.ones_like(x_unit)
    band_of = {1: 0, 3: 1, 4: 1, 6: 2, 7: 2, 9: 3, 10: 3, 12: 4}
    for col, band in band_of.items():
        mask[:, col] = audible[:, band]
    return mask


def _synthetic(n: int, gen: torch.Generator, zero_prob: float) -> torch.Tensor:
    """Random settings in unit space: uniform, each gain 0 dB with probability ``zero_prob``."""
    x = torch.rand(n, N_PARAMS, generator=gen)
    zero = torch.rand(n, 5, generator=gen) < zero_prob
    gains = x[:, list(GAIN_INDICES)]
    x[:, list(GAIN_INDICES)] = torch.where(zero, torch.full_like(gains, 0.5), gains)
    # A few fully flat settings anchor the neutral point.
    flat = torch.rand(n, generator=gen) < 0.05
    x[flat.nonzero().squeeze(1)[:, None], torch.tensor(GAIN_INDICES)[None, :]] = 0.5
    return x


# ---------------------------------------------------------------------------- training
def _word_groups(words: np.ndarray, min_count: int) -> tuple[list[str], np.ndarray]:
    uniq, counts = np.unique(words, return_counts=True)
    vocab = [str(w) for w, c in zip(uniq, counts) if c >= min_count]
    lookup = {w: i for i, w in enumerate(vocab)}
    group = np.array([lookup.get(w, -1) for w in words], dtype=np.int64)
    return vocab, group


def _centroids(mu: torch.Tensor, group: torch.Tensor, n_groups: int) -> torch.Tensor:
    sums = torch.zeros(n_groups, mu.shape[1], dtype=mu.dtype).index_add_(0, group, mu)
    counts = torch.zeros(n_groups, dtype=mu.dtype).index_add_(0, group, torch.ones_like(group, dtype=mu.dtype))
    return sums / counts[:, None]


@torch.no_grad()
def _encode_mu(vae: EQVAE, params: np.ndarray) -> np.ndarray:
    mu, _ = vae.encode_unit(torch.as_tensor(_units(params), dtype=torch.float32))
    return mu.double().numpy()


@torch.no_grad()
def _decode_params(vae: EQVAE, z: np.ndarray) -> np.ndarray:
    x = vae.decode_unit(torch.as_tensor(z, dtype=torch.float32)).double().clamp(0, 1)
    return unit_to_physical(x).numpy()


def _recon_mae(vae: EQVAE, params: np.ndarray) -> np.ndarray:
    rec = _decode_params(vae, _encode_mu(vae, params))
    return np.abs(response_db_batch(rec, EVAL_FREQS_HZ) - response_db_batch(params, EVAL_FREQS_HZ)).mean(axis=1)


def _warm_bright_accuracy(vae: EQVAE, train_params, train_words, eval_params, eval_words) -> float:
    cents = []
    for w in ("warm", "bright"):
        cents.append(_encode_mu(vae, train_params[train_words == w]).mean(axis=0))
    cents = np.stack(cents)
    sel = np.isin(eval_words, ["warm", "bright"])
    if not np.any(sel):
        return float("nan")
    z = _encode_mu(vae, eval_params[sel])
    pred = np.argmin(((z[:, None, :] - cents[None]) ** 2).sum(-1), axis=1)
    truth = (eval_words[sel] == "bright").astype(int)
    return float(np.mean(pred == truth))


def train_vae(data: PreparedData, config: TrainConfig, vae_config: VAEConfig, *, progress: bool = True,
              log: Callable[[str], None] = print) -> tuple[EQVAE, list[dict]]:
    """Train the VAE on prepared data; returns the model (eval mode) and per-epoch history."""
    from tqdm import tqdm

    torch.set_num_threads(max(1, int(config.n_threads)))
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    freqs = torch.as_tensor(np.geomspace(20.0, 20000.0, config.n_train_freqs), dtype=torch.float32)

    safe = data.safe
    words = np.array(safe.descriptors, dtype=object)
    train, val = data.split == 0, data.split == 1
    real_params = [safe.params[train]]
    real_words = [("en", w) for w in words[train]]
    if data.audealize is not None:
        real_params.append(data.audealize_params)
        real_words += list(zip(data.audealize.languages, data.audealize.words))
    real_params = np.concatenate(real_params)
    label_ids = {key: i for i, key in enumerate(sorted(set(real_words)))}
    labels = torch.as_tensor([label_ids[k] for k in real_words])
    x_real = torch.as_tensor(_units(real_params), dtype=torch.float32)

    # Word-centroid fidelity groups: words with 2+ settings. With word_scope="all" the groups
    # hold every split's settings, but held-out settings enter only through detached latent
    # means and the mean curves: the encoder never trains on them, no held-out setting is
    # reconstructed, and the decoder learns to map each vocabulary centroid to its mean curve.
    scope = np.ones(len(safe), dtype=bool) if config.word_scope == "all" else train
    vocab, group = _word_groups(words[scope], 2)
    if not vocab or not _word_groups(words[train], 2)[0]:
        raise DataError("no descriptor has two or more training settings after cleaning: nothing to learn words from")
    rows = np.flatnonzero(scope)[group >= 0]  # SAFE rows of the members
    group_t = torch.as_tensor(group[group >= 0])
    member_train = torch.as_tensor(train[rows])
    x_word = torch.as_tensor(_units(safe.params[rows]), dtype=torch.float32)
    resp_member = eq_response_db(torch.as_tensor(safe.params[rows], dtype=torch.float32), freqs, SAMPLE_RATE)
    word_mean = torch.stack([resp_member[group_t == g].mean(dim=0) for g in range(len(vocab))])
    # Words count by support up to 5 settings (those held to the fidelity threshold count fully).
    word_w = torch.as_tensor([min(int((group_t == g).sum()), 5) / 5.0 for g in range(len(vocab))])
    members_of = [np.flatnonzero((group[group >= 0] == g) & train[rows]) for g in range(len(vocab))]
    group_words = [g for g in range(len(vocab)) if members_of[g].size >= 2]
    # Prototype (nearest-centroid) classification over training words, on training rows only.
    proto_vocab, proto_group = _word_groups(words[train], 2)
    proto_rows = np.flatnonzero(train)[proto_group >= 0]
    proto_t = torch.as_tensor(proto_group[proto_group >= 0])
    x_proto = torch.as_tensor(_units(safe.params[proto_rows]), dtype=torch.float32)

    def random_groups(n_groups: int, same_word: bool) -> torch.Tensor:
        # (n_groups, n_member) averaging matrix of random subsets of training members.
        mat = np.zeros((n_groups, len(rows)), dtype=np.float32)
        all_train = np.flatnonzero(train[rows])
        for g in range(n_groups):
            pool = members_of[group_words[rng.integers(len(group_words))]] if same_word else all_train
            size = int(rng.integers(2, min(config.max_group_size, pool.size) + 1))
            mat[g, rng.choice(pool, size=size, replace=False)] = 1.0 / size
        return torch.as_tensor(mat)

    vae = EQVAE(vae_config)
    opt = torch.optim.Adam(vae.parameters(), lr=config.learning_rate)
    n_real = x_real.shape[0]
    steps_per_epoch = max(1, math.ceil(n_real / config.batch_real))
    total = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    history: list[dict] = []
    bar = tqdm(range(config.epochs), desc="train eq", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        vae.train()
        perm = rng.permutation(n_real)
        sums: dict[str, float] = {}
        for b in range(steps_per_epoch):
            idx = torch.as_tensor(perm[b * config.batch_real:(b + 1) * config.batch_real])
            xs = _synthetic(config.batch_synthetic, gen, config.synthetic_zero_prob)
            xr = x_real[idx]
            if config.jitter_unit > 0:  # small perturbations of real settings: a smoother encoder
                xr = (xr + config.jitter_unit * torch.randn(xr.shape, generator=gen)).clamp(0.0, 1.0)
            x = torch.cat([xr, xs])
            with torch.no_grad():
                target = eq_response_db(unit_to_physical(x), freqs, SAMPLE_RATE)
            x_hat, _, mu, logvar = vae(x, sample=True)
            resp_hat = eq_response_db(unit_to_physical(x_hat), freqs, SAMPLE_RATE)
            loss_resp = (resp_hat - target).abs().mean()
            mask = _param_mask(x, config.silent_gain_db)
            loss_param = ((x_hat - x) ** 2 * mask).sum() / mask.sum()
            loss_kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()
            loss_con = _supcon(mu[: idx.numel()], labels[idx], config.temperature)
            # Word fidelity: decoded centroid of each word's latent means against its mean curve.
            mu_w, _ = vae.encode_unit(x_word)
            mu_w = torch.where(member_train[:, None], mu_w, mu_w.detach())
            cent = _centroids(mu_w, group_t, len(vocab))
            resp_c = eq_response_db(unit_to_physical(vae.decode_unit(cent)), freqs, SAMPLE_RATE)
            loss_word = ((resp_c - word_mean).abs().mean(dim=1) * word_w).sum() / word_w.sum()
            if config.iso_weight > 0:
                # Latent distance follows the mean absolute dB difference of the responses.
                d_z = torch.cdist(mu, mu)
                d_r = torch.cdist(target, target, p=1) / target.shape[1]
                loss_iso = ((d_z - d_r / config.iso_db_per_unit) ** 2).mean()
            else:
                loss_iso = loss_word.new_zeros(())
            if config.proto_weight > 0:
                xp = x_proto
                if config.jitter_unit > 0:
                    xp = (xp + config.jitter_unit * torch.randn(xp.shape, generator=gen)).clamp(0.0, 1.0)
                mu_p, _ = vae.encode_unit(xp)
                cent_p = _centroids(mu_p, proto_t, len(proto_vocab))
                logits = -torch.cdist(mu_p, cent_p).pow(2) / config.proto_temperature
                loss_proto = torch.nn.functional.cross_entropy(logits, proto_t)
            else:
                loss_proto = loss_word.new_zeros(())
            if config.n_word_groups > 0 and group_words:
                avg = random_groups(config.n_word_groups, same_word=True)
                resp_g = eq_response_db(unit_to_physical(vae.decode_unit(avg @ mu_w)), freqs, SAMPLE_RATE)
                loss_word = 0.5 * loss_word + 0.5 * (resp_g - avg @ resp_member).abs().mean()
            if config.mixed_group_weight > 0:
                avg = random_groups(config.n_word_groups or 32, same_word=False)
                resp_g = eq_response_db(unit_to_physical(vae.decode_unit(avg @ mu_w)), freqs, SAMPLE_RATE)
                loss_word = loss_word + config.mixed_group_weight * (resp_g - avg @ resp_member).abs().mean()
            loss = (loss_resp + config.param_weight * loss_param + config.kl_weight * loss_kl
                    + config.contrastive_weight * loss_con + config.word_weight * loss_word
                    + config.proto_weight * loss_proto + config.iso_weight * loss_iso)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 5.0)
            opt.step()
            sched.step()
            for k, v in (("loss", loss), ("response_db", loss_resp), ("param", loss_param), ("kl", loss_kl),
                         ("contrastive", loss_con), ("word_db", loss_word), ("proto", loss_proto), ("iso", loss_iso)):
                sums[k] = sums.get(k, 0.0) + float(v.detach())
        vae.eval()
        row = {"epoch": epoch + 1, **{f"train_{k}": round(v / steps_per_epoch, 4) for k, v in sums.items()}}
        row["val_recon_mae_db"] = round(float(_recon_mae(vae, safe.params[val]).mean()), 4)
        row["val_warm_bright_acc"] = round(_warm_bright_accuracy(vae, safe.params[train], words[train], safe.params[val], words[val]), 4)
        history.append(row)
        bar.set_postfix(train_db=row["train_response_db"], word_db=row["train_word_db"], val_db=row["val_recon_mae_db"],
                        val_acc=row["val_warm_bright_acc"])
        if progress:
            tqdm.write(f"epoch {epoch + 1:3d}  train: response {row['train_response_db']:.3f} dB, word {row['train_word_db']:.3f} dB, "
                       f"kl {row['train_kl']:.2f}, con {row['train_contrastive']:.3f}  |  val: recon {row['val_recon_mae_db']:.3f} dB, "
                       f"warm/bright {row['val_warm_bright_acc']:.3f}", file=sys.stderr)
    bar.close()
    vae.eval()
    return vae, history


# ---------------------------------------------------------------------------- vocabulary
def build_vocabulary(vae: EQVAE, data: PreparedData) -> tuple[list[dict], np.ndarray]:
    """Entries and embeddings (n, latent_dim).

    SAFE words: the latent centroid of all their cleaned settings (every split). Audealize
    words: the latent mean of their fitted 5-band setting. A word in both (same language)
    is one entry listing both sources; its embedding is the SAFE centroid when it has at
    least 5 SAFE settings, else the Audealize one.
    """
    safe = data.safe
    words = np.array(safe.descriptors, dtype=object)
    mu = _encode_mu(vae, safe.params)
    entries: dict[tuple[str, str], dict] = {}
    embeddings: dict[tuple[str, str], np.ndarray] = {}
    for w in sorted(set(words.tolist())):
        sel = words == w
        n = int(sel.sum())
        key = ("en", w)
        entries[key] = {"word": w, "language": "en", "sources": ["safe"], "count": n, "confidence": n / (n + 5.0),
                        "embedding_source": "safe", "n_safe": n, "n_audealize": 0}
        embeddings[key] = mu[sel].mean(axis=0)
    if data.audealize is not None:
        aud = data.audealize
        mu_a = _encode_mu(vae, data.audealize_params)
        for i, (w, lang) in enumerate(zip(aud.words, aud.languages)):
            num, agree = int(aud.n_contributors[i]), float(aud.agreement[i])
            conf = agree * num / (num + 5.0)
            key = (lang, w)
            if key in entries:
                e = entries[key]
                e["sources"] = ["safe", "audealize"]
                e["n_audealize"] = num
                if e["n_safe"] < FIDELITY_MIN_COUNT:
                    e.update(count=num, confidence=conf, embedding_source="audealize")
                    embeddings[key] = mu_a[i]
            else:
                entries[key] = {"word": w, "language": lang, "sources": ["audealize"], "count": num, "confidence": conf,
                                "embedding_source": "audealize", "n_safe": 0, "n_audealize": num}
                embeddings[key] = mu_a[i]
    keys = sorted(entries, key=lambda k: (-entries[k]["confidence"], k[1], k[0]))
    out = []
    for k in keys:
        e = entries[k]
        e["confidence"] = round(float(e["confidence"]), 4)
        e["low_confidence"] = bool(e["confidence"] < 0.5)
        out.append(e)
    if not out:
        raise DataError("the vocabulary is empty after filtering")
    return out, np.stack([embeddings[k] for k in keys])


# ---------------------------------------------------------------------------- evaluation
def evaluate_eq_model(model, data: PreparedData) -> dict:
    """The acceptance metrics of a trained :class:`semeq.eq_model.EQModel` on prepared data.

    Returns a dict with: held-out reconstruction MAE (test split, 256 log points, 20 Hz-20 kHz),
    the same on train and validation, word fidelity for SAFE words with >= 5 settings,
    Audealize fit and decode errors, held-out warm/bright separation, the neutral point,
    and the vocabulary's size by source and language.
    """
    vae = model.vae
    safe = data.safe
    words = np.array(safe.descriptors, dtype=object)
    metrics: dict = {}
    for k, name in enumerate(SPLITS):
        sel = data.split == k
        if not np.any(sel):
            continue
        mae = _recon_mae(vae, safe.params[sel])
        metrics[f"{name}_recon_mae_db"] = round(float(mae.mean()), 4)
        metrics[f"{name}_recon_p95_db"] = round(float(np.percentile(mae, 95)), 4)
        metrics[f"n_{name}"] = int(sel.sum())
    # Word fidelity.
    curves = response_db_batch(safe.params, EVAL_FREQS_HZ)
    fidelity = {}
    for w, n in safe.counts().items():
        if n < FIDELITY_MIN_COUNT or w not in model:
            continue
        mean_curve = curves[words == w].mean(axis=0)
        dec = response_db_batch(model.decode(model.embedding(w, "en")).to_vector()[None], EVAL_FREQS_HZ)[0]
        fidelity[w] = {"n_settings": n, "mae_db": round(float(np.abs(dec - mean_curve).mean()), 4)}
    metrics["word_fidelity"] = fidelity
    metrics["word_fidelity_max_mae_db"] = max((v["mae_db"] for v in fidelity.values()), default=float("nan"))
    # Audealize.
    if data.audealize is not None:
        aud = data.audealize
        fit = np.abs(response_db_batch(data.audealize_params, EVAL_FREQS_HZ) - data.audealize_curves_db).mean(axis=1)
        z = np.stack([model.embedding(w, lang) for w, lang in zip(aud.words, aud.languages)])
        own = np.array([model.entry(w, lang).embedding_source == "audealize" for w, lang in zip(aud.words, aud.languages)])
        dec = np.abs(response_db_batch(model.decode_batch(z), EVAL_FREQS_HZ) - data.audealize_curves_db).mean(axis=1)[own]
        metrics["audealize_fit_mae_db"] = {"mean": round(float(fit.mean()), 4), "median": round(float(np.median(fit)), 4),
                                           "max": round(float(fit.max()), 4), "frac_le_1db": round(float(np.mean(fit <= 1.0)), 4)}
        metrics["audealize_decoded_mae_db"] = {"mean": round(float(dec.mean()), 4), "max": round(float(dec.max()), 4),
                                               "frac_le_1db": round(float(np.mean(dec <= 1.0)), 4), "n_words": int(own.sum())}
        metrics["audealize_scale_db_per_unit"] = round(float(data.audealize_scale_db), 4)
    # Neutral point.
    flat = EQParams.flat()
    back = model.decode(model.encode(flat))
    metrics["flat_roundtrip_max_abs_db"] = round(float(np.max(np.abs(response_db_batch(back.to_vector()[None], EVAL_FREQS_HZ)))), 4)
    # Vocabulary.
    vocab = model.vocabulary
    metrics["vocabulary"] = {
        "n_entries": len(vocab),
        "by_language": {lang: sum(e.language == lang for e in vocab) for lang in sorted({e.language for e in vocab})},
        "by_source": {s: sum(s in e.sources for e in vocab) for s in ("safe", "audealize")},
        "both_sources": sum(len(e.sources) == 2 for e in vocab),
        "low_confidence": sum(e.low_confidence for e in vocab),
    }
    # Separation: held-out warm/bright by nearest embedding.
    train, test = data.split == 0, data.split == 2
    if not (np.any(train & (words == "warm")) and np.any(train & (words == "bright")) and "warm" in model and "bright" in model):
        return metrics
    metrics["test_warm_bright_acc_train_centroids"] = round(
        _warm_bright_accuracy(vae, safe.params[train], words[train], safe.params[test], words[test]), 4)
    sel = test & np.isin(words, ["warm", "bright"])
    emb = np.stack([model.embedding("warm", "en"), model.embedding("bright", "en")])
    z = model.encode(safe.params[sel])
    pred = np.argmin(((z[:, None] - emb[None]) ** 2).sum(-1), axis=1)
    metrics["test_warm_bright_acc_vocabulary"] = round(float(np.mean(pred == (words[sel] == "bright"))), 4)
    metrics["n_test_warm_bright"] = int(sel.sum())
    return metrics


def prepared_from_model(model, safe_csv: str | Path | None = None, audealize_json: str | Path | None | bool = True) -> PreparedData:
    """Rebuild a model's :class:`PreparedData` from the data files and what the model stored.

    The split comes from the row ids in the model's JSON, the Audealize scale and the fitted
    5-band settings from the model files, so nothing is refitted (fast, for tests and
    benchmarks). ``audealize_json=True`` means the data folder's file; None skips Audealize.
    """
    from safetensors import safe_open

    from ..data.audealize import default_audealize_path

    safe = read_safe_db(safe_csv)
    row_split = {}
    for k, name in enumerate(SPLITS):
        for rid in model.meta["split"]["row_ids"][name]:
            row_split[int(rid)] = k
    known = np.array([int(r) in row_split for r in safe.row_ids])
    if not np.all(known):
        raise DataError(f"{int((~known).sum())} SAFE settings are not in the model's split: the CSV differs from the training data")
    split = np.array([row_split[int(r)] for r in safe.row_ids], dtype=np.int64)
    data = PreparedData(safe=safe, split=split, audealize=None)
    if audealize_json is None or not model.meta.get("audealize_words"):
        return data
    aud = read_audealize(default_audealize_path() if audealize_json is True else audealize_json)
    stored = [tuple(x) for x in model.meta["audealize_words"]]
    if stored != list(zip(aud.words, aud.languages)):
        raise DataError("the Audealize file's words differ from those the model was trained on")
    with safe_open(str(model.path), framework="pt") as fh:
        params = fh.get_tensor("audealize.fitted_params").double().numpy()
    scale = float(model.meta["audealize_calibration"]["scale_db_per_unit"])
    data.audealize = aud
    data.audealize_scale_db = scale
    data.audealize_calibration = dict(model.meta["audealize_calibration"])
    data.audealize_curves_db = graphic_eq_response_db(scale * aud.settings, EVAL_FREQS_HZ, SAMPLE_RATE)
    data.audealize_params = params
    return data


# ---------------------------------------------------------------------------- writing
def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these are ordinary package files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_model(out_dir: Path, vae: EQVAE, meta: dict, embeddings: np.ndarray, extra: dict[str, np.ndarray]) -> Path:
    """Write ``eq_vae.safetensors`` and ``eq_vae.json`` into ``out_dir`` atomically."""
    from safetensors.torch import save

    tensors = {f"vae.{k}": v.detach().contiguous().float() for k, v in vae.state_dict().items()}
    tensors["vocabulary.embeddings"] = torch.as_tensor(embeddings, dtype=torch.float32).contiguous()
    for k, v in extra.items():
        tensors[k] = torch.as_tensor(v, dtype=torch.float64).contiguous()
    weights = out_dir / "eq_vae.safetensors"
    _atomic_write_bytes(weights, save(tensors, metadata={"format": "semeq-eq-vae"}))
    _atomic_write_bytes(out_dir / "eq_vae.json", (json.dumps(meta, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return weights


def train_eq_model(safe_csv: str | Path | None, audealize_json: str | Path | None, out_dir: str | Path,
                   config: TrainConfig | None = None, vae_config: VAEConfig | None = None, *, force: bool = False,
                   progress: bool = True, log: Callable[[str], None] = print, subsample_safe: int | None = None):
    """Train the EQ model end to end and write it to ``out_dir``.

    Parameters
    ----------
    safe_csv : path-like or None
        SAFE-DB CSV (None: the data folder's).
    audealize_json : path-like or None
        Audealize JSON; None trains on SAFE-DB alone.
    out_dir : path-like
        Folder for ``eq_vae.safetensors`` and ``eq_vae.json`` (created if missing).
    force : bool
        Overwrite existing model files.
    subsample_safe : int, optional
        Keep only every ``subsample_safe``-th cleaned SAFE setting (for quick tests).

    Returns
    -------
    model : EQModel
        The trained model, loaded back from the written files.
    metrics : dict
    """
    from ..eq_model import FORMAT, FORMAT_VERSION, EQModel

    config = config or TrainConfig()
    vae_config = vae_config or VAEConfig()
    out_dir = Path(out_dir)
    for name in ("eq_vae.safetensors", "eq_vae.json"):
        if (out_dir / name).exists() and not force:
            raise SemeqError(f"{out_dir / name}: already exists (use --force to overwrite)")
    if out_dir.exists() and not out_dir.is_dir():
        raise SemeqError(f"{out_dir}: not a folder")
    t0 = time.time()
    torch.set_num_threads(max(1, int(config.n_threads)))
    data = prepare_data(safe_csv, audealize_json, config, log=log)
    if subsample_safe is not None:
        keep = np.arange(len(data.safe)) % int(subsample_safe) == 0
        data.safe = data.safe.subset(keep)
        data.split = data.split[keep]
    vae, history = train_vae(data, config, vae_config, progress=progress, log=log)
    vocab, embeddings = build_vocabulary(vae, data)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "vae_config": vae_config.to_dict(), "train_config": config.to_dict(),
        "normalisation": {"parameters": [{"name": s.name, "unit": s.unit, "low": s.low, "high": s.high, "scale": s.scale}
                                         for s in PARAMETERS],
                          "input": "x_unit = to_unit(physical) in [0, 1]; the encoder sees 2 * x_unit - 1"},
        "response_grid": {"n_freqs": EVAL_N_FREQS, "low_hz": 20.0, "high_hz": 20000.0, "sample_rate": SAMPLE_RATE},
        "cleaning": data.safe.report,
        "split": {"seed": config.seed, "fractions": list(config.split_fractions), "by": "contributor",
                  "row_ids": {name: data.safe.row_ids[data.split == k].tolist() for k, name in enumerate(SPLITS)}},
        "audealize_calibration": data.audealize_calibration,
        "audealize_words": ([[w, lang] for w, lang in zip(data.audealize.words, data.audealize.languages)]
                            if data.audealize is not None else []),
        "vocabulary": vocab,
        "history": history,
        "metrics": {},
    }
    extra = {"audealize.fitted_params": data.audealize_params} if data.audealize is not None else {}
    save_model(out_dir, vae, meta, embeddings, extra)
    model = EQModel.load(out_dir)
    metrics = evaluate_eq_model(model, data)
    metrics["train_seconds"] = round(time.time() - t0, 1)
    meta["metrics"] = metrics
    save_model(out_dir, vae, meta, embeddings, extra)
    return EQModel.load(out_dir), metrics


THRESHOLDS = {
    "test_recon_mae_db": 1.0,
    "word_fidelity_max_mae_db": 1.0,
    "audealize_fit_max_mae_db": 1.0,
    "test_warm_bright_acc": 0.90,
    "vocabulary_min_entries": 400,
}
"""Acceptance thresholds of the EQ model (issue 3)."""


def format_metrics(metrics: dict) -> str:
    """A human report of :func:`evaluate_eq_model`'s metrics against :data:`THRESHOLDS`."""

    def mark(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    t = THRESHOLDS
    lines = ["EQ model metrics (dB response, 256 log-spaced points 20 Hz-20 kHz, 44.1 kHz):"]
    if "test_recon_mae_db" not in metrics:
        return "\n".join(lines + ["  (no test split)"])
    lines.append(f"  held-out reconstruction MAE (test split, {metrics['n_test']} settings): {metrics['test_recon_mae_db']:.3f} dB "
                 f"(p95 {metrics['test_recon_p95_db']:.2f})  [<= {t['test_recon_mae_db']}] {mark(metrics['test_recon_mae_db'] <= t['test_recon_mae_db'])}")
    lines.append(f"  reconstruction MAE train / val: {metrics['train_recon_mae_db']:.3f} / {metrics['val_recon_mae_db']:.3f} dB")
    fid = metrics["word_fidelity"]
    worst = metrics["word_fidelity_max_mae_db"]
    lines.append(f"  word fidelity (SAFE words with >= 5 settings, decoded embedding vs mean curve): max {worst:.3f} dB  "
                 f"[<= {t['word_fidelity_max_mae_db']}] {mark(worst <= t['word_fidelity_max_mae_db'])}")
    lines.append("    " + ", ".join(f"{w} {v['mae_db']:.2f} ({v['n_settings']})" for w, v in fid.items()))
    if "audealize_fit_mae_db" in metrics:
        a = metrics["audealize_fit_mae_db"]
        d = metrics["audealize_decoded_mae_db"]
        lines.append(f"  Audealize 5-band fit vs 40-band curve (scale {metrics['audealize_scale_db_per_unit']:.3f} dB/unit): "
                     f"mean {a['mean']:.3f}, median {a['median']:.3f}, max {a['max']:.3f} dB, {100 * a['frac_le_1db']:.1f}% <= 1 dB  "
                     f"[max <= {t['audealize_fit_max_mae_db']}] {mark(a['max'] <= t['audealize_fit_max_mae_db'])}")
        lines.append(f"  Audealize decoded embedding vs 40-band curve ({d['n_words']} words): mean {d['mean']:.3f}, max {d['max']:.3f} dB, "
                     f"{100 * d['frac_le_1db']:.1f}% <= 1 dB")
    if "test_warm_bright_acc_train_centroids" in metrics:
        acc = metrics["test_warm_bright_acc_train_centroids"]
        lines.append(f"  held-out warm/bright by nearest embedding ({metrics['n_test_warm_bright']} test settings): "
                     f"{100 * acc:.1f}% with train-split centroids, {100 * metrics['test_warm_bright_acc_vocabulary']:.1f}% with the "
                     f"shipped embeddings  [>= {100 * t['test_warm_bright_acc']:.0f}%] {mark(acc >= t['test_warm_bright_acc'])}")
    lines.append(f"  neutral point: decode(encode(flat)) max |response| {metrics['flat_roundtrip_max_abs_db']:.3f} dB")
    v = metrics["vocabulary"]
    lines.append(f"  vocabulary: {v['n_entries']} entries ({', '.join(f'{k} {n}' for k, n in v['by_language'].items())}; "
                 f"SAFE {v['by_source']['safe']}, Audealize {v['by_source']['audealize']}, both {v['both_sources']}; "
                 f"{v['low_confidence']} low confidence)  [>= {t['vocabulary_min_entries']}] "
                 f"{mark(v['n_entries'] >= t['vocabulary_min_entries'] and len(v['by_language']) >= 2 and min(v['by_source'].values()) > 0)}")
    if "train_seconds" in metrics:
        lines.append(f"  training time: {metrics['train_seconds']:.1f} s")
    return "\n".join(lines)
