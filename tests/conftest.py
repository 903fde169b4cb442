from __future__ import annotations

import numpy as np
import pytest

from semeq.data.paths import find_data_dir


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def data_root():
    root = find_data_dir()
    if root is None:
        pytest.skip("development data not found: set SEMEQ_DATA or place it in ../shared/data beside the checkout")
    return root
