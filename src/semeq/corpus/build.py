"""Build the corpus: download curated Debian packages, keep their music, write the manifest.

Nothing is installed: each package is fetched with ``apt-get download``, unpacked with
``dpkg-deb -x`` into a scratch folder, its music files (and its copyright file) are moved into
the cache, and the ``.deb`` and scratch folder are deleted. A package already in the cache at the
version apt offers is not downloaded again, so a second run fetches nothing.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from .licenses import license_for_path
from .manifest import SPLITS, Track, write_manifest
from .packages import CURATED, PackageSpec, check_allowed
from .split import assign_splits

__all__ = ["AptClient", "BuildSummary", "Skipped", "build_corpus", "probe_audio", "MIN_DURATION_S"]

log = logging.getLogger("semeq.corpus")

MIN_DURATION_S = 30.0  # shorter files are sound effects, stings or jingles
AUDIO_EXTENSIONS = (".ogg", ".oga", ".opus", ".flac", ".wav", ".mp3")
TRACKER_EXTENSIONS = (".it", ".xm", ".mod", ".s3m", ".umx")
MIDI_EXTENSIONS = (".mid", ".midi")
ARCHIVE_EXTENSIONS = (".pk3", ".zip")
STATE_VERSION = 1


@dataclass(frozen=True)
class Skipped:
    """A file (or a whole package, ``path=""``) left out, and why."""

    package: str
    path: str
    reason: str


@dataclass
class BuildSummary:
    tracks: list[Track]
    skipped: list[Skipped]
    downloaded: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    manifest_path: Path | None = None
    cache_dir: Path | None = None

    @property
    def hours(self) -> float:
        return sum(t.duration_s for t in self.tracks) / 3600.0

    @property
    def packages(self) -> list[str]:
        return sorted({t.package for t in self.tracks})

    def format(self) -> str:
        lines = [f"corpus: {len(self.tracks)} tracks, {self.hours:.2f} h, {len(self.packages)} packages"
                 f" -> {self.manifest_path} (audio in {self.cache_dir})"]
        if self.downloaded:
            lines.append(f"downloaded {len(self.downloaded)} package(s): {', '.join(self.downloaded)}")
        else:
            lines.append("downloaded nothing new (every package already in the cache at the same version)")
        if self.cached:
            lines.append(f"reused {len(self.cached)} package(s) from the cache")
        for split in SPLITS:
            sel = [t for t in self.tracks if t.split == split]
            pk = sorted({t.package for t in sel})
            lines.append(f"  {split:<10} {len(sel):4d} tracks {sum(t.duration_s for t in sel) / 3600:6.2f} h"
                         f"  {len(pk):2d} packages: {', '.join(pk)}")
        lic = Counter(t.license for t in self.tracks)
        lines.append("licences: " + ", ".join(f"{k} ({v})" for k, v in lic.most_common()))
        reasons = Counter(s.reason.split(" (")[0] for s in self.skipped)
        lines.append(f"skipped {len(self.skipped)} file(s)/package(s): "
                     + ("; ".join(f"{v} x {k}" for k, v in reasons.most_common()) or "none"))
        return "\n".join(lines)


class AptClient:
    """The three apt/dpkg calls the builder makes; a test replaces them with a fake."""

    def candidate_versions(self, names: Sequence[str]) -> dict[str, str]:
        """The version ``apt-get download NAME`` would fetch, per name apt knows (one apt-cache call)."""
        out = self._run(["apt-cache", "show", "--no-all-versions", *names], check=False)
        versions: dict[str, str] = {}
        for stanza in out.split("\n\n"):
            name = re.search(r"^Package:\s*(\S+)", stanza, flags=re.M)
            version = re.search(r"^Version:\s*(\S+)", stanza, flags=re.M)
            if name and version:
                versions.setdefault(name.group(1), version.group(1))
        return versions

    def has_lists(self) -> bool:
        lists = Path("/var/lib/apt/lists")
        return lists.is_dir() and any(p.name.endswith(("_Packages", "_Packages.lz4", "_Packages.gz", "_Packages.xz"))
                                      for p in lists.iterdir())

    def update(self) -> None:
        log.info("apt lists missing: running apt-get update once")
        self._run(["apt-get", "update"], check=True)

    def download(self, name: str, version: str, dest_dir: Path) -> Path:
        dest_dir.mkdir(parents=True, exist_ok=True)
        for old in dest_dir.glob(f"{name}_*.deb"):
            old.unlink()
        self._run(["apt-get", "download", f"{name}={version}"], check=True, cwd=dest_dir)
        debs = sorted(dest_dir.glob(f"{name}_*.deb"))
        if not debs:
            raise DataError(f"apt-get download {name}={version} left no .deb in {dest_dir}")
        return debs[0]

    def extract(self, deb: Path, dest_dir: Path) -> None:
        self._run(["dpkg-deb", "-x", str(deb), str(dest_dir)], check=True)

    @staticmethod
    def _run(cmd: list[str], *, check: bool, cwd: Path | None = None) -> str:
        try:
            proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        except FileNotFoundError:
            raise DataError(f"{cmd[0]} not found: 'semeq corpus build' needs a Debian or Ubuntu system with apt") from None
        if check and proc.returncode != 0:
            msg = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise DataError(f"{' '.join(cmd)} failed: {msg}")
        return proc.stdout


def codec_name(fmt: str, subtype: str) -> str:
    """``vorbis``, ``opus``, ``flac``, ``mp3`` or ``wav-pcm_16``-style names from soundfile's."""
    fmt, subtype = fmt.upper(), subtype.upper()
    if fmt == "OGG":
        return subtype.lower()
    if fmt in ("FLAC", "MP3"):
        return fmt.lower()
    return f"{fmt.lower()}-{subtype.lower()}"


