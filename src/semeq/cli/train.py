"""``semeq train``: train semeq's models. Sub-commands: ``audio`` (the audio encoder)."""

from __future__ import annotations

import argparse

from . import train_audio

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train semeq's models", description="Train semeq's models.")
    train_sub = p.add_subparsers(dest="model", metavar="MODEL", parser_class=type(p))
    train_audio.register_train_subcommand(train_sub)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
