"""``semeq train audio``: train the audio encoder (the EQ model frozen) and write its weights.

Kept in its own module so that ``semeq train`` (cli/train.py) only has to call
:func:`register_train_subcommand` on its sub-parsers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ParameterError

__all__ = ["register_train_subcommand", "run"]


def register_train_subcommand(train_sub: argparse._SubParsersAction) -> None:
    p = train_sub.add_parser(
        "audio", help="train the audio encoder",
        description="Train the audio encoder on music-dev (and, with --music-manifest, the corpus), pink and "
                    "music-shaped noise with SAFE-DB/Audealize settings split as the EQ model's split. "
                    "Writes audio_encoder.safetensors and audio_encoder.json (best epoch by validation loss).")
    p.add_argument("--data", default=None, help="data folder holding music-dev/, safe-db/, audealize/ (default: $SEMEQ_DATA or ../shared/data)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: 16)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--out", default="audio-encoder-out", help="output folder (default: audio-encoder-out)")
    p.add_argument("--eq-model", default=None, help="EQ model weights (default: the shipped ones)")
    p.add_argument("--force", action="store_true", help="overwrite earlier weights in --out")
    p.add_argument("--music-manifest", metavar="CSV", default=None,
                   help="corpus manifest (semeq corpus build): crops of its train-package tracks are training music, "
                        "of its validation-package tracks choose the best epoch")
    p.add_argument("--music-cache", metavar="DIR", default=None,
                   help="the corpus's audio cache (default: ${XDG_CACHE_HOME:-~/.cache}/semeq/corpus)")
    p.add_argument("--corpus-crops", type=int, default=2, metavar="N",
                   help="random 2 s crops per train-package track (default 2; needs --music-manifest)")
    p.add_argument("--corpus-val-crops", type=int, default=1, metavar="N",
                   help="random 2 s crops per validation-package track (default 1)")
    p.add_argument("--no-dev-clips", action="store_true", help="train on the corpus alone, without the music-dev clips")
    p.add_argument("--no-noise-sources", action="store_true", help="no pink or music-shaped noise sources (real music only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.paths import data_dir
    from ..training.audio import AudioTrainConfig, train_audio_encoder

    root = Path(args.data) if args.data else data_dir()
    if not (root / "music-dev").is_dir():
        raise ParameterError(f"--data {root} has no music-dev/ folder")
    out = Path(args.out)
    if (out / "audio_encoder.safetensors").exists() and not args.force:
        raise ParameterError(f"{out / 'audio_encoder.safetensors'} exists; pass --force to overwrite it")
    if args.seed < 0:
        raise ParameterError(f"--seed must be >= 0, got {args.seed}")
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {out} is a file, not a folder")
    overrides = {"seed": args.seed}
    if args.epochs is not None:
        if args.epochs < 1:
            raise ParameterError(f"--epochs must be at least 1, got {args.epochs}")
        overrides["epochs"] = args.epochs
    corpus = None
    if args.music_manifest is not None:
        import os

        from ..training.audio import MusicCorpus

        if args.corpus_crops < 1 or args.corpus_val_crops < 0:
            raise ParameterError("--corpus-crops must be >= 1 and --corpus-val-crops >= 0")
        cache = Path(args.music_cache) if args.music_cache else \
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "semeq" / "corpus"
        if not cache.is_dir():
            raise ParameterError(f"--music-cache {cache} is not a folder")
        corpus = MusicCorpus(args.music_manifest, cache)
        overrides.update(corpus_crops_per_track=args.corpus_crops, corpus_val_crops_per_track=args.corpus_val_crops,
                         use_dev_clips=not args.no_dev_clips)
    elif args.no_dev_clips or args.music_cache is not None:
        raise ParameterError("--no-dev-clips and --music-cache need --music-manifest")
    if args.no_noise_sources:
        overrides.update(n_pink_sources=0, n_shaped_sources=0)
    eq_model = None
    if args.eq_model:
        from ..eq_model import EQModel

        eq_model = EQModel.load(args.eq_model)
    summary = train_audio_encoder(root, out, AudioTrainConfig(**overrides), eq_model=eq_model, corpus=corpus)
    best = summary["best"]
    print(f"best epoch {best['epoch']}: val_mse={best['val_mse']:.4f}, val_curve_mae_db={best['val_curve_mae_db']:.2f}; "
          f"{summary['elapsed_s']:.0f} s; wrote {out / 'audio_encoder.safetensors'} and {out / 'audio_encoder.json'}")
    return 0
