"""Bulk import: rows from CSV / JSON Lines files, chunked `TellMany` requests.

A row is a dict with the keywords of `study.tell`: `arch` (the canonical string, or a params
dict) or `params`, exactly one outcome (`value`, `failed=reason`, `infeasible=reason`; or
`state` COMPLETED / FAILED / INFEASIBLE with `value` or `reason`), optional
`checkpoint_uri`, `metadata` and `line` (named in errors).

Files use the same names as columns (CSV) or keys (JSON Lines), and read what `archsampler
export` writes: `arch`, `param.<name>` (ignored in CSV when `arch` is given: CSV cells carry
no types), `state`, `value`, `checkpoint_uri`, `meta.<key>` (a FAILED row's reason is its
`meta.reason`); export's informational columns (id, number, predicted_value, arch_hash,
region, client_id, created_at, finished_at, lease_expires_at) are ignored and PENDING /
STALE rows are skipped. Any other column is an error.

The import rule (`tell_many`): every chunk is validated by the server first (nothing is
written) and every bad row is reported with its line; only a file without a bad row is
imported, chunk by chunk, each chunk in one transaction. Re-importing changes nothing, so
an interrupted import is finished by running it again.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import sys
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Iterable

from archsampler_client import _requests as req
from archsampler_client.models import Trial
from archsampler_client.proto import archsampler_pb2 as pb

MAX_FILE_BYTES = 64 * 1024 * 1024  # an import file
MAX_ROWS = 200_000  # rows of one file or one tell_many call
MAX_LINE_BYTES = 1024 * 1024  # one CSV record or JSON line
CHUNK_ROWS = 500  # rows per TellMany request (the server takes at most 1,000)
CHUNK_BYTES = 1024 * 1024  # encoded bytes per TellMany request (the server's limit: 4 MiB)
FORMATS = ("csv", "jsonl")
IGNORED = frozenset(
    {
        "id",
        "number",
        "predicted_value",
        "arch_hash",
        "region",
        "client_id",
        "created_at",
        "finished_at",
        "lease_expires_at",
    }
)
KEYS = frozenset(
    {
        "arch",
        "params",
        "value",
        "failed",
        "infeasible",
        "state",
        "reason",
        "checkpoint_uri",
        "metadata",
        "line",
    }
)
FINAL = ("COMPLETED", "FAILED", "INFEASIBLE")
_INT = re.compile(r"[+-]?\d{1,18}")


class TellManyError(ValueError):
    """Rows that cannot be imported; nothing was. `errors`: `(line, message)` pairs."""

    def __init__(self, errors: list[tuple[int, str]], source: str = "") -> None:
        self.errors = errors
        prefix = f"{source}:" if source else "line "
        shown = "; ".join(f"{prefix}{line}: {msg}" for line, msg in errors[:10])
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        super().__init__(f"{len(errors)} rows refused, nothing imported: {shown}{more}")


@dataclass
class ImportSummary:
    """What a `tell_many` did: rows created, rows already there with the same outcome
    (unchanged), rows skipped (a file's PENDING / STALE rows), and the stored trials."""

    created: int = 0
    unchanged: int = 0
    skipped: int = 0
    trials: list[Trial] = field(default_factory=list)


def _number(raw: Any, what: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"{what} must be a number, got {raw!r:.40}")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{what} must be a number, got {raw!r:.40}") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {raw!r:.40}")
    return value


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {type(value).__name__}")
    return value


