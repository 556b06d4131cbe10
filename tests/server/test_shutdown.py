"""SIGTERM stops a server child process within its grace period, whatever it is doing."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import grpc
import pytest

from archsampler.server.app import DRAIN_SECONDS
from archsampler.testing import ServerProcess
from archsampler.testing.servers import child_pids
from archsampler.testing.servers import spawned_children
from archsampler_client import ArchSamplerError
from archsampler_client import Client

GRACE = 3.0
DRAIN = DRAIN_SECONDS  # the writer's time after the grace period
EXIT = 3.0  # interpreter exit on a machine other jobs keep busy


def _server(tmp_path: Path, **env: str) -> ServerProcess:
    return ServerProcess(
        tmp_path / "s.db",
        log=tmp_path / "server.log",
        ARCHSAMPLER_SHUTDOWN_GRACE_SECONDS=str(GRACE),
        **env,
    ).start()


def _sigterm(srv: ServerProcess, within: float) -> float:
    """SIGTERM `srv`; assert it exits with code 0 within `within` seconds; the time taken."""
    code, seconds = srv.terminate(timeout=within + 60)
    assert code == 0, f"exit code {code} after {seconds:.1f} s"
    assert seconds < within, f"exited {seconds:.1f} s after SIGTERM (limit {within:.1f} s)"
    return seconds


def _trainer(target: str, study: str, steps: int) -> None:
    """A trainer's loop over `study.session()` / `report_and_propose`, then it exits."""
    with Client(target) as client:
        handle = client.create_study(study, space="nb201", strategy="random")
        with handle.session() as session:
            (trial,) = session.propose(client_id=study)
            for step in range(steps):
                done, (trial,) = session.report_and_propose(
                    trial.id, value=step / steps, client_id=study
                )
                assert done.state == "COMPLETED"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _all_gone(pids: list[int], within: float = 10.0) -> bool:
    """Whether every process of `pids` exits (or is a zombie) within `within` seconds."""
    deadline = time.monotonic() + within
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(_alive(pid) for pid in pids)


def _training_server(tmp_path: Path) -> ServerProcess:
    """A server whose first model (due after 4 of 6 reported trials) trains far longer than
    any test, so its training child is running."""
    srv = _server(
        tmp_path,
        ARCHSAMPLER_MODEL_MIN_TRIALS="4",
        ARCHSAMPLER_MODEL_RETRAIN_EVERY="1",
        ARCHSAMPLER_MODEL_EPOCHS="100000",
        ARCHSAMPLER_MODEL_MIN_STEPS="1000000",
    )
    with Client(srv.target) as client:
        study = client.create_study("m", space="nb201", strategy="random")
        for k, trial in enumerate(study.propose(count=6)):
            study.report(trial.id, value=float(k))
    assert srv.proc is not None
    return srv


def test_sigterm_after_trainers_used_sessions_and_exited(tmp_path: Path) -> None:
    srv = _server(tmp_path, ARCHSAMPLER_MODEL_RETRAIN_EVERY="0")
    trainers = [
        threading.Thread(target=_trainer, args=(srv.target, f"t{k}", 25)) for k in range(2)
    ]
    for t in trainers:
        t.start()
    for t in trainers:
        t.join(120)
    with Client(srv.target) as client:
        assert [client.study(f"t{k}").info().completed_count for k in range(2)] == [25, 25]
    seconds = _sigterm(srv, GRACE + DRAIN + EXIT)
    assert seconds < GRACE, "no call was in flight: nothing to wait for"


def test_sigterm_with_a_session_held_open(tmp_path: Path) -> None:
    srv = _server(tmp_path, ARCHSAMPLER_MODEL_RETRAIN_EVERY="0")
    client = Client(srv.target, retries=0)
    study = client.create_study("held", space="nb201", strategy="random")
    session = study.session().__enter__()
    try:
        (trial,) = session.propose(client_id="w")
        session.report(trial.id, value=0.5)  # the stream is open and idle
        _sigterm(srv, GRACE + DRAIN + EXIT)
        with pytest.raises(ArchSamplerError) as gone:
            session.propose(client_id="w")
        assert gone.value.code == grpc.StatusCode.UNAVAILABLE
    finally:
        session.close()
        client.close()
    with ServerProcess(tmp_path / "s.db") as again:  # what was acknowledged is there
        with Client(again.target) as c:
            assert [t.value for t in c.study("held").trials(states=["COMPLETED"])] == [0.5]


