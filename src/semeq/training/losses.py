"""Loss terms shared by the training loops (torch only; each is a pure function of tensors)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..params import GAIN_INDICES, GAIN_DB_RANGE

__all__ = ["supcon_loss", "param_mask", "kl_divergence", "group_centroids", "isometry_loss", "prototype_loss"]

# Columns of a band's frequency and Q (13-parameter layout of semeq.params) -> the band.
_BAND_OF_COLUMN = {1: 0, 3: 1, 4: 1, 6: 2, 7: 2, 9: 3, 10: 3, 12: 4}


def supcon_loss(embeddings: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., 2020) on cosine similarity.

    Parameters
    ----------
    embeddings : Tensor [shape=(batch, dim)]
    labels : Tensor [shape=(batch,)], int; rows labelled -1 are ignored
    temperature : float > 0

    Returns
    -------
    loss : Tensor [shape=()]
        ``-mean_i mean_{p in P(i)} log softmax_j(z_i . z_j / T)[p]`` over rows with a positive;
        zero (still attached to the graph) when no two labelled rows share a label.

    Notes
    -----
    P. Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020, eq. 2 (L_out).
    """
    keep = labels >= 0
    z = F.normalize(embeddings[keep], dim=1)
    y = labels[keep]
    if z.shape[0] < 2:
        return embeddings.sum() * 0.0
    logits = z @ z.T / temperature  # (n, n)
    eye = torch.eye(z.shape[0], dtype=torch.bool)
    logits = logits.masked_fill(eye, -1e9)
    positives = (y[:, None] == y[None, :]) & ~eye
    has_pos = positives.any(dim=1)
    if not has_pos.any():
        return embeddings.sum() * 0.0
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    mean_log_prob_pos = (log_prob * positives).sum(dim=1) / positives.sum(dim=1).clamp_min(1)
    return -mean_log_prob_pos[has_pos].mean()


def param_mask(x_unit: torch.Tensor, silent_gain_db: float) -> torch.Tensor:
    """(B, 13) weights of the parameter loss: gains always; a band's frequency and Q only
    where its gain is audible (``|gain| > silent_gain_db``: a silent band's frequency is arbitrary)."""
    low, high = GAIN_DB_RANGE
    phys_gain = x_unit[:, list(GAIN_INDICES)] * (high - low) + low  # (B, 5)
    audible = (phys_gain.abs() > silent_gain_db).to(x_unit.dtype)
    mask = torch.ones_like(x_unit)
    for col, band in _BAND_OF_COLUMN.items():
        mask[:, col] = audible[:, band]
    return mask


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)), summed over the latent, mean over the batch."""
    return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()


def group_centroids(mu: torch.Tensor, group: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Mean latent (n_groups, dim) of the rows of each group; ``group`` (n,) in [0, n_groups)."""
    sums = torch.zeros(n_groups, mu.shape[1], dtype=mu.dtype).index_add_(0, group, mu)
    counts = torch.zeros(n_groups, dtype=mu.dtype).index_add_(0, group, torch.ones_like(group, dtype=mu.dtype))
    return sums / counts[:, None]


def isometry_loss(mu: torch.Tensor, response_db: torch.Tensor, db_per_unit: float) -> torch.Tensor:
    """Latent distances against mean absolute dB differences of the responses / ``db_per_unit``."""
    d_z = torch.cdist(mu, mu)
    d_r = torch.cdist(response_db, response_db, p=1) / response_db.shape[1]
    return ((d_z - d_r / db_per_unit) ** 2).mean()


def prototype_loss(mu: torch.Tensor, group: torch.Tensor, n_groups: int, temperature: float) -> torch.Tensor:
    """Cross-entropy of ``-|mu - c_g|^2 / T`` over the group centroids ``c_g`` (nearest-centroid
    classification, the centroids taken from the same rows)."""
    cent = group_centroids(mu, group, n_groups)
    logits = -torch.cdist(mu, cent).pow(2) / temperature
    return F.cross_entropy(logits, group)
