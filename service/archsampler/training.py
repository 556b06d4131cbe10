"""`archsampler train`: train and export a NAO model on a study's trials or a benchmark table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from archsampler.bench.tables import load_table
from archsampler.bench.tables import nb201_table_path
from archsampler.config import StudyConfig
from archsampler.spaces import SearchSpace
from archsampler.spaces import make_space
from archsampler.trial import TrialState


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    src = p.add_argument_group("data: a study (--db, --study) or a table (--table, --metric)")
    src.add_argument("--db", help="database of the study (SQLite file or URL)")
    src.add_argument("--study", help="study whose COMPLETED trials are the training set")
    src.add_argument("--table", type=Path, help="benchmark CSV (default: the NB201 table)")
    src.add_argument("--space", default="nb201", help="built-in space of the table")
    src.add_argument("--space-file", type=Path, help="user-defined space JSON of the table")
    src.add_argument("--metric", default="c10_valid_acc", help="table column to predict")
    src.add_argument("--n", type=int, default=500, help="random table rows to train on")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)


def _from_study(db: str, study: str) -> tuple[SearchSpace, np.ndarray, np.ndarray]:
    from archsampler.storage import SQLStorage

    storage = SQLStorage(db)
    try:
        space = make_space(StudyConfig.from_dict(storage.get_study(study).config).space)
        trials = storage.list_trials(study, states=[TrialState.COMPLETED])
    finally:
        storage.close()
    tokens = np.array([space.to_tokens(space.from_string(t.arch)) for t in trials])
    return space, tokens, np.array([t.value for t in trials], dtype=np.float64)


def _from_table(args: argparse.Namespace) -> tuple[SearchSpace, np.ndarray, np.ndarray]:
    if args.space_file:
        from archsampler.spaces.user import load_space_file

        space = load_space_file(args.space_file)
    else:
        space = make_space({"builtin": args.space})
    table = load_table(args.table or nb201_table_path(), space)
    if args.metric not in table.columns:
        raise SystemExit(f"--metric {args.metric!r} is not a column; have {sorted(table.columns)}")
    rng = np.random.default_rng(args.seed)
    idx = rng.choice(len(table), min(args.n, len(table)), replace=False)
    tokens = np.array([space.to_tokens(table.archs[i]) for i in idx])
    return space, tokens, table.columns[args.metric][idx]


def run(args: argparse.Namespace) -> int:
    from archsampler_models.export import export_nao
    from archsampler_models.nao import NAOConfig
    from archsampler_models.train import train_nao

    if (args.db is None) != (args.study is None):
        raise SystemExit("give both --db and --study, or neither (to train on a table)")
    space, tokens, values = _from_study(args.db, args.study) if args.db else _from_table(args)
    if len(tokens) < 2:
        raise SystemExit(f"need at least 2 completed architectures, found {len(tokens)}")
    config = NAOConfig(epochs=args.epochs, seed=args.seed)
    model = train_nao(tokens, values, space.token_spec(), config, progress=True)
    path = export_nao(model, args.out, space_spec=space.spec())
    meta = json.loads((path / "metadata.json").read_text())
    print(f"trained on {len(tokens)} architectures; exported to {path} (parity passed)")
    print(json.dumps({"metrics": meta["metrics"], "parity": meta["parity"]}, indent=2))
    return 0
