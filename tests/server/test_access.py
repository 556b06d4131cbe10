"""Who may do what, on a real server: 3 roles x 2 namespaces x every RPC (Session included).

Allowed calls succeed; refused calls answer PERMISSION_DENIED and leave every row of the
database as it was. Bad auth settings refuse to start; tokens come from a file (hashed) or
the environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from archsampler.config import Settings
from archsampler.server.auth import AuthConfigError
from archsampler.server.auth import load_principals
from archsampler.testing import ServerThread
from archsampler_client import ArchSamplerError
from archsampler_client import Client

ROLES = ("read", "write", "admin")
NAMESPACES = ("a", "b")
SPACE = {
    "params": [
        {"name": f"p{i}", "type": "categorical", "choices": [f"c{j}" for j in range(8)]}
        for i in range(2)
    ]
}
TOLD = {"p0": "c0", "p1": "c0"}
READ_RPCS = {"GetStudy", "ListTrials", "GetBest", "Predict"}
SESSION_ACTIONS = {
    "Session.propose": "Propose",
    "Session.report": "Report",
    "Session.heartbeat": "Heartbeat",
    "Session.report_and_propose": "ReportAndPropose",
}


def token(role: str, namespace: str) -> str:
    return f"tok-{role}-{namespace}-x9"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def auth_file(path: Path) -> Path:
    principals = [
        {"name": f"{r}-{n}", "role": r, "namespace": n, "token_sha256": digest(token(r, n))}
        for r in ROLES
        for n in NAMESPACES
    ]
    path.write_text(json.dumps({"principals": principals}))
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    d = tmp_path_factory.mktemp("access")
    with ServerThread(d / "access.db", auth_file=str(auth_file(d / "principals.json"))) as srv:
        yield srv


@pytest.fixture(scope="module")
def clients(server: ServerThread) -> Iterator[dict[tuple[str, str], Client]]:
    made = {
        (r, n): Client(server.target, token=token(r, n), retries=0)
        for r in ROLES
        for n in NAMESPACES
    }
    yield made
    for c in made.values():
        c.close()


def snapshot(server: ServerThread) -> tuple[list[tuple], list[tuple]]:
    """Every row of the studies and trials tables, read straight from the SQLite file."""
    db = Path(server.settings.db)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        studies = conn.execute("SELECT * FROM studies ORDER BY id").fetchall()
        trials = conn.execute("SELECT * FROM trials ORDER BY id").fetchall()
    conn.close()
    return studies, trials


def other_params(*taken: dict[str, Any]) -> dict[str, str]:
    """Params of an architecture that is none of `taken`."""
    for j in range(8):
        candidate = {"p0": f"c{j}", "p1": "c7"}
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable")


# rpc -> call(client, study, pending trial) -> result; each runs against a fresh study.
def _session(kind: str) -> Callable[[Client, str, Any], Any]:
    def call(client: Client, study: str, trial: Any) -> Any:
        with client.study(study).session() as s:
            if kind == "propose":
                return s.propose()
            if kind == "report":
                return s.report(trial.id, value=1.0)
            if kind == "heartbeat":
                return s.heartbeat(trial.id)
            return s.report_and_propose(trial.id, value=1.0)

    return call


CALLS: dict[str, Callable[[Client, str, Any], Any]] = {
    "GetStudy": lambda c, s, t: c.study(s).info(),
    "ListTrials": lambda c, s, t: c.study(s).trials_page(),
    "GetBest": lambda c, s, t: c.study(s).best(),
    "Predict": lambda c, s, t: c.study(s).predict([TOLD]),
    "CreateStudy": lambda c, s, t: c.create_study(s, space=SPACE, strategy="random"),
    "Propose": lambda c, s, t: c.study(s).propose(1),
    "Report": lambda c, s, t: c.study(s).report(t.id, value=1.0),
    "Heartbeat": lambda c, s, t: c.study(s).heartbeat(t.id),
    "Tell": lambda c, s, t: c.study(s).tell(other_params(TOLD, t.params), 2.0),
    "DeleteStudy": lambda c, s, t: c.study(s).delete(),
    "Session.propose": _session("propose"),
    "Session.report": _session("report"),
    "Session.heartbeat": _session("heartbeat"),
    "Session.report_and_propose": _session("report_and_propose"),
}


def allowed(role: str, rpc: str, same_namespace: bool) -> bool:
    if role == "admin":
        return True
    return same_namespace and (role == "write" or rpc in READ_RPCS)


def check_success(rpc: str, result: Any, client: Client, study: str, target: str) -> None:
    """What an allowed call must have done."""
    if rpc == "GetStudy":
        assert result.name == study and result.namespace == target
    elif rpc == "ListTrials":
        assert len(result[0]) == 2
    elif rpc == "GetBest":
        assert result.params == TOLD
    elif rpc == "CreateStudy":
        assert result.info().namespace == target  # loaded, not moved
    elif rpc in ("Propose", "Session.propose"):
        assert len(result) == 1 and result[0].state.name == "PENDING"
    elif rpc in ("Report", "Session.report"):
        assert result.state.name == "COMPLETED" and result.value == 1.0
    elif rpc in ("Heartbeat", "Session.heartbeat"):
        assert result.state.name == "PENDING" and result.lease_expires_at
    elif rpc == "Session.report_and_propose":
        reported, new = result
        assert reported.state.name == "COMPLETED" and len(new) == 1
    elif rpc == "Tell":
        assert result.value == 2.0
    elif rpc == "DeleteStudy":
        with pytest.raises(ArchSamplerError) as info:
            client.study(study).info()
        assert info.value.code == grpc.StatusCode.NOT_FOUND


CASES = [
    pytest.param(role, ns, rpc, same, id=f"{role}-{ns}-{rpc}-{'own' if same else 'other'}")
    for role in ROLES
    for ns in NAMESPACES
    for rpc in CALLS
    for same in (True, False)
]


@pytest.mark.parametrize(("role", "namespace", "rpc", "same"), CASES)
def test_role_namespace_rpc_matrix(
    server: ServerThread,
    clients: dict[tuple[str, str], Client],
    role: str,
    namespace: str,
    rpc: str,
    same: bool,
) -> None:
    target = namespace if same else next(n for n in NAMESPACES if n != namespace)
    study = f"m-{role}-{namespace}-{rpc.replace('.', '-').replace('_', '-')}-{int(same)}"
    owner = clients[("admin", target)]  # an admin creates in its own namespace
    handle = owner.create_study(study, space=SPACE, strategy="random")
    handle.tell(TOLD, 0.5)
    (pending,) = handle.propose(1)
    caller = clients[(role, namespace)]
    before = snapshot(server)
    if allowed(role, rpc, same):
        if rpc == "Predict":  # allowed, but the study has no model yet
            with pytest.raises(ArchSamplerError) as info:
                CALLS[rpc](caller, study, pending)
            assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION, info.value
        else:
            check_success(rpc, CALLS[rpc](caller, study, pending), caller, study, target)
        return
    with pytest.raises(ArchSamplerError) as info:
        CALLS[rpc](caller, study, pending)
    assert info.value.code == grpc.StatusCode.PERMISSION_DENIED, info.value
    if role == "read" and rpc not in READ_RPCS:
        action = SESSION_ACTIONS.get(rpc, rpc)
        expected = f"principal 'read-{namespace}' (role read) may not call {action}"
        assert info.value.details == expected
    else:
        assert info.value.details == f"study {study!r} is not in namespace {namespace!r}"
    assert snapshot(server) == before  # nothing changed, anywhere


def test_list_studies_shows_the_callers_namespace(
    server: ServerThread, clients: dict[tuple[str, str], Client]
) -> None:
    for name, ns in (("list-a", "a"), ("list-a2", "a"), ("list-b", "b")):
        clients[("write", ns)].create_study(name, space=SPACE, strategy="random")
    for (role, ns), client in clients.items():
        seen = {s.name: s.namespace for s in client.list_studies()}
        if role == "admin":
            assert seen["list-a"] == "a" and seen["list-b"] == "b"
        else:
            assert f"list-{ns}" in seen and set(seen.values()) == {ns}, (role, ns, seen)
    page, next_token = clients[("read", "a")].studies_page(page_size=1)
    assert len(page) == 1 and next_token and page[0].namespace == "a"


def test_create_study_lands_in_the_callers_namespace_and_names_stay_unique(
    server: ServerThread, clients: dict[tuple[str, str], Client]
) -> None:
    assert clients[("write", "a")].create_study("c-1", space=SPACE).info().namespace == "a"
    assert clients[("admin", "b")].create_study("c-2", space=SPACE).info().namespace == "b"
    before = snapshot(server)
    for config in ({"space": SPACE}, {"space": "nb201"}):  # equal or not: no config oracle
        with pytest.raises(ArchSamplerError) as info:
            clients[("write", "b")].create_study("c-1", **config)
        assert info.value.code == grpc.StatusCode.PERMISSION_DENIED
        assert info.value.details == "study 'c-1' is not in namespace 'b'"
    assert snapshot(server) == before
    with pytest.raises(ArchSamplerError) as info:  # an admin sees the real conflict
        clients[("admin", "b")].create_study("c-1", space="nb201")
    assert info.value.code == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(ArchSamplerError) as info:
        clients[("write", "a")].study("no-such-study").propose(1)
    assert info.value.code == grpc.StatusCode.NOT_FOUND


def test_a_session_answers_each_refusal_in_band_and_goes_on(
    server: ServerThread, clients: dict[tuple[str, str], Client]
) -> None:
    clients[("write", "a")].create_study("sess-a", space=SPACE, strategy="random")
    clients[("write", "b")].create_study("sess-b", space=SPACE, strategy="random")
    with clients[("write", "a")].study("sess-a").session() as session:
        (mine,) = session.propose()
        session.study = "sess-b"  # the same stream, now naming a study of namespace b
        before = snapshot(server)
        for call in (session.propose, lambda: session.heartbeat(mine.id)):
            with pytest.raises(ArchSamplerError) as info:
                call()
            assert info.value.code == grpc.StatusCode.PERMISSION_DENIED
        assert snapshot(server) == before
        session.study = "sess-a"
        assert session.report(mine.id, value=3.0).value == 3.0


def test_principals_stay_apart_under_concurrent_calls(
    server: ServerThread, clients: dict[tuple[str, str], Client]
) -> None:
    """Each call runs as its own caller: interleaved readers are refused, writers served."""
    clients[("write", "a")].create_study("busy", space=SPACE, strategy="random")
    outcomes: list[tuple[str, str]] = []

    def worker(role: str) -> None:
        study = clients[(role, "a")].study("busy")
        for _ in range(10):
            try:
                study.heartbeat(pending.id)
                outcomes.append((role, "OK"))
            except ArchSamplerError as e:
                outcomes.append((role, e.code.name))

    (pending,) = clients[("write", "a")].study("busy").propose(1)
    threads = [threading.Thread(target=worker, args=(r,)) for r in ("read", "write") * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(outcomes)) == [("read", "PERMISSION_DENIED"), ("write", "OK")]
    assert len(outcomes) == 80


def test_auth_off_everyone_is_admin_of_the_default_namespace(tmp_path: Path) -> None:
    with ServerThread(tmp_path / "open.db") as srv, Client(srv.target, retries=0) as client:
        client.create_study("open", space=SPACE, strategy="random")
        assert [(s.name, s.namespace) for s in client.list_studies()] == [("open", "default")]


def test_environment_tokens_with_role_and_namespace(tmp_path: Path) -> None:
    tokens = "plain-admin-1,w-tok:write:team-x,r:tok:read:team-x"  # a token may hold ':'
    with ServerThread(tmp_path / "env.db", auth_tokens=tokens) as srv:
        with Client(srv.target, token="w-tok", retries=0) as writer:
            writer.create_study("x1", space=SPACE, strategy="random")
            assert writer.study("x1").info().namespace == "team-x"
        with Client(srv.target, token="r:tok", retries=0) as reader:
            assert [s.name for s in reader.list_studies()] == ["x1"]
            with pytest.raises(ArchSamplerError) as info:
                reader.study("x1").propose(1)
            assert info.value.code == grpc.StatusCode.PERMISSION_DENIED
        with Client(srv.target, token="plain-admin-1", retries=0) as admin:
            admin.create_study("d1", space=SPACE, strategy="random")
            assert {s.name: s.namespace for s in admin.list_studies()} == {
                "x1": "team-x",
                "d1": "default",
            }
        for wrong in ("w-tok:write:team-x", "tok", "r"):  # a whole entry is not a token
            with Client(srv.target, token=wrong, retries=0) as client:
                with pytest.raises(ArchSamplerError) as info:
                    client.list_studies()
                assert info.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_hash_token_cli_writes_a_usable_auth_file(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "archsampler", "hash-token"],
        input="  my-secret\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == digest("my-secret")
    entry = {"name": "ci", "role": "write", "namespace": "ci", "token_sha256": out}
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"principals": [entry]}))
    with ServerThread(tmp_path / "h.db", auth_file=str(path)) as srv:
        with Client(srv.target, token="my-secret", retries=0) as client:
            assert client.create_study("h", space=SPACE).info().namespace == "ci"
    empty = subprocess.run(
        [sys.executable, "-m", "archsampler", "hash-token"], input=b"\n", capture_output=True
    )
    assert empty.returncode == 2 and b"no token on stdin" in empty.stderr


GOOD = {"name": "n", "role": "read", "namespace": "ns", "token_sha256": "ab" * 32}
BAD_FILES = {
    "empty file": ("", "not valid JSON"),
    "not JSON": ("{principals", "not valid JSON"),
    "a list": ("[]", 'expected an object {"principals": [...]}'),
    "no principal": ('{"principals": []}', "'principals' must be a non-empty list"),
    "unknown role": ({**GOOD, "role": "owner"}, "unknown role 'owner'"),
    "bad namespace": ({**GOOD, "namespace": "a b"}, "namespace 'a b' must be 1..128"),
    "empty namespace": ({**GOOD, "namespace": ""}, "namespace '' must be 1..128"),
    "short digest": ({**GOOD, "token_sha256": "abc"}, "token_sha256 must be 64 hex digits"),
    "plain token": (
        {k: v for k, v in GOOD.items() if k != "token_sha256"} | {"token": "t"},
        "missing ['token_sha256'], unknown ['token']",
    ),
    "empty name": ({**GOOD, "name": ""}, "name must be 1..128 characters"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_auth_file_refuses_to_start(tmp_path: Path, case: str) -> None:
    content, message = BAD_FILES[case]
    if isinstance(content, dict):
        content = json.dumps({"principals": [content]})
    path = tmp_path / "p.json"
    path.write_text(content)
    db = tmp_path / "never.db"
    with pytest.raises(AuthConfigError, match="ARCHSAMPLER_AUTH_FILE") as info:
        ServerThread(db, auth_file=str(path)).start()
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not db.exists()  # refused before opening the database


BAD_TOKENS = {
    ",": "set but holds no token",
    " ": "set but holds no token",
    "": "set but holds no token",
    '[""]': "set but holds no token",
    "[]": "set but holds no token",
    "sekrit:owner:a": "entry 1: unknown role 'owner'",
    "sekrit1,sekrit:write:a b": "entry 2: namespace 'a b' must be",
    "sekrit:write": "entry 1: write TOKEN or TOKEN:ROLE:NAMESPACE",
    ":write:a": "entry 1: write TOKEN or TOKEN:ROLE:NAMESPACE",
    "sekrit:read:a,sekrit:write:a": "one token is given to two principals",
}


@pytest.mark.parametrize("value", list(BAD_TOKENS))
def test_bad_token_settings_refuse_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ARCHSAMPLER_AUTH_TOKENS", value)
    with pytest.raises(AuthConfigError) as info:
        load_principals(Settings())
    assert BAD_TOKENS[value] in str(info.value) and "\n" not in str(info.value)
    assert "sekrit" not in str(info.value)  # no token echoed
    db = tmp_path / "never.db"
    with pytest.raises(AuthConfigError):
        ServerThread(db).start()
    assert not db.exists()


def test_missing_file_and_metrics_token_without_auth_refuse_to_start(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="cannot read it"):
        ServerThread(tmp_path / "x.db", auth_file=str(tmp_path / "absent.json")).start()
    with pytest.raises(AuthConfigError, match="ARCHSAMPLER_AUTH_FILE is set but empty"):
        ServerThread(tmp_path / "x.db", auth_file=" ").start()
    with pytest.raises(AuthConfigError, match="METRICS_REQUIRE_TOKEN needs tokens"):
        ServerThread(tmp_path / "x.db", metrics_port=0, metrics_require_token=True).start()
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ARCHSAMPLER_AUTH_TOKENS": ","}, "ARCHSAMPLER_AUTH_TOKENS is set but holds no token"),
        ({"ARCHSAMPLER_AUTH_TOKENS": "[bad-json"}, "ARCHSAMPLER_AUTH_TOKENS: Value error"),
        ({"ARCHSAMPLER_AUTH_FILE": "/nonexistent/p.json"}, "cannot read it"),
    ],
)
def test_serve_refuses_with_one_error_line(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    db = tmp_path / "never.db"
    cmd = [sys.executable, "-m", "archsampler", "serve", "--port", "0", "--db", str(db)]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ARCHSAMPLER")}
    done = subprocess.run(cmd, env={**clean, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("archsampler serve: error: ")
    assert message in lines[0] and "bad-json" not in lines[0]
    assert not db.exists()


def test_a_replica_sees_a_study_move_namespace_within_the_cache_ttl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two servers on one database: one caches a study's namespace; the other deletes it and
    creates it again in another namespace. After `NAMESPACE_TTL` the first one refuses."""
    import archsampler.study

    monkeypatch.setattr(archsampler.study, "NAMESPACE_TTL", 0.3)
    path = str(auth_file(tmp_path / "p.json"))
    with (
        ServerThread(tmp_path / "r.db", auth_file=path) as one,
        ServerThread(tmp_path / "r.db", auth_file=path) as two,
    ):
        with (
            Client(one.target, token=token("write", "a"), retries=0) as a_on_one,
            Client(two.target, token=token("admin", "a"), retries=0) as admin_on_two,
            Client(two.target, token=token("write", "b"), retries=0) as b_on_two,
        ):
            a_on_one.create_study("moving", space=SPACE, strategy="random")
            assert len(a_on_one.study("moving").propose(1)) == 1  # namespace a, cached on one
            admin_on_two.study("moving").delete()
            b_on_two.create_study("moving", space=SPACE, strategy="random")
            time.sleep(0.4)
            before = snapshot(one)
            with pytest.raises(ArchSamplerError) as info:
                a_on_one.study("moving").propose(1)
            assert info.value.code == grpc.StatusCode.PERMISSION_DENIED
            assert info.value.details == "study 'moving' is not in namespace 'a'"
            assert snapshot(one) == before
