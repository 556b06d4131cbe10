"""`archsampler studies | trials | best | export` and `study.to_dataframe()` against real
servers: with a bearer token (environment and file), over TLS, and with bad input."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archsampler.testing import ServerThread
from archsampler_client import AsyncClient
from archsampler_client import Client
from archsampler_client import tls_credentials

TOKEN = "cli-token-1"
SPACE = {
    "params": [
        {"name": "width", "type": "int", "low": 8, "high": 64},
        {"name": "act", "type": "categorical", "choices": ["relu", "tanh"]},
    ]
}


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "ARCHSAMPLER_TOKEN"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "archsampler", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
    )


def _fill(client: Client) -> dict[int, float | None]:
    """A study with 5 completed, 1 failed and 2 pending trials; returns id -> value."""
    study = client.create_study("cli-study", SPACE, "random", seed=3)
    client.create_study("other", "nb201", "random")
    trials = study.propose(8)
    values: dict[int, float | None] = {}
    for i, t in enumerate(trials[:5]):
        value = t.params["width"] / 64 + (0.01 if t.params["act"] == "relu" else 0.0)
        study.report(t.id, value, checkpoint_uri=f"s3://ckpt/{i}", metadata={"epochs": str(i)})
        values[t.id] = value
    study.report(trials[5].id, failed="OOM")
    values[trials[5].id] = None
    return values


@pytest.fixture()
def token_server(tmp_path: Path):
    with ServerThread(tmp_path / "s.db", auth_tokens=[TOKEN]) as srv:
        with Client(srv.target, token=TOKEN) as client:
            values = _fill(client)
        yield srv, values


def test_studies_trials_best_with_token_from_env_and_file(token_server, tmp_path: Path) -> None:
    srv, values = token_server
    env = {"ARCHSAMPLER_TOKEN": TOKEN}
    out = _cli("studies", "--target", srv.target, "--json", env=env)
    assert out.returncode == 0, out.stderr
    studies = {s["name"]: s for s in json.loads(out.stdout)}
    assert set(studies) == {"cli-study", "other"}
    assert (studies["cli-study"]["trial_count"], studies["cli-study"]["completed_count"]) == (8, 5)
    assert studies["cli-study"]["pending_count"] == 2

    table = _cli("studies", "--target", srv.target, env=env).stdout.splitlines()
    assert table[0].split() == [
        "name", "namespace", "space", "strategy", "trials", "completed", "pending"
    ]  # fmt: skip
    row = next(line.split() for line in table[1:] if line.startswith("cli-study"))
    assert row[-3:] == ["8", "5", "2"] and "random" in row and "user" in row

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    out = _cli("trials", "cli-study", "--target", srv.target, "--token-file", str(token_file),
               "--json", "--state", "COMPLETED")  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    completed = {k: v for k, v in values.items() if v is not None}
    assert {r["id"]: r["value"] for r in rows} == pytest.approx(completed)
    assert all(r["state"] == "COMPLETED" and "param.width" in r for r in rows)

    limited = _cli("trials", "cli-study", "--target", srv.target, "--limit", "3", env=env)
    assert len(limited.stdout.splitlines()) == 1 + 3

    best = json.loads(_cli("best", "cli-study", "--target", srv.target, "--json", env=env).stdout)
    best_id = max(completed, key=lambda k: completed[k])
    assert (best["id"], best["value"]) == (best_id, pytest.approx(completed[best_id]))


def test_export_csv_and_jsonl_round_trip(token_server, tmp_path: Path) -> None:
    srv, values = token_server
    env = {"ARCHSAMPLER_TOKEN": TOKEN}
    csv_path = tmp_path / "out.csv"
    out = _cli("export", "cli-study", "--target", srv.target, "-o", str(csv_path), env=env)
    assert out.returncode == 0, out.stderr
    assert "exported 8 trials" in out.stderr
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert len(rows) == 8 and not csv_path.with_name("out.csv.part").exists()
    by_id = {int(r["id"]): r for r in rows}
    for trial_id, value in values.items():
        got = by_id[trial_id]["value"]
        assert (got == "") if value is None else float(got) == pytest.approx(value)
    assert {r["state"] for r in rows} == {"COMPLETED", "FAILED", "PENDING"}
    assert sorted(r["meta.epochs"] for r in rows if r["meta.epochs"]) == list("01234")
    assert all(8 <= int(r["param.width"]) <= 64 for r in rows)

    out = _cli("export", "cli-study", "--target", srv.target, "--format", "jsonl",
               "--state", "FAILED", env=env)  # fmt: skip
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["state"], r["value"]) for r in lines] == [("FAILED", None)]


def test_errors_are_one_line_with_the_status(token_server) -> None:
    srv, _ = token_server
    no_token = _cli("studies", "--target", srv.target)
    assert no_token.returncode == 1
    assert no_token.stderr.startswith("archsampler studies: error: UNAUTHENTICATED")
    assert "Traceback" not in no_token.stderr
    missing = _cli("best", "nope", "--target", srv.target, env={"ARCHSAMPLER_TOKEN": TOKEN})
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
    bad_file = _cli("studies", "--target", srv.target, "--token-file", "/nonexistent/t")
    assert bad_file.returncode == 2 and "No such file" in bad_file.stderr
    bad_state = _cli("trials", "x", "--state", "DONE")
    assert bad_state.returncode == 2 and "invalid choice" in bad_state.stderr
    down = _cli("studies", "--target", "127.0.0.1:1", "--timeout", "2")
    assert down.returncode == 1 and "UNAVAILABLE" in down.stderr


def test_cli_over_tls(tmp_path: Path, certs: Path) -> None:
    tls = {"tls_cert_file": str(certs / "server.pem"), "tls_key_file": str(certs / "server.key")}
    with ServerThread(tmp_path / "t.db", **tls) as srv:
        with Client(srv.target, credentials=tls_credentials(certs / "ca.pem")) as client:
            _fill(client)
        out = _cli("studies", "--target", srv.target, "--tls-ca", str(certs / "ca.pem"), "--json")
        assert out.returncode == 0, out.stderr
        assert {s["name"] for s in json.loads(out.stdout)} == {"cli-study", "other"}
        plain = _cli("studies", "--target", srv.target, "--timeout", "3")
        assert plain.returncode == 1 and "UNAVAILABLE" in plain.stderr


def test_to_dataframe_sync_and_async(token_server) -> None:
    pd = pytest.importorskip("pandas", reason="pandas is in the dev extras")
    srv, values = token_server
    with Client(srv.target, token=TOKEN) as client:
        frame = client.study("cli-study").to_dataframe()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 8
    assert list(frame.columns[:4]) == ["id", "number", "state", "value"]
    got = dict(zip(frame["id"], frame["value"], strict=True))
    for trial_id, value in values.items():
        assert pd.isna(got[trial_id]) if value is None else got[trial_id] == pytest.approx(value)

    async def run() -> int:
        async with AsyncClient(srv.target, token=TOKEN) as client:
            frame = await client.study("cli-study").to_dataframe(["COMPLETED"])
            return len(frame)

    import asyncio

    assert asyncio.run(run()) == 5
