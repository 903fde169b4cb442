"""``semeq reference``: build the music reference (the per-band distribution of real music's balances)."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from ..errors import DataError, ParameterError

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".aif", ".aiff"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reference", help="build the music reference the profile and the rules read against",
                       description="Measure real music and write the music reference (per-band percentiles and the "
                                   "tracks' level-normalised long-term spectra) as JSON.")
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])  # no verb: this command's help
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    b = verbs.add_parser("build", help="measure tracks and write the reference")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--clips", metavar="DIR", help="every audio file in a folder")
    src.add_argument("--corpus", metavar="MANIFEST", help="a corpus manifest CSV (semeq corpus build)")
    b.add_argument("--cache", metavar="DIR", help="the corpus cache folder (default: semeq's cache)")
    b.add_argument("--split", default="train", help="which corpus split to use (default train)")
    b.add_argument("--out", required=True, help="output JSON (e.g. src/semeq/weights/music_reference.json)")
    b.add_argument("--force", action="store_true", help="overwrite an existing output")
    b.set_defaults(func=run)


def _clip_tracks(folder: Path):
    from ..io import load_audio

    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no audio files")
    for f in files:
        audio, sample_rate, _ = load_audio(f)
        yield f.stem, audio, sample_rate


def run(args: argparse.Namespace) -> int:
    from ..io import check_output_path
    from ..reference import build_reference

    out = check_output_path(args.out, force=args.force)
    command = "semeq reference build " + " ".join(sys.argv[3:]) if len(sys.argv) > 3 else "semeq reference build"
    if args.clips:
        folder = Path(args.clips)
        if not folder.is_dir():
            raise ParameterError(f"{folder}: not a folder")
        source = {"kind": "clips", "folder": folder.name, "command": command}
        reference = build_reference(_clip_tracks(folder), source=source, progress=sys.stderr.isatty())
    else:
        from ..corpus import load_manifest
        from ..reference import build_reference_from_psds

        manifest = load_manifest(args.corpus)
        chosen = [t for t in manifest if t.split == args.split]
        if not chosen:
            raise DataError(f"{args.corpus}: no tracks in split {args.split!r}")
        packages = sorted({t.package for t in chosen})
        source = {"kind": "corpus", "split": args.split, "n_packages": len(packages), "packages": packages,
                  "excerpts": "six evenly spaced 10 s excerpts per track (semeq.corpus.stats.excerpt_psd)",
                  "manifest_sha256": _sha256(Path(args.corpus)), "command": command}
        reference = build_reference_from_psds(_corpus_psds(chosen, args.cache), source=source,
                                              progress=sys.stderr.isatty(), total=len(chosen))
    reference.save(out)
    print(f"{out}: {reference.n_tracks} tracks")
    return 0


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _corpus_psds(tracks, cache: str | None):
    """(track_id, freqs_hz, psd, sample_rate) of each corpus track, from its excerpts."""
    from ..corpus import default_cache_dir
    from ..corpus.stats import excerpt_psd

    root = Path(cache) if cache else default_cache_dir()
    for t in tracks:
        path = root / t.cache_path
        if not path.is_file():
            raise DataError(f"{path}: corpus audio missing from the cache; run 'semeq corpus build' first")
        found = excerpt_psd(path)
        if found is not None:
            yield (t.track_id, *found)
