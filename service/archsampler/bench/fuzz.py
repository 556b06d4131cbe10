"""`archsampler bench fuzz`: fuzz every RPC of a server child process and count what breaks.

Starts `archsampler serve` as a child process over a fresh SQLite file (so a crash is
seen), sends `--cases` random requests from `archsampler.testing.fuzz`, and writes
`{"cases", "internal", "crashes", "hangs", "violations", "by_code", ...}` to `--json`.
Then twice `SESSION_LIMIT` Session streams held open at once (those beyond the limit must
be RESOURCE_EXHAUSTED, and a Session must work once they are cancelled), hostile HTTP
requests to the dashboard port, and a flood of silent connections held open against it
(the server must close them and serve the page again).
The server's log (its stderr) goes to `--log`: each INTERNAL answer names an incident id
whose traceback is there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from archsampler.server.httpd import IDLE_TIMEOUT
from archsampler.server.httpd import MAX_CONNECTIONS
from archsampler.testing import ServerProcess
from archsampler.testing import free_port
from archsampler.testing.fuzz import run_fuzz
from archsampler.testing.fuzz import run_session_flood
from archsampler.testing.fuzz_http import run_connection_flood
from archsampler.testing.fuzz_http import run_http_fuzz


class LoggedServerProcess(ServerProcess):
    """A `ServerProcess` whose stderr (the server log) is appended to `log`."""

    def __init__(self, db: str | Path, log: Path, **env: str) -> None:
        super().__init__(db, **env)
        self.log = log

    def start(self, timeout: float = 60.0) -> LoggedServerProcess:
        """Start the child with fd 2 pointing at the log file (the child inherits it)."""
        sys.stderr.flush()
        saved = os.dup(2)
        with open(self.log, "ab") as log:
            os.dup2(log.fileno(), 2)
        try:
            super().start(timeout)
        except BaseException:
            if self.proc is not None:  # not ready (or interrupted): do not leave it running
                self.stop(kill=True)
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        return self

    def alive(self) -> bool:
        """Whether the child process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def shutdown(self) -> str:
        """SIGTERM and wait; SIGKILL when it does not exit in time. Says how it ended."""
        assert self.proc is not None
        if not self.alive():
            return f"died earlier (exit code {self.proc.returncode})"
        try:
            return f"exited on SIGTERM (exit code {self.stop()})"
        except subprocess.TimeoutExpired:
            children = _children(self.proc.pid)  # e.g. model training workers
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            for pid in children:  # a killed server cannot stop them itself
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            return f"did not exit within 60 s of SIGTERM; killed with {len(children)} children"


def _children(pid: int) -> list[int]:
    """Child process ids of `pid`, from every thread's /proc children list (Linux)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


SESSION_LIMIT = 256  # the fuzzed server's ARCHSAMPLER_MAX_SESSIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `bench fuzz` options."""
    parser.add_argument("--cases", type=int, default=10_000, help="requests to send")
    parser.add_argument("--seed", type=int, default=0, help="seed of the request generator")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-RPC deadline (s)")
    parser.add_argument("--log", type=Path, help="server log file (default: next to --json)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--http-cases", type=int, default=2_000, help="hostile requests to the dashboard port"
    )
    parser.add_argument(
        "--flood-connections",
        type=int,
        default=4 * MAX_CONNECTIONS,
        help="silent connections held open against the dashboard port at the end",
    )
    parser.add_argument(
        "--strategy-processes",
        type=int,
        default=0,
        help="the server's ARCHSAMPLER_STRATEGY_PROCESSES (strategies in host processes)",
    )


def run(args: argparse.Namespace) -> int:
    """Fuzz a fresh server process; exit status 1 when anything broke."""
    with tempfile.TemporaryDirectory(prefix="archsampler-fuzz-") as tmp:
        log = args.log or (
            args.json.with_suffix(".server.log") if args.json else Path(tmp) / "server.log"
        )
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_bytes(b"")
        dashboard = free_port()
        server = LoggedServerProcess(
            Path(tmp) / "fuzz.db",
            log,
            ARCHSAMPLER_DASHBOARD_PORT=str(dashboard),
            ARCHSAMPLER_MAX_SESSIONS=str(SESSION_LIMIT),
            ARCHSAMPLER_STRATEGY_PROCESSES=str(args.strategy_processes),
        ).start()
        try:
            result = run_fuzz(
                server.target,
                args.cases,
                args.seed,
                alive=server.alive,
                progress=True,
                timeout=args.timeout,
            )
            http = run_http_fuzz(
                "127.0.0.1", dashboard, args.http_cases, args.seed, alive=server.alive,
                progress=True,
            )  # fmt: skip
            sessions = run_session_flood(server.target, 2 * SESSION_LIMIT, server.alive)
            flood = run_connection_flood(
                "127.0.0.1", dashboard, args.flood_connections, IDLE_TIMEOUT + 10, server.alive
            )
        finally:
            ending = server.shutdown()
        record = {
            **result.to_json(),
            "seed": args.seed,
            "server_exit": ending,
            "strategy_processes": args.strategy_processes,
        }
        record["dashboard"] = http.to_json()
        record["dashboard_flood"] = flood
        record["session_flood"] = sessions
        record["server_log"] = str(log) if args.log or args.json else None
    keys = ("cases", "internal", "crashes", "hangs", "violations", "server_exit")
    summary = {k: record[k] for k in keys}
    print(json.dumps({**summary, "by_code": record["by_code"]}, indent=1))
    print("dashboard:", json.dumps(record["dashboard"]["by_status"]), end=" ")
    print(f"incidents {record['dashboard']['incident_count']}")
    print("dashboard flood:", json.dumps(flood))
    print("session flood:", json.dumps(sessions))
    for incident in http.incidents[:10]:
        print(f"[dashboard {incident['status']}] case {incident['case']}: {incident['request']}")
    for incident in result.incidents[:10]:
        print(f"[{incident.kind}] case {incident.case} {incident.method}: {incident.detail}")
        print(f"    {incident.request[:300]}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1, ensure_ascii=False))
    ok = result.ok and http.ok and flood["ok"] and sessions["ok"]
    return 0 if ok and ending.startswith("exited") else 1
