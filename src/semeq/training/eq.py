"""Training the EQ model end to end: :func:`train_eq_model` (``semeq train eq``).

The pieces live in their own modules: :mod:`.config` (TrainConfig), :mod:`.eq_data` (SAFE-DB
and Audealize), :mod:`.losses`, :mod:`.eq_loop` (the loop), :mod:`.vocabulary`,
:mod:`.evaluation` (metrics and report) and :mod:`.checkpoints` (writing). The names are
re-exported here for the CLI, the benchmarks and the tests.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..data.safe_db import SPLITS
from ..errors import SemeqError
from ..nn.eq_vae import VAEConfig
from ..params import PARAMETERS
from .checkpoints import save_eq_model
from .config import EVAL_FREQS_HZ, EVAL_N_FREQS, SAMPLE_RATE, TrainConfig, eval_freqs
from .eq_data import PreparedData, prepare_data, prepared_from_model
from .eq_loop import train_vae
from .evaluation import THRESHOLDS, evaluate_eq_model, format_metrics
from .vocabulary import build_vocabulary

__all__ = ["TrainConfig", "PreparedData", "prepare_data", "prepared_from_model", "train_eq_model", "evaluate_eq_model",
           "format_metrics", "THRESHOLDS", "EVAL_FREQS_HZ", "eval_freqs"]


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
    save_eq_model(out_dir, vae, meta, embeddings, extra)
    model = EQModel.load(out_dir)
    metrics = evaluate_eq_model(model, data)
    metrics["train_seconds"] = round(time.time() - t0, 1)
    meta["metrics"] = metrics
    save_eq_model(out_dir, vae, meta, embeddings, extra)
    return EQModel.load(out_dir), metrics


