"""examples/warm_start.py on a tiny budget against a real server: every trial saves a torch
checkpoint and reports its URI; trials start from their hint's checkpoint exactly when its
weights fit, loading exactly the tensors that match by name and shape."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archsampler.testing import ServerThread
from archsampler_client import Client

torch = pytest.importorskip("torch", reason="the warm-start example needs torch")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "warm_start.py"
_spec = importlib.util.spec_from_file_location("examples_warm_start", EXAMPLE)
assert _spec is not None and _spec.loader is not None
warm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(warm)


def test_load_matching_copies_exactly_the_tensors_that_fit() -> None:
    torch.manual_seed(0)
    parent = warm.build({"depth": 3, "width": "32", "activation": "relu"})
    child = warm.build({"depth": 2, "width": "32", "activation": "tanh"})
    before = {k: v.clone() for k, v in child.state_dict().items()}
    loaded = warm.load_matching(child, parent.state_dict())
    # fc0, fc1 and the head have the same shapes; the parent's fc2 has no place here
    assert loaded == sorted(
        ["fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias", "head.weight", "head.bias"]
    )
    for name, tensor in child.state_dict().items():
        assert torch.equal(tensor, parent.state_dict()[name])
        assert not torch.equal(tensor, before[name])
    # another width: only head.bias fits (a tiny share of the weights): nothing is loaded
    wide = warm.build({"depth": 2, "width": "64", "activation": "relu"})
    assert list(warm.matching(wide, parent.state_dict())) == ["head.bias"]
    before = {k: v.clone() for k, v in wide.state_dict().items()}
    assert warm.load_matching(wide, parent.state_dict()) == []
    assert all(torch.equal(v, before[k]) for k, v in wide.state_dict().items())


def test_example_trains_from_hinted_checkpoints(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    with ServerThread(tmp_path / "s.db") as srv:
        proc = subprocess.run(
            [sys.executable, str(EXAMPLE), "--target", srv.target, "--checkpoints", str(ckpt),
             "--trials", "8", "--epochs", "2", "--warm-epochs", "1", "--seed", "3"],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-4000:]
        with Client(srv.target) as client:
            trials = {t.id: t for t in client.study("warm-start-demo").trials()}
    assert len(trials) == 8 and all(t.state == "COMPLETED" for t in trials.values())
    first = min(trials)
    assert "warm_from" not in trials[first].metadata  # nothing was evaluated before it
    warm_started = 0
    for t in trials.values():
        path = warm.checkpoint_path(t.checkpoint_uri)
        assert path is not None and path.parent == ckpt.resolve()
        state = torch.load(path, weights_only=True)
        model = warm.build(t.params)
        assert set(state) == set(model.state_dict())  # the checkpoint of this architecture
        if t.id == first:
            continue
        source = trials[int(t.metadata["warm_from"])]
        assert source.id < t.id
        loaded = [name for name in t.metadata["loaded"].split(",") if name]
        # recompute which of the hint's tensors fit this architecture
        fit = warm.matching(
            model, torch.load(warm.checkpoint_path(source.checkpoint_uri), weights_only=True)
        )
        share = sum(v.numel() for v in fit.values()) / sum(
            v.numel() for v in model.state_dict().values()
        )
        assert loaded == (sorted(fit) if share >= warm.MIN_SHARE else [])
        assert t.metadata["epochs"] == ("1" if loaded else "2")
        warm_started += bool(loaded)
    assert warm_started >= 1
    assert "from trial" in proc.stdout and "from scratch" in proc.stdout
