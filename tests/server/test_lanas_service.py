"""lanas over gRPC: 16 parallel trainers get 16 distinct architectures; after SIGKILL the
restarted server rebuilds the same tree from the trial log."""

from __future__ import annotations

import re
import threading

import pytest

from archsampler.bench.tables import load_table
from archsampler.spaces.nb201 import NB201Space
from archsampler.strategies.base import Observation
from archsampler.strategies.lanas import LaNASStrategy
from archsampler.testing import ServerProcess
from archsampler.testing.spaces import categorical_space
from archsampler_client import Client
from archsampler_client import InvalidArgumentError

CLIENTS = 16
SPACE = NB201Space()


def run_round(target: str, acc) -> list:  # noqa: ANN001
    """16 clients propose one architecture each at the same moment; then the trials are
    reported one by one in id order (so the log's finish order is known)."""
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
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=trainer, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    report(target, got, acc)
    return got


def report(target: str, trials: list, acc) -> None:  # noqa: ANN001
    with Client(target) as c:
        study = c.study("par")
        for trial in sorted(trials, key=lambda t: t.id):
            study.report(trial.id, value=acc(trial.arch))


def replayed_tree(target: str) -> LaNASStrategy:
    """A lanas strategy with the study's options fed the log in finish order (= id order)."""
    with Client(target) as c:
        trials = sorted(c.study("par").trials(), key=lambda t: t.id)
    strategy = LaNASStrategy(SPACE, seed=3)
    strategy.observe(
        [Observation(SPACE.from_string(t.arch), t.value) for t in trials if t.state == "COMPLETED"]
    )
    return strategy


def signature(strategy: LaNASStrategy) -> list[tuple]:
    """Splits, regions and sizes: path, count, total, regressor and threshold of every node."""
    return [
        (
            n.path,
            n.count,
            round(n.total, 9),
            n.fit_n,
            None if n.w is None else tuple(round(float(v), 9) for v in n.w),
            round(n.threshold, 9) if not n.is_leaf else None,
        )
        for n in strategy.tree.nodes()
    ]


def assert_server_tree_is(target: str, strategy: LaNASStrategy) -> list:
    """16 proposals of one call: the server labels each with the leaf of ITS tree that holds
    it (proposals lie in their leaf), so every label must be the leaf `strategy`'s tree
    routes the proposal to. Returns the (pending) trials."""
    with Client(target) as c:
        trials = c.study("par").propose(count=CLIENTS, client_id="probe")
    leaves = {leaf.path for leaf in strategy.tree.leaves()}
    assert len(leaves) >= 4
    labels = [t.region for t in trials]
    assert set(labels) <= leaves, (labels, leaves)
    for t in trials:
        assert strategy.tree.route(SPACE.encode(SPACE.from_string(t.arch))).path == t.region
    assert len(set(labels)) > 1  # pending visits spread one call over several leaves
    return trials


def test_sixteen_parallel_trainers_and_a_restart(tmp_path, benchmarks) -> None:  # noqa: ANN001
    table = load_table(benchmarks / "nb201" / "nb201_cifar10.csv", SPACE)

    def acc(arch: str) -> float:
        return table.value(SPACE.from_string(arch), "c10_valid_acc")

    srv = ServerProcess(tmp_path / "l.db", ARCHSAMPLER_MODEL_RETRAIN_EVERY="0").start()
    try:
        with Client(srv.target) as c:
            c.create_study("par", space="nb201", strategy="lanas", seed=3)
        seen: set[str] = set()
        probes: list = []
        for rnd in range(10):
            if rnd == 5:
                before = replayed_tree(srv.target)
                probes += assert_server_tree_is(srv.target, before)
                srv.stop(kill=True)  # the tree must be rebuilt from the trial log
                srv.start()
                after = replayed_tree(srv.target)
                assert signature(after) == signature(before)  # the log survived intact
                probes += assert_server_tree_is(srv.target, after)  # and the server rebuilt it
                report(srv.target, probes, acc)
                seen |= {t.arch_hash for t in probes}
            trials = run_round(srv.target, acc)
            hashes = {t.arch_hash for t in trials}
            assert len(hashes) == CLIENTS, f"round {rnd}: duplicates"
            assert not hashes & seen, f"round {rnd}: re-proposed an evaluated architecture"
            seen |= hashes
        with Client(srv.target) as c:
            stored = list(c.study("par").trials())
    finally:
        srv.stop()
    assert len(stored) == 12 * CLIENTS and all(t.state == "COMPLETED" for t in stored)
    assert len({t.arch_hash for t in stored}) == len(stored)  # distinct networks
    # Learned proposals are better than the table's average cell.
    late = [t.value for t in stored[-3 * CLIENTS :]]
    assert sum(late) / len(late) > table.columns["c10_valid_acc"].mean()


def test_out_of_bound_options_are_invalid_argument(client) -> None:  # noqa: ANN001
    for options, message in [
        ({"candidates": 1e12}, "'candidates' must be an integer in [1, 2000]"),
        ({"height": 13}, "'height' must be an integer in [1, 12]"),
        ({"explore": -0.5}, "'explore' must be a number in [0, 1]"),
        ({"leaf_rule": "keep"}, "'leaf_rule' must be one of ['reject', 'relabel']"),
    ]:
        with pytest.raises(InvalidArgumentError, match=re.escape(message)):
            client.create_study("bad", space="nb201", strategy="lanas", strategy_options=options)
    assert [s.name for s in client.list_studies()] == []
    ok = client.create_study(
        "ok", space="nb201", strategy="lanas", strategy_options={"candidates": 2000}
    )
    assert len(ok.propose(count=3)) == 3


def test_spaces_too_wide_for_lanas_are_refused_at_creation(client) -> None:  # noqa: ANN001
    space = categorical_space
    with pytest.raises(InvalidArgumentError, match="at most 512 features.*has 1024"):
        client.create_study("wide", space=space(4, 256), strategy="lanas")
    assert [s.name for s in client.list_studies()] == []
    widest = client.create_study("w512", space=space(8, 64), strategy="lanas")
    assert len(widest.propose(count=2)) == 2
    other = client.create_study("wide-evo", space=space(4, 256), strategy="evolution")
    assert len(other.propose(count=2)) == 2
