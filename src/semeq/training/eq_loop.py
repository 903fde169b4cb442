"""The EQ model's training loop.

Losses, summed with the weights of :class:`~semeq.training.config.TrainConfig`:

- ``response``: mean absolute dB error of the decoded setting's magnitude response on a
  log-frequency grid (what a listener hears);
- ``param``: squared error of the normalised parameters, frequencies and Q of a band counted
  only where its gain is audible (:func:`~semeq.training.losses.param_mask`);
- ``kl``: the VAE's Kullback-Leibler term (small weight);
- ``contrastive``: supervised contrastive loss (Khosla et al. 2020) on the latent means, so
  settings of the same word cluster;
- ``word``: for every training word, the decoded latent centroid of its settings against the
  mean response curve of those settings, so that decoding a word's embedding gives the word's
  mean curve (a nonlinear decoder does not do this by itself); plus the same on random subsets;
- ``proto``: nearest-centroid cross-entropy over the training words;
- ``iso``: latent distance against response distance.

Each step draws, in this order: the synthetic settings and the jitter of the real ones (torch
generator), the VAE's sampling noise (torch's global generator), the prototype jitter, then the
random word groups (numpy generator). The order is what makes a seeded run repeat bit for bit.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..errors import DataError
from ..nn.eq_vae import EQVAE, VAEConfig
from ..nn.response import eq_response_db, unit_to_physical
from .config import SAMPLE_RATE, TrainConfig
from .eq_data import PreparedData
from .evaluation import recon_mae, warm_bright_accuracy
from .losses import group_centroids, isometry_loss, kl_divergence, param_mask, prototype_loss, supcon_loss
from .settings import random_unit_settings, to_units
from .vocabulary import word_groups

__all__ = ["train_vae", "WordTargets", "word_targets"]


@dataclass
class WordTargets:
    """Tensors of the word terms (see :func:`word_targets`)."""

    n_words: int
    group: torch.Tensor  # (n_members,) word index of each member setting
    member_train: torch.Tensor  # (n_members,) bool: the member is a training setting
    x_member: torch.Tensor  # (n_members, 13) unit
    response_member: torch.Tensor  # (n_members, n_freqs) dB
    word_mean: torch.Tensor  # (n_words, n_freqs) dB: mean curve of each word
    word_weight: torch.Tensor  # (n_words,) support up to 5 settings
    members_of: list[np.ndarray]  # training members of each word (indices into members)
    group_words: list[int]  # words with 2+ training members
    n_proto_words: int
    proto_group: torch.Tensor  # (n_proto,) word index of each prototype row
    x_proto: torch.Tensor  # (n_proto, 13) unit: training settings of words with 2+ of them


def word_targets(data: PreparedData, config: TrainConfig, freqs: torch.Tensor) -> WordTargets:
    """Word groups and their mean curves.

    Word-centroid fidelity groups are words with 2+ settings. With ``word_scope="all"`` the
    groups hold every split's settings, but held-out settings enter only through detached
    latent means and the mean curves: the encoder never trains on them, no held-out setting is
    reconstructed, and the decoder learns to map each vocabulary centroid to its mean curve.
    """
    safe = data.safe
    words = np.array(safe.descriptors, dtype=object)
    train = data.split == 0
    scope = np.ones(len(safe), dtype=bool) if config.word_scope == "all" else train
    vocab, group = word_groups(words[scope], 2)
    if not vocab or not word_groups(words[train], 2)[0]:
        raise DataError("no descriptor has two or more training settings after cleaning: nothing to learn words from")
    rows = np.flatnonzero(scope)[group >= 0]  # SAFE rows of the members
    group_t = torch.as_tensor(group[group >= 0])
    resp_member = eq_response_db(torch.as_tensor(safe.params[rows], dtype=torch.float32), freqs, SAMPLE_RATE)
    members_of = [np.flatnonzero((group[group >= 0] == g) & train[rows]) for g in range(len(vocab))]
    proto_vocab, proto_group = word_groups(words[train], 2)
    proto_rows = np.flatnonzero(train)[proto_group >= 0]
    return WordTargets(
        n_words=len(vocab), group=group_t, member_train=torch.as_tensor(train[rows]),
        x_member=torch.as_tensor(to_units(safe.params[rows]), dtype=torch.float32),
        response_member=resp_member,
        word_mean=torch.stack([resp_member[group_t == g].mean(dim=0) for g in range(len(vocab))]),
        # Words count by support up to 5 settings (those held to the fidelity threshold count fully).
        word_weight=torch.as_tensor([min(int((group_t == g).sum()), 5) / 5.0 for g in range(len(vocab))]),
        members_of=members_of, group_words=[g for g in range(len(vocab)) if members_of[g].size >= 2],
        n_proto_words=len(proto_vocab), proto_group=torch.as_tensor(proto_group[proto_group >= 0]),
        x_proto=torch.as_tensor(to_units(safe.params[proto_rows]), dtype=torch.float32),
    )


def _random_groups(wt: WordTargets, rng: np.random.Generator, n_groups: int, same_word: bool, max_size: int) -> torch.Tensor:
    """(n_groups, n_members) averaging matrix of random subsets of training members: of one
    word's (``same_word``) or of any."""
    n_members = wt.group.shape[0]
    mat = np.zeros((n_groups, n_members), dtype=np.float32)
    all_train = np.flatnonzero(wt.member_train.numpy())
    for g in range(n_groups):
        pool = wt.members_of[wt.group_words[rng.integers(len(wt.group_words))]] if same_word else all_train
        size = int(rng.integers(2, min(max_size, pool.size) + 1))
        mat[g, rng.choice(pool, size=size, replace=False)] = 1.0 / size
    return torch.as_tensor(mat)


