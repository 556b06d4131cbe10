"""An unexpected error inside a lane answers INTERNAL with an incident id, and the log line
of that incident shows where the error was raised (the answer itself carries no frames)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import grpc
import pytest

from archsampler.strategies.random import RandomStrategy
from archsampler.testing import ServerThread
from archsampler_client import ArchSamplerError
from archsampler_client import Client

SPACE = {"params": [{"name": "x", "type": "int", "low": 0, "high": 99}]}


def _broken_propose(self, n, pending):  # noqa: ANN001 - the strategy's signature
    raise RuntimeError("boom inside the strategy")


def test_an_internal_error_is_logged_with_where_it_was_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(RandomStrategy, "propose", _broken_propose)
    with ServerThread(tmp_path / "i.db") as srv, Client(srv.target, timeout=30) as client:
        study = client.create_study("s", SPACE, "random")
        with caplog.at_level(logging.ERROR, logger="archsampler"):
            with pytest.raises(ArchSamplerError) as caught:
                study.propose(1)
    assert caught.value.code == grpc.StatusCode.INTERNAL
    incident = re.search(r"incident ([0-9a-f]{12})", str(caught.value)).group(1)
    assert "boom" not in str(caught.value)  # nothing of the server's internals in the answer
    lines = [r for r in caplog.records if incident in r.getMessage()]
    assert len(lines) == 1
    text = logging.Formatter().formatException(lines[0].exc_info)
    assert "RuntimeError: boom inside the strategy" in text
    assert "raised where it happened" in text and "_broken_propose" in text
