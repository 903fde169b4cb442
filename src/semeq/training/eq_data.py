"""The EQ model's training data: SAFE-DB split by contributor, and Audealize calibrated and fitted.

:func:`prepare_data` reads and prepares everything from the data files (it fits the Audealize
words to the 5-band EQ, which takes a while); :func:`prepared_from_model` rebuilds the same
data from what a trained model stored (its split and its fitted Audealize settings).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.audealize import AudealizeData, calibrate_scale, graphic_eq_response_db, read_audealize
from ..data.safe_db import SPLITS, SafeData, read_safe_db, split_by_contributor
from ..errors import DataError
from ..fitting import fit_eq_batch, response_db_batch
from .config import EVAL_FREQS_HZ, FIDELITY_MIN_COUNT, SAMPLE_RATE, TrainConfig
from .settings import split_of_model

__all__ = ["PreparedData", "prepare_data", "prepared_from_model"]


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




def prepared_from_model(model, safe_csv: str | Path | None = None, audealize_json: str | Path | None | bool = True) -> PreparedData:
    """Rebuild a model's :class:`PreparedData` from the data files and what the model stored.

    The split comes from the row ids in the model's JSON, the Audealize scale and the fitted
    5-band settings from the model files, so nothing is refitted (fast, for tests and
    benchmarks). ``audealize_json=True`` means the data folder's file; None skips Audealize.
    """
    from safetensors import safe_open

    from ..data.audealize import default_audealize_path

    safe = read_safe_db(safe_csv)
    split = split_of_model(model, safe.row_ids)
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


