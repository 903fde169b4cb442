"""Print the acceptance metrics of an EQ model (default: the shipped one) and fitting speed.

    PYTHONPATH=src python benchmarks/eval_eq_model.py [--model PATH] [--json] [--fit-speed]

Metrics are recomputed from the data files: the SAFE-DB split comes from the row ids stored
in the model's JSON, the Audealize fits from the model files (``--refit`` fits them again).
``--fit-speed`` times :func:`semeq.fitting.fit_eq_batch` against per-curve :func:`fit_eq`
on the same curves, in this process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def main(argv=None) -> int:
    from semeq.eq_model import EQModel
    from semeq.errors import SemeqError
    from semeq.training.eq import TrainConfig, evaluate_eq_model, format_metrics, prepare_data, prepared_from_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model folder or .safetensors (default: shipped)")
    ap.add_argument("--safe-db", help="SAFE-DB CSV (default: data folder)")
    ap.add_argument("--audealize", help="Audealize JSON (default: data folder)")
    ap.add_argument("--refit", action="store_true", help="fit the Audealize words again instead of using the stored fits")
    ap.add_argument("--fit-speed", action="store_true", help="time batched against per-curve fitting")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        model = EQModel.load(args.model)
        t0 = time.time()
        if args.refit:
            config = TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in model.meta["train_config"].items()})
            from semeq.data.audealize import default_audealize_path

            data = prepare_data(args.safe_db, args.audealize or default_audealize_path(), config)
        else:
            data = prepared_from_model(model, args.safe_db, args.audealize or True)
        metrics = evaluate_eq_model(model, data)
        metrics["eval_seconds"] = round(time.time() - t0, 1)
    except SemeqError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.fit_speed:
        metrics["fit_speed"] = fit_speed()
    if args.json:
        print(json.dumps(metrics, indent=1))
    else:
        print(f"model: {model.path}")
        print(format_metrics(metrics))
        print(f"  (evaluation took {metrics['eval_seconds']} s)")
        if args.fit_speed:
            s = metrics["fit_speed"]
            print(f"fitting {s['n_curves']} random in-range EQ curves (128 points): fit_eq_batch {s['batch_s']:.2f} s "
                  f"({s['batch_curves_per_s']:.0f} curves/s, median MAE {s['batch_median_mae_db']:.3f} dB); "
                  f"fit_eq {s['single_s_per_curve']:.3f} s/curve (median MAE {s['single_median_mae_db']:.3f} dB); "
                  f"batch speed-up x{s['speedup']:.1f}")
    return 0


def fit_speed(n_curves: int = 512, n_single: int = 8) -> dict:
    import torch

    from semeq.fitting import fit_eq, fit_eq_batch, response_db_batch
    from semeq.params import EQParams

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    freqs = np.geomspace(20, 20000, 128)
    vectors = np.stack([EQParams.from_unit_vector(u).to_vector() for u in rng.uniform(0.15, 0.85, size=(n_curves, 13))])
    curves = response_db_batch(vectors, freqs)
    t0 = time.perf_counter()
    fitted = fit_eq_batch(curves, freqs)
    batch_s = time.perf_counter() - t0
    mae_b = np.abs(response_db_batch(fitted, freqs) - curves).mean(axis=1)
    t0 = time.perf_counter()
    mae_s = [fit_eq(c, freqs).mae_db for c in curves[:n_single]]
    single_s = (time.perf_counter() - t0) / n_single
    return {"n_curves": n_curves, "batch_s": batch_s, "batch_curves_per_s": n_curves / batch_s,
            "batch_median_mae_db": float(np.median(mae_b)), "single_s_per_curve": single_s,
            "single_median_mae_db": float(np.median(mae_s)), "speedup": single_s * n_curves / batch_s}


if __name__ == "__main__":
    sys.exit(main())
