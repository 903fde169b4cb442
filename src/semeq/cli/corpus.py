"""``semeq corpus``: build the music corpus from Debian packages, or report what the cache holds."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("corpus", help="build or inspect the music corpus",
                       description="The music corpus: freely licensed game and demo soundtracks from Debian "
                                   "packages, kept encoded in a cache folder, listed in corpus/manifest.csv.")
    csub = p.add_subparsers(dest="corpus_command", metavar="ACTION")
    b = csub.add_parser("build", help="download the curated packages and (re)write the manifest",
                        description="Fetch each curated package with apt-get download (installing nothing), keep "
                                    "its music files of 30 s or more and its copyright file in DIR, delete the .deb, "
                                    "and rewrite the manifest. Packages already in DIR at the same version are not "
                                    "downloaded again.")
    b.add_argument("dir", nargs="?", metavar="DIR",
                   help="cache folder (default: $SEMEQ_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/semeq/corpus)")
    b.add_argument("--manifest", metavar="PATH", help="manifest to write (default: corpus/manifest.csv of this checkout)")
    b.add_argument("--package", action="append", metavar="NAME",
                   help="only this curated package (repeatable); the manifest then lists only these")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.add_argument("--list", action="store_true", help="print the curated packages and why, then exit")
    b.set_defaults(func=run_build)
    s = csub.add_parser("status", help="what the cache holds against the manifest",
                        description="Compare the cache folder with the manifest: tracks present, missing, changed.")
    s.add_argument("dir", nargs="?", metavar="DIR", help="cache folder (default as for build)")
    s.add_argument("--manifest", metavar="PATH", help="manifest to read (default: corpus/manifest.csv of this checkout)")
    s.add_argument("--verify", action="store_true", help="also check every file's SHA-256 (reads all the audio)")
    s.set_defaults(func=run_status)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    from ..corpus import default_cache_dir, default_manifest_path

    cache = Path(args.dir).expanduser() if args.dir else default_cache_dir()
    manifest = Path(args.manifest) if args.manifest else default_manifest_path()
    return cache, manifest


def run_build(args: argparse.Namespace) -> int:
    from ..corpus.build import build_corpus
    from ..corpus.packages import CURATED, check_allowed
    from ..errors import ParameterError

    if args.list:
        for spec in CURATED:
            pin = f" [pinned: {spec.split}]" if spec.split else ""
            print(f"{spec.name:<28} {', '.join(spec.genres):<36} {spec.why}{pin}")
        return 0
    specs = CURATED
    if args.package:
        for name in args.package:
            check_allowed(name)
        known = {s.name: s for s in CURATED}
        unknown = [n for n in args.package if n not in known]
        if unknown:
            raise ParameterError(f"not a curated package: {', '.join(unknown)} (see 'semeq corpus build --list')")
        specs = tuple(known[n] for n in args.package)
    cache, manifest = _paths(args)
    if not args.manifest and not (manifest.parent.parent / "pyproject.toml").is_file():
        raise ParameterError("not run from a source checkout: say where the manifest goes with --manifest PATH")
    logging.basicConfig(level=logging.INFO, format="semeq: %(message)s", stream=sys.stderr)
    summary = build_corpus(cache, manifest, packages=specs, progress=not args.no_progress)
    print(summary.format())
    for s in summary.skipped:
        print(f"  skipped {s.package}:{s.path or '(package)'}: {s.reason}", file=sys.stderr)
    return 0


def run_status(args: argparse.Namespace) -> int:
    from ..corpus.status import corpus_status

    cache, manifest = _paths(args)
    report = corpus_status(cache, manifest, verify=args.verify)
    print(report.format())
    return 0 if report.ok else 1
