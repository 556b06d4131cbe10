"""Parallel trainers get distinct work, and a killed server loses no acknowledged report."""

from __future__ import annotations

import threading
import time

from archsampler.testing import ServerProcess
from archsampler_client import Client


def test_eight_trainers_distinct_archs_across_a_kill_and_restart(tmp_path) -> None:
    srv = ServerProcess(tmp_path / "s.db").start()
    acked: dict[int, tuple[str, float]] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    with Client(srv.target) as c:
        c.create_study("par", space="nb201", strategy="random", seed=7)

    def trainer(k: int) -> None:
        try:
            with Client(srv.target, retries=12) as c:
                study = c.study("par")
                for _ in range(25):
                    (trial,) = study.propose(count=1, client_id=f"w{k}")
                    value = float(trial.id % 97)
                    done = study.report(trial.id, value=value)
                    with lock:
                        acked[done.id] = (done.arch_hash, value)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=trainer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    while len(acked) < 60 and not errors:
        time.sleep(0.01)
    srv.stop(kill=True)  # SIGKILL mid-flight: in-flight calls are retried by the SDK
    srv.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    with Client(srv.target) as c:
        trials = list(c.study("par").trials())
    srv.stop()
    assert len(acked) == 200
    assert len({h for h, _ in acked.values()}) == 200
    stored = {t.id: (t.arch_hash, t.value) for t in trials}
    assert {k: stored[k] for k in acked} == acked  # every acknowledged report survived
    assert all(t.state == "COMPLETED" for t in trials) and len(trials) == 200


def test_graceful_restart_keeps_reported_trials(tmp_path) -> None:
    with ServerProcess(tmp_path / "r.db") as srv:
        with Client(srv.target) as c:
            study = c.create_study("keep", space="nb201", strategy="random")
            for t in study.propose(count=20):
                study.report(t.id, value=float(t.number))
            pending = study.propose(count=3)
        srv.stop()
        srv.start()
        with Client(srv.target) as c:
            study = c.create_study("keep", space="nb201", strategy="random")
            trials = list(study.trials())
            assert [t.value for t in trials[:20]] == [float(i) for i in range(20)]
            assert [t.state for t in trials[20:]] == ["PENDING"] * 3
            fresh = study.propose(count=50)
            old = {t.arch_hash for t in trials}
            assert not old & {t.arch_hash for t in fresh}
            assert study.best().value == 19.0
            assert {t.id for t in pending} <= {t.id for t in trials}
