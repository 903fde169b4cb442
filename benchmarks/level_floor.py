"""How well can an EQ's broadband level be guessed from its shape? (the floor of the raw
equivariance figure for any level-invariant audio encoder)

For SAFE-DB settings, the level ``m_E`` is the mean of E's dB curve over 100 Hz-10 kHz (what a
level-normalised balance removes). Predict ``m_E`` of each *test-split* setting from its
level-normalised curve with k-nearest neighbours (k = 10) and with ridge regression over the
*train* split, and print the mean absolute error, next to placing the level at the band mean
(error |m_E|) and at the train split's median level.

Run: PYTHONPATH=src python benchmarks/level_floor.py
"""

from __future__ import annotations

import numpy as np

from semeq.analysis import GRID_FREQS_HZ, NORM_BAND_HZ, normalise_db
from semeq.data.paths import data_dir
from semeq.fitting import response_db_batch
from semeq.training.settings import safe_split


def main() -> None:
    safe, split = safe_split(data_dir())
    norm = (GRID_FREQS_HZ >= NORM_BAND_HZ[0]) & (GRID_FREQS_HZ <= NORM_BAND_HZ[1])

    def shape_and_level(p):
        h = response_db_batch(p, GRID_FREQS_HZ)
        return normalise_db(h)[:, norm], h[:, norm].mean(axis=1)

    x_tr, m_tr = shape_and_level(safe.params[split == 0])
    x_te, m_te = shape_and_level(safe.params[split == 2])
    d = ((x_te[:, None, :] - x_tr[None, :, :]) ** 2).mean(axis=-1)
    knn = m_tr[np.argsort(d, axis=1)[:, :10]].mean(axis=1)
    a = np.c_[x_tr, np.ones(len(x_tr))]
    w = np.linalg.solve(a.T @ a + 10.0 * np.eye(a.shape[1]), a.T @ m_tr)
    ridge = np.c_[x_te, np.ones(len(x_te))] @ w
    print(f"SAFE test split, {len(m_te)} settings: MAE of the broadband level m_E (dB)")
    print(f"  level at the band mean (|m_E|):   {np.abs(m_te).mean():.2f}")
    print(f"  train-split median level:         {np.abs(m_te - np.median(m_tr)).mean():.2f}")
    print(f"  ridge on the normalised shape:    {np.abs(m_te - ridge).mean():.2f}")
    print(f"  kNN (k=10) on the normalised shape: {np.abs(m_te - knn).mean():.2f}")


if __name__ == "__main__":
    main()
