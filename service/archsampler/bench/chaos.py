"""`archsampler bench chaos`: SIGKILL servers under load and check that nothing is lost.

`--clients` asyncio clients propose and report against `--replicas` server processes sharing
one database while a killer SIGKILLs a server every `--interval` seconds and restarts it.
Afterwards the database is read directly: every acknowledged report must be stored with its
value, no architecture may be pending twice, and no architecture evaluated twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

from tqdm import tqdm

from archsampler.bench.load import LOAD_SPACE
from archsampler.storage import SQLStorage
from archsampler.testing import ServerProcess
from archsampler.trial import TrialState
from archsampler_client import ArchSamplerError
from archsampler_client import AsyncClient


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kills", type=int, default=5, help="SIGKILLs to deliver")
    p.add_argument("--clients", type=int, default=64, help="concurrent clients")
    p.add_argument("--replicas", type=int, default=1, help="server processes on one database")
    p.add_argument("--interval", type=float, default=3.0, help="seconds between kills")
    p.add_argument("--strategy", default="random")
    p.add_argument("--db", help="database URL or SQLite file (default: temporary SQLite)")
    p.add_argument("--json", type=Path, help="write the results here")


def _value(arch: str) -> float:
    return (zlib.crc32(arch.encode()) % 10_000) / 100.0


async def _load(
    targets: list[str],
    clients: int,
    strategy: str,
    stop: asyncio.Event,
    acked: dict[int, tuple[str, float]],
    errors: list[str],
) -> None:
    study_name = "chaos"
    async with AsyncClient(targets[0], retries=40) as c:
        await c.create_study(study_name, space=LOAD_SPACE, strategy=strategy)

    async def worker(k: int) -> None:
        async with AsyncClient(targets[k % len(targets)], retries=40, timeout=20) as c:
            study = c.study(study_name)
            while not stop.is_set():
                try:
                    (trial,) = await study.propose(count=1, client_id=f"w{k}")
                    value = _value(trial.arch)
                    done = await study.report(trial.id, value=value)
                except ArchSamplerError as e:
                    errors.append(f"{e.code.name}: {e.details}")
                    await asyncio.sleep(0.2)
                    continue
                acked[done.id] = (done.arch_hash, value)

    await asyncio.gather(*(worker(k) for k in range(clients)))


async def _chaos(servers: list[ServerProcess], args: argparse.Namespace) -> dict[str, Any]:
    acked: dict[int, tuple[str, float]] = {}
    errors: list[str] = []
    stop = asyncio.Event()
    load = asyncio.create_task(
        _load([s.target for s in servers], args.clients, args.strategy, stop, acked, errors)
    )
    loop = asyncio.get_running_loop()
    for k in tqdm(range(args.kills), desc="SIGKILL + restart", unit="kill"):
        await asyncio.sleep(args.interval)
        victim = servers[k % len(servers)]
        await loop.run_in_executor(None, lambda v=victim: (v.stop(kill=True), v.start()))
    await asyncio.sleep(args.interval)
    stop.set()
    await load
    return {"acked_map": acked, "errors": errors}


def check(db: str, acked: dict[int, tuple[str, float]]) -> dict[str, int]:
    """Compare acknowledged reports with what storage holds, read directly."""
    storage = SQLStorage(db)
    try:
        trials = {t.id: t for t in storage.list_trials("chaos")}
    finally:
        storage.close()
    lost = sum(
        1
        for tid, (h, v) in acked.items()
        if tid not in trials
        or trials[tid].value != v
        or trials[tid].arch_hash != h
        or trials[tid].state != TrialState.COMPLETED
    )
    pending = Counter(t.arch_hash for t in trials.values() if t.state == TrialState.PENDING)
    evaluated = Counter(t.arch_hash for t in trials.values() if t.state.is_finished())
    live = Counter(
        t.arch_hash
        for t in trials.values()
        if t.state == TrialState.PENDING or t.state.is_finished()
    )
    return {
        "acked": len(acked),
        "lost": lost,
        "duplicate_pending": sum(n - 1 for n in pending.values() if n > 1),
        "duplicate_live": sum(n - 1 for n in live.values() if n > 1),
        "duplicate_evaluated": sum(n - 1 for n in evaluated.values() if n > 1),
        "stored_trials": len(trials),
    }


def run_chaos(db: str, args: argparse.Namespace) -> dict[str, Any]:
    """Start the replicas, run the chaos, stop them, check storage."""
    import uvloop

    servers = [ServerProcess(db).start() for _ in range(args.replicas)]
    t0 = time.time()
    try:
        out = uvloop.run(_chaos(servers, args))
    finally:
        for s in servers:
            s.stop()
    result: dict[str, Any] = check(db, out["acked_map"])
    result.update(
        kills=args.kills,
        replicas=args.replicas,
        clients=args.clients,
        seconds=round(time.time() - t0, 1),
        client_errors=dict(Counter(e.split(":")[0] for e in out["errors"])),
        client_error_examples={e.split(":")[0]: e for e in reversed(out["errors"])},
    )
    return result


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        result = run_chaos(args.db or str(Path(tmp) / "chaos.db"), args)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    bad = result["lost"] or result["duplicate_pending"] or result["duplicate_evaluated"]
    return 1 if bad else 0
