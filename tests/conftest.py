from __future__ import annotations

import numpy as np
import pytest

from semeq.data.paths import find_data_dir

try:  # the models' tensors are small: one thread is fastest, and far faster on a busy machine
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def data_root():
    root = find_data_dir()
    if root is None:
        pytest.skip("development data not found: set SEMEQ_DATA or place it in ../shared/data beside the checkout")
    return root
