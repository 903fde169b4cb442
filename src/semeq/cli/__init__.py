"""The ``semeq`` command line: a thin front end over the library.

Each command lives in its own module with ``register(subparsers)``; :func:`main` turns every
:class:`~semeq.errors.SemeqError` into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from ..errors import SemeqError

__all__ = ["main", "build_parser"]

# Command modules, in the order ``semeq --help`` lists them.
_COMMAND_MODULES = ("demo", "eq", "describe", "terms", "train")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other error
        self.exit(2, f"semeq: error: {message} (see 'semeq --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="semeq", description="Adaptive semantic equalizer: move a recording toward a word.")
    parser.add_argument("--version", action="version", version=f"semeq {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _COMMAND_MODULES:
        importlib.import_module(f".{name}", __name__).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except SemeqError as exc:
        print(f"semeq: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("semeq: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a traceback reaching a user is a bug: say so in one line
        if os.environ.get("SEMEQ_DEBUG"):
            raise
        print(f"semeq: internal error: {type(exc).__name__}: {exc} (set SEMEQ_DEBUG=1 for a traceback)", file=sys.stderr)
        return 3