def row_message(row: dict[str, Any], line: int) -> pb.TellRow:
    """A `TellRow` from a row dict (see the module docstring). Raises ValueError."""
    unknown = sorted(set(row) - KEYS)
    if unknown:
        raise ValueError(f"unknown fields {unknown}; use {sorted(KEYS)}")
    arch = row.get("arch")
    params = row.get("params")
    if arch in (None, "") and not params:
        raise ValueError("no architecture: give arch (or params)")
    if params is not None and not isinstance(params, dict):
        raise ValueError("params must be an object of param values")
    if arch not in (None, "") and not isinstance(arch, str | dict):
        raise ValueError("arch must be the canonical string or a params object")
    msg = pb.TellRow(line=line)
    if isinstance(arch, dict):
        msg.architecture.CopyFrom(req.architecture(arch))
    else:
        if params:
            msg.architecture.CopyFrom(req.architecture(params))
        msg.architecture.text = arch or ""
    state = _text(row, "state").upper()
    reason = _text(row, "reason")
    value = row.get("value")
    failed, infeasible = row.get("failed"), row.get("infeasible")
    if state:
        if state not in FINAL:
            raise ValueError(f"state must be one of {list(FINAL)}, got {state!r:.40}")
        if failed is not None or infeasible is not None:
            raise ValueError("give state or failed/infeasible, not both")
        if state == "FAILED":
            failed = reason
        elif state == "INFEASIBLE":
            infeasible = reason
    given = [k for k, v in (("value", value), ("failed", failed), ("infeasible", infeasible))
             if v is not None and v != ""]  # fmt: skip
    if state in ("FAILED", "INFEASIBLE") and value not in (None, ""):
        raise ValueError(f"a {state} row carries no value")
    if state in ("FAILED", "INFEASIBLE"):
        given = [state.lower()]
    if len(given) != 1:
        raise ValueError(
            "give exactly one outcome: value, failed=reason or infeasible=reason"
            + (f" (got {given})" if given else "")
        )
    if given == ["value"]:
        msg.value = _number(value, "value") + 0.0
    elif given == ["failed"]:
        msg.failed.SetInParent()
        msg.failed.reason = str(failed)
    else:
        msg.infeasible.SetInParent()
        msg.infeasible.reason = str(infeasible)
    msg.checkpoint_uri = _text(row, "checkpoint_uri")
    metadata = row.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ValueError("metadata must be an object of strings")
    msg.metadata.update(metadata)
    return msg


def row_messages(rows: Iterable[dict[str, Any]], source: str = "") -> list[pb.TellRow]:
    """Every row as a `TellRow`; TellManyError naming each bad row's line."""
    out: list[pb.TellRow] = []
    errors: list[tuple[int, str]] = []
    for i, row in enumerate(rows, 1):
        if i > MAX_ROWS:
            raise ValueError(f"more than {MAX_ROWS} rows; split the import")
        line = row.get("line") if isinstance(row, dict) else None
        line = line if isinstance(line, int) and not isinstance(line, bool) and line > 0 else i
        try:
            if not isinstance(row, dict):
                raise ValueError(f"a row must be a dict, got {type(row).__name__}")
            out.append(row_message(row, line))
        except ValueError as e:
            errors.append((line, str(e)))
    if errors:
        raise TellManyError(errors, source)
    return out


def chunks(
    msgs: list[pb.TellRow], rows: int = CHUNK_ROWS, max_bytes: int = CHUNK_BYTES
) -> list[list[pb.TellRow]]:
    """Consecutive runs of at most `rows` rows and `max_bytes` encoded bytes (a larger row
    goes alone; the server refuses it if it passes its own message limit)."""
    if not 1 <= rows <= 1000:
        raise ValueError(f"chunk rows must be in 1..1000, got {rows}")
    out: list[list[pb.TellRow]] = []
    current: list[pb.TellRow] = []
    used = 0
    for msg in msgs:
        size = msg.ByteSize() + 8
        if current and (len(current) >= rows or used + size > max_bytes):
            out.append(current)
            current, used = [], 0
        current.append(msg)
        used += size
    if current:
        out.append(current)
    return out


def validate_request(study: str, chunk: list[pb.TellRow]) -> pb.TellManyRequest:
    return pb.TellManyRequest(study=study, rows=chunk, validate_only=True)


def import_request(study: str, chunk: list[pb.TellRow]) -> pb.TellManyRequest:
    return pb.TellManyRequest(study=study, rows=chunk)


def row_errors(resp: pb.TellManyResponse) -> list[tuple[int, str]]:
    return [(r.line, r.error) for r in resp.results if r.error]


