"""EQ settings for training: unit mapping, random settings, and the audio encoder's setting sets.

Random settings exist once (:func:`random_unit_settings`): uniform in the normalised space
(log-uniform frequencies and Q), each band's gain 0 dB with a given probability, optionally a
share of fully flat settings. The EQ model draws them with a torch generator, the audio encoder
with a numpy one; the draws (``draw(shape) -> uniform [0, 1)``) are all that differs.

The audio encoder's settings (:func:`load_settings`):

* SAFE-DB rows split as the frozen EQ model's own split (the row ids stored in its JSON):
  training uses its train split, checkpoint selection its validation split, and
  ``benchmarks/eval_encoder.py`` its test split.
* Audealize words: each word's 40-band curve, min-max normalised to +-5 dB as the original
  player did, fitted to the 5-band EQ; words split 80/20 by a seeded permutation (train/val).
* Random settings (:func:`random_settings`), a ``random_setting_fraction`` share of the
  training set (fresh ones for validation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DataError
from ..params import GAIN_INDICES, N_PARAMS, PARAMETERS

__all__ = ["to_units", "random_unit_settings", "random_settings", "Settings", "load_settings", "split_of_model",
           "safe_split", "WORD_MIN_SETTINGS"]

WORD_MIN_SETTINGS = 20
"""A descriptor takes part in the audio encoder's contrastive term with this many training settings."""
AUDEALIZE_PEAK_DB = 5.0


def to_units(params: np.ndarray) -> np.ndarray:
    """Physical settings (n, 13) -> normalised (n, 13) in [0, 1] (:meth:`semeq.params.ParamSpec.to_unit`)."""
    return np.stack([s.to_unit(params[:, i]) for i, s in enumerate(PARAMETERS)], axis=1)


def random_unit_settings(draw: Callable[[tuple[int, ...]], np.ndarray], n: int, zero_prob: float,
                         flat_prob: float = 0.0) -> np.ndarray:
    """Random settings in the normalised space.

    Parameters
    ----------
    draw : callable
        ``draw(shape)`` returns uniform numbers in [0, 1) of that shape (numpy or torch values).
        Called for (n, 13), then (n, 5), then (n,) when ``flat_prob > 0``: the order is part of
        what makes a seeded run repeat.
    n : int
    zero_prob : float in [0, 1]
        Probability that a band's gain is 0 dB (SAFE users leave bands alone).
    flat_prob : float in [0, 1]
        Share of fully flat settings (all gains 0 dB), which anchor the neutral point.

    Returns
    -------
    x_unit : ndarray [shape=(n, 13)], the dtype ``draw`` gives
    """
    gains = list(GAIN_INDICES)
    zero_unit = PARAMETERS[gains[0]].to_unit(0.0)  # 0 dB
    x = np.array(draw((n, N_PARAMS)))
    zero = np.asarray(draw((n, len(gains)))) < zero_prob
    x[:, gains] = np.where(zero, x.dtype.type(zero_unit), x[:, gains])
    if flat_prob > 0:
        flat = np.asarray(draw((n,))) < flat_prob
        x[np.ix_(flat, gains)] = zero_unit
    return x


def random_settings(rng: np.random.Generator, n: int, zero_prob: float = 0.3) -> np.ndarray:
    """Physical random settings (n, 13) in the SAFE ranges from a numpy generator
    (:func:`random_unit_settings` mapped back with ``from_unit``)."""
    u = random_unit_settings(lambda shape: rng.uniform(size=shape), n, zero_prob)
    return np.stack([s.from_unit(u[:, i]) for i, s in enumerate(PARAMETERS)], axis=1)


@dataclass
class Settings:
    """EQ settings (n, 13) physical, with a word index (-1: no word) per row into ``words``."""

    params: np.ndarray
    word: np.ndarray
    words: list[str]


def split_of_model(eq_model, row_ids: np.ndarray) -> np.ndarray:
    """The EQ model's stored split (0 train, 1 validation, 2 test) of SAFE rows given by id.

    Raises
    ------
    DataError
        If the model stores no split or a row is not in it (the CSV differs from its training data).
    """
    from ..data.safe_db import SPLITS

    try:
        stored = eq_model.meta["split"]["row_ids"]
        row_split = {int(rid): k for k, name in enumerate(SPLITS) for rid in stored[name]}
    except (KeyError, TypeError) as exc:
        raise DataError(f"the EQ model stores no SAFE split ({type(exc).__name__}: {exc})") from None
    known = np.array([int(r) in row_split for r in row_ids], dtype=bool)
    if not np.all(known):
        raise DataError(f"{int((~known).sum())} SAFE settings are not in the EQ model's split: the CSV differs from its training data")
    return np.array([row_split[int(r)] for r in row_ids], dtype=np.int64)


def safe_split(data_root: Path, eq_model=None):
    """Cleaned SAFE-DB data of ``data_root`` and the EQ model's split of it (0 train, 1 val, 2 test).

    ``eq_model`` defaults to the shipped model.
    """
    from ..data.safe_db import read_safe_db

    if eq_model is None:
        from ..eq_model import EQModel

        eq_model = EQModel.load()
    safe = read_safe_db(Path(data_root) / "safe-db" / "SAFEEqualiserUserData.csv")
    return safe, split_of_model(eq_model, safe.row_ids)


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


def load_settings(data_root: Path, rng: np.random.Generator, config, eq_model) -> tuple[Settings, Settings]:
    """Train and validation :class:`Settings` of the audio encoder (see the module docstring).

    Draws the random settings from ``rng`` (training ones first).
    """
    safe, split = safe_split(data_root, eq_model)
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

    share = config.random_setting_fraction / (1 - config.random_setting_fraction)
    n_tr = int(np.sum(split == 0)) + int(np.sum(~aud_val))
    n_va = int(np.sum(split == 1)) + int(np.sum(aud_val))
    return build(split == 0, ~aud_val, int(round(share * n_tr))), build(split == 1, aud_val, int(round(share * n_va)))
