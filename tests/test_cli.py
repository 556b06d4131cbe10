"""The command line dispatches to each benchmark and subcommand with its own options."""

from __future__ import annotations

import subprocess
import sys

import pytest

from archsampler.cli import BENCHES


@pytest.mark.parametrize(
    "argv, option",
    [(["bench", name, "--help"], "--json") for name in BENCHES]
    + [
        (["train", "--help"], "--out"),
        (["serve", "--help"], "--db"),
        (["demo", "--help"], "--trials"),
    ],
)
def test_help_lists_the_options(argv: list[str], option: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "archsampler", *argv], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert option in out.stdout


def test_unknown_bench_is_an_error() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "archsampler", "bench", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "invalid choice" in out.stderr
