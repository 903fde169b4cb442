"""``semeq terms``: list the vocabulary."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("terms", help="list the words semeq knows", description="List the vocabulary of the EQ model "
                       "with each word's language, source(s), support and confidence.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--model", metavar="PATH", help="EQ model folder or .safetensors (default: the shipped one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..eq_model import EQModel

    model = EQModel.load(args.model)
    vocab = model.vocabulary
    if args.json:
        print(json.dumps([e.to_dict() for e in vocab], indent=1, ensure_ascii=False))
        return 0
    print(f"{'word':<24} {'lang':<4} {'source':<16} {'count':>5} {'confidence':>10}")
    for e in vocab:
        flag = "  (low confidence)" if e.low_confidence else ""
        print(f"{e.word[:24]:<24} {e.language:<4} {'+'.join(e.sources):<16} {e.count:>5} {e.confidence:>10.2f}{flag}")
    n_low = sum(e.low_confidence for e in vocab)
    print(f"{len(vocab)} words ({n_low} low confidence)")
    return 0
