"""`archsampler bench isolation`: one slow study must not slow another study's Reports.

A server runs in a child process. `--clients` trainers report to study A at a steady pace
(`--rate` reports per second each, over one open `Session` each; trials proposed before
the run, untimed) in three phases that alternate in `--blocks` blocks each, so a busy host
weighs on every phase alike:

- idle: nothing else runs;
- slow: `--slow-clients` other clients hammer slow studies B on the same server, alternately
  (`--slow-load both`) lanas with the largest `candidates` allowed proposing `--slow-count`
  trials per call in the 8^8 load space (reporting `--slow-reports` of each batch, so its
  tree keeps growing), and a constrained user space being exhausted (one feasible
  architecture; every further Propose is refused);
- ref (`--reference`, on by default): the same slow load sent to a second server process,
  what the machine's CPU contention alone costs A.

The slow load runs in its own client process (as another tenant's clients would), started
`--ramp` seconds before a block's reports and waited for to the end of its last call
before the next block. Each trainer sends the same `--rate` x block-length reports in every
block of every phase, the i-th due i / rate after the block starts, and every one is timed
from when it was due, so a trainer held up by a slow answer counts its wait (only the
`--warmup` seconds before the first block are not timed); the same reports timed from
their send are printed too. It prints Report p50 / p99 / p99.9 / max per phase, side by
side, and p99(slow) / p99(idle) (goal <= 2) next to p99(ref) / p99(idle).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import tempfile
import time
import zlib
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from archsampler.bench.load import LOAD_SPACE
from archsampler.testing import ServerProcess
from archsampler_client import ArchSamplerError
from archsampler_client import AsyncClient

EXHAUSTED_SPACE: dict[str, Any] = {  # x in 0..99 with x <= 0.5: only x = 0 is feasible
    "params": [{"name": "x", "type": "int", "low": 0, "high": 99}],
    "constraints": [{"coefficients": {"x": 1.0}, "op": "<=", "bound": 0.5}],
}
LABELS = {
    "idle": "A's Report, idle",
    "slow": "A's Report, B slow on this server",
    "ref": "A's Report, B slow on another server",
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
    p.add_argument(
        "--slow-load",
        choices=["both", "lanas", "exhausted"],
        default="both",
        help="which slow clients run: alternately lanas and exhausted (both), or only one "
        "kind (to see what each costs A)",
    )
    p.add_argument("--seconds", type=float, default=15.0, help="measured seconds per phase")
    p.add_argument("--blocks", type=int, default=3, help="blocks per phase (interleaved)")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds at the start")
    p.add_argument("--ramp", type=float, default=0.5, help="slow load's head start per block")
    p.add_argument(
        "--reference",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the ref phase: the same slow load on a second server process (what the "
        "machine's CPU contention alone costs A)",
    )
    p.add_argument(
        "--strategy-processes",
        type=int,
        default=0,
        help="the servers' ARCHSAMPLER_STRATEGY_PROCESSES: 0 runs strategies in the server "
        "process (the default), N > 0 in N host processes at a lower CPU priority",
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


def _freeze() -> None:
    """Collect, then keep every object alive now out of later GC scans: a full collection
    over a client process's imports and stock would pause it for 50-130 ms, noise in every
    phase that is not the server's."""
    gc.collect()
    gc.freeze()


# -- the slow load, in its own process ------------------------------------------------------
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


