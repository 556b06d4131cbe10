"""Parse DARTS `Genotype(...)` strings without evaluating them (`ast`, literals only).

DARTS prints a cell as `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=range(2,
6), reduce=[...], reduce_concat=range(2, 6))` and a recurrent cell as
`Genotype(recurrent=[('sigmoid', 0), ...], concat=range(1, 9))`. `parse_genotype` returns
the fields as plain Python values: each edge list as a list of `(name, node)` tuples and
each concat as a list of ints (`range(a, b)` expanded).
"""

from __future__ import annotations

import ast
from typing import Any
from typing import Sequence

from archsampler.errors import InvalidArchitectureError

MAX_GENOTYPE_CHARS = 4096
"""Longest genotype string accepted (a DARTS cell pair prints in about 500)."""

Edges = list[tuple[str, int]]


def parse_genotype(text: Any, fields: Sequence[str], space: str) -> dict[str, Any]:
    """The fields of `Genotype(...)`, keyword or positional, in the order of `fields`.

    Fields named `*concat` hold a list of ints; the others a list of `(name, int)` tuples.

    Raises:
        InvalidArchitectureError: not a `Genotype(...)` call, unknown / missing / repeated
            fields, or a value of the wrong form; the message names the field.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidArchitectureError(f"{space} architecture string is empty")
    if len(text) > MAX_GENOTYPE_CHARS:
        raise InvalidArchitectureError(
            f"{space} genotype string is {len(text):,} characters; the limit is "
            f"{MAX_GENOTYPE_CHARS:,}"
        )
    form = f"Genotype({', '.join(f'{f}=...' for f in fields)})"
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError):
        raise InvalidArchitectureError(
            f"{space} string is not a DARTS genotype {form}: {text[:80]!r}"
        ) from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name)):
        raise InvalidArchitectureError(f"{space} string must be {form}, got {text[:80]!r}")
    if tree.func.id != "Genotype":
        raise InvalidArchitectureError(
            f"{space} string must call Genotype(...), not {tree.func.id}(...)"
        )
    if len(tree.args) > len(fields):
        raise InvalidArchitectureError(
            f"Genotype takes {len(fields)} fields {list(fields)}, got {len(tree.args)} positional"
        )
    given: dict[str, ast.expr] = dict(zip(fields, tree.args, strict=False))
    for kw in tree.keywords:
        if kw.arg is None or kw.arg not in fields:
            raise InvalidArchitectureError(
                f"Genotype field {kw.arg!r} is unknown; {space} fields are {list(fields)}"
            )
        if kw.arg in given:
            raise InvalidArchitectureError(f"Genotype field {kw.arg!r} is given twice")
        given[kw.arg] = kw.value
    missing = [f for f in fields if f not in given]
    if missing:
        raise InvalidArchitectureError(f"Genotype is missing field(s) {missing}")
    return {
        f: _concat(given[f], f) if f.endswith("concat") else _edges(given[f], f) for f in fields
    }


def _edges(node: ast.expr, field: str) -> Edges:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        value = None
    if not isinstance(value, (list, tuple)):
        raise InvalidArchitectureError(
            f"Genotype field {field!r} must be a list of (name, node) pairs"
        )
    out: Edges = []
    for k, item in enumerate(value):
        if (
            not isinstance(item, tuple)
            or len(item) != 2
            or not isinstance(item[0], str)
            or type(item[1]) is not int
        ):
            raise InvalidArchitectureError(
                f"{field}[{k}] is {item!r:.60}; each entry is a (name, node index) pair"
            )
        out.append((item[0], item[1]))
    return out


def _concat(node: ast.expr, field: str) -> list[int]:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and 1 <= len(node.args) <= 2
    ):
        try:
            bounds = [ast.literal_eval(a) for a in node.args]
        except (ValueError, TypeError, SyntaxError):
            bounds = []
        if bounds and all(type(b) is int and abs(b) < 1000 for b in bounds):
            return list(range(*bounds))
    else:
        try:
            value = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError):
            value = None
        if isinstance(value, (list, tuple)) and all(type(v) is int for v in value):
            return list(value)
    raise InvalidArchitectureError(
        f"Genotype field {field!r} must be range(a, b) or a list of node indices"
    )


def format_edges(edges: Sequence[tuple[str, int]]) -> str:
    """`[('sep_conv_3x3', 0), ...]` exactly as DARTS prints a genotype's edge list."""
    return "[" + ", ".join(f"({name!r}, {node})" for name, node in edges) + "]"