@dataclass(frozen=True)
class Probe:
    duration_s: float
    sample_rate: int
    channels: int
    codec: str


def probe_audio(path: Path) -> Probe:
    """Header facts of an audio file, after decoding its first and last blocks.

    Raises
    ------
    DataError
        soundfile cannot read the file (the message says why).
    """
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as fh:
            frames, sample_rate = fh.frames, int(fh.samplerate)
            if frames <= 0 or sample_rate <= 0:
                raise DataError("no audio frames")
            fh.read(frames=min(4096, frames), dtype="float32")
            if fh.seekable() and frames > 8192:
                fh.seek(frames - 4096)
                fh.read(frames=4096, dtype="float32")
            return Probe(duration_s=frames / sample_rate, sample_rate=sample_rate, channels=int(fh.channels),
                         codec=codec_name(fh.format, fh.subtype))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as exc:
        raise DataError(f"soundfile cannot read it: {str(exc).strip() or type(exc).__name__}") from None


from ..io import sha256_file  # noqa: E402  (re-exported for corpus.status)


def _matches(path: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def _candidates(root: Path, spec: PackageSpec, scratch: Path) -> tuple[list[tuple[str, Path]], list[Skipped]]:
    """(source_path, file) pairs of the package's music files, and what was skipped there."""
    found: list[tuple[str, Path]] = []
    skipped: list[Skipped] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if not _matches(rel, spec.include) or _matches(rel, spec.exclude):
            continue
        ext = path.suffix.lower()
        if ext in ARCHIVE_EXTENSIONS:
            found_in, skipped_in = _archive_members(path, rel, spec, scratch)
            found += found_in
            skipped += skipped_in
        elif ext in AUDIO_EXTENSIONS:
            found.append((rel, path))
        elif ext in TRACKER_EXTENSIONS:
            skipped.append(Skipped(spec.name, rel, "tracker module (soundfile cannot render .it/.xm/.mod/.s3m)"))
        elif ext in MIDI_EXTENSIONS:
            skipped.append(Skipped(spec.name, rel, "MIDI score, no recorded audio"))
    return found, skipped


def _archive_members(path: Path, rel: str, spec: PackageSpec, scratch: Path) -> tuple[list[tuple[str, Path]], list[Skipped]]:
    found: list[tuple[str, Path]] = []
    skipped: list[Skipped] = []
    try:
        with zipfile.ZipFile(path) as zf:
            for i, info in enumerate(zf.infolist()):
                name = info.filename
                if info.is_dir() or not _matches(name, spec.archive_members):
                    continue
                if not name.lower().endswith(AUDIO_EXTENSIONS):
                    continue
                out = scratch / "archive" / f"{i:05d}{Path(name).suffix.lower()}"
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                found.append((f"{rel}::{name}", out))
    except (zipfile.BadZipFile, OSError) as exc:
        skipped.append(Skipped(spec.name, rel, f"archive cannot be opened ({exc})"))
    return found, skipped


def _cache_rel(package: str, source_path: str) -> str:
    """Where a file goes in the cache, relative to it: ``audio/<package>/<source path>``."""
    clean = source_path.replace("::", "/")
    parts = [p for p in clean.split("/") if p not in ("", ".", "..")]
    return "/".join(["audio", package, *parts])


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "track"


class _PackageState:
    """``packages/<name>.json`` in the cache: what one package gave, so a rerun need not fetch it."""

    def __init__(self, cache_dir: Path, name: str) -> None:
        self.path = cache_dir / "packages" / f"{name}.json"

    def load(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if data.get("state_version") == STATE_VERSION else None

    def save(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.part")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)


def _selection_key(spec: PackageSpec) -> list[list[str]]:
    """What a package's files were chosen by: a changed curated entry fetches the package again."""
    return [list(spec.include), list(spec.exclude), list(spec.archive_members), [f"min_duration_s={MIN_DURATION_S}"]]


def _state_is_complete(cache_dir: Path, state: dict) -> bool:
    for f in state["files"]:
        p = cache_dir / f["cache_path"]
        if not p.is_file() or p.stat().st_size != f["size"]:
            return False
    return (cache_dir / state["copyright_path"]).is_file() if state.get("copyright_path") else True


def _fetch_package(spec: PackageSpec, version: str, cache_dir: Path, apt: AptClient) -> dict:
    """Download, unpack, keep the music and the copyright file; return the package's state."""
    scratch = cache_dir / "tmp" / spec.name
    debs = cache_dir / "debs"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    deb = None
    try:
        deb = apt.download(spec.name, version, debs)
        root = scratch / "root"
        apt.extract(deb, root)
        copyright_src = root / "usr" / "share" / "doc" / spec.name / "copyright"
        copyright_text = ""
        copyright_rel = None
        if copyright_src.is_file():
            copyright_text = copyright_src.read_text(encoding="utf-8", errors="replace")
            copyright_rel = f"licenses/{spec.name}.copyright"
            (cache_dir / "licenses").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(copyright_src, cache_dir / copyright_rel)
        candidates, skipped = _candidates(root, spec, scratch)
        files = []
        dest_root = cache_dir / "audio" / spec.name
        shutil.rmtree(dest_root, ignore_errors=True)  # a new version replaces the old files
        for source_path, path in candidates:
            try:
                probe = probe_audio(path)
            except DataError as exc:
                skipped.append(Skipped(spec.name, source_path, str(exc)))
                continue
            if probe.duration_s < MIN_DURATION_S:
                skipped.append(Skipped(spec.name, source_path, f"shorter than {MIN_DURATION_S:.0f} s (sound effect or jingle)"))
                continue
            rel = _cache_rel(spec.name, source_path)
            dest = cache_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), dest)
            files.append({
                "source_path": source_path, "cache_path": rel, "sha256": sha256_file(dest), "size": dest.stat().st_size,
                "duration_s": probe.duration_s, "sample_rate": probe.sample_rate, "channels": probe.channels,
                "codec": probe.codec,
            })
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if deb is not None:
            deb.unlink(missing_ok=True)
    return {
        "state_version": STATE_VERSION, "package": spec.name, "version": version, "selection": _selection_key(spec),
        "copyright_path": copyright_rel,
        "files": files, "skipped": [[s.path, s.reason] for s in skipped],
    }


def build_corpus(
    cache_dir: str | os.PathLike,
    manifest_path: str | os.PathLike,
    *,
    packages: Iterable[PackageSpec] = CURATED,
    apt: AptClient | None = None,
    progress: bool = True,
    licenses_dir: str | os.PathLike | None = None,
) -> BuildSummary:
    """Fetch (or reuse) every curated package, then write the manifest and the licence copies.

    Parameters
    ----------
    cache_dir : str or PathLike
        Where the audio, copyright files and per-package state live.
    manifest_path : str or PathLike
        The CSV to (re)write atomically, normally ``corpus/manifest.csv`` of the checkout.
    packages : iterable of PackageSpec
        Default: the curated list :data:`semeq.corpus.packages.CURATED`.
    apt : AptClient, optional
        The apt/dpkg front end (a test passes a fake).
    progress : bool
        A tqdm bar on stderr.
    licenses_dir : str or PathLike, optional
        A folder to copy the copyright files to besides the cache's ``licenses/`` (default: none;
        the repository keeps only the manifest, whose ``license`` column names each track's
        licence: copyright files of the packages behind the development data are the data's
        own, which the repository must not copy).

    Returns
    -------
    BuildSummary

    Raises
    ------
    ParameterError
        A package is reserved for independent evaluation (see :func:`check_allowed`).
    """
    specs = list(packages)
    for spec in specs:  # refuse before fetching anything
        check_allowed(spec.name)
    cache_dir = Path(cache_dir).expanduser()
    manifest_path = Path(manifest_path)
    licenses_dir = Path(licenses_dir) if licenses_dir is not None else None
    apt = apt or AptClient()
    cache_dir.mkdir(parents=True, exist_ok=True)
    if not apt.has_lists():
        apt.update()

    from tqdm import tqdm

    summary = BuildSummary(tracks=[], skipped=[], manifest_path=manifest_path, cache_dir=cache_dir)
    states: list[tuple[PackageSpec, dict]] = []
    versions = apt.candidate_versions([s.name for s in specs])
    bar = tqdm(specs, desc="corpus", unit="pkg", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    for spec in bar:
        bar.set_postfix_str(spec.name)
        version = versions.get(spec.name)
        if version is None:
            summary.skipped.append(Skipped(spec.name, "", "package not in the apt lists"))
            continue
        store = _PackageState(cache_dir, spec.name)
        state = store.load()
        if (state and state["version"] == version and state.get("selection") == _selection_key(spec)
                and _state_is_complete(cache_dir, state)):
            summary.cached.append(spec.name)
        else:
            try:
                state = _fetch_package(spec, version, cache_dir, apt)
            except DataError as exc:
                summary.skipped.append(Skipped(spec.name, "", f"download or unpack failed ({exc})"))
                log.warning("%s: %s", spec.name, exc)
                continue
            store.save(state)
            summary.downloaded.append(f"{spec.name}={version}")
        states.append((spec, state))
        summary.skipped += [Skipped(spec.name, p, r) for p, r in state["skipped"]]
    bar.close()

    # Duplicates (one recording shipped twice) count once: the first package in curated order keeps it.
    seen: dict[str, str] = {}
    rows: list[tuple[PackageSpec, dict, dict]] = []
    for spec, state in states:
        for f in state["files"]:
            if f["sha256"] in seen:
                summary.skipped.append(Skipped(spec.name, f["source_path"], f"duplicate of {seen[f['sha256']]}"))
                continue
            seen[f["sha256"]] = f"{spec.name}:{f['source_path']}"
            rows.append((spec, state, f))

    hours = Counter()
    for spec, _, f in rows:
        hours[spec.name] += f["duration_s"] / 3600.0
    split_of = assign_splits(dict(hours), pinned={s.name: s.split for s, _ in states if s.split})
    ids: Counter = Counter()
    copyright_text: dict[str, str] = {}
    for spec, state in states:  # licences are read at each build, so a better parser needs no download
        path = cache_dir / state["copyright_path"] if state.get("copyright_path") else None
        copyright_text[spec.name] = path.read_text(encoding="utf-8", errors="replace") if path else ""
    for spec, state, f in rows:
        text = copyright_text[spec.name]
        licence = spec.license or (license_for_path(text, f["source_path"]) if text else "unknown")
        base = f"{spec.name}/{_slug(Path(f['source_path'].split('::')[-1]).stem)}"
        ids[base] += 1
        track_id = base if ids[base] == 1 else f"{base}-{ids[base]}"
        summary.tracks.append(Track(
            track_id=track_id, package=spec.name, version=state["version"], license=licence,
            source_path=f["source_path"], cache_path=f["cache_path"], sha256=f["sha256"],
            duration_s=float(f["duration_s"]), sample_rate=int(f["sample_rate"]), channels=int(f["channels"]),
            codec=f["codec"], split=split_of[spec.name],
        ))
    write_manifest(summary.tracks, manifest_path)
    if licenses_dir is None:
        return summary
    licenses_dir.mkdir(parents=True, exist_ok=True)
    for spec, state in states:
        if state.get("copyright_path") and any(t.package == spec.name for t in summary.tracks):
            shutil.copyfile(cache_dir / state["copyright_path"], licenses_dir / f"{spec.name}.copyright")
    return summary
