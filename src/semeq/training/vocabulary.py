"""The EQ model's vocabulary: word groups, and each word's embedding in the latent space.

SAFE words are the latent centroid of their settings; Audealize words the latent mean of their
fitted 5-band setting (see :func:`build_vocabulary`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import DataError
from ..nn.eq_vae import EQVAE
from .config import FIDELITY_MIN_COUNT
from .eq_data import PreparedData
from .settings import to_units

__all__ = ["word_groups", "encode_mu", "build_vocabulary"]


def word_groups(words: np.ndarray, min_count: int) -> tuple[list[str], np.ndarray]:
    """Words with at least ``min_count`` rows (sorted) and each row's index into them (-1: none)."""
    uniq, counts = np.unique(words, return_counts=True)
    vocab = [str(w) for w, c in zip(uniq, counts) if c >= min_count]
    lookup = {w: i for i, w in enumerate(vocab)}
    group = np.array([lookup.get(w, -1) for w in words], dtype=np.int64)
    return vocab, group


@torch.no_grad()
def encode_mu(vae: EQVAE, params: np.ndarray) -> np.ndarray:
    """Latent means (n, latent_dim) float64 of physical settings (n, 13)."""
    mu, _ = vae.encode_unit(torch.as_tensor(to_units(params), dtype=torch.float32))
    return mu.double().numpy()


def build_vocabulary(vae: EQVAE, data: PreparedData) -> tuple[list[dict], np.ndarray]:
    """Entries and embeddings (n, latent_dim).

    SAFE words: the latent centroid of all their cleaned settings (every split). Audealize
    words: the latent mean of their fitted 5-band setting. A word in both (same language)
    is one entry listing both sources; its embedding is the SAFE centroid when it has at
    least 5 SAFE settings, else the Audealize one.
    """
    safe = data.safe
    words = np.array(safe.descriptors, dtype=object)
    mu = encode_mu(vae, safe.params)
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
        mu_a = encode_mu(vae, data.audealize_params)
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


