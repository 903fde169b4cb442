"""The ``semeq`` command line: a thin front end over the library.

Each command lives in its own module with ``register(subparsers)``; :func:`main` turns every
:class:`~semeq.errors.SemeqError` into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from typing import Sequence

from ..errors import SemeqError

__all__ = ["main", "build_parser"]

# Packages only the "train" extra installs (torch for training, onnx for the ONNX export).
_TRAIN_EXTRA = ("torch", "onnx")

# Command modules, in the order ``semeq --help`` lists them.
_COMMAND_MODULES = ("demo", "apply", "batch", "analyze", "stream", "describe", "terms", "eq", "export", "web",
                    "abx_report", "reference", "corpus", "train")


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


def _attach_negative_values(argv: list[str]) -> list[str]:
    """Let ``--peak -2@400/1`` mean ``--peak=-2@400/1`` (argparse takes "-2@..." for an option)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token.startswith("--") and "=" not in token and i + 1 < len(argv) and re.match(r"^-\.?\d", argv[i + 1]):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def _ignore_further_interrupts() -> None:
    """The command is ending because of Ctrl-C: another one while Python exits must not print a traceback."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def main(argv: Sequence[str] | None = None) -> int:
    # The models are tiny: torch's thread pool only costs on their small tensors, badly so on a
    # busy machine (a 5-band fit took 0.1 s on one thread, 20 s on two with the cores loaded).
    # Training sets its own thread count. Must happen before torch is first imported.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Ctrl-C anywhere from here on (building the parser imports the commands) is one line.
    try:
        parser = build_parser()
        args = parser.parse_args(_attach_negative_values(list(sys.argv[1:] if argv is None else argv)))
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        code = int(args.func(args) or 0)
        if code == 130:  # a batch stopped by Ctrl-C
            _ignore_further_interrupts()
        return code
    except SemeqError as exc:
        print(f"semeq: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("semeq: interrupted", file=sys.stderr)
        _ignore_further_interrupts()
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a traceback reaching a user is a bug: say so in one line
        if isinstance(exc, ModuleNotFoundError) and exc.name in _TRAIN_EXTRA:
            print(f'semeq: error: this command needs {exc.name}, which comes with the train extra: '
                  f'pip install "semeq[train]"', file=sys.stderr)
            return 2
        if os.environ.get("SEMEQ_DEBUG"):
            raise
        print(f"semeq: internal error: {type(exc).__name__}: {exc} (set SEMEQ_DEBUG=1 for a traceback)", file=sys.stderr)
        return 3
