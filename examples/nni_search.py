"""The digits CNN search through an NNI experiment (local mode), with archsampler's
`ArchSamplerTuner` as NNI's tuner: NNI's manager asks the tuner for parameters, starts
`nni_trial.py` with them (two at a time), and the tuner reports each final result.
Same trainer and same space as the SDK example (`digits.SPACE`), in NNI's format.
Run: `.venv/bin/python examples/nni_search.py --trials 20 --epochs 10`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import common
from nni.experiment import CustomAlgorithmConfig
from nni.experiment import Experiment

from archsampler.testing import free_port
from archsampler_client import Client

SPACE = {
    "layers": {"_type": "randint", "_value": [1, 4]},  # 1..3
    "channels": {"_type": "choice", "_value": [8, 16, 24, 32]},
    "kernel": {"_type": "choice", "_value": [3, 5]},
    "activation": {"_type": "choice", "_value": ["relu", "gelu", "tanh"]},
    "dropout": {"_type": "uniform", "_value": [0.0, 0.5]},
    "lr": {"_type": "loguniform", "_value": [1e-3, 3e-2]},
}


def main(args: argparse.Namespace) -> int:
    with common.server(args.target) as target, tempfile.TemporaryDirectory() as runs:
        exp = Experiment("local")
        exp.config.experiment_working_directory = runs
        exp.config.trial_command = f"{sys.executable} nni_trial.py {args.epochs}"
        exp.config.trial_code_directory = Path(__file__).parent
        exp.config.search_space = SPACE
        exp.config.tuner = CustomAlgorithmConfig(
            class_name="archsampler_client.integrations.nni.ArchSamplerTuner",
            class_args={
                "target_or_engine": target,
                "study": args.study,
                "strategy": args.strategy,
                "seed": args.seed,
            },
        )
        exp.config.max_trial_number, exp.config.trial_concurrency = args.trials, 2
        done = exp.run(free_port())
        succeeded = sum(job.status == "SUCCEEDED" for job in exp.list_trial_jobs())
        exp.stop()
        print(f"NNI experiment {'done' if done else 'FAILED'}: {succeeded} trials succeeded")
        with Client(target) as client:
            best = client.study(args.study).best()
        print(f"best architecture: {best.arch}")
        print(f"validation accuracy {best.value:.4f}")
    return 0 if done and succeeded == args.trials else 1


if __name__ == "__main__":
    sys.exit(main(common.parse_args(__doc__, "digits-nni")))
