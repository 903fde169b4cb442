"""Where the development data lives: ``$SEMEQ_DATA``, else ``../shared/data`` beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError

__all__ = ["data_dir", "find_data_dir"]


def find_data_dir() -> Path | None:
    """The data folder, or None when none is found.

    Looks at ``$SEMEQ_DATA``, then ``../shared/data`` relative to the working directory, then
    relative to the source checkout this package was imported from.
    """
    env = os.environ.get("SEMEQ_DATA")
    if env:
        return Path(env) if Path(env).is_dir() else None
    candidates = [Path.cwd().parent / "shared" / "data", Path(__file__).resolve().parents[3].parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None


def data_dir() -> Path:
    """The data folder; :class:`DataError` naming ``SEMEQ_DATA`` when it is missing."""
    found = find_data_dir()
    if found is None:
        where = os.environ.get("SEMEQ_DATA") or "../shared/data"
        raise DataError(f"data folder not found at {where}; set SEMEQ_DATA to the folder holding safe-db/, audealize/ and music-dev/")
    return found
