"""What the corpus cache holds against the manifest."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .manifest import SPLITS, Track, default_manifest_path, load_manifest

__all__ = ["CorpusStatus", "corpus_status"]


@dataclass
class CorpusStatus:
    cache_dir: Path
    manifest_path: Path
    tracks: list[Track]
    missing: list[Track] = field(default_factory=list)
    changed: list[Track] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    verified: bool = False

    @property
    def ok(self) -> bool:
        return not self.missing and not self.changed

    def format(self) -> str:
        present = len(self.tracks) - len(self.missing)
        hours = sum(t.duration_s for t in self.tracks) / 3600
        lines = [f"manifest {self.manifest_path}: {len(self.tracks)} tracks, {hours:.2f} h, "
                 f"{len({t.package for t in self.tracks})} packages",
                 f"cache {self.cache_dir}: {present} of {len(self.tracks)} tracks present"
                 + (f", {len(self.changed)} with a different SHA-256" if self.verified else " (SHA-256 not checked; --verify)")]
        for split in SPLITS:
            sel = [t for t in self.tracks if t.split == split]
            lines.append(f"  {split:<10} {len(sel):4d} tracks {sum(t.duration_s for t in sel) / 3600:6.2f} h")
        for t in self.missing[:10]:
            lines.append(f"  missing: {t.cache_path}")
        if len(self.missing) > 10:
            lines.append(f"  ... and {len(self.missing) - 10} more missing")
        for t in self.changed[:10]:
            lines.append(f"  changed: {t.cache_path}")
        if self.extra:
            lines.append(f"  {len(self.extra)} audio file(s) in the cache not in the manifest")
        if not self.ok:
            lines.append(f"run 'semeq corpus build {self.cache_dir}' to fetch what is missing")
        return "\n".join(lines)


def corpus_status(cache_dir: str | os.PathLike, manifest_path: str | os.PathLike | None = None, *,
                  verify: bool = False) -> CorpusStatus:
    """Compare the cache with the manifest (file presence and size; SHA-256 with ``verify``)."""
    from .build import sha256_file

    cache_dir = Path(cache_dir)
    tracks = load_manifest(manifest_path)
    manifest_path = Path(manifest_path) if manifest_path is not None else default_manifest_path()
    status = CorpusStatus(cache_dir=cache_dir, manifest_path=manifest_path, tracks=tracks, verified=verify)
    listed = set()
    for t in tracks:
        p = cache_dir / t.cache_path
        listed.add(p.resolve())
        if not p.is_file():
            status.missing.append(t)
        elif verify and sha256_file(p) != t.sha256:
            status.changed.append(t)
    audio = cache_dir / "audio"
    if audio.is_dir():
        status.extra = sorted(str(p) for p in audio.rglob("*") if p.is_file() and p.resolve() not in listed)
    return status
