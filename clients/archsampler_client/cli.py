"""Look at results from a terminal: `studies`, `trials STUDY`, `best STUDY`, `export STUDY`.

Run as `archsampler <command>` (server package) or `archsampler-client <command>` (client
only). Connection settings match the SDK's: `--target`, TLS files, and a bearer token read
from `ARCHSAMPLER_TOKEN` or `--token-file` (never from the command line, where other users
of the machine could read it in the process list).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from archsampler_client import export
from archsampler_client.client import Client
from archsampler_client.errors import ArchSamplerError
from archsampler_client.models import Trial
from archsampler_client.models import TrialState
from archsampler_client.security import tls_credentials

COMMANDS = {
    "studies": "list the studies you may see",
    "trials": "list a study's trials",
    "best": "show a study's best completed trial",
    "export": "write a study's trials as CSV or JSON Lines",
}
MAX_TOKEN_BYTES = 4096


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """The SDK's connection settings as options (defaults from the environment)."""
    parser.add_argument(
        "--target",
        default=os.environ.get("ARCHSAMPLER_TARGET", "localhost:50051"),
        help="server host:port (default $ARCHSAMPLER_TARGET or localhost:50051)",
    )
    parser.add_argument(
        "--token-file", type=Path, help="file holding the bearer token (else $ARCHSAMPLER_TOKEN)"
    )
    parser.add_argument("--tls-ca", type=Path, help="CA bundle (PEM) of the server: enables TLS")
    parser.add_argument("--tls-cert", type=Path, help="client certificate (PEM), mutual TLS")
    parser.add_argument("--tls-key", type=Path, help="client private key (PEM), mutual TLS")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-call deadline (s)")


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """The options of one results command."""
    add_connection_arguments(parser)
    if command != "studies":
        parser.add_argument("study", help="study name")
    if command in ("studies", "trials", "best"):
        parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    if command in ("trials", "export"):
        parser.add_argument(
            "--state",
            action="append",
            choices=[s.value for s in TrialState],
            help="only trials in this state (repeatable)",
        )
    if command == "trials":
        parser.add_argument("--limit", type=int, default=0, help="at most this many (0 = all)")
    if command == "export":
        parser.add_argument("--format", choices=export.FORMATS, default="csv")
        parser.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file is not None:
        data = args.token_file.read_bytes()
        if len(data) > MAX_TOKEN_BYTES:
            raise ValueError(f"--token-file holds over {MAX_TOKEN_BYTES} bytes")
        return data.decode().strip()
    return os.environ.get("ARCHSAMPLER_TOKEN") or None


def connect(args: argparse.Namespace) -> Client:
    """A `Client` built from the connection options."""
    tls = args.tls_ca is not None or args.tls_cert is not None
    credentials = tls_credentials(args.tls_ca, args.tls_cert, args.tls_key) if tls else None
    return Client(
        args.target, timeout=args.timeout, retries=2, credentials=credentials, token=_token(args)
    )


def _table(rows: list[list[str]], out: IO[str]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
        )


def _value(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _trials_table(trials: Iterable[Trial], out: IO[str]) -> None:
    rows = [["id", "number", "state", "value", "arch"]]
    for t in trials:
        rows.append([str(t.id), str(t.number), str(t.state), _value(t.value), t.arch])
    _table(rows, out)


def _studies(client: Client, args: argparse.Namespace, out: IO[str]) -> None:
    studies = client.list_studies()
    if args.json:
        json.dump([s.model_dump() for s in studies], out, indent=1)
        out.write("\n")
        return
    rows = [["name", "namespace", "space", "strategy", "trials", "completed", "pending"]]
    for s in studies:
        space = s.config.get("space", {})
        rows.append(
            [
                s.name,
                s.namespace,
                space.get("builtin", "user"),
                s.config.get("strategy", ""),
                str(s.trial_count),
                str(s.completed_count),
                str(s.pending_count),
            ]
        )
    _table(rows, out)


def _trials(client: Client, args: argparse.Namespace, out: IO[str]) -> None:
    if args.limit < 0:
        raise ValueError(f"--limit must be >= 0, got {args.limit}")
    trials: list[Trial] = []
    for trial in client.study(args.study).trials(args.state):
        trials.append(trial)
        if args.limit and len(trials) >= args.limit:
            break
    if args.json:
        json.dump([export.trial_row(t) for t in trials], out, indent=1)
        out.write("\n")
    else:
        _trials_table(trials, out)


def _best(client: Client, args: argparse.Namespace, out: IO[str]) -> None:
    trial = client.study(args.study).best()
    if args.json:
        json.dump(export.trial_row(trial), out, indent=1)
        out.write("\n")
    else:
        _trials_table([trial], out)


def _export(client: Client, args: argparse.Namespace, out: IO[str]) -> None:
    trials = client.study(args.study).trials(args.state)
    if args.output is None:
        count = export.write(trials, out, args.format)
    else:
        tmp = args.output.with_name(args.output.name + ".part")
        with tmp.open("w", newline="") as f:
            count = export.write(trials, f, args.format)
        tmp.replace(args.output)  # a failed export leaves no half-written file behind
    print(f"exported {count} trials of {args.study!r}", file=sys.stderr)


RUNNERS = {"studies": _studies, "trials": _trials, "best": _best, "export": _export}


def run(command: str, args: argparse.Namespace, out: IO[str] | None = None) -> int:
    """Run one results command; errors are one line on stderr and exit status 1."""
    try:
        with connect(args) as client:
            RUNNERS[command](client, args, out or sys.stdout)
    except ArchSamplerError as e:
        print(f"archsampler {command}: error: {e.code.name}: {e.details}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"archsampler {command}: error: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """`archsampler-client <command> ...`"""
    parser = argparse.ArgumentParser(prog="archsampler-client", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text), name)
    args = parser.parse_args(argv)
    return run(args.command, args)


if __name__ == "__main__":
    sys.exit(main())