def add_results(summary: ImportSummary, resp: pb.TellManyResponse) -> None:
    for r in resp.results:
        if r.created:
            summary.created += 1
        else:
            summary.unchanged += 1
        summary.trials.append(Trial.from_proto(r.trial))


# -- files ------------------------------------------------------------------------------
def _csv_row(record: dict[str, str]) -> dict[str, Any]:
    """A CSV record as a row dict: empty cells are absent; `param.*` / `meta.*` grouped."""
    row: dict[str, Any] = {}
    params: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    for key, cell in record.items():
        if cell is None or cell == "" or key in IGNORED:
            continue
        if key.startswith("param."):
            params[key[6:]] = _cell_value(cell)
        elif key.startswith("meta."):
            metadata[key[5:]] = cell
        elif key in ("params", "metadata"):
            row[key] = json.loads(cell)
        else:
            row[key] = cell
    if params and not row.get("arch"):
        row["params"] = params
    if metadata:
        row["metadata"] = {**row.get("metadata", {}), **metadata}
    return row


def _cell_value(cell: str) -> Any:
    """A CSV cell as a param value: an int, else a float, else the string."""
    if _INT.fullmatch(cell):
        return int(cell)
    try:
        value = float(cell)
    except ValueError:
        return cell
    return value if math.isfinite(value) else cell


