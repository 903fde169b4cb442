"""Evaluation of the EQ model: held-out reconstruction, word fidelity, Audealize fits,
warm/bright separation, the neutral point, and a report against :data:`THRESHOLDS`."""

from __future__ import annotations

import numpy as np
import torch

from ..data.safe_db import SPLITS
from ..fitting import response_db_batch
from ..nn.eq_vae import EQVAE
from ..nn.response import unit_to_physical
from ..params import EQParams
from .config import EVAL_FREQS_HZ, FIDELITY_MIN_COUNT
from .eq_data import PreparedData
from .vocabulary import encode_mu

__all__ = ["evaluate_eq_model", "format_metrics", "THRESHOLDS", "recon_mae", "warm_bright_accuracy"]


@torch.no_grad()
def decode_params(vae: EQVAE, z: np.ndarray) -> np.ndarray:
    """Physical settings (n, 13) decoded from latents (n, latent_dim)."""
    x = vae.decode_unit(torch.as_tensor(z, dtype=torch.float32)).double().clamp(0, 1)
    return unit_to_physical(x).numpy()


def recon_mae(vae: EQVAE, params: np.ndarray) -> np.ndarray:
    """Per setting: mean |dB| of decode(encode(setting)) vs the setting on the acceptance grid."""
    rec = decode_params(vae, encode_mu(vae, params))
    return np.abs(response_db_batch(rec, EVAL_FREQS_HZ) - response_db_batch(params, EVAL_FREQS_HZ)).mean(axis=1)


def warm_bright_accuracy(vae: EQVAE, train_params, train_words, eval_params, eval_words) -> float:
    """Share of "warm"/"bright" evaluation settings whose latent is nearer their own word's
    centroid of training latents (NaN when there are none)."""
    cents = []
    for w in ("warm", "bright"):
        cents.append(encode_mu(vae, train_params[train_words == w]).mean(axis=0))
    cents = np.stack(cents)
    sel = np.isin(eval_words, ["warm", "bright"])
    if not np.any(sel):
        return float("nan")
    z = encode_mu(vae, eval_params[sel])
    pred = np.argmin(((z[:, None, :] - cents[None]) ** 2).sum(-1), axis=1)
    truth = (eval_words[sel] == "bright").astype(int)
    return float(np.mean(pred == truth))


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
        mae = recon_mae(vae, safe.params[sel])
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
        warm_bright_accuracy(vae, safe.params[train], words[train], safe.params[test], words[test]), 4)
    sel = test & np.isin(words, ["warm", "bright"])
    emb = np.stack([model.embedding("warm", "en"), model.embedding("bright", "en")])
    z = model.encode(safe.params[sel])
    pred = np.argmin(((z[:, None] - emb[None]) ** 2).sum(-1), axis=1)
    metrics["test_warm_bright_acc_vocabulary"] = round(float(np.mean(pred == (words[sel] == "bright"))), 4)
    metrics["n_test_warm_bright"] = int(sel.sum())
    return metrics




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
