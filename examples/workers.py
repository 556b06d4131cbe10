"""Two worker processes search the digits CNN through the archsampler SDK.

Each worker keeps one `Session` stream open: it proposes an architecture, trains it
(`digits.train`), then reports its validation accuracy and gets the next architecture in
one `report_and_propose` step. The study is created once, by this driver; the workers
only know its name. Run: `.venv/bin/python examples/workers.py --trials 20 --epochs 10`.
"""

from __future__ import annotations

import multiprocessing
import sys

import common
import digits

from archsampler_client import Client


def worker(target: str, study: str, trials: int, epochs: int, client_id: str) -> None:
    """Train `trials` architectures proposed by `study`, reporting each."""
    with Client(target) as client, client.study(study).session() as session:
        (trial,) = session.propose(client_id=client_id)
        for i in range(trials):
            try:
                r = digits.train(trial.params, epochs=epochs)
                meta = {"test_acc": f"{r['test_acc']:.4f}", "epochs": str(r["epochs_run"])}
                outcome = {"value": r["valid_acc"], "metadata": meta}
            except Exception as err:  # a trial that crashes is reported, not lost
                outcome = {"failed": f"{type(err).__name__}: {err}"}
            if i == trials - 1:
                session.report(trial.id, **outcome)
            else:
                _, (trial,) = session.report_and_propose(trial.id, client_id=client_id, **outcome)
            print(f"{client_id}: {i + 1}/{trials} {outcome.get('value', outcome)}", flush=True)


def main() -> int:
    args = common.parse_args(__doc__, study="digits-sdk")
    with common.server(args.target) as target, Client(target) as client:
        study = client.create_study(
            args.study, space=digits.SPACE, strategy=args.strategy, seed=args.seed
        )
        spawn = multiprocessing.get_context("spawn")  # fresh interpreters: safe with torch
        shares = [args.trials // 2 + args.trials % 2, args.trials // 2]
        workers = [
            spawn.Process(target=worker, args=(target, study.name, n, args.epochs, f"worker-{k}"))
            for k, n in enumerate(shares, start=1)
            if n
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if any(w.exitcode for w in workers):
            print(f"worker exit codes: {[w.exitcode for w in workers]}", file=sys.stderr)
            return 1
        best = study.best()
        print(f"best architecture: {best.arch}")
        print(f"validation accuracy {best.value:.4f}, test accuracy {best.metadata['test_acc']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
