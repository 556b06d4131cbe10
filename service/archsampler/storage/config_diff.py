"""Find the first field where two JSON-like configs differ, for precise error messages."""

from __future__ import annotations

from typing import Any


def first_difference(old: Any, new: Any, path: str = "config") -> str | None:
    """Describe the first differing field as `path: existing X, requested Y`, or None."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if key not in old or key not in new:
                return f"{path}.{key}: existing {old.get(key)!r}, requested {new.get(key)!r}"
            found = first_difference(old[key], new[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return f"{path}: existing has {len(old)} entries, requested {len(new)}"
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    if old != new:
        return f"{path}: existing {old!r}, requested {new!r}"
    return None
