"""`archsampler demo`: serve, then search NAS-Bench-201 through the client SDK."""

from __future__ import annotations

import argparse
import contextlib
import sys

from tqdm import tqdm

from archsampler.bench.tables import PACKAGED_NB201
from archsampler.bench.tables import load_table
from archsampler.spaces.nb201 import NB201Space
from archsampler.testing import ServerProcess
from archsampler_client import Client


def run_demo(args: argparse.Namespace) -> int:
    """Search NB201 on the table this package ships (no `../shared/` needed)."""
    space = NB201Space()
    try:
        table = load_table(PACKAGED_NB201, space)
    except (FileNotFoundError, OSError, ValueError) as e:
        print(f"archsampler demo: cannot read the packaged NB201 table: {e}", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        target = args.target or stack.enter_context(ServerProcess(args.db)).target
        client = stack.enter_context(Client(target))
        study = client.create_study(
            f"demo-{args.strategy}", space="nb201", strategy=args.strategy, seed=args.seed
        )
        done = study.info().completed_count
        with tqdm(total=args.trials, desc=f"{args.strategy} on NB201", unit="trial") as bar:
            evaluated = 0
            while evaluated < args.trials:
                for trial in study.propose(
                    count=min(args.batch, args.trials - evaluated), client_id="demo"
                ):
                    acc = table.value(space.from_string(trial.arch), "c10_valid_acc")
                    study.report(trial.id, value=acc)
                    evaluated += 1
                    bar.update()
        best = study.best()
        arch = space.from_string(best.arch)
        test_acc = table.value(arch, "c10_test_acc")
        top = float(table.columns["c10_valid_acc"].max())
    print(f"study {study.name}: {evaluated} trials this run ({done} before)")
    print(f"best architecture: {best.arch}")
    print(
        f"  CIFAR-10 valid accuracy {best.value:.4f} (table best {top:.4f}), "
        f"test accuracy {test_acc:.4f}"
    )
    return 0