def test_sigterm_while_a_model_trains_kills_the_training_child(tmp_path: Path) -> None:
    srv = _training_server(tmp_path)
    deadline = time.monotonic() + 60
    while not (children := child_pids(srv.proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert children, "no training child process started"
    time.sleep(1.0)  # well into the child's start-up (torch import) or training
    _sigterm(srv, GRACE + DRAIN + EXIT)
    assert _all_gone(children), "the training child outlived the server"
    models = tmp_path / "s.db.models"
    leftovers = [p.relative_to(models) for p in models.rglob("*")] if models.exists() else []
    assert not [p for p in leftovers if p.name.startswith((".v", "v"))], leftovers


def test_sigterm_with_a_propose_in_flight_behind_a_locked_database(tmp_path: Path) -> None:
    """The writer cannot commit (another process holds SQLite's write lock): the Propose is
    cancelled after the grace period and the server still exits on time, with code 0."""
    srv = _server(tmp_path, ARCHSAMPLER_MODEL_RETRAIN_EVERY="0")
    client = Client(srv.target, retries=0, timeout=120)
    study = client.create_study("slow", space="nb201", strategy="random")
    lock = sqlite3.connect(tmp_path / "s.db", isolation_level=None, timeout=30)
    lock.execute("BEGIN IMMEDIATE")  # the server's writer now waits for this lock
    outcome: list[BaseException | object] = []

    def propose() -> None:
        try:
            outcome.append(study.propose(count=1))
        except BaseException as e:  # noqa: BLE001 - checked below
            outcome.append(e)

    caller = threading.Thread(target=propose)
    caller.start()
    try:
        time.sleep(1.0)
        assert caller.is_alive() and not outcome, "the Propose should be waiting"
        seconds = _sigterm(srv, GRACE + DRAIN + EXIT)
        assert seconds > GRACE - 0.5, "the Propose in flight had the grace period to finish"
        caller.join(30)
        assert len(outcome) == 1 and isinstance(outcome[0], ArchSamplerError)
        assert outcome[0].code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    finally:
        lock.rollback()
        lock.close()
        client.close()
    log = (tmp_path / "server.log").read_text()
    assert "stopping without it" in log and "Traceback" not in log
    with ServerProcess(tmp_path / "s.db") as again:  # nothing was acknowledged: no trial
        with Client(again.target) as c:
            assert c.study("slow").info().trial_count == 0


def test_a_second_sigterm_exits_at_once_with_code_1(tmp_path: Path) -> None:
    srv = ServerProcess(
        tmp_path / "s.db",
        ARCHSAMPLER_SHUTDOWN_GRACE_SECONDS="60",
        ARCHSAMPLER_MODEL_RETRAIN_EVERY="0",
    ).start()
    with Client(srv.target, retries=0) as client:
        study = client.create_study("impatient", space="nb201", strategy="random")
        with study.session() as session:
            session.propose(client_id="w")  # an open Session: the grace period would be used
            assert srv.proc is not None
            proc = srv.proc
            proc.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            assert proc.poll() is None, "the first SIGTERM waits for the open Session"
            code, seconds = srv.terminate(timeout=60)
    assert code == 1 and seconds < EXIT, (code, seconds)


def test_sigterm_with_a_slow_propose_in_a_strategy_host(tmp_path: Path) -> None:
    """A CPU-bound Propose running in a strategy host process: the server still exits on
    time with code 0, and its host processes do not outlive it."""
    from archsampler.bench.isolation import max_candidates
    from archsampler.bench.load import LOAD_SPACE

    srv = _server(
        tmp_path, ARCHSAMPLER_MODEL_RETRAIN_EVERY="0", ARCHSAMPLER_STRATEGY_PROCESSES="1"
    )
    client = Client(srv.target, retries=0, timeout=120)
    study = client.create_study(
        "slow",
        space=LOAD_SPACE,
        strategy="lanas",
        strategy_options={"candidates": max_candidates()},
    )
    for t in study.propose(count=40):  # past lanas's initial samples: its tree proposes
        study.report(t.id, value=float(sum(map(ord, t.arch)) % 97))
    assert srv.proc is not None
    hosts = spawned_children(srv.proc.pid)
    assert len(hosts) == 1
    outcome: list[BaseException | object] = []

    def propose() -> None:
        try:
            outcome.append(study.propose(count=1000))
        except BaseException as e:  # noqa: BLE001 - checked below
            outcome.append(e)

    callers = [threading.Thread(target=propose) for _ in range(4)]  # one round of 4,000
    for caller in callers:
        caller.start()
    try:
        time.sleep(0.5)
        assert len(outcome) < len(callers), "the Proposes should still be computing"
        _sigterm(srv, GRACE + DRAIN + EXIT)
        for caller in callers:
            caller.join(30)
        assert len(outcome) == len(callers)
        assert all(isinstance(o, (list, ArchSamplerError)) for o in outcome), outcome
    finally:
        client.close()
    assert _all_gone(hosts), "the strategy host outlived the server"
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_strategy_hosts_exit_when_the_server_is_sigkilled(tmp_path: Path) -> None:
    srv = _server(
        tmp_path, ARCHSAMPLER_MODEL_RETRAIN_EVERY="0", ARCHSAMPLER_STRATEGY_PROCESSES="2"
    )
    with Client(srv.target) as client:
        for name in ("a", "b"):
            client.create_study(name, space="nb201", strategy="random").propose(count=1)
    assert srv.proc is not None
    hosts = spawned_children(srv.proc.pid)
    assert len(hosts) == 2
    srv.stop(kill=True)
    assert _all_gone(hosts), "a strategy host outlived a SIGKILLed server"


def _state(pid: int) -> str:
    """The process state letter of `pid` ("T": stopped), "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def test_a_strategy_host_stopped_by_pacing_exits_when_the_server_is_sigkilled(
    tmp_path: Path,
) -> None:
    """Pacing stops a host between slices of a bulk Propose while another study reports;
    a stopped process cannot poll for its parent, so the kernel must kill it (Linux:
    parent-death signal) when the server dies in the middle of a pause."""
    srv = _server(
        tmp_path,
        ARCHSAMPLER_MODEL_RETRAIN_EVERY="0",
        ARCHSAMPLER_STRATEGY_PROCESSES="1",
        ARCHSAMPLER_BULK_SHARE="0.01",  # stopped ~96 % of the time while paced
    )
    space = {"params": [{"name": f"p{i}", "type": "int", "low": 0, "high": 99} for i in range(6)]}
    stop = threading.Event()
    with Client(srv.target, timeout=120) as client:
        a = client.create_study("a", space=space, strategy="random")
        b = client.create_study("b", space=space, strategy="random")
        stock = a.propose(count=1000)
        b.propose(count=1)  # b's strategy lives in the host now
        assert srv.proc is not None
        (host,) = spawned_children(srv.proc.pid)

        def reporting() -> None:
            while stock and not stop.is_set():
                with contextlib.suppress(ArchSamplerError, grpc.RpcError):
                    a.report(stock.pop().id, value=1.0)
                time.sleep(0.01)

        def bulk() -> None:
            while not stop.is_set():
                with contextlib.suppress(ArchSamplerError, grpc.RpcError):
                    b.propose(count=1000)

        threads = [threading.Thread(target=f, daemon=True) for f in (reporting, bulk)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while _state(host) != "T" and time.monotonic() < deadline:
            time.sleep(0.001)
        stopped = _state(host) == "T"
        srv.stop(kill=True)
        stop.set()
        for t in threads:  # their calls fail fast now: the server is gone
            t.join(timeout=60)
    assert stopped, "pacing never stopped the strategy host"
    assert _all_gone([host]), "a stopped strategy host outlived a SIGKILLed server"


def _maps(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return ""


def test_a_training_child_killed_mid_training_leaves_nothing_to_clean_up(tmp_path: Path) -> None:
    """SIGTERM once the child trains (torch loaded): multiprocessing's resource tracker has
    nothing of it to clean up, so no "leaked semaphore" warning reaches the server's log
    (tqdm's default lock is such a semaphore; the child uses a thread lock)."""
    srv = _training_server(tmp_path)
    deadline = time.monotonic() + 120
    children: list[int] = []
    while time.monotonic() < deadline:
        children = child_pids(srv.proc.pid)
        if any("libtorch" in _maps(pid) for pid in children):
            break
        time.sleep(0.2)
    else:
        pytest.fail("no training child loaded torch")
    time.sleep(3.0)  # from the import into `train_nao` (the first epoch of 100,000)
    _sigterm(srv, GRACE + DRAIN + EXIT)
    assert _all_gone(children)  # the resource tracker included
    assert "leaked semaphore" not in (tmp_path / "server.log").read_text()
