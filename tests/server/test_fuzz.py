"""Fuzzing every RPC: no INTERNAL/UNKNOWN, no hang, nothing acknowledged is lost or changed."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import given
from hypothesis import settings

from archsampler.testing import ServerThread
from archsampler.testing.fuzz import DRAWN
from archsampler.testing.fuzz import FLOOD
from archsampler.testing.fuzz import METHODS
from archsampler.testing.fuzz import Fuzzer
from archsampler.testing.fuzz import Harvest
from archsampler.testing.fuzz import RequestGen
from archsampler.testing.fuzz import requests
from archsampler.testing.fuzz import run_fuzz
from archsampler_client.proto import archsampler_pb2 as pb


def _harvest() -> Harvest:
    """A harvest as after setup, without a server: one study with one known architecture."""
    h = Harvest(studies=["fz-nb201"])
    arch = pb.Architecture(text="|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    h.add_trial(pb.Trial(id=7, study="fz-nb201", architecture=arch))
    return h


def _encode(request) -> bytes:
    if isinstance(request, int):  # Health.Watch: how many streams
        return str(request).encode()
    messages = request if isinstance(request, list) else [request]  # Session: a stream
    return b"".join(x.SerializeToString(deterministic=True) for x in messages)


def test_generator_is_seeded_covers_every_rpc_and_always_encodes() -> None:
    def draws(seed: int) -> list[tuple[str, bytes]]:
        gen = RequestGen(random.Random(seed), _harvest())
        return [(m, _encode(r)) for m, r in (gen.draw() for _ in range(600))]

    first = draws(5)
    assert first == draws(5)
    assert first != draws(6)
    assert {m for m, _ in first} == set(DRAWN) > set(METHODS)
    assert len(METHODS) >= 12 and "Session" in METHODS


@pytest.fixture()
def fuzz_server(tmp_path):
    with ServerThread(tmp_path / "fuzz.db") as srv:
        yield srv


def test_hypothesis_requests_never_break_the_server(fuzz_server) -> None:
    with Fuzzer(fuzz_server.target, timeout=60) as fuzzer:
        assert fuzzer.result.ok and len(fuzzer.harvest.acked) == 6

        @settings(
            max_examples=120,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # the server is stateful: no shrinking
            suppress_health_check=list(HealthCheck),
        )
        @given(requests(fuzzer.harvest))
        def one_request(call: tuple[str, object]) -> None:
            before = len(fuzzer.result.incidents)
            assert fuzzer.step(*call), fuzzer.result.incidents[-1]
            assert len(fuzzer.result.incidents) == before, fuzzer.result.incidents[-1]

        one_request()
        fuzzer.final_checks()
        assert fuzzer.result.ok, fuzzer.result.incidents
        assert fuzzer.result.cases >= 120


def test_run_fuzz_reaches_every_rpc_and_deep_paths(fuzz_server) -> None:
    result = run_fuzz(fuzz_server.target, 200, seed=11)
    assert result.ok, result.incidents[:5]
    assert result.cases == 200
    assert set(result.by_method) >= set(METHODS)
    # valid and invalid requests both: deep paths answer OK, bad input INVALID_ARGUMENT
    assert result.by_code["OK"] >= 25 and result.by_code["INVALID_ARGUMENT"] >= 25
    assert "INTERNAL" not in result.by_code and "UNKNOWN" not in result.by_code


def test_a_refusal_flood_is_answered_resource_exhausted_every_time(fuzz_server) -> None:
    """The fuzzer's retry storm: 100 Proposes at once to an exhausted space while a
    protected study heartbeats (its refusals paced): all RESOURCE_EXHAUSTED, the server
    healthy; any other answer would be a violation (INTERNAL an incident of its own)."""
    with Fuzzer(fuzz_server.target, timeout=60) as fuzzer:
        assert fuzzer.step(FLOOD, 100)
        assert fuzzer.result.ok, fuzzer.result.incidents
        assert fuzzer.result.by_method[FLOOD] == 1
        codes = fuzzer.refusal_flood(8)
        assert codes == {"RESOURCE_EXHAUSTED": 8}
        assert fuzzer.check(FLOOD, 8, codes) == []
        assert fuzzer.check(FLOOD, 2, {"OK": 1, "RESOURCE_EXHAUSTED": 1}) != []
        assert fuzzer.check(FLOOD, 1, {"INTERNAL": 1}) == []  # an incident of `step` alone