def _json_row(obj: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    params: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    for key, value in obj.items():
        if value is None or key in IGNORED:
            continue
        if key.startswith("param."):
            params[key[6:]] = value
        elif key.startswith("meta."):
            metadata[key[5:]] = value
        else:
            row[key] = value
    if params:
        row["params"] = {**params, **(row.get("params") or {})}
    if metadata:
        row["metadata"] = {**(row.get("metadata") or {}), **metadata}
    return row


def _columns_ok(columns: Iterable[str]) -> list[str]:
    return sorted(
        c
        for c in columns
        if c not in KEYS and c not in IGNORED and not c.startswith(("param.", "meta."))
    )


def read_rows(path: str | Path, fmt: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """The rows of a CSV or JSON Lines file (format from the suffix unless given), each
    with its `line`, and how many PENDING / STALE rows were skipped.

    Raises:
        TellManyError: rows that cannot be read (all of them, by line).
        ValueError: the file is too big or its format unknown.
    """
    path = Path(path)
    fmt = fmt or ("jsonl" if path.suffix in (".jsonl", ".ndjson", ".json") else "csv")
    if fmt not in FORMATS:
        raise ValueError(f"unknown import format {fmt!r}; choose one of {list(FORMATS)}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{path} holds {size} bytes; the limit is {MAX_FILE_BYTES}")
    text = path.read_text(encoding="utf-8")
    parsed = _read_csv(text, str(path)) if fmt == "csv" else _read_jsonl(text, str(path))
    rows: list[dict[str, Any]] = []
    skipped = 0
    for row in parsed:
        state = row.get("state")
        if isinstance(state, str) and state.upper() in ("PENDING", "STALE"):
            skipped += 1
            continue
        rows.append(row)
    return rows, skipped


def _read_csv(text: str, source: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    unknown = _columns_ok(reader.fieldnames or [])
    if not reader.fieldnames:
        raise TellManyError([(1, "no header row")], source)
    if unknown:
        raise TellManyError([(1, f"unknown columns {unknown}")], source)
    rows: list[dict[str, Any]] = []
    errors: list[tuple[int, str]] = []
    line = reader.line_num
    for record in reader:
        line = reader.line_num  # the record's last physical line
        if len(rows) + len(errors) >= MAX_ROWS:
            raise ValueError(f"{source} has more than {MAX_ROWS} rows; split it")
        if None in record:
            errors.append((line, "more cells than columns"))
            continue
        if sum(len(v or "") for v in record.values()) > MAX_LINE_BYTES:
            errors.append((line, f"the record is over {MAX_LINE_BYTES} bytes"))
            continue
        try:
            row = _csv_row(record)
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            errors.append((line, f"params/metadata: {e}"))
            continue
        row["line"] = line
        rows.append(row)
    if errors:
        raise TellManyError(errors, source)
    return rows


def _read_jsonl(text: str, source: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    errors: list[tuple[int, str]] = []
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        if len(rows) + len(errors) >= MAX_ROWS:
            raise ValueError(f"{source} has more than {MAX_ROWS} rows; split it")
        if len(raw) > MAX_LINE_BYTES:
            errors.append((line, f"the line is over {MAX_LINE_BYTES} bytes"))
            continue
        try:
            obj = json.loads(raw)
        except ValueError as e:
            errors.append((line, f"not JSON: {e}"))
            continue
        if not isinstance(obj, dict):
            errors.append((line, f"a row must be a JSON object, got {type(obj).__name__}"))
            continue
        unknown = _columns_ok(obj)
        if unknown:
            errors.append((line, f"unknown keys {unknown}"))
            continue
        row = _json_row(obj)
        row["line"] = line
        rows.append(row)
    if errors:
        raise TellManyError(errors, source)
    return rows


# -- command line -----------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `archsampler import STUDY FILE`."""
    from archsampler_client.cli import add_connection_arguments

    add_connection_arguments(parser)
    parser.add_argument("study", help="study to import into (it must exist)")
    parser.add_argument("file", type=Path, help="CSV or JSON Lines file (see the README)")
    parser.add_argument(
        "--format", choices=FORMATS, help="file format (default: from the suffix, else csv)"
    )
    parser.add_argument(
        "--chunk-rows", type=int, default=CHUNK_ROWS, help="rows per transaction (1..1000)"
    )


def run(args: argparse.Namespace) -> int:
    """Validate the whole file, then import it; 0 on success, 1 when rows were refused
    (each printed as FILE:LINE: message), 2 when the file or a setting cannot be used."""
    from archsampler_client.cli import connect
    from archsampler_client.errors import ArchSamplerError

    source = str(args.file)
    try:
        rows, skipped = read_rows(args.file, args.format)
        msgs = row_messages(rows, source)
        parts = chunks(msgs, args.chunk_rows)
        if not parts:
            raise ValueError(f"{source} holds no row to import")
    except TellManyError as e:
        return _refused(e.errors, source)
    except (OSError, ValueError) as e:
        print(f"archsampler import: error: {e}", file=sys.stderr)
        return 2
    try:
        with connect(args) as client:
            summary = _import_parts(client.study(args.study), parts)
    except TellManyError as e:
        return _refused(e.errors, source)
    except ArchSamplerError as e:
        print(f"archsampler import: error: {e.code.name}: {e.details}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:  # e.g. an unreadable --token-file
        print(f"archsampler import: error: {e}", file=sys.stderr)
        return 2
    print(
        f"{source}: {summary.created} imported, {summary.unchanged} already there "
        f"(unchanged), {skipped} skipped (PENDING/STALE) into study {args.study!r}"
    )
    return 0


def _import_parts(study: Any, parts: list[list[pb.TellRow]]) -> ImportSummary:
    """Validate every part, then import them, with a progress bar on a terminal."""
    errors: list[tuple[int, str]] = []
    for part in parts:
        errors += study.client._invoke("TellMany", validate_request(study.name, part), row_errors)
    if errors:
        raise TellManyError(errors)
    summary = ImportSummary()
    bar = _progress(sum(len(p) for p in parts))
    for part in parts:
        study.client._invoke(
            "TellMany", import_request(study.name, part), lambda r: add_results(summary, r)
        )
        bar.update(len(part))
    bar.close()
    return summary


def _progress(total: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # the client does not depend on tqdm

        class _Quiet:
            def update(self, n: int) -> None: ...
            def close(self) -> None: ...

        return _Quiet()
    return tqdm(total=total, unit="row", disable=not sys.stderr.isatty(), file=sys.stderr)


def _refused(errors: list[tuple[int, str]], source: str) -> int:
    for line, message in errors:
        print(f"{source}:{line}: {message}", file=sys.stderr)
    print(f"archsampler import: {len(errors)} rows refused, nothing imported", file=sys.stderr)
    return 1
