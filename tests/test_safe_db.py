"""SAFE-DB reader: cleaning rules, range checks, contributor split, bad files."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from semeq.data.safe_db import SPLITS, is_placeholder, normalise_descriptor, read_safe_db, split_by_contributor
from semeq.errors import DataError, ParameterError
from semeq.params import PARAMETERS

# A plausible SAFE row: LS, P1, P2, P3, HS values in column order 5-17.
_BASE = [3.0, 120.0, 2.0, 400.0, 1.0, -1.0, 1000.0, 0.71, 0.5, 3300.0, 0.71, -2.0, 8000.0]


def _row(row_id: int, word: str, ip: str, values=None) -> list[str]:
    values = list(_BASE if values is None else values)
    return [str(row_id), word, ip, "2", "2", *[repr(float(v)) for v in values], "", "", "", "", "", "", "abc"]


def _write(path, rows) -> str:
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return str(path)


def test_normalise_and_placeholders():
    assert normalise_descriptor("  Warm ") == "warm"
    assert normalise_descriptor("BRITE") == "bright"
    assert normalise_descriptor("bright  clear") == "bright clear"
    for junk in ("test", "Test1", "default", "re27", "RE27-1", "1", "", "..."):
        assert is_placeholder(normalise_descriptor(junk)), junk
    for word in ("warm", "bright", "airy", "tele (bridge pu) bright 1"):
        assert not is_placeholder(normalise_descriptor(word)), word


def test_cleaning_rules(tmp_path):
    zero = list(_BASE)
    for i in (0, 2, 5, 8, 11):
        zero[i] = 0.0
    swapped = list(_BASE)
    swapped[3], swapped[6] = 2000.0, 500.0  # peak 1 above peak 2
    rows = [
        _row(1, "Warm ", "10.0.0.1"),
        _row(2, "warm", "10.0.0.1"),  # exact duplicate of row 1 after normalisation
        _row(3, "test", "10.0.0.2"),
        _row(4, "bright", "10.0.0.2", zero),  # all gains zero
        _row(5, "bright", "10.0.0.3", swapped),
        _row(6, "default", "10.0.0.3"),
    ]
    data = read_safe_db(_write(tmp_path / "safe.csv", rows))
    assert data.descriptors == ("warm", "bright")
    assert data.report["placeholder"] == 2 and data.report["duplicate"] == 1 and data.report["all_zero"] == 1
    assert data.report["peaks_reordered"] == 1
    p = data.params[1]
    assert p[3] == 500.0 and p[6] == 2000.0  # peaks now ascending, with their gains and Qs
    assert p[2] == -1.0 and p[5] == 2.0
    assert list(data.groups) == [0, 1]  # anonymous contributor ids, no addresses
    assert "10.0.0" not in repr(data)


@pytest.mark.parametrize("bad", ["truncated", "text", "range", "empty", "missing"])
def test_bad_files_raise_data_error(tmp_path, bad):
    rows = [_row(1, "warm", "a"), _row(2, "bright", "b")]
    if bad == "truncated":
        rows[1] = rows[1][:10]
    elif bad == "text":
        rows[1][7] = "loud"
    elif bad == "range":
        rows[1][6] = "5000"  # low shelf frequency above 1000 Hz
    elif bad == "empty":
        rows = [_row(1, "test", "a")]
    path = tmp_path / "safe.csv" if bad != "missing" else tmp_path / "absent.csv"
    if bad != "missing":
        _write(path, rows)
    with pytest.raises(DataError):
        read_safe_db(path)


def test_split_by_contributor_keeps_contributors_apart(rng):
    groups = rng.integers(0, 40, size=600)
    split = split_by_contributor(groups, seed=3)
    for g in np.unique(groups):
        assert np.unique(split[groups == g]).size == 1
    shares = np.bincount(split, minlength=3) / groups.size
    assert np.all(np.abs(shares - np.array([0.7, 0.15, 0.15])) < 0.08)
    assert np.array_equal(split, split_by_contributor(groups, seed=3))
    with pytest.raises(ParameterError):
        split_by_contributor(groups, fractions=(0.5, 0.5, 0.5))


def test_real_safe_db_is_clean(data_root):
    data = read_safe_db(data_root / "safe-db" / "SAFEEqualiserUserData.csv")
    assert data.report["rows"] == 1700
    assert len(data) == data.report["kept"] > 1000
    assert not any(is_placeholder(d) for d in data.descriptors)
    assert np.all(np.abs(data.params[:, [0, 2, 5, 8, 11]]).sum(axis=1) > 0)
    keys = {(d, *p.tolist()) for d, p in zip(data.descriptors, data.params)}
    assert len(keys) == len(data)  # no exact duplicates
    lows = np.array([s.low for s in PARAMETERS])
    highs = np.array([s.high for s in PARAMETERS])
    assert np.all(data.params >= lows) and np.all(data.params <= highs)
    counts = data.counts()
    assert counts["warm"] > 400 and counts["bright"] > 400
    split = split_by_contributor(data.groups, seed=0)
    for g in np.unique(data.groups):
        assert np.unique(split[data.groups == g]).size == 1
    assert all(np.any(split == k) for k in range(len(SPLITS)))
