"""``semeq train``: train semeq's models. Each model is a sub-command registered here.

Adding a model takes a ``register_train_<name>(sub)`` function and one line in
:data:`_TRAIN_COMMANDS`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (eq, ...)", description="Train one of semeq's models.")
    train_sub = p.add_subparsers(dest="train_command", metavar="MODEL", parser_class=type(p))
    for register_model in _TRAIN_COMMANDS:
        register_model(train_sub)
    p.set_defaults(func=lambda args: _missing_model(p))


def _missing_model(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


# ---------------------------------------------------------------------------- semeq train eq
def register_train_eq(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eq", help="train the EQ VAE and its vocabulary",
                       description="Train the EQ VAE on SAFE-DB (and Audealize) and write eq_vae.safetensors + eq_vae.json. "
                                   "The shipped model: semeq train eq --out src/semeq/weights --force")
    p.add_argument("--safe-db", metavar="CSV", help="SAFE-DB equaliser CSV (default: the data folder's)")
    p.add_argument("--audealize", metavar="JSON", help="Audealize eqdescriptors.json (default: the data folder's; 'none' to skip)")
    p.add_argument("--out", metavar="DIR", default="eq_model", help="output folder (default: ./eq_model)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: TrainConfig.epochs)")
    p.add_argument("--seed", type=int, default=0, help="seed of split, initialisation and batching (default 0)")
    p.add_argument("--latent-dim", type=int, default=None, help="latent size (default 32)")
    p.add_argument("--word-scope", choices=("all", "train"), default="all",
                   help="settings that form the word-fidelity groups: all (the shipped model; held-out settings "
                        "enter as detached mean curves) or train (a leak-free model for held-out figures)")
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.add_argument("--force", action="store_true", help="overwrite existing model files in --out")
    p.set_defaults(func=run_train_eq)


def run_train_eq(args: argparse.Namespace) -> int:
    from ..data.audealize import default_audealize_path
    from ..errors import ParameterError
    from ..nn.eq_vae import VAEConfig
    from ..training.eq import TrainConfig, train_eq_model

    if args.seed < 0:
        raise ParameterError(f"--seed must be >= 0, got {args.seed}")
    if args.latent_dim is not None and args.latent_dim < 1:
        raise ParameterError(f"--latent-dim must be at least 1, got {args.latent_dim}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {out} is a file, not a folder")
    kwargs = {"seed": args.seed, "word_scope": args.word_scope}
    if args.epochs is not None:
        if args.epochs < 1:
            raise ParameterError(f"--epochs must be at least 1, got {args.epochs}")
        kwargs["epochs"] = args.epochs
    config = TrainConfig(**kwargs)
    vae_config = VAEConfig(latent_dim=args.latent_dim) if args.latent_dim is not None else VAEConfig()
    if args.audealize is None:
        audealize = default_audealize_path()
    elif args.audealize.lower() == "none":
        audealize = None
    else:
        audealize = args.audealize
    log = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr))
    model, metrics = train_eq_model(args.safe_db, audealize, args.out, config, vae_config, force=args.force,
                                    progress=not args.quiet, log=log)
    if args.json:
        print(json.dumps(metrics, indent=1))
    else:
        from ..training.eq import format_metrics

        print(format_metrics(metrics))
        print(f"wrote {model.path} and {model.path.with_suffix('.json')}")
    return 0


def register_train_audio(sub: argparse._SubParsersAction) -> None:
    from .train_audio import register_train_subcommand

    register_train_subcommand(sub)


_TRAIN_COMMANDS = [register_train_eq, register_train_audio]
"""One ``register_train_<model>(sub)`` per trainable model."""
