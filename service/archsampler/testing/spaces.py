"""User-space specs that tests and benchmarks build again and again."""

from __future__ import annotations

from typing import Any


def categorical_space(n_params: int, n_choices: int, width: int = 1) -> dict[str, Any]:
    """A user-space spec of `n_params` categorical params `p0…`, each with the choices
    `c0…c{n_choices-1}` (numbers zero-padded to `width` digits)."""
    choices = [f"c{j:0{width}d}" for j in range(n_choices)]
    return {
        "params": [
            {"name": f"p{i}", "type": "categorical", "choices": list(choices)}
            for i in range(n_params)
        ]
    }
