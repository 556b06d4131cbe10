"""lanas over gRPC: 16 parallel trainers get 16 distinct architectures; restart rebuilds."""

from __future__ import annotations

import threading

from archsampler.bench.tables import load_table
from archsampler.spaces.nb201 import NB201Space
from archsampler.testing import ServerProcess
from archsampler_client import Client

CLIENTS = 16


def run_round(target: str, acc) -> list:
    """16 clients propose one architecture each at the same moment, then report it."""
    barrier = threading.Barrier(CLIENTS)
    got: list = [None] * CLIENTS
    errors: list[BaseException] = []

    def trainer(k: int) -> None:
        try:
            with Client(target) as c:
                study = c.study("par")
                barrier.wait(timeout=60)
                (trial,) = study.propose(count=1, client_id=f"t{k}")
                got[k] = trial
                barrier.wait(timeout=60)  # all 16 are pending before anyone reports
                study.report(trial.id, value=acc(trial.arch))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=trainer, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    return got


def test_sixteen_parallel_trainers_and_a_restart(tmp_path, benchmarks) -> None:
    space = NB201Space()
    table = load_table(benchmarks / "nb201" / "nb201_cifar10.csv", space)

    def acc(arch: str) -> float:
        return table.value(space.from_string(arch), "c10_valid_acc")

    srv = ServerProcess(tmp_path / "l.db", ARCHSAMPLER_MODEL_RETRAIN_EVERY="0").start()
    try:
        with Client(srv.target) as c:
            c.create_study("par", space="nb201", strategy="lanas", seed=3)
        seen: set[str] = set()
        regions: list[str] = []
        for rnd in range(10):
            if rnd == 5:
                srv.stop(kill=True)  # the tree must be rebuilt from the trial log
                srv.start()
            trials = run_round(srv.target, acc)
            hashes = {t.arch_hash for t in trials}
            assert len(hashes) == CLIENTS, f"round {rnd}: duplicates"
            assert not hashes & seen, f"round {rnd}: re-proposed an evaluated architecture"
            seen |= hashes
            regions += [t.region for t in trials] if rnd >= 5 else []
        with Client(srv.target) as c:
            stored = list(c.study("par").trials())
    finally:
        srv.stop()
    assert len(stored) == 10 * CLIENTS and all(t.state == "COMPLETED" for t in stored)
    # After the restart, proposals come from learned regions (L/R paths), not the root only.
    assert sum(r[:1] in ("L", "R") for r in regions) >= CLIENTS
    # Learned proposals are better than the table's average cell.
    late = [t.value for t in stored[-3 * CLIENTS :]]
    assert sum(late) / len(late) > table.columns["c10_valid_acc"].mean()
