"""Reader for the SAFE-DB equaliser user data, with the cleaning rules semeq trains on.

Cleaning, in order (each step's count is kept in :attr:`SafeData.report`):

1. descriptors are normalised (:func:`normalise_descriptor`): Unicode NFKC, lower case, surrounding
   blanks and punctuation stripped, inner blanks collapsed, a short list of typos merged
   (``birght``, ``brght``, ``brite`` -> bright; ``wawrm``, ``warn`` -> warm; ...);
2. placeholder rows are dropped: ``test``, ``default``, ``re27`` and the like, descriptors
   without letters, keyboard mashes, and a few obscenities;
3. every value is checked against its SAFE range (a file with an out-of-range value is
   rejected, naming the row; values within 1e-4 of a bound are float32 noise and clipped);
4. all-zero settings (all five gains 0 dB: the plugin untouched) are dropped;
5. exact duplicates (same descriptor and same 13 values) are dropped, keeping the first;
6. peaks are put in ascending centre frequency where the ranges allow
   (:func:`semeq.fitting.sort_peaks`). The three peaks are the same filter, so this never
   changes the sound; it removes the band-numbering ambiguity (peak 1 above peak 2 in 181
   raw rows) that would otherwise make equal-sounding settings far apart in parameter space.

The contributor address (column 2) is used only to group rows for the split: it is replaced
by an anonymous integer at read time and never stored.
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, ParameterError
from ..params import GAIN_INDICES, N_PARAMS, PARAMETERS

__all__ = ["SafeData", "read_safe_db", "normalise_descriptor", "is_placeholder", "split_by_contributor",
           "default_safe_db_path", "SPLITS"]

N_COLUMNS = 25
_PARAM_COLUMNS = slice(5, 18)
SPLITS = ("train", "val", "test")

# Trivial spelling variants seen in the data, merged into the common form.
_ALIASES = {
    "birght": "bright", "brght": "bright", "brite": "bright",
    "wawrm": "warm", "warn": "warm", "warth": "warmth",
    "bas": "bass", "agressive": "aggressive", "keyboards": "keyboard",
}
# Placeholders and junk: exact matches after normalisation.
_PLACEHOLDERS = {
    "test", "test1", "test_warm", "default", "reset", "re27", "re27-1", "1", "!st", "hmm", "hello",
    "fgjn", "jygkujh", "dii", "dio", "coso", "lv2", "my", "compo1", "mix 1", "dp-sar-1", "time", "maadh",
}
# Obscenities are not shipped in the vocabulary.
_OBSCENE = ("dioporco", "bastard", "bitch")


def default_safe_db_path() -> Path:
    """``<data>/safe-db/SAFEEqualiserUserData.csv`` (see :func:`semeq.data.paths.data_dir`)."""
    from .paths import data_dir

    return data_dir() / "safe-db" / "SAFEEqualiserUserData.csv"


def normalise_descriptor(text: str) -> str:
    """Normalise a typed descriptor: NFKC, lower case, trimmed, inner blanks collapsed, typos merged.

    Examples
    --------
    >>> normalise_descriptor("  Warm ")
    'warm'
    >>> normalise_descriptor("Birght")
    'bright'
    >>> normalise_descriptor("drums,")
    'drums'
    """
    text = unicodedata.normalize("NFKC", str(text)).lower()
    text = re.sub(r"\s+", " ", text).strip(" \t\"'.,;:!?-_")
    return _ALIASES.get(text, text)


def is_placeholder(descriptor: str) -> bool:
    """True for a normalised descriptor that names nothing: test rows, defaults, junk, obscenities.

    Examples
    --------
    >>> is_placeholder("test"), is_placeholder("re27"), is_placeholder("warm")
    (True, True, False)
    """
    if not descriptor or descriptor in _PLACEHOLDERS or not re.search(r"[^\W\d_]", descriptor):
        return True
    if descriptor.startswith("test"):
        return True
    return any(word in descriptor for word in _OBSCENE)


@dataclass(frozen=True, kw_only=True)
class SafeData:
    """Cleaned SAFE-DB settings.

    Attributes
    ----------
    descriptors : tuple of str [length n]
        Normalised descriptors.
    params : ndarray [shape=(n, 13)]
        Physical values in SAFE order, inside the SAFE ranges, peaks sorted where allowed.
    groups : ndarray [shape=(n,), dtype=int]
        Anonymous contributor index (0, 1, ... in order of first appearance); the address
        itself is not kept.
    row_ids : ndarray [shape=(n,), dtype=int]
        The file's row id column, to name rows in splits and reports.
    report : dict
        Row counts of each cleaning step.
    """

    descriptors: tuple[str, ...]
    params: np.ndarray
    groups: np.ndarray
    row_ids: np.ndarray
    report: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.descriptors)

    def subset(self, mask: np.ndarray) -> SafeData:
        """The rows where ``mask`` (bool [shape=(n,)]) is true."""
        idx = np.flatnonzero(mask)
        return SafeData(descriptors=tuple(self.descriptors[i] for i in idx), params=self.params[idx],
                        groups=self.groups[idx], row_ids=self.row_ids[idx], report=dict(self.report))

    def counts(self) -> dict[str, int]:
        """Settings per descriptor, most common first."""
        words, n = np.unique(np.array(self.descriptors, dtype=object), return_counts=True)
        order = np.lexsort((words, -n))
        return {str(words[i]): int(n[i]) for i in order}


def _parse_float(text: str, line_no: int, column: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"SAFE-DB line {line_no}, column {column}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"SAFE-DB line {line_no}, column {column}: {text!r} is not finite")
    return value


def read_safe_db(path: str | Path | None = None) -> SafeData:
    """Read and clean the SAFE-DB equaliser CSV.

    Parameters
    ----------
    path : path-like, optional
        The CSV (no header, 25 columns); default :func:`default_safe_db_path`.

    Returns
    -------
    SafeData

    Raises
    ------
    DataError
        If the file is missing, unreadable, has a row without 25 columns, a non-numeric or
        out-of-range EQ value, or no usable row after cleaning.
    """
    path = Path(path) if path is not None else default_safe_db_path()
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise DataError(f"{path}: SAFE-DB CSV not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read SAFE-DB CSV ({exc})") from None
    if not rows:
        raise DataError(f"{path}: SAFE-DB CSV is empty")
    lows = np.array([s.low for s in PARAMETERS])
    highs = np.array([s.high for s in PARAMETERS])
    slack = 1e-4 * np.maximum(1.0, np.abs(highs))

    report = {"rows": 0, "placeholder": 0, "all_zero": 0, "duplicate": 0, "peaks_reordered": 0, "kept": 0}
    group_ids: dict[str, int] = {}
    seen: set[tuple] = set()
    descriptors: list[str] = []
    params: list[np.ndarray] = []
    groups: list[int] = []
    row_ids: list[int] = []
    for line_no, row in enumerate(rows, start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != N_COLUMNS:
            raise DataError(f"{path}: line {line_no} has {len(row)} columns, expected {N_COLUMNS} (truncated or malformed file?)")
        report["rows"] += 1
        values = np.array([_parse_float(row[c], line_no, c) for c in range(_PARAM_COLUMNS.start, _PARAM_COLUMNS.stop)])
        bad = np.flatnonzero((values < lows - slack) | (values > highs + slack))
        if bad.size:
            spec = PARAMETERS[bad[0]]
            raise DataError(f"{path}: line {line_no}: {spec.name}={values[bad[0]]:g} is outside [{spec.low:g}, {spec.high:g}]")
        values = np.clip(values, lows, highs)
        row_id = int(_parse_float(row[0], line_no, 0))
        descriptor = normalise_descriptor(row[1])
        if is_placeholder(descriptor):
            report["placeholder"] += 1
            continue
        if np.all(values[list(GAIN_INDICES)] == 0.0):
            report["all_zero"] += 1
            continue
        key = (descriptor, *values.tolist())
        if key in seen:
            report["duplicate"] += 1
            continue
        seen.add(key)
        group = group_ids.setdefault(row[2].strip(), len(group_ids))  # the address is only a key
        descriptors.append(descriptor)
        params.append(values)
        groups.append(group)
        row_ids.append(row_id)
    if not descriptors:
        raise DataError(f"{path}: no usable SAFE-DB settings after cleaning ({report['rows']} rows read)")
    from ..fitting import sort_peaks

    matrix, changed = sort_peaks(np.stack(params))
    report["peaks_reordered"] = int(changed.sum())
    report["kept"] = len(descriptors)
    report["contributors"] = len(set(groups))
    return SafeData(descriptors=tuple(descriptors), params=matrix.reshape(-1, N_PARAMS),
                    groups=np.array(groups, dtype=np.int64), row_ids=np.array(row_ids, dtype=np.int64), report=report)


def split_by_contributor(groups: np.ndarray, *, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                         seed: int = 0) -> np.ndarray:
    """Assign rows to train / val / test so that no contributor is in two splits.

    Contributors are visited from the largest to the smallest (ties in seeded random order),
    each going to the split furthest below its target share of rows.

    Parameters
    ----------
    groups : ndarray [shape=(n,), dtype=int]
        Contributor index of each row.
    fractions : (float, float, float)
        Target shares of rows for train, val, test; positive, summing to 1.
    seed : int

    Returns
    -------
    split : ndarray [shape=(n,), dtype=int]
        0 = train, 1 = val, 2 = test (names in :data:`SPLITS`).

    Raises
    ------
    ParameterError
        If the fractions are not three positive numbers summing to 1.
    """
    fractions_arr = np.asarray(fractions, dtype=np.float64)
    if fractions_arr.shape != (3,) or np.any(fractions_arr <= 0) or abs(fractions_arr.sum() - 1.0) > 1e-6:
        raise ParameterError(f"fractions must be three positive shares summing to 1, got {fractions}")
    groups = np.asarray(groups)
    unique, sizes = np.unique(groups, return_counts=True)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(unique.size)
    order = perm[np.argsort(-sizes[perm], kind="stable")]  # largest first, seeded tie order
    filled = np.zeros(3)
    target = fractions_arr * groups.size
    assignment = {}
    for i in order:
        k = int(np.argmax((target - filled) / target))
        assignment[unique[i]] = k
        filled[k] += sizes[i]
    return np.array([assignment[g] for g in groups], dtype=np.int64)
