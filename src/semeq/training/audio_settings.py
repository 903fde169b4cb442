"""EQ settings for audio-encoder training, split so that validation settings are never trained on.

* SAFE-DB rows (cleaned by :func:`semeq.data.safe_db.read_safe_db`) split by contributor with
  :func:`semeq.data.safe_db.split_by_contributor` (seed 0, 70/15/15): the EQ model's split.
  Training uses the train split; checkpoint selection the val split; the benchmark
  ``benchmarks/eval_encoder.py`` the test split.
* Audealize words: each word's 40-band curve, min-max normalised to +-5 dB as the original
  player did, fitted to the 5-band EQ; words split 80/20 by a seeded permutation (train/val).
* Random settings in the SAFE ranges (:func:`semeq.training.audio.random_settings`), a
  ``random_setting_fraction`` share of the training set (fresh ones for validation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["load_settings", "safe_split", "WORD_MIN_SETTINGS"]

WORD_MIN_SETTINGS = 20
"""A descriptor takes part in the contrastive term when it has this many training settings."""
AUDEALIZE_PEAK_DB = 5.0


def safe_split(data_root: Path):
    """Cleaned SAFE-DB data and its split (0 train, 1 val, 2 test)."""
    from ..data.safe_db import read_safe_db, split_by_contributor

    safe = read_safe_db(Path(data_root) / "safe-db" / "SAFEEqualiserUserData.csv")
    return safe, split_by_contributor(safe.groups, seed=0)


def _audealize_params(data_root: Path, config) -> tuple[np.ndarray, list[str]]:
    from ..analysis import ANALYSIS_SAMPLE_RATE, GRID_FREQS_HZ
    from ..data.audealize import graphic_eq_response_db, read_audealize
    from ..fitting import fit_eq_batch

    aud = read_audealize(Path(data_root) / "audealize" / "eqdescriptors.json")
    s = aud.settings
    centred = s - 0.5 * (s.max(axis=1, keepdims=True) + s.min(axis=1, keepdims=True))
    span = np.maximum(np.abs(centred).max(axis=1, keepdims=True), 1e-9)
    gains_db = AUDEALIZE_PEAK_DB * centred / span
    curves = graphic_eq_response_db(gains_db, GRID_FREQS_HZ, ANALYSIS_SAMPLE_RATE)
    params = fit_eq_batch(curves, GRID_FREQS_HZ, ANALYSIS_SAMPLE_RATE, n_steps=config.fit_steps, n_starts=config.fit_starts)
    return params, list(aud.words)


def load_settings(data_root: Path, rng: np.random.Generator, config):
    """Train and validation :class:`~semeq.training.audio.Settings`."""
    from .audio import Settings, random_settings

    safe, split = safe_split(data_root)
    descriptors = np.array(safe.descriptors, dtype=object)
    aud_params, aud_words = _audealize_params(data_root, config)
    aud_val = np.zeros(len(aud_words), dtype=bool)
    aud_val[np.random.default_rng(0).permutation(len(aud_words))[: len(aud_words) // 5]] = True

    words_tr, counts = np.unique(descriptors[split == 0], return_counts=True)
    vocabulary = sorted(str(w) for w, c in zip(words_tr, counts) if c >= WORD_MIN_SETTINGS)
    index = {w: i for i, w in enumerate(vocabulary)}

    def build(safe_mask, aud_mask, n_random):
        params = [safe.params[safe_mask], aud_params[aud_mask]]
        words = [index.get(str(d), -1) for d in descriptors[safe_mask]]
        words += [index.get(w, -1) for w, m in zip(aud_words, aud_mask) if m]
        params.append(random_settings(rng, n_random))
        words += [-1] * n_random
        return Settings(params=np.concatenate(params), word=np.array(words, dtype=np.int64), words=vocabulary)

    n_tr = int(np.sum(split == 0)) + int(np.sum(~aud_val))
    n_rand_tr = int(round(config.random_setting_fraction / (1 - config.random_setting_fraction) * n_tr))
    n_va = int(np.sum(split == 1)) + int(np.sum(aud_val))
    n_rand_va = int(round(config.random_setting_fraction / (1 - config.random_setting_fraction) * n_va))
    return build(split == 0, ~aud_val, n_rand_tr), build(split == 1, aud_val, n_rand_va)
