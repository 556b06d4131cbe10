"""The digits CNN search through Optuna, with archsampler as the sampler.

Every Optuna trial is one archsampler proposal (`ArchSamplerSampler`); the objective is
the same trainer and the same space as the SDK example (`digits.SPACE`), declared here
with Optuna's `suggest_*`. Two trials run at a time (`n_jobs=2`).
Run: `.venv/bin/python examples/optuna_search.py --trials 20 --epochs 10`.
"""

from __future__ import annotations

import argparse
import sys

import common
import digits
import optuna

from archsampler_client.integrations.optuna import ArchSamplerSampler


def objective(trial: optuna.Trial, epochs: int) -> float:
    """Train the architecture the trial suggests; its validation accuracy is the value."""
    params = {
        "layers": trial.suggest_int("layers", 1, 3),
        "channels": trial.suggest_int("channels", 8, 32, step=8),
        "kernel": trial.suggest_int("kernel", 3, 5, step=2),
        "activation": trial.suggest_categorical("activation", ["relu", "gelu", "tanh"]),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "lr": trial.suggest_float("lr", 1e-3, 3e-2, log=True),
    }
    result = digits.train(params, epochs=epochs)
    trial.set_user_attr("test_acc", result["test_acc"])
    return result["valid_acc"]


def main(args: argparse.Namespace) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with common.server(args.target) as target:
        sampler = ArchSamplerSampler(
            target, study=args.study, strategy=args.strategy, seed=args.seed
        )
        study = optuna.create_study(
            direction="maximize",
            sampler=sampler,
            study_name=args.study,
            storage=args.storage,
            load_if_exists=True,
        )
        study.optimize(lambda t: objective(t, args.epochs), n_trials=args.trials, n_jobs=2)
        best = study.best_trial
        print(f"best architecture: {best.params}")
        test_acc = best.user_attrs["test_acc"]
        print(f"validation accuracy {best.value:.4f}, test accuracy {test_acc:.4f}")
    return 0


if __name__ == "__main__":
    storage = ("--storage", "Optuna storage URL, e.g. sqlite:///optuna.db (default: in memory)")
    sys.exit(main(common.parse_args(__doc__, "digits-optuna", storage)))
