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
        description="Train the audio encoder on music-dev, pink and music-shaped noise with SAFE-DB/Audealize settings. "
                    "Writes audio_encoder.safetensors and audio_encoder.json (best epoch by validation loss).")
    p.add_argument("--data", default=None, help="data folder holding music-dev/, safe-db/, audealize/ (default: $SEMEQ_DATA or ../shared/data)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: 16)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--out", default="audio-encoder-out", help="output folder (default: audio-encoder-out)")
    p.add_argument("--eq-model", default=None, help="EQ model weights (default: the shipped ones)")
    p.add_argument("--force", action="store_true", help="overwrite earlier weights in --out")
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
    eq_model = None
    if args.eq_model:
        from ..eq_model import EQModel

        eq_model = EQModel.load(args.eq_model)
    summary = train_audio_encoder(root, out, AudioTrainConfig(**overrides), eq_model=eq_model)
    best = summary["best"]
    print(f"best epoch {best['epoch']}: val_mse={best['val_mse']:.4f}, val_curve_mae_db={best['val_curve_mae_db']:.2f}; "
          f"{summary['elapsed_s']:.0f} s; wrote {out / 'audio_encoder.safetensors'} and {out / 'audio_encoder.json'}")
    return 0
