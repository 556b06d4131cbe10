"""NAS benchmark lookup tables: CSV files in `../shared/benchmarks/` (tests, benches) and the
NB201 CIFAR-10 table the package ships for its demo (`archsampler/data/`, gzip)."""

from __future__ import annotations

import csv
import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from archsampler.spaces.base import Arch
from archsampler.spaces.base import SearchSpace

_PROJECT_ROOT = Path(__file__).resolve().parents[3]
PACKAGED_NB201 = Path(__file__).resolve().parents[1] / "data" / "nb201_cifar10.csv.gz"


def benchmarks_dir() -> Path:
    """Where the benchmark tables live: `$ARCHSAMPLER_BENCHMARKS` or `../shared/benchmarks`."""
    env = os.environ.get("ARCHSAMPLER_BENCHMARKS")
    if env:
        return Path(env)
    for root in (Path.cwd(), _PROJECT_ROOT):
        candidate = root.parent / "shared" / "benchmarks"
        if candidate.is_dir():
            return candidate
    return _PROJECT_ROOT.parent / "shared" / "benchmarks"


def nb201_table_path() -> Path:
    return benchmarks_dir() / "nb201" / "nb201_cifar10.csv"


@dataclass
class LookupTable:
    """Architectures of one space with metric columns, keyed by canonical hash."""

    space: SearchSpace
    archs: list[Arch]
    columns: dict[str, np.ndarray]
    index: dict[str, int]

    def value(self, arch: Arch, column: str) -> float:
        """Metric `column` of `arch`; KeyError when the table has no such architecture."""
        return float(self.columns[column][self.index[self.space.canonical_hash(arch)]])

    def __contains__(self, arch: Arch) -> bool:
        return self.space.canonical_hash(arch) in self.index

    def __len__(self) -> int:
        return len(self.archs)


def load_table(path: Path, space: SearchSpace) -> LookupTable:
    """Read a CSV whose `arch` column holds canonical strings, or one column per parameter.

    Every other numeric column becomes a metric column.

    Raises:
        FileNotFoundError: `path` does not exist (the message names it).
        ValueError: a row does not parse in `space`, or the table has no rows.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"benchmark table not found: {path}")
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path}: no rows")
    header = list(rows[0])
    if "arch" in header:
        archs = [space.from_string(r["arch"]) for r in rows]
        param_cols: set[str] = {"arch"}
    elif "user" in space.spec():
        from archsampler.spaces.user import parse_row

        archs = [parse_row(space, r) for r in rows]
        param_cols = {p["name"] for p in space.spec()["user"]["params"]}
    else:  # a built-in space whose structured params are columns (NB101: matrix, ops)
        param_cols = set(space.to_params(space.sample(np.random.default_rng(0))))
        archs = [space.from_params({k: r[k] for k in param_cols}) for r in rows]
    columns: dict[str, np.ndarray] = {}
    for col in header:
        if col in param_cols:
            continue
        try:
            columns[col] = np.array([float(r[col]) for r in rows])
        except ValueError:
            continue
    index: dict[str, int] = {}
    for i, arch in enumerate(archs):
        index.setdefault(space.canonical_hash(arch), i)
    return LookupTable(space, archs, columns, index)