async def _hammer_serve(conn: Connection, settings: dict[str, Any]) -> None:
    """Obey the bench: ("setup", phase, target), ("start", phase), ("stop",), ("exit",)."""
    clients: list[AsyncClient] = []
    studies: dict[str, tuple[Any, Any]] = {}
    stop = asyncio.Event()
    tasks: list[asyncio.Future] = []
    side: dict[str, Any] = {}
    while True:
        try:
            cmd = await asyncio.to_thread(conn.recv)
        except (EOFError, OSError):  # the bench is gone: stop too
            cmd = ("exit",)
        if cmd[0] == "setup":
            _, phase, target = cmd
            client = AsyncClient(target, timeout=120)
            await client.__aenter__()
            clients.append(client)
            lanas = await client.create_study(
                f"b-lanas-{phase}",
                space=LOAD_SPACE,
                strategy="lanas",
                strategy_options={"candidates": settings["candidates"]},
            )
            tight = await client.create_study(
                f"b-exhausted-{phase}", space=EXHAUSTED_SPACE, strategy="random"
            )
            studies[phase] = (lanas, tight)
            # one untimed call each: the studies' runtimes (and strategy hosts) exist before
            # the first block, so no block pays for start-up
            for t in await lanas.propose(count=settings["reports"], client_id="b"):
                await lanas.report(t.id, value=_value(t.arch))
            with contextlib.suppress(ArchSamplerError):
                await tight.propose(count=1, client_id="e")
            _freeze()
            conn.send("ok")
        elif cmd[0] == "start":
            lanas, tight = studies[cmd[1]]
            stop = asyncio.Event()
            side = {"lanas_propose_ms": [], "exhausted_propose_ms": [], "exhausted_codes": {}}
            kinds = {"both": ["lanas", "exhausted"], "lanas": ["lanas"]}.get(
                settings["load"], ["exhausted"]
            )
            tasks = [
                asyncio.ensure_future(
                    _hammer_lanas(lanas, settings["count"], settings["reports"], stop, side)
                    if kinds[k % len(kinds)] == "lanas"
                    else _hammer_exhausted(tight, stop, side)
                )
                for k in range(settings["clients"])
            ]
            conn.send("ok")
        elif cmd[0] == "stop":
            stop.set()
            await asyncio.gather(*tasks)
            conn.send(side)
        else:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for client in clients:
                await client.__aexit__(None, None, None)
            with contextlib.suppress(OSError):
                conn.send("ok")
            return


def _hammer_main(conn: Connection, settings: dict[str, Any]) -> None:
    import uvloop

    uvloop.run(_hammer_serve(conn, settings))


class Hammer:
    """The slow load's process, driven over a pipe."""

    def __init__(self, args: argparse.Namespace) -> None:
        settings = {
            "clients": args.slow_clients,
            "count": args.slow_count,
            "reports": args.slow_reports,
            "candidates": max_candidates(),
            "load": args.slow_load,
        }
        self.conn, child = multiprocessing.get_context("spawn").Pipe()
        self.proc = multiprocessing.get_context("spawn").Process(
            target=_hammer_main, args=(child, settings), daemon=True
        )
        self.proc.start()

    async def call(self, *cmd: Any) -> Any:
        self.conn.send(cmd)
        return await asyncio.to_thread(self.conn.recv)

    async def close(self) -> None:
        await self.call("exit")
        self.proc.join(timeout=30)


# -- study A's trainers ---------------------------------------------------------------------
class Samples:
    """Report latencies (ms): from when each was due, and from when it was sent."""

    def __init__(self) -> None:
        self.due: list[float] = []
        self.sent: list[float] = []

    def extend(self, other: Samples) -> None:
        self.due += other.due
        self.sent += other.sent


async def _stock(study: Any, k: int, n: int) -> list[Any]:
    """Trials for trainer `k` to report, proposed before the run (untimed)."""
    stock: list[Any] = []
    while len(stock) < n:
        stock += await study.propose(count=min(1000, n - len(stock)), client_id=f"a{k}")
    return stock


async def _report_block(
    ops: Any, stock: list[Any], rate: float, start: float, count: int, out: Samples
) -> None:
    """Send `count` reports from `stock`, the i-th due at `start + i / rate`. Each latency is
    timed from when it was due (a trainer held up by a slow answer counts its wait: every
    phase sends the same reports) and, in `out.sent`, from when it was sent."""
    for i in range(min(count, len(stock))):
        due = start + i / rate
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        trial = stock.pop()
        t0 = time.perf_counter()
        await ops.report(trial.id, value=_value(trial.arch))
        t1 = time.perf_counter()
        # asyncio's sleep may wake a hair early: a report is never timed from before its send
        out.due.append((t1 - min(due, t0)) * 1e3)
        out.sent.append((t1 - t0) * 1e3)


