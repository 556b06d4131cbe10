"""`archsampler bench isolation`: one slow study must not slow another study's Reports.

A server runs in a child process. `--clients` trainers report to study A at a steady pace
(`--rate` reports per second each, trials proposed before the phase, untimed): first alone
(idle phase), then while `--slow-clients` other clients hammer slow studies B (slow phase):
lanas with the largest `candidates` allowed proposing `--slow-count` trials per call in the
8^8 load space (reporting `--slow-reports` of each batch, so its tree keeps growing), and a
constrained user space being exhausted (one feasible architecture; every further Propose is
refused). Every Report answered after the first `--warmup` seconds counts, in both phases. It
prints Report p50 / p99 / p99.9 / max per phase and p99(slow) / p99(idle) (goal <= 2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from archsampler.bench.load import LOAD_SPACE
from archsampler.testing import ServerProcess
from archsampler_client import ArchSamplerError
from archsampler_client import AsyncClient

EXHAUSTED_SPACE: dict[str, Any] = {  # x in 0..99 with x <= 0.5: only x = 0 is feasible
    "params": [{"name": "x", "type": "int", "low": 0, "high": 99}],
    "constraints": [{"coefficients": {"x": 1.0}, "op": "<=", "bound": 0.5}],
}


def max_candidates() -> int:
    """The largest `candidates` option lanas accepts."""
    from archsampler.strategies.lanas import strategy as lanas

    return int(getattr(lanas, "INT_BOUNDS", {}).get("candidates", (1, 2_000))[1])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clients", type=int, default=8, help="trainers reporting to study A")
    p.add_argument("--rate", type=float, default=50.0, help="reports per second per trainer")
    p.add_argument("--slow-clients", type=int, default=4, help="clients hammering study B")
    p.add_argument("--slow-count", type=int, default=1000, help="trials per lanas Propose on B")
    p.add_argument("--slow-reports", type=int, default=100, help="of them reported each time")
    p.add_argument("--seconds", type=float, default=15.0, help="measured duration per phase")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds dropped in each phase")
    p.add_argument(
        "--reference",
        action="store_true",
        help="a third phase: the same slow load on a second server process (what the "
        "machine's CPU contention alone costs A)",
    )
    p.add_argument("--json", type=Path, help="write the results here")


def _value(arch: str) -> float:
    return (zlib.crc32(arch.encode()) % 10_000) / 100.0


def _stats(ms: list[float]) -> dict[str, Any]:
    if not ms:
        return {"n": 0}
    a = np.asarray(ms)
    return {
        "n": int(a.size),
        "p50_ms": float(np.percentile(a, 50)),
        "p99_ms": float(np.percentile(a, 99)),
        "p99_9_ms": float(np.percentile(a, 99.9)),
        "max_ms": float(a.max()),
    }


async def _stock(study: Any, k: int, n: int) -> list[Any]:
    """Trials for trainer `k` to report, proposed before the phase starts (untimed)."""
    stock: list[Any] = []
    while len(stock) < n:
        stock += await study.propose(count=min(1000, n - len(stock)), client_id=f"a{k}")
    return stock


async def _trainer(
    study: Any,
    stock: list[Any],
    rate: float,
    start: float,
    stop_at: float,
    keep_after: float,
    out: list[float],
) -> None:
    """Report `stock` at a steady pace; latency from send to answer."""
    period = 1.0 / rate
    next_at = start
    async with study.session() as ops:
        while stock:
            now = time.perf_counter()
            if now >= stop_at:
                return
            if next_at > now:
                await asyncio.sleep(next_at - now)
            next_at += period
            trial = stock.pop()
            t0 = time.perf_counter()
            await ops.report(trial.id, value=_value(trial.arch))
            t1 = time.perf_counter()
            if t1 >= keep_after:  # answered after the warm-up (the load bench's rule)
                out.append((t1 - t0) * 1e3)


async def _hammer_lanas(
    study: Any, count: int, reports: int, stop: asyncio.Event, out: dict
) -> None:
    async with study.session() as ops:
        while not stop.is_set():
            t0 = time.perf_counter()
            trials = await ops.propose(count=count, client_id="b")
            out["lanas_propose_ms"].append((time.perf_counter() - t0) * 1e3)
            for t in trials[:reports]:
                await ops.report(t.id, value=_value(t.arch))


async def _hammer_exhausted(study: Any, stop: asyncio.Event, out: dict) -> None:
    async with study.session() as ops:
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                await ops.propose(count=1, client_id="e")
            except ArchSamplerError as e:
                out["exhausted_codes"][e.code.name] = (
                    out["exhausted_codes"].get(e.code.name, 0) + 1
                )
            out["exhausted_propose_ms"].append((time.perf_counter() - t0) * 1e3)


async def _phase(
    client: Any, args: argparse.Namespace, slow: bool, tag: str, slow_client: Any = None
) -> dict[str, Any]:
    study = await client.create_study(f"a-{tag}", space=LOAD_SPACE, strategy="random")
    need = int(args.rate * (args.warmup + args.seconds)) + 10
    stocks = [await _stock(study, k, need) for k in range(args.clients)]
    start = time.perf_counter()
    stop_at = start + args.warmup + args.seconds
    reports: list[float] = []
    side: dict[str, Any] = {
        "lanas_propose_ms": [],
        "exhausted_propose_ms": [],
        "exhausted_codes": {},
    }
    stop = asyncio.Event()
    hammers = []
    if slow:
        other = slow_client or client
        lanas = await other.create_study(
            f"b-lanas-{tag}",
            space=LOAD_SPACE,
            strategy="lanas",
            strategy_options={"candidates": max_candidates()},
        )
        tight = await other.create_study(
            f"b-exhausted-{tag}", space=EXHAUSTED_SPACE, strategy="random"
        )
        for k in range(args.slow_clients):
            if k % 2 == 0:
                hammers.append(
                    _hammer_lanas(lanas, args.slow_count, args.slow_reports, stop, side)
                )
            else:
                hammers.append(_hammer_exhausted(tight, stop, side))

    async def trainers() -> None:
        await asyncio.gather(
            *(
                _trainer(
                    study,
                    stocks[k],
                    args.rate,
                    start + k / (args.clients * args.rate),  # spread the trainers
                    stop_at,
                    start + args.warmup,
                    reports,
                )
                for k in range(args.clients)
            )
        )
        stop.set()

    await asyncio.gather(trainers(), *hammers)
    result = {"report": _stats(reports), "seconds": time.perf_counter() - start}
    if slow:
        result["lanas_propose"] = _stats(side["lanas_propose_ms"])
        result["exhausted_propose"] = _stats(side["exhausted_propose_ms"])
        result["exhausted_codes"] = side["exhausted_codes"]
    return result


async def _drive(target: str, args: argparse.Namespace, other: str | None) -> dict[str, Any]:
    async with AsyncClient(target, timeout=120) as client:
        idle = await _phase(client, args, slow=False, tag="idle")
        slow = await _phase(client, args, slow=True, tag="slow")
        extra = {}
        if other is not None:  # the same slow load on another server: the machine's share
            async with AsyncClient(other, timeout=120) as elsewhere:
                ref = await _phase(client, args, slow=True, tag="ref", slow_client=elsewhere)
            extra = {
                "slow_elsewhere": ref,
                "p99_ratio_slow_elsewhere_over_idle": ref["report"]["p99_ms"]
                / idle["report"]["p99_ms"]
                if ref["report"]["n"] and idle["report"]["n"]
                else None,
            }
    ratio = (
        slow["report"]["p99_ms"] / idle["report"]["p99_ms"]
        if slow["report"]["n"] and idle["report"]["n"]
        else None  # no report answered after the warm-up: starved
    )
    return {
        "idle": idle,
        "slow": slow,
        **extra,
        "p99_ratio_slow_over_idle": ratio,
        "goal_met": ratio is not None and ratio <= 2.0,
        "clients": args.clients,
        "rate_per_client": args.rate,
        "slow_clients": args.slow_clients,
        "slow_count": args.slow_count,
        "slow_reports": args.slow_reports,
        "lanas_candidates": max_candidates(),
        "warmup_s": args.warmup,
    }


def _line(name: str, s: dict[str, Any]) -> str:
    if not s.get("n"):
        return f"{name}: no samples"
    return (
        f"{name}: n {s['n']}, p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, "
        f"p99.9 {s['p99_9_ms']:.1f} ms, max {s['max_ms']:.1f} ms"
    )


def _ratio(value: float | None) -> str:
    return "none (no report answered)" if value is None else f"{value:.2f}"


def run(args: argparse.Namespace) -> int:
    import uvloop

    off = {"ARCHSAMPLER_MODEL_RETRAIN_EVERY": "0"}
    with tempfile.TemporaryDirectory() as tmp:
        with ServerProcess(Path(tmp) / "isolation.db", **off) as srv:
            if args.reference:
                with ServerProcess(Path(tmp) / "elsewhere.db", **off) as other:
                    result = uvloop.run(_drive(srv.target, args, other.target))
            else:
                result = uvloop.run(_drive(srv.target, args, None))
    print(_line("Report to A, idle", result["idle"]["report"]))
    print(_line("Report to A, while B is slow", result["slow"]["report"]))
    print(_line(f"B: lanas Propose({args.slow_count})", result["slow"]["lanas_propose"]))
    print(
        _line("B: exhausted Propose(1)", result["slow"]["exhausted_propose"])
        + f" (answers {result['slow']['exhausted_codes']})"
    )
    if "slow_elsewhere" in result:
        print(
            _line(
                "Report to A, same slow load on another server", result["slow_elsewhere"]["report"]
            )
            + f" (ratio {_ratio(result['p99_ratio_slow_elsewhere_over_idle'])}:"
            " the machine's share)"
        )
    print(
        f"p99(slow) / p99(idle) = {_ratio(result['p99_ratio_slow_over_idle'])} "
        f"(goal <= 2: {'met' if result['goal_met'] else 'NOT met'})"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0
