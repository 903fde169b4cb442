"""Split the corpus by source package, so no package's music is on both sides."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ParameterError
from .manifest import SPLITS

__all__ = ["TARGET_FRACTIONS", "assign_splits"]

TARGET_FRACTIONS = {"train": 0.70, "validation": 0.15, "test": 0.15}


def assign_splits(
    hours_by_package: Mapping[str, float],
    *,
    pinned: Mapping[str, str] | None = None,
    targets: Mapping[str, float] = TARGET_FRACTIONS,
) -> dict[str, str]:
    """Give every package one split, aiming at ``targets`` as fractions of the hours.

    Pinned packages keep their split. The rest go, largest first (name breaks ties), each to the
    split furthest below its target share of the total hours. Deterministic: the same hours give
    the same split.

    Parameters
    ----------
    hours_by_package : mapping of package name -> hours (>= 0)
    pinned : mapping of package name -> split, optional
    targets : mapping of split -> fraction, summing to 1

    Returns
    -------
    split_of : dict of package name -> "train" | "validation" | "test"

    Examples
    --------
    >>> assign_splits({"a": 7.0, "b": 1.5, "c": 1.5})
    {'a': 'train', 'b': 'validation', 'c': 'test'}
    """
    pinned = dict(pinned or {})
    bad = {s for s in list(pinned.values()) + list(targets) if s not in SPLITS}
    if bad:
        raise ParameterError(f"unknown split(s) {sorted(bad)}; use {', '.join(SPLITS)}")
    if abs(sum(targets.values()) - 1.0) > 1e-9 or min(targets.values()) < 0:
        raise ParameterError(f"split targets must be non-negative and sum to 1, got {dict(targets)}")
    if any(h < 0 for h in hours_by_package.values()):
        raise ParameterError("package hours must be >= 0")
    total = float(sum(hours_by_package.values()))
    have = dict.fromkeys(targets, 0.0)
    split_of: dict[str, str] = {}
    for name, hours in hours_by_package.items():
        if name in pinned:
            split_of[name] = pinned[name]
            have[pinned[name]] = have.get(pinned[name], 0.0) + hours
    free = sorted((n for n in hours_by_package if n not in pinned), key=lambda n: (-hours_by_package[n], n))
    order = list(targets)
    for name in free:
        deficit = {s: targets[s] * total - have[s] for s in order}
        best = max(order, key=lambda s: (deficit[s] / max(targets[s], 1e-12) if targets[s] > 0 else -1e300, -order.index(s)))
        split_of[name] = best
        have[best] += hours_by_package[name]
    return {n: split_of[n] for n in hours_by_package}