def _jitter(x: torch.Tensor, config: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    if config.jitter_unit > 0:  # small perturbations of real settings: a smoother encoder
        return (x + config.jitter_unit * torch.randn(x.shape, generator=gen)).clamp(0.0, 1.0)
    return x


def _decoded_response(vae: EQVAE, z: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    return eq_response_db(unit_to_physical(vae.decode_unit(z)), freqs, SAMPLE_RATE)


def _step_losses(vae: EQVAE, xr: torch.Tensor, labels: torch.Tensor, wt: WordTargets, config: TrainConfig,
                 freqs: torch.Tensor, gen: torch.Generator, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Every loss term of one step on the real rows ``xr`` (unit) with word ``labels``."""
    xs = torch.from_numpy(random_unit_settings(lambda shape: torch.rand(*shape, generator=gen).numpy(),
                                               config.batch_synthetic, config.synthetic_zero_prob, flat_prob=0.05))
    xr = _jitter(xr, config, gen)
    x = torch.cat([xr, xs])
    with torch.no_grad():
        target = eq_response_db(unit_to_physical(x), freqs, SAMPLE_RATE)
    x_hat, _, mu, logvar = vae(x, sample=True)
    resp_hat = eq_response_db(unit_to_physical(x_hat), freqs, SAMPLE_RATE)
    mask = param_mask(x, config.silent_gain_db)
    out = {
        "response_db": (resp_hat - target).abs().mean(),
        "param": ((x_hat - x) ** 2 * mask).sum() / mask.sum(),
        "kl": kl_divergence(mu, logvar),
        "contrastive": supcon_loss(mu[: xr.shape[0]], labels, config.temperature),
    }
    # Word fidelity: decoded centroid of each word's latent means against its mean curve.
    mu_w, _ = vae.encode_unit(wt.x_member)
    mu_w = torch.where(wt.member_train[:, None], mu_w, mu_w.detach())
    resp_c = _decoded_response(vae, group_centroids(mu_w, wt.group, wt.n_words), freqs)
    loss_word = ((resp_c - wt.word_mean).abs().mean(dim=1) * wt.word_weight).sum() / wt.word_weight.sum()
    zero = loss_word.new_zeros(())
    out["iso"] = isometry_loss(mu, target, config.iso_db_per_unit) if config.iso_weight > 0 else zero
    if config.proto_weight > 0:
        mu_p, _ = vae.encode_unit(_jitter(wt.x_proto, config, gen))
        out["proto"] = prototype_loss(mu_p, wt.proto_group, wt.n_proto_words, config.proto_temperature)
    else:
        out["proto"] = zero
    if config.n_word_groups > 0 and wt.group_words:
        avg = _random_groups(wt, rng, config.n_word_groups, True, config.max_group_size)
        resp_g = _decoded_response(vae, avg @ mu_w, freqs)
        loss_word = 0.5 * loss_word + 0.5 * (resp_g - avg @ wt.response_member).abs().mean()
    if config.mixed_group_weight > 0:
        avg = _random_groups(wt, rng, config.n_word_groups or 32, False, config.max_group_size)
        resp_g = _decoded_response(vae, avg @ mu_w, freqs)
        loss_word = loss_word + config.mixed_group_weight * (resp_g - avg @ wt.response_member).abs().mean()
    out["word_db"] = loss_word
    out["loss"] = (out["response_db"] + config.param_weight * out["param"] + config.kl_weight * out["kl"]
                   + config.contrastive_weight * out["contrastive"] + config.word_weight * loss_word
                   + config.proto_weight * out["proto"] + config.iso_weight * out["iso"])
    return out


_LOGGED = ("loss", "response_db", "param", "kl", "contrastive", "word_db", "proto", "iso")


def train_vae(data: PreparedData, config: TrainConfig, vae_config: VAEConfig, *, progress: bool = True,
              log: Callable[[str], None] = print) -> tuple[EQVAE, list[dict]]:
    """Train the VAE on prepared data.

    Returns
    -------
    vae : EQVAE
        In eval mode.
    history : list of dict
        Per epoch: mean training losses and validation reconstruction / warm-bright accuracy.
    """
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
    x_real = torch.as_tensor(to_units(real_params), dtype=torch.float32)
    wt = word_targets(data, config, freqs)

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
            losses = _step_losses(vae, x_real[idx], labels[idx], wt, config, freqs, gen, rng)
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 5.0)
            opt.step()
            sched.step()
            for k in _LOGGED:
                sums[k] = sums.get(k, 0.0) + float(losses[k].detach())
        vae.eval()
        row = {"epoch": epoch + 1, **{f"train_{k}": round(v / steps_per_epoch, 4) for k, v in sums.items()}}
        row["val_recon_mae_db"] = round(float(recon_mae(vae, safe.params[val]).mean()), 4)
        row["val_warm_bright_acc"] = round(warm_bright_accuracy(vae, safe.params[train], words[train], safe.params[val], words[val]), 4)
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