async def _drive(target: str, other: str | None, args: argparse.Namespace) -> dict[str, Any]:
    phases = ["idle", "slow"] + (["ref"] if other is not None else [])
    block = args.seconds / args.blocks
    hammer = Hammer(args)
    samples = {p: Samples() for p in phases}
    sides: dict[str, dict[str, Any]] = {
        p: {"lanas_propose_ms": [], "exhausted_propose_ms": [], "exhausted_codes": {}}
        for p in phases[1:]
    }
    blocks: list[dict[str, Any]] = []
    try:
        async with AsyncClient(target, timeout=120) as client, contextlib.AsyncExitStack() as st:
            study = await client.create_study("a", space=LOAD_SPACE, strategy="random")
            need = int(args.rate * (args.warmup + args.seconds * len(phases) + 1)) + 10
            stocks = [await _stock(study, k, need) for k in range(args.clients)]
            await hammer.call("setup", "slow", target)
            if other is not None:
                await hammer.call("setup", "ref", other)
            sessions = [await st.enter_async_context(study.session()) for _ in stocks]
            _freeze()  # A's stock and imports: out of this process's GC scans

            async def reports(seconds: float, out: Samples) -> None:
                start = time.perf_counter()
                spread = args.clients * args.rate  # trainers' sends spread over one period
                count = round(args.rate * seconds)
                await asyncio.gather(
                    *(
                        _report_block(ops, stocks[k], args.rate, start + k / spread, count, out)
                        for k, ops in enumerate(sessions)
                    )
                )

            await reports(args.warmup, Samples())
            order = [p for _ in range(args.blocks) for p in phases]
            for phase in tqdm(order, desc="isolation blocks", unit="block"):
                if phase != "idle":
                    await hammer.call("start", phase)
                    await asyncio.sleep(args.ramp)
                out = Samples()
                await reports(block, out)
                samples[phase].extend(out)
                blocks.append({"phase": phase, **_stats(out.due)})
                if phase != "idle":
                    side = await hammer.call("stop")
                    total = sides[phase]
                    total["lanas_propose_ms"] += side["lanas_propose_ms"]
                    total["exhausted_propose_ms"] += side["exhausted_propose_ms"]
                    for code, n in side["exhausted_codes"].items():
                        total["exhausted_codes"][code] = total["exhausted_codes"].get(code, 0) + n
    finally:
        with contextlib.suppress(Exception):
            await hammer.close()
        if hammer.proc.is_alive():
            hammer.proc.kill()
    result: dict[str, Any] = {
        p: {"report": _stats(samples[p].due), "report_from_send": _stats(samples[p].sent)}
        for p in phases
    }
    for p in phases[1:]:
        result[p]["lanas_propose"] = _stats(sides[p]["lanas_propose_ms"])
        result[p]["exhausted_propose"] = _stats(sides[p]["exhausted_propose_ms"])
        result[p]["exhausted_codes"] = sides[p]["exhausted_codes"]
    for key, suffix in (("report", ""), ("report_from_send", "_from_send")):
        idle_p99 = result["idle"][key].get("p99_ms")
        for p in phases[1:]:
            p99 = result[p][key].get("p99_ms")
            result[f"p99_ratio_{p}_over_idle{suffix}"] = (
                p99 / idle_p99 if p99 is not None and idle_p99 else None  # None: starved
            )
    ratio = result["p99_ratio_slow_over_idle"]
    return {
        **result,
        "goal_met": ratio is not None and ratio <= 2.0,
        **_round_ratios(blocks, phases),
        "blocks": blocks,
        "clients": args.clients,
        "rate_per_client": args.rate,
        "slow_clients": args.slow_clients,
        "slow_count": args.slow_count,
        "slow_reports": args.slow_reports,
        "slow_load": args.slow_load,
        "lanas_candidates": max_candidates(),
        "seconds_per_phase": args.seconds,
        "blocks_per_phase": args.blocks,
        "warmup_s": args.warmup,
        "ramp_s": args.ramp,
        "strategy_processes": args.strategy_processes,
    }


