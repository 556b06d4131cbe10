"""Early stopping on real training: the digits CNN of `examples/digits.py` (torch), searched
with no stopping, the median rule and ASHA, side by side in one run.

Each (seed, rule) is one study on an in-process `Engine` (its own SQLite file); its trials
run one after the other: propose, train epoch by epoch reporting each epoch's validation
accuracy (`report_intermediate`, step = epoch), stop when the rule says so (`report(...,
stopped=True)`), else report the final validation accuracy. Every epoch counted was
trained. With the `random` strategy (default) a seed proposes the same architectures under
every rule (its draws depend on the seed and the trial count only), so the rules are
compared on the same networks with the same initial weights.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

RULES = {
    "none": None,
    "median": {"rule": "median", "options": {"startup_trials": 5, "warmup_steps": 1}},
    "asha": {"rule": "asha", "options": {"min_step": 1, "reduction_factor": 3}},
}
"""The compared configs. Median: Optuna's MedianPruner defaults (5 startup trials) with one
warm-up epoch; ASHA: its paper's reduction factor 3 from the first epoch. Not tuned on this
bench."""


def examples_dir() -> Path:
    """`examples/` of the clone this package runs from."""
    return Path(__file__).resolve().parents[3] / "examples"


def load_trainer(path: Path) -> ModuleType:
    if not path.is_file():
        raise SystemExit(
            f"archsampler bench stopping: error: {path} not found; run from a clone of the "
            "repository (the bench trains the examples' digits CNN)"
        )
    spec = importlib.util.spec_from_file_location("archsampler_examples_digits", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=40, help="trials per study")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per full training")
    parser.add_argument("--strategy", default="random")
    parser.add_argument("--rules", default="none,median,asha", help=f"of {sorted(RULES)}")
    parser.add_argument("--workers", type=int, default=2, help="processes (seed x rule runs)")
    parser.add_argument("--trainer", type=Path, help="digits trainer (default examples/)")
    parser.add_argument("--json", type=Path)


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One study: `trials` trials of `strategy` under `rule`, trained for real."""
    from archsampler import Engine

    digits = load_trainer(Path(job["trainer"]))
    trials: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, Engine(str(Path(tmp) / "s.db")) as engine:
        study = engine.create_study(
            "digits",
            digits.SPACE,
            job["strategy"],
            seed=job["seed"],
            stopping=RULES[job["rule"]],
        )
        for _ in range(job["trials"]):
            (trial,) = study.propose(1)
            stops: list[int] = []

            def on_epoch(epoch: int, acc: float, tid: int = trial.id, s: list = stops) -> bool:
                stop = bool(study.report_intermediate(tid, epoch, acc))
                if stop:
                    s.append(epoch)
                return stop

            seed = job["seed"] * 100_003 + trial.number  # same network, same init per rule
            result = digits.train(trial.params, job["epochs"], seed, on_epoch)
            if stops:
                done = study.report(trial.id, stopped=f"{job['rule']} at epoch {stops[0]}")
            else:
                done = study.report(trial.id, result["valid_acc"])
            trials.append(
                {
                    "number": trial.number,
                    "arch": trial.arch,
                    "state": str(done.state),
                    "epochs": result["epochs_run"],
                    "valid_acc": result["valid_acc"],
                    "test_acc": result["test_acc"],
                }
            )
    best = max(trials, key=lambda t: t["valid_acc"])
    return {
        **{k: job[k] for k in ("seed", "rule", "strategy", "trials", "epochs")},
        "epochs_trained": sum(t["epochs"] for t in trials),
        "stopped": sum(t["state"] == "STOPPED" for t in trials),
        "best_valid": best["valid_acc"],
        "best_test": best["test_acc"],
        "best_arch": best["arch"],
        "seconds": time.perf_counter() - t0,
        "trial_log": trials,
    }


def summarise(runs: list[dict[str, Any]], rules: list[str]) -> dict[str, Any]:
    """Per rule: epochs trained in all (and as a share of no stopping), best validation
    accuracy per seed and its difference from no stopping in points."""
    by = {(r["rule"], r["seed"]): r for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    out: dict[str, Any] = {}
    for rule in rules:
        rows = [by[rule, s] for s in seeds]
        epochs = sum(r["epochs_trained"] for r in rows)
        entry: dict[str, Any] = {
            "epochs_trained": epochs,
            "stopped_trials": sum(r["stopped"] for r in rows),
            "best_valid": [r["best_valid"] for r in rows],
            "best_test": [r["best_test"] for r in rows],
        }
        if "none" in rules:
            base = [by["none", s] for s in seeds]
            entry["epoch_ratio"] = epochs / sum(r["epochs_trained"] for r in base)
            diffs = [
                100 * (r["best_valid"] - b["best_valid"]) for r, b in zip(rows, base, strict=True)
            ]
            entry["best_valid_diff_points"] = diffs
            entry["mean_diff_points"] = statistics.fmean(diffs)
        out[rule] = entry
    return out


def run(args: argparse.Namespace) -> int:
    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    unknown = sorted(set(rules) - set(RULES))
    if unknown or not rules:
        print(f"archsampler bench stopping: error: unknown rules {unknown}", file=sys.stderr)
        return 2
    trainer = args.trainer or examples_dir() / "digits.py"
    load_trainer(trainer)  # fail early, with one line, when it is missing
    jobs = [
        {"seed": s, "rule": r, "strategy": args.strategy, "trials": args.trials,
         "epochs": args.epochs, "trainer": str(trainer)}
        for s in range(args.seeds)
        for r in rules
    ]  # fmt: skip
    from tqdm import tqdm

    runs: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        for result in tqdm(pool.map(run_one, jobs), total=len(jobs), desc="seed x rule"):
            runs.append(result)
    summary = summarise(runs, rules)
    print(f"digits CNN, {args.trials} trials x {args.epochs} epochs, {args.seeds} seeds, "
          f"strategy {args.strategy}")  # fmt: skip
    print(f"{'rule':8} {'epochs':>7} {'share':>7} {'stopped':>8}  best valid per seed (Δ points)")
    for rule, e in summary.items():
        share = f"{e['epoch_ratio']:.1%}" if "epoch_ratio" in e else "-"
        diffs = e.get("best_valid_diff_points", [0.0] * len(e["best_valid"]))
        cells = ", ".join(
            f"{v:.4f} ({d:+.2f})" for v, d in zip(e["best_valid"], diffs, strict=True)
        )
        print(f"{rule:8} {e['epochs_trained']:>7} {share:>7} {e['stopped_trials']:>8}  {cells}")
    for rule, e in summary.items():
        if rule != "none" and "epoch_ratio" in e:
            ok = e["epoch_ratio"] <= 0.60 and abs(e["mean_diff_points"]) <= 0.5
            print(f"goal {rule}: epochs {e['epoch_ratio']:.1%} <= 60 % and mean best-valid "
                  f"difference {e['mean_diff_points']:+.2f} within 0.5 points: "
                  f"{'met' if ok else 'NOT met'}")  # fmt: skip
    if args.json:
        record = {"args": {k: str(v) for k, v in vars(args).items()}, "rules": RULES,
                  "summary": summary, "runs": runs}  # fmt: skip
        args.json.write_text(json.dumps(record, indent=1))
    return 0
