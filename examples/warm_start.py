"""Warm start (AlphaX's transfer learning): each trial starts from the weights of the nearest
architecture the study has already evaluated, when its weights fit.

Every proposal carries `trial.warm_start`: the study's COMPLETED trial nearest to it (fewest
differing decisions) and the `checkpoint_uri` reported with it. This trainer saves a torch
checkpoint per trial in a local directory, reports its `file://` URI, and starts each new
trial from the hinted checkpoint when it is compatible (tensors matching by name and shape
hold at least half of the new model's weights): those tensors are loaded, the rest (new or
resized layers) keeps its random initialisation, and the trial trains `--warm-epochs`
epochs instead of `--epochs` (the paper: 20 instead of 70). Otherwise it starts from
scratch.

The model is an MLP on scikit-learn's digits (ships with scikit-learn, no download); layers
are named by position (`fc0`, `fc1`, …, `head`), so architectures of the same width share
the layers they have in common.

    python examples/warm_start.py --trials 12                 # starts a server
    python examples/warm_start.py --target localhost:50051 --checkpoints ./ckpt
"""

from __future__ import annotations

import argparse
import tempfile
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archsampler_client import Client

SPACE: dict[str, Any] = {
    "params": [
        {"name": "depth", "type": "int", "low": 1, "high": 3},
        {"name": "width", "type": "categorical", "choices": ["16", "32", "64"]},
        {"name": "activation", "type": "categorical", "choices": ["relu", "tanh"]},
    ]
}
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}
MIN_SHARE = 0.5  # weights a hinted checkpoint must provide to count as a warm start


def build(params: dict[str, Any]) -> nn.Module:
    """The MLP of one architecture: 64 inputs, `depth` hidden layers of `width`, 10 classes."""
    width = int(params["width"])
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i in range(int(params["depth"])):
        layers[f"fc{i}"] = nn.Linear(64 if i == 0 else width, width)
        layers[f"act{i}"] = ACTIVATIONS[params["activation"]]()
    layers["head"] = nn.Linear(width, 10)
    return nn.Sequential(layers)


def matching(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of `state` whose name and shape match one of `model`."""
    own = model.state_dict()
    return {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}


def load_matching(
    model: nn.Module, state: dict[str, torch.Tensor], min_share: float = MIN_SHARE
) -> list[str]:
    """Warm-start `model` from `state` when compatible: when the matching tensors (same name
    and shape) hold at least `min_share` of the model's weights, copy them (the rest keeps
    its initialisation) and return their names; else load nothing and return []."""
    matched = matching(model, state)
    total = sum(p.numel() for p in model.state_dict().values())
    if sum(v.numel() for v in matched.values()) < min_share * total:
        return []
    own = model.state_dict()
    own.update(matched)
    model.load_state_dict(own)
    return sorted(matched)


def checkpoint_path(uri: str) -> Path | None:
    """The local file of a `file://` checkpoint URI (None for another scheme or none)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme != "file" or not parsed.path:
        return None
    path = Path(urllib.parse.unquote(parsed.path))
    return path if path.is_file() else None


def data(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Digits split once (fixed seed): train 70 %, validation 30 %; pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=g)
    x = torch.tensor(x, dtype=torch.float32)[order] / 16.0
    y = torch.tensor(y)[order]
    cut = int(0.7 * len(y))
    return x[:cut], y[:cut], x[cut:], y[cut:]


def train(model: nn.Module, epochs: int, split: tuple[torch.Tensor, ...], seed: int) -> float:
    """Adam, mini-batches of 64; the validation accuracy after the last epoch."""
    x, y, vx, vy = split
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(y)).split(64):
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return float((model(vx).argmax(1) == vy).float().mean())


def run_trial(study: Any, trial: Any, args: argparse.Namespace, split: tuple) -> dict[str, Any]:
    """Train one proposed trial (from its hint when it has usable weights) and report it."""
    torch.manual_seed(args.seed + trial.number)
    model = build(trial.params)
    hint = trial.warm_start
    source = checkpoint_path(hint.checkpoint_uri) if hint is not None else None
    loaded: list[str] = []
    if source is not None:
        loaded = load_matching(model, torch.load(source, weights_only=True))
    epochs = args.warm_epochs if loaded else args.epochs
    accuracy = train(model, epochs, split, args.seed + trial.number)
    path = Path(args.checkpoints).resolve() / f"trial-{trial.id}.pt"
    torch.save(model.state_dict(), path)
    metadata = {"epochs": str(epochs), "loaded": ",".join(loaded)}
    if hint is not None:
        metadata |= {"warm_from": str(hint.trial_id), "distance": str(hint.distance)}
    study.report(trial.id, value=accuracy, checkpoint_uri=path.as_uri(), metadata=metadata)
    return {"accuracy": accuracy, "loaded": loaded, "epochs": epochs, "hint": hint}


@contextmanager
def server(target: str) -> Iterator[str]:
    """`target`, or a server started in a child process over a temporary SQLite file."""
    if target:
        yield target
        return
    from archsampler.testing import ServerProcess  # the service package

    with tempfile.TemporaryDirectory(prefix="archsampler-warm-") as tmp:
        with ServerProcess(Path(tmp) / "studies.db") as srv:
            yield srv.target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12, help="architectures to train")
    parser.add_argument("--epochs", type=int, default=9, help="epochs from scratch")
    parser.add_argument("--warm-epochs", type=int, default=3, help="epochs when warm-started")
    parser.add_argument("--checkpoints", default="", help="checkpoint directory (default: temp)")
    parser.add_argument("--target", default="", help="host:port (default: start a server)")
    parser.add_argument("--study", default="warm-start-demo")
    parser.add_argument("--strategy", default="evolution")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.trials, args.epochs, args.warm_epochs) < 1:
        parser.error("--trials, --epochs and --warm-epochs must be at least 1")
    with checkpoint_dir(args) as _, server(args.target) as target, Client(target) as client:
        study = client.create_study(
            args.study, space=SPACE, strategy=args.strategy, seed=args.seed
        )
        split = data(args.seed)
        for _ in range(args.trials):
            (trial,) = study.propose(1)
            got = run_trial(study, trial, args, split)
            hint = got["hint"]
            start = (
                "from scratch"
                if not got["loaded"]
                else f"from trial {hint.trial_id} (distance {hint.distance}, "
                f"{len(got['loaded'])} tensors)"
            )
            print(
                f"trial {trial.id} {trial.arch}: {got['epochs']} epochs {start}: "
                f"accuracy {got['accuracy']:.3f}",
                flush=True,
            )
        best = study.best()
        print(f"best: {best.arch} accuracy {best.value:.3f}")
    return 0


@contextmanager
def checkpoint_dir(args: argparse.Namespace) -> Iterator[str]:
    """`args.checkpoints` (created), or a temporary directory for this run."""
    if args.checkpoints:
        Path(args.checkpoints).mkdir(parents=True, exist_ok=True)
        yield args.checkpoints
        return
    with tempfile.TemporaryDirectory(prefix="archsampler-ckpt-") as tmp:
        args.checkpoints = tmp
        yield tmp


if __name__ == "__main__":
    raise SystemExit(main())
