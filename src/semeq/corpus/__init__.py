"""A corpus of freely licensed music from Debian packages: build it, read its manifest and audio.

The audio stays in a cache folder outside the repository (:func:`default_cache_dir`); the
repository keeps ``corpus/manifest.csv`` (one row per track, split by source package) and the
packages' copyright files. ``semeq corpus build`` makes both; :func:`load_manifest` and
:func:`iter_audio` read them.
"""

from __future__ import annotations

from .manifest import (
    MANIFEST_COLUMNS,
    SPLITS,
    Track,
    default_cache_dir,
    default_manifest_path,
    iter_audio,
    load_manifest,
    write_manifest,
)
from .packages import CURATED, RESERVED_PATTERNS, PackageSpec, check_allowed, is_reserved

__all__ = [
    "CURATED",
    "MANIFEST_COLUMNS",
    "RESERVED_PATTERNS",
    "SPLITS",
    "PackageSpec",
    "Track",
    "check_allowed",
    "default_cache_dir",
    "default_manifest_path",
    "is_reserved",
    "iter_audio",
    "load_manifest",
    "write_manifest",
]
