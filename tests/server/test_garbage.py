"""Refused calls leave nothing to the garbage collector.

A collector pass stops every thread of the server (the event loop and the writer included),
so a call that leaves a reference cycle behind makes other studies' Reports wait: with
clients retrying a Propose on an exhausted space ~130 times a second, the server collected
~58,000 objects in 30 s (each error's traceback held frames that held the error) in passes
of 1-9 ms every ~0.5 s. The server runs in this process here, on its own event
loop thread, so the test can look at what the collector finds.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path

import pytest

from archsampler.config import Settings
from archsampler.server.app import start_server
from archsampler.testing.assertions import service_garbage
from archsampler_client import ArchSamplerError
from archsampler_client import Client

EXHAUSTED = {  # x in 0..99 with x <= 0.5: only x = 0 is feasible
    "params": [{"name": "x", "type": "int", "low": 0, "high": 99}],
    "constraints": [{"coefficients": {"x": 1.0}, "op": "<=", "bound": 0.5}],
}
SPACE = {"params": [{"name": "x", "type": "int", "low": 0, "high": 99}]}


@pytest.fixture()
def in_process_server(tmp_path: Path):
    """A real gRPC server on loopback, run by an event loop thread of this process."""
    settings = Settings(db=f"sqlite:///{tmp_path / 'g.db'}", port=0, model_retrain_every=0)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(start_server(settings), loop).result(60)
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        asyncio.run_coroutine_threadsafe(running.stop(5.0), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_refused_and_failed_calls_leave_no_reference_cycles(in_process_server: str) -> None:
    with Client(in_process_server, timeout=60) as client:
        tight = client.create_study("tight", space=EXHAUSTED, strategy="random")
        other = client.create_study("other", space=SPACE, strategy="random")
        first = tight.propose(count=1)  # the one feasible architecture
        stock = other.propose(count=20)
        refused: list[str] = []

        def calls() -> None:
            for _ in range(20):  # unary, then in a Session: every one refused
                with pytest.raises(ArchSamplerError) as e:
                    tight.propose(count=1)
                refused.append(e.value.code.name)
            with tight.session() as ops:
                for _ in range(20):
                    with pytest.raises(ArchSamplerError) as e:
                        ops.propose(count=1)
                    refused.append(e.value.code.name)
                for _ in range(10):  # a trial of another study: NOT_FOUND from the writer
                    with pytest.raises(ArchSamplerError) as e:
                        ops.report(stock[0].id, value=1.0)
                    refused.append(e.value.code.name)
            for t in stock[:10]:
                other.report(t.id, value=1.0)
            with other.session() as ops:
                for t in stock[10:]:
                    ops.report(t.id, value=1.0)

        found = service_garbage(calls)
        assert refused == ["RESOURCE_EXHAUSTED"] * 40 + ["NOT_FOUND"] * 10, refused
        assert found == Counter(), found
        assert [t.state.name for t in other.trials()] == ["COMPLETED"] * 20
        assert [t.arch for t in tight.trials()] == [first[0].arch]  # the refusals stored nothing
