"""`archsampler bench warmstart` on a tiny config: every call is kept and the JSON adds up
(hints present exactly in the "on" blocks is asserted by the bench itself, per call)."""

from __future__ import annotations

import json
from pathlib import Path

from archsampler.cli import main


def test_tiny_warmstart_bench_writes_consistent_json(tmp_path: Path) -> None:
    out = tmp_path / "warm.json"
    argv = ["bench", "warmstart", "--trials", "60", "--params", "4", "--count", "1", "3"]
    assert main([*argv, "--calls", "6", "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    (case,) = got["cases"]
    assert (case["params"], case["trials"]) == (4, 60)
    for key in ("count_1", "count_3"):
        on, off = case[key]["on"], case[key]["off"]
        assert on["n"] == off["n"] == 6
        assert on["p50_ms"] <= on["p99_ms"] <= on["p99_9_ms"] <= on["max_ms"]
        assert case[key]["p50_ratio"] == on["p50_ms"] / off["p50_ms"]
    assert case["first_propose_after_restart_ms"] > 0
    assert {(h["count"]) for h in got["hint_cpu"]} == {1, 3, 1000}
    assert all(0 <= h["min_ms"] <= h["median_ms"] for h in got["hint_cpu"])
