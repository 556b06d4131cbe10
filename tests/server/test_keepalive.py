"""Leases that keep themselves (issue 14 item 3), against a real server with a 5 s lease:
a trainer that works 30 s with `study.keep_alive` stays PENDING and reports; a killed
trainer's trial turns STALE when its last lease ends (one lease after its last heartbeat,
never extended after death); `release` gives a trial back at once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from archsampler.testing import ServerThread
from archsampler_client import ArchSamplerError
from archsampler_client import AsyncClient
from archsampler_client import Client
from archsampler_client import TrialState

LEASE = 5.0
SPACE = {"params": [{"name": "x", "type": "int", "low": 0, "high": 1}]}
TRAINER = """
import sys, time
from archsampler_client import Client
target, work = sys.argv[1], float(sys.argv[2])
with Client(target) as client:
    study = client.study("lease")
    trial = study.propose(1, client_id=f"trainer-{work}")[0]
    print(trial.id, flush=True)
    with study.keep_alive(trial) as keeper:
        time.sleep(work)
    assert keeper.lost is None and keeper.beats >= work / 2, (keeper.lost, keeper.beats)
    study.report(trial.id, 0.5)
    print("reported", keeper.beats, flush=True)
"""


def _state(client: Client, trial_id: int) -> TrialState:
    return next(t.state for t in client.study("lease").trials() if t.id == trial_id)


def _trainer(target: str, work: float) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", TRAINER, target, str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip().isdigit(), (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, int(line)


def test_kept_alive_trainer_outlives_the_lease_and_a_killed_one_turns_stale(
    tmp_path: Path,
) -> None:
    with ServerThread(tmp_path / "k.db", lease_seconds=LEASE) as srv, Client(srv.target) as c:
        c.create_study("lease", SPACE, "random")
        started = time.time()
        worker, worker_trial = _trainer(srv.target, 30.0)
        victim, victim_trial = _trainer(srv.target, 3600.0)
        time.sleep(2.0)
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.time()
        victim.wait()
        expires = next(t for t in c.study("lease").trials() if t.id == victim_trial)
        assert expires.state == TrialState.PENDING  # its last lease still runs
        assert expires.lease_expires_at - killed_at <= LEASE  # not extended after death
        stale_at = None
        while worker.poll() is None:
            if stale_at is None and _state(c, victim_trial) == TrialState.STALE:
                stale_at = time.time()
            state = _state(c, worker_trial)  # PENDING until reported after 30 s of work
            assert state == TrialState.PENDING or (
                state == TrialState.COMPLETED and time.time() - started >= 30.0
            ), state
            time.sleep(0.25)
        out, err = worker.communicate()
        assert worker.returncode == 0, err
        assert out.startswith("reported")
        # STALE once its lease ended: the sweep runs every lease/20 (0.25 s), polls every
        # 0.25 s on a busy 2-core machine, hence 1 s of slack
        assert stale_at is not None, "the killed trainer's trial never turned STALE"
        assert expires.lease_expires_at <= stale_at <= expires.lease_expires_at + 1.0
        done = next(t for t in c.study("lease").trials() if t.id == worker_trial)
        assert (done.state, done.value) == (TrialState.COMPLETED, 0.5)
        assert done.finished_at - done.created_at >= 30.0


def test_async_keep_alive_and_release(tmp_path: Path) -> None:
    with ServerThread(tmp_path / "a.db", lease_seconds=1.0) as srv:

        async def run() -> None:
            async with AsyncClient(srv.target) as client:
                study = await client.create_study("lease", SPACE, "random")
                trial = (await study.propose(1))[0]
                async with study.keep_alive(trial) as keeper:
                    await asyncio.sleep(4.0)  # four leases
                    assert (await study.heartbeat(trial.id)).state == TrialState.PENDING
                assert keeper.lost is None and keeper.beats >= 8
                await study.report(trial.id, 0.25)

                other = (await study.propose(1))[0]
                async with study.keep_alive(other, every=0.1) as keeper:
                    await study.release(other.id)
                    await asyncio.sleep(0.5)
                assert keeper.lost is not None
                assert keeper.lost.code == grpc.StatusCode.FAILED_PRECONDITION

        asyncio.run(run())


def test_release_gives_the_architecture_back(tmp_path: Path) -> None:
    with ServerThread(tmp_path / "r.db") as srv, Client(srv.target, retries=0) as client:
        study = client.create_study("lease", SPACE, "random")
        first, second = study.propose(2)
        assert {first.params["x"], second.params["x"]} == {0, 1}
        with pytest.raises(ArchSamplerError) as full:
            study.propose(1)
        assert full.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED

        released = study.release(second.id)
        assert released.state == TrialState.STALE
        again = study.propose(1)[0]
        assert again.params == second.params and again.id != second.id

        study.report(first.id, 1.0)
        for trial_id in (first.id, second.id):  # COMPLETED, STALE: nothing to release
            with pytest.raises(ArchSamplerError) as info:
                study.release(trial_id)
            assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
            assert "only PENDING trials can be released" in info.value.details
        with pytest.raises(ArchSamplerError) as info:
            study.keep_alive(first.id).start()  # not PENDING: refused on entry
        assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION

        client.create_study("elsewhere", SPACE, "random")
        with pytest.raises(ArchSamplerError) as info:  # another study's trial
            client.study("elsewhere").release(again.id)
        assert info.value.code == grpc.StatusCode.NOT_FOUND
        with pytest.raises(ValueError, match="every must be > 0"):
            study.keep_alive(again, every=0).start()