def _round_ratios(blocks: list[dict[str, Any]], phases: list[str]) -> dict[str, Any]:
    """p99(phase) / p99(idle) of each round of consecutive blocks (idle, slow, ref), and
    their median: a machine hiccup that lands in one block moves one round, not all."""
    out: dict[str, Any] = {}
    rounds = [blocks[i : i + len(phases)] for i in range(0, len(blocks), len(phases))]
    for p in phases[1:]:
        ratios = []
        for r in rounds:
            by = {b["phase"]: b for b in r}
            idle, other = by["idle"].get("p99_ms"), by[p].get("p99_ms")
            ratios.append(other / idle if idle and other is not None else None)
        known = [x for x in ratios if x is not None]
        out[f"round_p99_ratios_{p}_over_idle"] = ratios
        out[f"round_p99_ratio_{p}_over_idle_median"] = float(np.median(known)) if known else None
    return out


def _row(name: str, s: dict[str, Any], ratio: float | None = None) -> str:
    if not s.get("n"):
        return f"{name:<42} no samples"
    cells = f"{s['p50_ms']:8.1f} {s['p99_ms']:8.1f} {s['p99_9_ms']:8.1f} {s['max_ms']:8.1f}"
    tail = "" if ratio is None else f" {ratio:8.2f}"
    return f"{name:<42} {s['n']:6d} {cells}{tail}"


def _ratio(value: float | None) -> str:
    return "none (no report answered)" if value is None else f"{value:.2f}"


def run(args: argparse.Namespace) -> int:
    import uvloop

    off = {
        "ARCHSAMPLER_MODEL_RETRAIN_EVERY": "0",
        "ARCHSAMPLER_STRATEGY_PROCESSES": str(args.strategy_processes),
    }
    with tempfile.TemporaryDirectory() as tmp:
        with ServerProcess(Path(tmp) / "isolation.db", **off) as srv:
            if args.reference:
                with ServerProcess(Path(tmp) / "elsewhere.db", **off) as other:
                    result = uvloop.run(_drive(srv.target, other.target, args))
            else:
                result = uvloop.run(_drive(srv.target, None, args))
    phases = [p for p in ("idle", "slow", "ref") if p in result]
    print(f"{'ms':<42} {'n':>6} {'p50':>8} {'p99':>8} {'p99.9':>8} {'max':>8} {'p99/idle':>8}")
    for p in phases:
        ratio = None if p == "idle" else result[f"p99_ratio_{p}_over_idle"]
        print(_row(LABELS[p], result[p]["report"], ratio))
    for p in phases:  # the same reports timed from their send (a late send not counted)
        ratio = None if p == "idle" else result[f"p99_ratio_{p}_over_idle_from_send"]
        print(_row(f"  from send: {p}", result[p]["report_from_send"], ratio))
    for p in phases[1:]:
        where = "this" if p == "slow" else "another"
        print(_row(f"B: lanas Propose({args.slow_count}), {where}", result[p]["lanas_propose"]))
        print(
            _row(f"B: exhausted Propose(1), {where}", result[p]["exhausted_propose"])
            + f"  {result[p]['exhausted_codes']}"
        )
    ref = result.get("p99_ratio_ref_over_idle")
    print(
        f"p99(slow) / p99(idle) = {_ratio(result['p99_ratio_slow_over_idle'])} "
        f"(goal <= 2: {'met' if result['goal_met'] else 'NOT met'})"
        + ("" if "ref" not in result else f"; p99(ref) / p99(idle) = {_ratio(ref)}")
    )
    for p in phases[1:]:
        ratios = ", ".join(_ratio(x) for x in result[f"round_p99_ratios_{p}_over_idle"])
        median = _ratio(result[f"round_p99_ratio_{p}_over_idle_median"])
        print(f"per round p99({p}) / p99(idle): {ratios}; median {median}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0
