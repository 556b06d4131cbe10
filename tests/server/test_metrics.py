"""Operations: Prometheus metrics, JSON logs, message-size limit and deadlines on a real server."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from archsampler.config import Settings
from archsampler.logs import configure_logging
from archsampler.logs import make_formatter
from archsampler.server import metrics
from archsampler.server.metrics import TrialCollector
from archsampler.storage.base import StudyRecord
from archsampler.testing import ServerThread
from archsampler.testing import free_port
from archsampler_client import ArchSamplerError
from archsampler_client import Client

GOOD = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|skip_connect~2|"


def scrape(srv: ServerThread) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the server's /metrics page, keyed by (name, sorted labels)."""
    assert srv.running is not None and srv.running.metrics_port is not None
    url = f"http://127.0.0.1:{srv.running.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as page:
        text = page.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def calls(samples: dict, rpc: str, code: str) -> float:
    return samples.get(("archsampler_rpc_requests_total", (("code", code), ("rpc", rpc))), 0.0)


def expect_code(code: grpc.StatusCode, fn, *args, **kwargs) -> ArchSamplerError:
    with pytest.raises(ArchSamplerError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value
    return info.value


def test_metrics_count_rpcs_codes_latency_trials_and_models(tmp_path: Path) -> None:
    with (
        ServerThread(tmp_path / "a.db", metrics_port=0, auth_tokens=["t"]) as srv,
        ServerThread(tmp_path / "b.db", metrics_port=0) as other,
    ):
        with Client(srv.target, token="t", retries=0) as client:
            study = client.create_study("s", space="nb201", strategy="random")
            first = study.propose(3)
            second = study.propose(3)
            study.report(first[0].id, value=1.0)
            study.report(first[1].id, failed="oom")
            for _ in range(2):
                expect_code(grpc.StatusCode.NOT_FOUND, client.study("nope").best)
            client.list_studies()
        with Client(srv.target, retries=0) as anonymous:
            expect_code(grpc.StatusCode.UNAUTHENTICATED, anonymous.list_studies)
        metrics.record_model("s", 7, 12.5)
        metrics.record_refusal("s", "decode differs")
        metrics.record_refusal("s", "decode differs")
        expected = {
            ("CreateStudy", "OK"): 1,
            ("Propose", "OK"): 2,
            ("Report", "OK"): 2,
            ("GetBest", "NOT_FOUND"): 2,
            ("ListStudies", "OK"): 1,
            ("ListStudies", "UNAUTHENTICATED"): 1,
        }
        # A call is counted when its handler returns, which may be just after the client
        # got its status: scrape until the counts settle (bounded).
        deadline = time.monotonic() + 10
        while True:
            got = scrape(srv)
            counted = {
                (dict(labels)["rpc"], dict(labels)["code"]): value
                for (name, labels), value in got.items()
                if name == "archsampler_rpc_requests_total"
            }
            if counted == expected or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert counted == expected
        for rpc, n in (("Propose", 2), ("GetBest", 2), ("ListStudies", 2)):
            count = got[("archsampler_rpc_latency_seconds_count", (("rpc", rpc),))]
            inf = got[("archsampler_rpc_latency_seconds_bucket", (("le", "+Inf"), ("rpc", rpc)))]
            assert count == inf == n
            assert got[("archsampler_rpc_latency_seconds_sum", (("rpc", rpc),))] > 0
        trials = {
            dict(labels)["state"]: value
            for (name, labels), value in got.items()
            if name == "archsampler_trials" and dict(labels)["study"] == "s"
        }
        assert trials == {"pending": 4, "completed": 1, "other": 1}
        assert len(first + second) == sum(trials.values())
        assert got[("archsampler_studies", ())] == 1
        assert got[("archsampler_model_version", (("study", "s"),))] == 7
        assert got[("archsampler_training_seconds", (("study", "s"),))] == 12.5
        assert got[("archsampler_model_export_refusals_total", (("study", "s"),))] == 2
        # the second server has its own registry: it saw no RPCs
        got_other = scrape(other)
        assert not any(name == "archsampler_rpc_requests_total" for name, _ in got_other)
        assert got_other[("archsampler_studies", ())] == 0


def test_trial_counts_are_cached_between_scrapes() -> None:
    queries: list[int] = []

    def list_studies() -> list[StudyRecord]:
        queries.append(1)
        return [StudyRecord("s", {}, 0.0, trial_count=len(queries))]

    cached = TrialCollector(list_studies, ttl=60.0)
    assert [list(cached.collect()) for _ in range(3)] and len(queries) == 1
    fresh = TrialCollector(list_studies, ttl=0.0)
    for _ in range(2):
        list(fresh.collect())
    assert len(queries) == 3


def test_oversized_request_and_expired_deadline_leave_the_server_serving(tmp_path: Path) -> None:
    with ServerThread(tmp_path / "d.db", metrics_port=0) as srv:
        with Client(srv.target, retries=0) as client:
            study = client.create_study("big", space="nb201", strategy="random")
            error = expect_code(
                grpc.StatusCode.RESOURCE_EXHAUSTED, study.tell, "|" + "x" * 5_000_000, 1.0
            )
            assert "larger than max" in error.details
            assert study.tell(GOOD, 1.0).value == 1.0
            slow = client.create_study("slow", space="nb201", strategy="lanas")
            client.timeout = 0.02  # Propose of 1,000 on a fresh study takes ~0.5 s here
            expect_code(grpc.StatusCode.DEADLINE_EXCEEDED, slow.propose, 1000)
            client.timeout = 10.0
            proposed = study.propose(2)
            study.report(proposed[0].id, value=2.0)
            assert study.best().value == 2.0
            assert {s.name for s in client.list_studies()} == {"big", "slow"}
        got = scrape(srv)
        # the oversized message is refused by gRPC before any handler runs
        assert calls(got, "Tell", "OK") == 1 and calls(got, "Tell", "RESOURCE_EXHAUSTED") == 0
        assert calls(got, "Propose", "OK") == 1
        expired = calls(got, "Propose", "DEADLINE_EXCEEDED") + calls(got, "Propose", "CANCELLED")
        assert expired == 1


def test_json_log_lines_carry_extra_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter("json"))
    log = logging.getLogger("archsampler.test_json")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("trial %d failed", 5, extra={"rpc": "Report", "study": "s", "trial_id": 5})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("oops", extra={"code": "INTERNAL"})
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "trial 5 failed" and first["level"] == "WARNING"
    assert first["logger"] == "archsampler.test_json" and first["time"].endswith("+00:00")
    assert (first["rpc"], first["study"], first["trial_id"]) == ("Report", "s", 5)
    assert "code" not in first
    assert second["code"] == "INTERNAL" and "ValueError: boom" in second["exception"]
    with pytest.raises(ValueError, match="log format"):
        make_formatter("xml")
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("debug", "json")
        assert root.level == logging.DEBUG and len(root.handlers) == 1
        assert isinstance(root.handlers[0].formatter, type(make_formatter("json")))
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_serve_cli_writes_json_logs_and_serves_metrics(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    env = {**os.environ, "ARCHSAMPLER_LOG_LEVEL": "DEBUG"}
    db = str(tmp_path / "c.db")
    cmd = [sys.executable, "-m", "archsampler", "serve", "--port", str(port), "--db", db,
           "--log-format", "json", "--metrics-port", str(metrics_port)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with Client(f"127.0.0.1:{port}", retries=0) as client:
            client.wait_ready(timeout=60)
            expect_code(grpc.StatusCode.NOT_FOUND, client.study("nope").best)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as page:
            assert 'archsampler_rpc_requests_total{code="NOT_FOUND",rpc="GetBest"} 1.0' in (
                page.read().decode()
            )
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert f"metrics on http://127.0.0.1:{metrics_port}/metrics" in out.decode()
    records = [json.loads(line) for line in err.decode().splitlines() if line.strip()]
    assert any(r["message"].startswith("archsampler serving on") for r in records)
    access = [r for r in records if r.get("rpc") == "GetBest"]
    assert len(access) == 1 and access[0]["code"] == "NOT_FOUND" and access[0]["level"] == "DEBUG"


def test_session_calls_are_counted_per_call_and_code(tmp_path: Path) -> None:
    with ServerThread(tmp_path / "s.db", metrics_port=0) as srv:
        with Client(srv.target, retries=0) as client:
            study = client.create_study("s", space="nb201", strategy="random")
            with study.session() as session:
                (trial,) = session.propose()
                session.report(trial.id, value=1.0)
                expect_code(grpc.StatusCode.NOT_FOUND, session.report, 10**9, value=1.0)
        got = scrape(srv)
    assert calls(got, "Session.propose", "OK") == 1
    assert calls(got, "Session.report", "OK") == 1
    assert calls(got, "Session.report", "NOT_FOUND") == 1
    assert got[("archsampler_rpc_latency_seconds_count", (("rpc", "Session.report"),))] == 2


def fetch(srv: ServerThread, token: str | None = None, scheme: str = "Bearer") -> tuple[int, str]:
    """Status and body of the server's /metrics page, sending `token` if given."""
    assert srv.running is not None and srv.running.metrics_port is not None
    request = urllib.request.Request(f"http://127.0.0.1:{srv.running.metrics_port}/metrics")
    if token is not None:
        request.add_header("Authorization", f"{scheme} {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as page:
            return page.status, page.read().decode()
    except urllib.error.HTTPError as e:
        assert e.headers["WWW-Authenticate"] == 'Bearer realm="archsampler metrics"'
        return e.code, e.read().decode()


def test_metrics_can_require_a_token_of_any_principal(tmp_path: Path) -> None:
    tokens = "reader-tok:read:a,writer-tok:write:b"
    settings = {"metrics_port": 0, "metrics_require_token": True, "auth_tokens": tokens}
    with ServerThread(tmp_path / "t.db", **settings) as srv:
        with Client(srv.target, token="writer-tok", retries=0) as client:
            client.create_study("secret-name", space="nb201", strategy="random")
        for token, scheme in ((None, "Bearer"), ("wrong", "Bearer"), ("reader-tok", "Basic")):
            status, body = fetch(srv, token, scheme)
            assert status == 401 and "secret-name" not in body
        for token in ("reader-tok", "writer-tok"):  # any principal, of any role or namespace
            status, body = fetch(srv, token)
            assert (
                status == 200 and 'archsampler_trials{state="pending",study="secret-name"}' in body
            )
    with ServerThread(tmp_path / "o.db", metrics_port=0, auth_tokens="t") as srv:
        assert fetch(srv)[0] == 200  # the token is asked for only when required


def test_study_labels_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHSAMPLER_METRICS_STUDY_LABELS", "0")
    monkeypatch.setenv("ARCHSAMPLER_METRICS_REQUIRE_TOKEN", "1")
    assert not Settings().metrics_study_labels and Settings().metrics_require_token
    monkeypatch.delenv("ARCHSAMPLER_METRICS_REQUIRE_TOKEN")
    with ServerThread(tmp_path / "l.db", metrics_port=0) as srv:
        with Client(srv.target, retries=0) as client:
            for name in ("alpha-study", "beta-study"):
                study = client.create_study(name, space="nb201", strategy="random")
                trials = study.propose(3)
                study.report(trials[0].id, value=1.0)
        metrics.record_model("alpha-study", 3, 1.5)
        metrics.record_refusal("alpha-study", "parity")
        status, body = fetch(srv)
        got = scrape(srv)
    assert status == 200 and "alpha-study" not in body and "beta-study" not in body
    assert not any("study" in dict(labels) for _, labels in got)
    trials = {
        dict(labels)["state"]: v
        for (name, labels), v in got.items()
        if name == "archsampler_trials"
    }
    assert trials == {"pending": 4, "completed": 2, "other": 0}
    assert got[("archsampler_studies", ())] == 2
    assert got[("archsampler_model_export_refusals_total", ())] == 1
    assert not any(
        name.startswith(("archsampler_model_version", "archsampler_training")) for name, _ in got
    )
