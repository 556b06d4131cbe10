"""The digits CNN search through Ray Tune, with archsampler as the search algorithm.

Every Tune trial is one archsampler proposal (`ArchSamplerSearch`, two at a time under
`ConcurrencyLimiter`) on a local Ray of 2 CPUs; the trainable reports `digits.train`'s
result, whose `valid_acc` is the metric. Same trainer and same space as the SDK example
(`digits.SPACE`), declared here with Tune's domains.
Run: `.venv/bin/python examples/ray_search.py --trials 20 --epochs 10`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import common
import digits
import ray
from ray import tune
from ray.tune.search import ConcurrencyLimiter

from archsampler_client.integrations.ray import ArchSamplerSearch

SPACE = {
    "layers": tune.randint(1, 4),  # 1..3
    "channels": tune.qrandint(8, 32, 8),
    "kernel": tune.choice([3, 5]),
    "activation": tune.choice(["relu", "gelu", "tanh"]),
    "dropout": tune.uniform(0.0, 0.5),
    "lr": tune.loguniform(1e-3, 3e-2),
}


def trainable(config: dict[str, Any]) -> None:
    """Train one architecture; report its validation and test accuracy."""
    tune.report(digits.train(config, epochs=config["epochs"]))


def main(args: argparse.Namespace) -> int:
    # Ray's workers import `digits` from this folder.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")])
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    with common.server(args.target) as target, tempfile.TemporaryDirectory() as runs:
        search = ArchSamplerSearch(
            target, study=args.study, strategy=args.strategy, seed=args.seed
        )
        tuner = tune.Tuner(
            trainable,
            param_space={**SPACE, "epochs": args.epochs},
            tune_config=tune.TuneConfig(
                search_alg=ConcurrencyLimiter(search, 2),
                metric="valid_acc",
                mode="max",
                num_samples=args.trials,
            ),
            run_config=tune.RunConfig(storage_path=runs, verbose=0),
        )
        results = tuner.fit()
        best = results.get_best_result()
        errors = [str(r.error) for r in results if r.error]
        print(f"best architecture: { {k: best.config[k] for k in SPACE} }")
        print(
            f"validation accuracy {best.metrics['valid_acc']:.4f}, "
            f"test accuracy {best.metrics['test_acc']:.4f}; {len(errors)} trials failed"
        )
    ray.shutdown()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(common.parse_args(__doc__, "digits-ray")))
