"""What the example scripts share: their command line, and a server when none is given."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def parse_args(doc: str | None, study: str, *extra: tuple[str, str]) -> argparse.Namespace:
    """`--trials`, `--epochs`, `--target`, `--study`, `--strategy`, `--seed`, and each
    `(flag, help)` of `extra` (a string, default None)."""
    parser = argparse.ArgumentParser(description=doc)
    for flag, text in extra:
        parser.add_argument(flag, help=text)
    parser.add_argument("--trials", type=int, default=20, help="architectures to train")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per architecture")
    parser.add_argument(
        "--target", default="", help="host:port of an archsampler server (default: start one)"
    )
    parser.add_argument("--study", default=study, help="archsampler study name")
    parser.add_argument("--strategy", default="lanas", help="lanas, nao, evolution, random")
    parser.add_argument("--seed", type=int, default=0, help="seed of the study")
    args = parser.parse_args()
    if args.trials < 1 or args.epochs < 1:
        parser.error("--trials and --epochs must be at least 1")
    return args


@contextmanager
def server(target: str) -> Iterator[str]:
    """`target`, or the address of an `archsampler serve` started in a child process over a
    fresh SQLite file (stopped on exit; its log goes to `server.log` beside the file)."""
    if target:
        yield target
        return
    from archsampler.testing import ServerProcess  # the service package (pip install -e .)

    with tempfile.TemporaryDirectory(prefix="archsampler-example-") as tmp:
        db = Path(tmp) / "studies.db"
        with ServerProcess(db, log=Path(tmp) / "server.log") as srv:
            print(f"started a server at {srv.target} over {db}", flush=True)
            yield srv.target
