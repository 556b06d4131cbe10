"""Restart acceptance (issue 13): for every registered strategy, a seeded study whose server
is killed (SIGKILL) and restarted proposes what the same study on a server that was never
restarted proposes next.

Two server processes over two SQLite files get the same calls: per strategy one study (same
seed, NB201), rounds of Propose(4) with three of the four reported (values a fixed function
of the architecture, one failure per round, one trial left PENDING). Server A is then
SIGKILLed and started again on its file; both propose once more. The strategies come from
the STRATEGIES registry at run time, so a new strategy is covered without editing this file.

A third server C runs every strategy in strategy host processes
(`ARCHSAMPLER_STRATEGY_PROCESSES`) and gets B's calls too: its proposals must equal B's,
also after its host processes are SIGKILLed (the strategies are rebuilt from storage on new
hosts, and the Propose that finds its host dead is answered, not failed).
NAO models stay off (`ARCHSAMPLER_MODEL_MIN_TRIALS` out of reach): a model is an input that
arrives asynchronously from a training child, not state rebuilt from the trial log.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from archsampler.strategies import STRATEGIES
from archsampler.testing import ServerProcess
from archsampler.testing.servers import spawned_children
from archsampler_client import Client

ROUNDS = 11  # 33 reports: past lanas init (10), hierarchical init (20), mid reinforce batch
SEED = 11
ENV = {"ARCHSAMPLER_MODEL_MIN_TRIALS": "1000000", "ARCHSAMPLER_LOG_LEVEL": "WARNING"}
HOSTS = {**ENV, "ARCHSAMPLER_STRATEGY_PROCESSES": "2"}


def value_of(arch_hash: str) -> float:
    return int(arch_hash[:6], 16) / 2**24


def history(client: Client, study: str) -> list[list[str]]:
    """The proposal rounds of one study (reporting as described in the module docstring)."""
    s = client.study(study)
    rounds = []
    for r in range(ROUNDS):
        trials = s.propose(4, request_id=f"{study}-{r}")
        rounds.append([t.arch for t in trials])
        for i, t in enumerate(trials[:3]):
            if i == 2 and r % 2:
                s.report(t.id, failed="diverged")
            else:
                s.report(t.id, value=value_of(t.arch_hash))
    return rounds


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple]]:
    """Per strategy: (history on A, history on B, next on restarted A, next on B, history
    on C, next on C after its hosts were killed), or the error a call met; under "hosts",
    C's host processes before the kill."""
    d = tmp_path_factory.mktemp("restart")
    a = ServerProcess(d / "a.db", log=d / "a.log", **ENV).start()
    b = ServerProcess(d / "b.db", log=d / "b.log", **ENV).start()
    c = ServerProcess(d / "c.db", log=d / "c.log", **HOSTS).start()
    results: dict[str, tuple] = {}
    try:
        with Client(a.target) as ca, Client(b.target) as cb, Client(c.target) as cc:
            for name in sorted(STRATEGIES):
                try:
                    for client in (ca, cb, cc):
                        client.create_study(f"s-{name}", space="nb201", strategy=name, seed=SEED)
                    results[name] = tuple(history(x, f"s-{name}") for x in (ca, cb, cc))
                except Exception as e:  # noqa: BLE001 - reported per strategy
                    results[name] = (e,)
        hosts = spawned_children(c.proc.pid)  # no model trains: the strategy hosts
        for pid in hosts:
            os.kill(pid, signal.SIGKILL)
        a.stop(kill=True)
        a.start()
        with Client(a.target) as ca, Client(b.target) as cb, Client(c.target) as cc:
            for name, got in list(results.items()):
                if len(got) != 3:
                    continue
                try:
                    after = [t.arch for t in ca.study(f"s-{name}").propose(4)]
                    running = [t.arch for t in cb.study(f"s-{name}").propose(4)]
                    rehosted = [t.arch for t in cc.study(f"s-{name}").propose(4)]
                    results[name] = (got[0], got[1], after, running, got[2], rehosted)
                except Exception as e:  # noqa: BLE001 - reported per strategy
                    results[name] = (e,)
        yield {**results, "hosts": hosts}
    finally:
        a.stop(kill=True)
        b.stop(kill=True)
        c.stop(kill=True)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_restarted_study_proposes_what_a_running_one_would(
    outcome: dict[str, tuple], strategy: str
) -> None:
    got = outcome[strategy]
    assert len(got) == 6, f"{strategy}: a call failed: {got[0]!r}"
    on_a, on_b, after_restart, without_restart, on_c, rehosted = got
    assert on_a == on_b, f"{strategy}: two servers given the same calls diverged before any kill"
    assert after_restart == without_restart, (
        f"{strategy}: after SIGKILL + restart it proposed {after_restart}, a server never "
        f"restarted proposed {without_restart}"
    )
    seen = {arch for rnd in on_a for arch in rnd}
    assert not seen & set(after_restart)
    assert on_c == on_b, f"{strategy}: in a strategy host it proposed otherwise than in-process"
    assert rehosted == without_restart, (
        f"{strategy}: after its host was killed it proposed {rehosted}, not {without_restart}"
    )


def test_every_registered_strategy_is_covered(outcome: dict[str, tuple]) -> None:
    assert set(outcome) - {"hosts"} == set(STRATEGIES) and len(STRATEGIES) >= 4
    assert len(outcome["hosts"]) == 2  # C ran its strategies in two host processes
