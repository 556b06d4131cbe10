"""`archsampler bench load`: propose+report throughput and latency on loopback.

A server runs in a child process; this process drives it with `--clients` concurrent
asyncio clients, each looping Propose(1) → Report until `--seconds` pass, over its own
`Session` stream (`--transport session`, the default), over its own stream with one
ReportAndPropose message per pair (`step`: a trainer's loop step), or one RPC per call
(`unary`).
Two phases, each on a fresh server: idle (automatic model training off), then with the NAO
model retraining back to back in its child process. Latency figures (p50 / p99 / p99.9 /
max of every call) leave out the same `--warmup` seconds at the start of every phase, so
`p99_ratio_retrain_over_idle` compares like with like; pairs/s count the whole run.
As a reference measured in the same run, the raw gRPC ceiling of this machine: health-check
calls per second with the same number of clients. Every phase stops by itself. The default
space is a user-defined one with 8^8 architectures, so a long run never exhausts it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from archsampler.testing import ServerProcess
from archsampler_client import AsyncClient

LOAD_TOKEN = "load-bench-token"
# `--auth`: the clients are a write principal of namespace `load` (every call is authorized
# and its study's namespace checked, the costlier path than an admin's)
AUTH_ENV = {"ARCHSAMPLER_AUTH_TOKENS": f"{LOAD_TOKEN}:write:load"}
LOAD_SPACE: dict[str, Any] = {
    "params": [
        {"name": f"p{i}", "type": "categorical", "choices": [f"c{j}" for j in range(8)]}
        for i in range(8)
    ]
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clients", type=int, default=64, help="concurrent clients")
    p.add_argument("--seconds", type=float, default=30.0, help="measured duration")
    p.add_argument("--strategy", default="random", help="strategy of the study under load")
    p.add_argument("--space", default="load", help="'load' (8^8 user space), nb201 or nb101")
    p.add_argument("--db", help="database URL/file (default: a temporary SQLite file)")
    p.add_argument("--target", help="drive an already running server instead")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--skip-retrain", action="store_true", help="only the idle phase")
    p.add_argument(
        "--warmup",
        type=float,
        default=3.0,
        help="seconds left out of the latency figures at the start of every phase "
        "(at most half of --seconds)",
    )
    p.add_argument(
        "--auth",
        choices=("off", "on", "both"),
        default="off",
        help="serve with tokens and namespaces on (clients hold a write token), or both: the "
        "idle phase once each way, on fresh servers, side by side",
    )
    p.add_argument(
        "--transport",
        choices=("session", "step", "unary"),
        default="session",
        help="each client on one Session stream with a Propose and a Report call per pair "
        "(default), or one ReportAndPropose call per pair on it (step), or one unary "
        "Propose/Report RPC per call",
    )


def _value(arch: str) -> float:
    return (zlib.crc32(arch.encode()) % 10_000) / 100.0


async def _drive(
    target: str, args: argparse.Namespace, token: str | None = None
) -> dict[str, Any]:
    space = LOAD_SPACE if args.space == "load" else args.space
    async with AsyncClient(target, timeout=60, token=token) as client:
        name = f"load-{args.strategy}-{int(time.time())}"
        study = await client.create_study(name, space=space, strategy=args.strategy)
        lat_propose: list[float] = []
        lat_report: list[float] = []
        stamps: list[float] = []
        pairs = 0
        stop_at = time.perf_counter() + args.seconds
        bar = tqdm(total=int(args.seconds), desc=f"load {args.strategy}", unit="s")

        async def stepper(k: int) -> None:
            """`--transport step`: each pair is one ReportAndPropose after a first Propose."""
            nonlocal pairs
            async with study.session() as ops:
                (trial,) = await ops.propose(count=1, client_id=f"c{k}")
                while time.perf_counter() < stop_at:
                    t0 = time.perf_counter()
                    _, (nxt,) = await ops.report_and_propose(
                        trial.id, value=_value(trial.arch), client_id=f"c{k}"
                    )
                    t1 = time.perf_counter()
                    lat_propose.append(t1 - t0)  # one call carries both halves of the pair
                    lat_report.append(t1 - t0)
                    stamps.append(t1)
                    pairs += 1
                    trial = nxt

        async def worker(k: int) -> None:
            nonlocal pairs
            if args.transport == "step":
                return await stepper(k)
            calls = study.session() if args.transport == "session" else None
            ops = study if calls is None else calls
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                (trial,) = await ops.propose(count=1, client_id=f"c{k}")
                t1 = time.perf_counter()
                await ops.report(trial.id, value=_value(trial.arch))
                t2 = time.perf_counter()
                lat_propose.append(t1 - t0)
                lat_report.append(t2 - t1)
                stamps.append(t2)
                pairs += 1
            if calls is not None:
                await calls.close()

        async def ticker() -> None:
            while time.perf_counter() < stop_at:
                await asyncio.sleep(1.0)
                bar.update(1)

        t_start = time.perf_counter()
        await asyncio.gather(ticker(), *(worker(k) for k in range(args.clients)))
        elapsed = time.perf_counter() - t_start
        bar.close()
    warmup = min(args.warmup, args.seconds / 2)
    kept = np.array(stamps) > t_start + warmup  # the same rule in every phase
    propose_ms = np.array(lat_propose)[kept] * 1e3
    report_ms = np.array(lat_report)[kept] * 1e3
    return {
        "pairs_per_s": pairs / elapsed,
        **_percentiles(np.concatenate([propose_ms, report_ms])),
        "propose_p99_ms": _percentile(propose_ms, 99),
        "report_p99_ms": _percentile(report_ms, 99),
        "latency_samples": int(propose_ms.size + report_ms.size),
        "warmup_s": warmup,
        "pairs": pairs,
        "clients": args.clients,
        "seconds": elapsed,
        "strategy": args.strategy,
        "transport": args.transport,
    }


def _percentile(ms: np.ndarray, q: float) -> float | None:
    return float(np.percentile(ms, q)) if ms.size else None


def _percentiles(ms: np.ndarray) -> dict[str, float | None]:
    """p50 / p99 / p99.9 / max of every call (milliseconds)."""
    return {
        "p50_ms": _percentile(ms, 50),
        "p99_ms": _percentile(ms, 99),
        "p99_9_ms": _percentile(ms, 99.9),
        "max_ms": float(ms.max()) if ms.size else None,
    }


async def _ceiling(target: str, clients: int, seconds: float = 3.0) -> float:
    """Health-check RPCs per second: what gRPC alone does here with this many clients."""
    import grpc
    from grpc_health.v1 import health_pb2
    from grpc_health.v1 import health_pb2_grpc

    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        calls = 0
        stop_at = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal calls
            while time.perf_counter() < stop_at:
                await stub.Check(health_pb2.HealthCheckRequest())
                calls += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
    return calls / seconds


def _children_cpu(pid: int) -> float:
    """CPU seconds used by the descendants of `pid` (live ones and reaped ones); Linux /proc."""

    def ticks(stat: str, first: int) -> int:
        fields = stat.rsplit(")", 1)[1].split()
        return int(fields[first]) + int(fields[first + 1])

    def live(p: int) -> int:
        total = 0
        for task in Path(f"/proc/{p}/task").glob("*"):
            for child in (task / "children").read_text().split():
                try:
                    total += ticks(Path(f"/proc/{child}/stat").read_text(), 11) + live(int(child))
                except OSError:
                    pass  # it exited meanwhile (its time moves to the reaped total)
        return total

    try:
        reaped = ticks(Path(f"/proc/{pid}/stat").read_text(), 13)
        return (reaped + live(pid)) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")  # not Linux


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` itself; Linux /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")  # not Linux


def _phase(db: str, args: argparse.Namespace, env: dict[str, str], ceiling: bool) -> dict:
    import uvloop

    token = LOAD_TOKEN if env.get("ARCHSAMPLER_AUTH_TOKENS") else None
    with ServerProcess(db, **env) as srv:
        before, own = _children_cpu(srv.proc.pid), _process_cpu(srv.proc.pid)
        result = uvloop.run(_drive(srv.target, args, token))
        result["children_cpu_s"] = _children_cpu(srv.proc.pid) - before
        # the server's own CPU per pair: what a change costs, even on a busy machine
        spent = _process_cpu(srv.proc.pid) - own
        result["server_cpu_us_per_pair"] = spent / max(result["pairs"], 1) * 1e6
        if ceiling:
            result["grpc_ceiling_rpc_per_s"] = uvloop.run(_ceiling(srv.target, args.clients))
    return result


def _latency(r: dict[str, Any]) -> str:
    if r.get("p50_ms") is None:
        return "(no samples)"
    return (
        f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, p99.9 {r['p99_9_ms']:.1f} ms, "
        f"max {r['max_ms']:.1f} ms"
    )


def run(args: argparse.Namespace) -> int:
    import uvloop

    if args.target:
        result = uvloop.run(_drive(args.target, args))
        result["grpc_ceiling_rpc_per_s"] = uvloop.run(_ceiling(args.target, args.clients))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            idle_db = args.db or str(Path(tmp) / "idle.db")
            auth = AUTH_ENV if args.auth == "on" else {}
            idle_env = {"ARCHSAMPLER_MODEL_RETRAIN_EVERY": "0"}
            result = _phase(idle_db, args, {**idle_env, **auth}, True)
            result["auth"] = args.auth == "on"
            if args.auth == "both":
                on = _phase(str(Path(tmp) / "auth.db"), args, {**idle_env, **AUTH_ENV}, False)
                for key in (
                    "p50_ms",
                    "p99_ms",
                    "p99_9_ms",
                    "max_ms",
                    "pairs_per_s",
                    "server_cpu_us_per_pair",
                ):
                    result[f"{key}_auth_on"] = on[key]
                result["auth_on_over_off"] = on["pairs_per_s"] / result["pairs_per_s"]
            if not args.skip_retrain:
                retrain_env = {  # retrain back to back, each run short enough to finish
                    "ARCHSAMPLER_MODEL_RETRAIN_EVERY": "50",
                    "ARCHSAMPLER_MODEL_MIN_TRIALS": "50",
                    "ARCHSAMPLER_MODEL_MIN_STEPS": "300",
                    "ARCHSAMPLER_MODEL_EPOCHS": "10",
                    **auth,
                }
                busy = _phase(str(Path(tmp) / "retrain.db"), args, retrain_env, False)
                for key in ("p50_ms", "p99_ms", "p99_9_ms", "max_ms", "pairs_per_s"):
                    result[f"{key}_during_retrain"] = busy[key]
                result["p99_ratio_retrain_over_idle"] = (
                    busy["p99_ms"] / result["p99_ms"]
                    if busy["p99_ms"] is not None and result["p99_ms"]
                    else None
                )
                models = Path(tmp) / "retrain.db.models"
                result["models_trained_during_retrain"] = len(list(models.glob("*/v*")))
                result["training_cpu_s_during_retrain"] = busy["children_cpu_s"]
    print(
        f"{result['pairs']} propose+report pairs in {result['seconds']:.1f} s with "
        f"{args.clients} clients ({args.transport}): {result['pairs_per_s']:.0f} pairs/s, "
        f"latency after {result['warmup_s']:.1f} s warm-up {_latency(result)}; "
        f"gRPC ceiling {result['grpc_ceiling_rpc_per_s']:.0f} health calls/s"
    )
    if "auth_on_over_off" in result:
        with_auth = {k[: -len("_auth_on")]: v for k, v in result.items() if k.endswith("_auth_on")}
        print(
            f"with auth and namespaces on (write principal): {with_auth['pairs_per_s']:.0f} "
            f"pairs/s = {result['auth_on_over_off']:.2f} x auth off, latency after the same "
            f"warm-up {_latency(with_auth)}; server CPU per pair "
            f"{with_auth['server_cpu_us_per_pair']:.0f} us (auth off "
            f"{result['server_cpu_us_per_pair']:.0f} us)"
        )
    if "p99_ms_during_retrain" in result:
        during = {k[: -len("_during_retrain")]: v for k, v in result.items() if "_during_" in k}
        ratio = result["p99_ratio_retrain_over_idle"]
        print(
            f"while retraining ({result['models_trained_during_retrain']} models finished, "
            f"training processes used {result['training_cpu_s_during_retrain']:.1f} CPU-s): "
            f"{result['pairs_per_s_during_retrain']:.0f} pairs/s, latency after the same "
            f"warm-up {_latency(during)}; p99 {ratio:.2f} x idle"
            if ratio is not None
            else "while retraining: no latency samples after the warm-up"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0
