"""Bulk import (`TellMany`, `study.tell_many`, `archsampler import`) and transfer between
studies (`create_study(seed_from=…)`) against a real server and SQLite file.

Checked: idempotence (a second import changes no row), every bad row named with its line,
nothing imported when any row is bad (also across chunks), request bounds, export → import
round trips, and seeding: same space and goal required, the source must be readable, a
seeded study never re-proposes a seeded architecture and hints at the seeded checkpoints.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import grpc
import pytest

from archsampler.cli import main
from archsampler.testing import ServerThread
from archsampler.testing.assertions import expect_error
from archsampler.testing.spaces import categorical_space
from archsampler_client import Client
from archsampler_client._import import TellManyError
from archsampler_client.proto import archsampler_pb2 as pb
from archsampler_client.proto import archsampler_pb2_grpc as pb_grpc

SPACE = categorical_space(3, 6)


def arch(i: int) -> dict[str, str]:
    return {"p0": f"c{i % 6}", "p1": f"c{i // 6 % 6}", "p2": f"c{i // 36 % 6}"}


def rows(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        if i % 7 == 3:
            out.append({"arch": arch(i), "failed": "diverged", "metadata": {"gpu": "a100"}})
        elif i % 7 == 5:
            out.append({"arch": arch(i), "infeasible": "OOM"})
        else:
            out.append({"arch": arch(i), "value": i / 10, "checkpoint_uri": f"ck/{i}"})
    return out


def table(server: ServerThread) -> list[tuple]:
    db = Path(server.settings.db)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        found = conn.execute("SELECT * FROM trials ORDER BY id").fetchall()
    conn.close()
    return found


def test_tell_many_is_chunked_and_idempotent(server: ServerThread, client: Client) -> None:
    study = client.create_study("bulk", space=SPACE, strategy="random")
    summary = study.tell_many(rows(40), chunk_rows=7)
    assert (summary.created, summary.unchanged) == (40, 0)
    stored = {t.arch: t for t in study.trials()}
    assert len(stored) == 40
    failed = stored["p0=c3,p1=c0,p2=c0"]
    assert failed.state == "FAILED" and failed.metadata == {"gpu": "a100", "reason": "diverged"}
    assert stored["p0=c0,p1=c0,p2=c0"].checkpoint_uri == "ck/0"
    before = table(server)
    again = study.tell_many(rows(40), chunk_rows=9)
    assert (again.created, again.unchanged) == (0, 40)
    assert [t.id for t in again.trials] == [t.id for t in summary.trials]
    assert table(server) == before  # not one row changed
    # imported results are evaluated: never proposed again
    proposed = study.propose(50)
    assert not {t.arch for t in proposed} & set(stored)


def test_every_bad_row_is_named_and_nothing_is_imported(
    server: ServerThread, client: Client
) -> None:
    study = client.create_study("bad", space=SPACE, strategy="random")
    study.tell(arch(100), value=0.5)
    (pending,) = study.propose(1)
    before = table(server)
    bad = rows(30)
    bad[2] = {"arch": arch(100), "value": 0.7}  # line 3: evaluated with another value
    bad[4] = {"arch": "p0=c9,p1=c0,p2=c0", "value": 1.0}  # line 5: not in the space
    bad[6] = {"arch": arch(6), "value": float("nan")}  # line 7: refused by the SDK
    bad[8] = {"arch": pending.params, "value": 1.0}  # line 9: pending
    bad[10] = {"arch": arch(1), "value": 1.0, "checkpoint_uri": "x" * 4097}  # line 11
    bad[12] = {"arch": arch(2), "value": 9.0}  # line 13
    for i, row in enumerate(bad):
        if i != 8 and row["arch"] in (pending.params, pending.arch):
            bad[i] = {"arch": arch(150), "value": 0.1}  # keep line 9 the only pending one
    with pytest.raises(TellManyError) as info:
        study.tell_many(bad, chunk_rows=5)
    # the SDK refuses what it can check itself before sending anything
    assert [line for line, _ in info.value.errors] == [7]
    assert "finite" in info.value.errors[0][1]
    bad[6] = {"arch": arch(6), "value": 0.25}
    bad[14] = {"arch": arch(2), "value": 3.0}  # line 15: line 13's arch, another outcome
    with pytest.raises(TellManyError) as info:
        study.tell_many(bad, chunk_rows=5)
    errors = dict(info.value.errors)
    assert sorted(errors) == [3, 5, 9, 11, 15]
    assert "already COMPLETED with value 0.5" in errors[3] and "0.7" in errors[3]
    assert "'c9' is not one of the choices" in errors[5]
    assert f"pending as trial {pending.id}" in errors[9]
    assert "checkpoint_uri is longer than 4096" in errors[11]
    assert "same architecture as line 13" in errors[15]
    assert table(server) == before  # the good chunks were not imported either


def test_raw_requests_bounds_and_codes(server: ServerThread, client: Client) -> None:
    study = client.create_study("raw", space=SPACE, strategy="random")
    study.tell(arch(0), value=0.5)
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.ArchSamplerStub(channel)

        def call(request: pb.TellManyRequest) -> Any:
            return client._invoke("TellMany", request, lambda r: r)

        def row(i: int, value: float, line: int = 0) -> pb.TellRow:
            return pb.TellRow(architecture=pb.Architecture(text=f"p0=c{i},p1=c0,p2=c0"),
                              value=value, line=line)  # fmt: skip

        expect_error(
            grpc.StatusCode.INVALID_ARGUMENT,
            call,
            pb.TellManyRequest(study="raw", rows=[row(1, 1.0)] * 1001),
            match="give 1..1000 rows per request, got 1001",
        )
        expect_error(
            grpc.StatusCode.INVALID_ARGUMENT,
            call,
            pb.TellManyRequest(study="raw"),
            match="got 0",
        )
        # a conflict only: ALREADY_EXISTS, with the line number the caller gave
        err = expect_error(
            grpc.StatusCode.ALREADY_EXISTS,
            call,
            pb.TellManyRequest(study="raw", rows=[row(1, 1.0, 41), row(0, 0.9, 42)]),
            match="1 of 2 rows refused, nothing imported: line 42: the architecture is already",
        )
        assert "line 41" not in err.details
        # a malformed row: INVALID_ARGUMENT; lines default to positions
        expect_error(
            grpc.StatusCode.INVALID_ARGUMENT,
            call,
            pb.TellManyRequest(
                study="raw",
                rows=[row(1, 1.0), pb.TellRow(architecture=pb.Architecture(), value=1.0)],
            ),
            match="line 2: architecture is empty",
        )
        # validate_only answers in band and writes nothing
        answer = stub.TellMany(
            pb.TellManyRequest(study="raw", rows=[row(1, 1.0), row(0, 0.9)], validate_only=True)
        )
        assert [(r.line, r.created, bool(r.error)) for r in answer.results] == [
            (1, True, False),
            (2, False, True),
        ]
        assert len(list(client.study("raw").trials())) == 1
        expect_error(
            grpc.StatusCode.NOT_FOUND,
            call,
            pb.TellManyRequest(study="nope", rows=[row(1, 1.0)]),
            match="study 'nope' not found",
        )


def test_cli_export_then_import_round_trips(
    server: ServerThread, client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = client.create_study("src", space=SPACE, strategy="random")
    source.tell_many(rows(20))
    source.propose(2)  # PENDING rows are exported and skipped on import
    for fmt in ("csv", "jsonl"):
        out = tmp_path / f"src.{fmt}"
        assert (
            main(["export", "src", "--target", server.target, "--format", fmt, "-o", str(out)])
            == 0
        )
        name = f"dst-{fmt}"
        client.create_study(name, space=SPACE, strategy="random")
        argv = ["import", name, str(out), "--target", server.target, "--chunk-rows", "6"]
        assert main(argv) == 0
        assert "20 imported, 0 already there (unchanged), 2 skipped" in capsys.readouterr().out
        assert main(argv) == 0
        assert "0 imported, 20 already there" in capsys.readouterr().out

        def key(t: Any) -> tuple:
            return (t.arch, t.state, t.value, t.checkpoint_uri, t.metadata)

        done = ["COMPLETED", "FAILED", "INFEASIBLE"]
        assert sorted(map(key, client.study(name).trials())) == sorted(
            map(key, source.trials(states=done))
        )


def test_cli_names_each_bad_line(
    server: ServerThread, client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client.create_study("lines", space=SPACE, strategy="random")
    path = tmp_path / "rows.jsonl"
    lines = [
        {"arch": "p0=c0,p1=c0,p2=c0", "value": 1},
        "not json",
        {"arch": "p0=c1,p1=c0,p2=c0", "value": 1, "colour": "red"},
        {"arch": "p0=c2,p1=c0,p2=c0"},
        {"arch": "p0=c3,p1=c0,p2=c9", "value": 2},
    ]
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    argv = ["import", "lines", str(path), "--target", server.target]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"{path}:2: not JSON" in err and f"{path}:3: unknown keys ['colour']" in err
    # rows the file parser accepts go to the server's validation next
    path.write_text(
        "\n".join(json.dumps(x) for x in lines if isinstance(x, dict) and "colour" not in x)
    )
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"{path}:2: give exactly one outcome" in err
    lines = [x for x in lines if isinstance(x, dict) and "colour" not in x and "value" in x]
    path.write_text("\n".join(json.dumps(x) for x in lines))
    assert main(argv) == 1
    assert f"{path}:2: p2: 'c9' is not one of the choices" in capsys.readouterr().err
    assert list(client.study("lines").trials()) == []
    big = tmp_path / "big.csv"
    big.write_text("arch,value,colour\n")
    assert main(["import", "lines", str(big), "--target", server.target]) == 1
    assert "unknown columns ['colour']" in capsys.readouterr().err


def test_seed_from_copies_finished_trials_once(server: ServerThread, client: Client) -> None:
    source = client.create_study("teacher", space=SPACE, strategy="random", seed=1)
    source.tell_many(rows(30))
    pending = source.propose(3)
    target = client.create_study("student", space=SPACE, strategy="evolution", seed_from="teacher")
    copied = {t.arch: t for t in target.trials()}
    finished = {t.arch: t for t in source.trials(states=["COMPLETED", "FAILED", "INFEASIBLE"])}
    assert set(copied) == set(finished) and len(copied) == 30
    for a, t in copied.items():
        s = finished[a]
        assert (t.state, t.value, t.checkpoint_uri, t.metadata) == (
            s.state,
            s.value,
            s.checkpoint_uri,
            s.metadata,
        )
    assert not {t.arch for t in pending} & set(copied)
    before = table(server)
    client.create_study("student", space=SPACE, strategy="evolution", seed_from="teacher")
    assert table(server) == before  # seeding again changes nothing
    # the seeded trials are evaluated for the new study: never proposed, and hinted at
    proposed = target.propose(20)
    assert not {t.arch for t in proposed} & set(copied)
    hints = [t.warm_start for t in proposed]
    assert all(h is not None and h.arch in copied for h in hints)
    assert all(h.checkpoint_uri == copied[h.arch].checkpoint_uri for h in hints)


def test_seed_from_refusals(server: ServerThread, client: Client) -> None:
    client.create_study("s1", space=SPACE, strategy="random").tell(arch(0), value=1.0)
    before = table(server)
    expect_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        client.create_study,
        "t1",
        space=categorical_space(3, 7),
        seed_from="s1",
        match="seed_from: study 's1' searches another space (space.user.params[0].choices",
    )
    expect_error(
        grpc.StatusCode.FAILED_PRECONDITION,
        client.create_study,
        "t1",
        space=SPACE,
        goal="minimize",
        seed_from="s1",
        match="study 's1' has goal maximize and this study minimize",
    )
    expect_error(
        grpc.StatusCode.NOT_FOUND,
        client.create_study,
        "t1",
        space=SPACE,
        seed_from="missing",
        match="seed_from: study 'missing' not found",
    )
    expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        client.create_study,
        "s1",
        space=SPACE,
        strategy="random",
        seed_from="s1",
        match="seed_from names the study itself",
    )
    expect_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        client.create_study,
        "t1",
        space=SPACE,
        seed_from="bad name",
        match="may only use",
    )
    assert table(server) == before
    assert [s.name for s in client.list_studies()] == ["s1"]


def test_seed_and_import_need_their_permissions(tmp_path: Path) -> None:
    tokens = ["wa:write:a", "wb:write:b", "ra:read:a"]
    with ServerThread(tmp_path / "auth.db", auth_tokens=tokens) as srv:
        with (
            Client(srv.target, token="wa", retries=0) as a,
            Client(srv.target, token="wb", retries=0) as b,
        ):
            b.create_study("theirs", space=SPACE, strategy="random").tell(arch(0), value=1.0)
            expect_error(
                grpc.StatusCode.PERMISSION_DENIED,
                a.create_study,
                "mine",
                space=SPACE,
                seed_from="theirs",
                match="study 'theirs' is not in namespace 'a'",
            )
            assert a.list_studies() == []  # nothing was created
            b.create_study("also-theirs", space=SPACE, strategy="random", seed_from="theirs")
            assert len(list(b.study("also-theirs").trials())) == 1
            # a bulk import needs Tell's permission, in the study's namespace
            expect_error(
                grpc.StatusCode.PERMISSION_DENIED,
                a.study("theirs").tell_many,
                rows(2),
                match="study 'theirs' is not in namespace 'a'",
            )
            a.create_study("mine", space=SPACE, strategy="random")
            with Client(srv.target, token="ra", retries=0) as reader:
                expect_error(
                    grpc.StatusCode.PERMISSION_DENIED,
                    reader.study("mine").tell_many,
                    rows(2),
                    match="(role read) may not call TellMany",
                )
            assert len(list(b.study("theirs").trials())) == 1
            assert list(a.study("mine").trials()) == []


def test_async_client_tell_many_and_seed(server: ServerThread) -> None:
    import asyncio

    from archsampler_client import AsyncClient

    async def main() -> tuple:
        async with AsyncClient(server.target, retries=0) as client:
            study = await client.create_study("aio", space=SPACE, strategy="random")
            first = await study.tell_many(rows(12), chunk_rows=5)
            again = await study.tell_many(rows(12))
            with pytest.raises(TellManyError) as info:
                await study.tell_many([{"arch": "p0=c9,p1=c0,p2=c0", "value": 1.0, "line": 7}])
            seeded = await client.create_study("aio-2", space=SPACE, seed_from="aio")
            return first, again, info.value.errors, (await seeded.info()).trial_count

    first, again, errors, seeded = asyncio.run(main())
    assert (first.created, first.unchanged, again.created, again.unchanged) == (12, 0, 0, 12)
    assert errors[0][0] == 7 and "'c9' is not one of the choices" in errors[0][1]
    assert seeded == 12
