"""``semeq abx-report``: the ABX sessions recorded by ``semeq web``, as a table or CSV."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("abx-report", help="print the ABX listening tests recorded by 'semeq web'",
                       description="Print every ABX session: correct / total and the one-sided binomial p-value.")
    p.add_argument("--db", metavar="PATH", help="ABX database (default: <user data dir>/semeq/abx.sqlite3)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="print every trial as CSV (the page's export)")
    fmt.add_argument("--json", action="store_true", help="print the sessions as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..web.abx import AbxStore, format_table

    store = AbxStore(args.db, create=False)
    if args.csv:
        sys.stdout.write(store.export_csv())
        return 0
    sessions = store.sessions()
    if args.json:
        print(json.dumps({"db": str(store.path), "sessions": sessions}))
        return 0
    print(f"ABX sessions in {store.path}")
    if not sessions:
        print("  (none yet: run a test in 'semeq web')")
        return 0
    print(format_table(sessions))
    print("p-value: one-sided binomial, P(at least this many correct by guessing)")
    return 0
