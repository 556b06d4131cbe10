"""Trials as flat rows: CSV, JSON Lines and (when pandas is installed) a DataFrame.

A row holds the trial's fields, one `param.<name>` column per architecture parameter and one
`meta.<key>` column per metadata key. Columns are the union over the trials given (a
parameter inactive in a trial is empty), in a stable order: fixed fields first, then
parameters and metadata keys sorted by name.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import IO
from typing import Any

from archsampler_client.models import Trial

FIELDS = (
    "id",
    "number",
    "state",
    "value",
    "predicted_value",
    "arch",
    "arch_hash",
    "region",
    "client_id",
    "checkpoint_uri",
    "created_at",
    "finished_at",
    "lease_expires_at",
)
FORMATS = ("csv", "jsonl")


def trial_row(trial: Trial) -> dict[str, Any]:
    """One trial as a flat dict (see the module docstring for the columns)."""
    row: dict[str, Any] = {name: getattr(trial, name) for name in FIELDS}
    row["state"] = str(trial.state)
    row.update({f"param.{k}": v for k, v in trial.params.items()})
    row.update({f"meta.{k}": v for k, v in trial.metadata.items()})
    return row


def columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    """The fixed fields, then every other key that occurs in `rows`, sorted."""
    extra = sorted({key for row in rows for key in row} - set(FIELDS))
    return [*FIELDS, *extra]


def write_csv(trials: Iterable[Trial], out: IO[str]) -> int:
    """Write `trials` as CSV with a header row; returns the number of trials written."""
    rows = [trial_row(t) for t in trials]
    writer = csv.DictWriter(out, fieldnames=columns(rows), restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return len(rows)


def write_jsonl(trials: Iterable[Trial], out: IO[str]) -> int:
    """Write one JSON object per trial and line (streamed); returns the number written."""
    count = 0
    for trial in trials:
        out.write(json.dumps(trial_row(trial), sort_keys=False, allow_nan=False) + "\n")
        count += 1
    return count


def write(trials: Iterable[Trial], out: IO[str], fmt: str) -> int:
    """Write `trials` in `fmt` (one of FORMATS)."""
    if fmt == "csv":
        return write_csv(trials, out)
    if fmt == "jsonl":
        return write_jsonl(trials, out)
    raise ValueError(f"unknown export format {fmt!r}; choose one of {list(FORMATS)}")


def to_dataframe(trials: Iterable[Trial]) -> Any:
    """A pandas DataFrame with one row per trial (pandas is an optional dependency)."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "to_dataframe needs pandas: pip install 'archsampler-client[pandas]'"
        ) from None
    rows = [trial_row(t) for t in trials]
    return pd.DataFrame(rows, columns=columns(rows))
