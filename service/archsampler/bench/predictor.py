"""`archsampler bench predictor`: NAO predictor quality on NAS-Bench-201, baselines, ORT speed.

Random splits of the NB201 table: train on N architectures, rank held-out ones (pairwise
accuracy, Kendall τ) next to ridge regression and a random forest on the one-hot encoding,
fitted on the same splits. Then export one model to ONNX (parity-checked on 1,000
architectures), load it as the service would (`serving_provider`: CUDA when it really works,
checked there again: `serving_parity`) and time ONNX Runtime on the CPU against torch eager
at equal thread counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any
from typing import Callable

import numpy as np
from tqdm import tqdm

from archsampler.bench.tables import load_table
from archsampler.bench.tables import nb201_table_path
from archsampler.spaces.nb201 import NB201Space


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `archsampler bench predictor`."""
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--train-sizes", default="100,300,500,1000")
    parser.add_argument("--splits", type=int, default=3, help="random train/test splits")
    parser.add_argument("--test-size", type=int, default=5000, help="held-out archs per split")
    parser.add_argument("--epochs", type=int, default=None, help="NAO epochs (default: config)")
    parser.add_argument(
        "--min-steps", type=int, default=None, help="NAO minimum optimiser steps (default: config)"
    )
    parser.add_argument("--ensemble", type=int, default=1, help="NAO models averaged per split")
    parser.add_argument("--threads", type=int, default=1, help="torch and ORT intra-op threads")
    parser.add_argument("--metric", default="c10_valid_acc")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; print a summary and write `--json` when given."""
    import torch

    from archsampler_models.metrics import kendall_tau
    from archsampler_models.metrics import pairwise_accuracy

    torch.set_num_threads(args.threads)
    space = NB201Space()
    table = load_table(nb201_table_path(), space)
    tokens = np.array([space.to_tokens(a) for a in table.archs], dtype=np.int64)
    onehot = space.encode_many(table.archs)
    values = table.columns[args.metric]
    sizes = [int(s) for s in args.train_sizes.split(",")]
    baselines = _baselines(args.threads)
    scores: dict[str, dict[int, list[tuple[float, float]]]] = {
        name: {n: [] for n in sizes} for name in ["nao", *baselines]
    }
    recon: dict[int, list[float]] = {n: [] for n in sizes}
    last_model = None
    jobs = [(s, n) for s in range(args.splits) for n in sizes]
    for split, n in tqdm(jobs, desc="bench predictor", file=sys.stderr):
        perm = np.random.default_rng([args.seed, split]).permutation(len(values))
        train, test = perm[:n], perm[max(sizes) :][: args.test_size]
        models, pred = _fit_nao(tokens[train], values[train], tokens[test], space, args, split)
        scores["nao"][n].append(
            (pairwise_accuracy(values[test], pred), kendall_tau(values[test], pred))
        )
        recon[n].append(float(np.mean([_reconstruction(m, tokens[train]) for m in models])))
        for name, fit in baselines.items():
            p = fit(onehot[train], values[train], onehot[test])
            scores[name][n].append(
                (pairwise_accuracy(values[test], p), kendall_tau(values[test], p))
            )
        last_model = models[0]
    result = _summarise(scores, recon, sizes)
    result["throughput"] = _throughput(last_model, space, args.threads)
    result["ort_speedup"] = {
        b: min(result["throughput"][op][b]["speedup"] for op in ("encode_predict_grad", "decode"))
        for b in ("1", "256")
    }
    result["settings"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    _print(result, sizes)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def _fit_nao(x, y, x_test, space, args, split) -> tuple[list[Any], np.ndarray]:
    import torch

    from archsampler_models import NAOConfig
    from archsampler_models import train_nao

    overrides = {"epochs": args.epochs} if args.epochs else {}
    if args.min_steps is not None:
        overrides["min_steps"] = args.min_steps
    models, preds = [], []
    for k in range(args.ensemble):
        # Scored on its own held-out split: no ranking gate (it would train 4 more models).
        cfg = NAOConfig(val_fraction=0.0, gate_folds=0, seed=1000 * split + k, **overrides)
        model = train_nao(x, y, space.token_spec(), cfg)
        with torch.no_grad():
            preds.append(model.encode_predict_grad(torch.as_tensor(x_test))[1].numpy())
        models.append(model)
    return models, np.mean(preds, axis=0)


def _reconstruction(model: Any, tokens: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        decoded = model.decode(model.encoder(torch.as_tensor(tokens))).numpy()
    return float((decoded == tokens).all(axis=1).mean())


def _baselines(threads: int) -> dict[str, Callable[..., np.ndarray]]:
    try:
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.linear_model import Ridge
    except ImportError:
        print("scikit-learn not installed (extra 'bench'): no baselines", file=sys.stderr)
        return {}

    def ridge(x, y, xt):
        return Ridge(alpha=1.0).fit(x, y).predict(xt)

    def forest(x, y, xt):
        rf = RandomForestRegressor(n_estimators=100, n_jobs=threads, random_state=0)
        return rf.fit(x, y).predict(xt)

    return {"ridge_onehot": ridge, "random_forest_onehot": forest}


def _summarise(scores, recon, sizes) -> dict[str, Any]:
    def block(per_size):
        return {
            "pairwise": {str(n): float(np.mean([p for p, _ in per_size[n]])) for n in sizes},
            "kendall": {str(n): float(np.mean([t for _, t in per_size[n]])) for n in sizes},
            "pairwise_std": {str(n): float(np.std([p for p, _ in per_size[n]])) for n in sizes},
        }

    out = block(scores["nao"])
    out["baselines"] = {name: block(s) for name, s in scores.items() if name != "nao"}
    out["reconstruction"] = float(np.mean([r for n in sizes for r in recon[n]]))
    out["reconstruction_by_size"] = {str(n): float(np.mean(recon[n])) for n in sizes}
    return out


def _throughput(model: Any, space: NB201Space, threads: int) -> dict[str, Any]:
    import torch

    from archsampler.predictor import NAOPredictor
    from archsampler_models.export import export_nao

    with tempfile.TemporaryDirectory() as tmp:
        folder = export_nao(model, Path(tmp) / "nao", space_spec=space.spec(), n_parity=1000)
        ort_model = NAOPredictor.load(folder, threads=threads, providers=["CPUExecutionProvider"])
        parity = json.loads((folder / "metadata.json").read_text())["parity"]
        serving = NAOPredictor.load(folder, threads=threads)  # the provider the service picks
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {
        "threads": threads,
        "parity": parity,
        "serving_provider": serving.provider,
        "serving_parity": serving.serving_parity,
    }
    for op in ("encode_predict_grad", "decode"):
        out[op] = {}
        for batch in (1, 256):
            x = np.array([space.to_tokens(space.sample(rng)) for _ in range(batch)])
            xt = torch.as_tensor(x)
            with torch.no_grad():
                emb = model.encoder(xt)
            emb_np = emb.numpy()
            if op == "encode_predict_grad":
                t_fn = partial(model.encode_predict_grad, xt)
                o_fn = partial(ort_model.encode_predict_grad, x)
            else:
                t_fn, o_fn = partial(model.decode, emb), partial(ort_model.decode, emb_np)
            with torch.inference_mode():
                t_s = _time_call(t_fn)
            o_s = _time_call(o_fn)
            out[op][str(batch)] = {
                "torch_archs_per_s": batch / t_s,
                "ort_archs_per_s": batch / o_s,
                "speedup": t_s / o_s,
            }
    return out


def _time_call(fn: Callable[[], Any], min_time: float = 0.3, repeats: int = 5) -> float:
    """Median over `repeats` rounds of the mean seconds per call."""
    fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 >= min_time / repeats:
            break
        n *= 2
    rounds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - t0) / n)
    return float(np.median(rounds))


def _print(result: dict[str, Any], sizes: list[int]) -> None:
    rows = [("nao", result)] + list(result["baselines"].items())
    print("pairwise accuracy / Kendall tau on held-out NB201 archs")
    print(f"{'model':<22}" + "".join(f"{'N=' + str(n):>16}" for n in sizes))
    for name, r in rows:
        cells = "".join(f"{r['pairwise'][str(n)]:>9.4f}/{r['kendall'][str(n)]:.3f}" for n in sizes)
        print(f"{name:<22}{cells}")
    print(f"decoder reconstruction on training archs: {result['reconstruction']:.4f}")
    tp = result["throughput"]
    for op in ("encode_predict_grad", "decode"):
        for b in ("1", "256"):
            r = tp[op][b]
            print(
                f"{op:<20} batch {b:>3}: torch {r['torch_archs_per_s']:>10.0f}/s  "
                f"ort {r['ort_archs_per_s']:>10.0f}/s  speedup {r['speedup']:.2f}x"
            )


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="archsampler bench predictor")
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
