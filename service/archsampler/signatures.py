"""Architecture signatures: a trained network's output vector on one fixed mini-batch,
reported by a trainer in the trial metadata key `signature` (comma-separated floats).
The `hierarchical` strategy clusters architectures by the L2 distance between them."""

from __future__ import annotations

import json
import math

from archsampler.errors import InvalidArgumentError

SIGNATURE_KEY = "signature"
MAX_SIGNATURE_VALUES = 1024
"""At most this many numbers in one signature."""
MAX_SIGNATURE_CHARS = 32_768
"""The metadata value's length bound for this key (1,024 numbers of up to 31 characters)."""


def parse_signature(text: str) -> tuple[float, ...]:
    """The numbers of a `signature` metadata value.

    Raises:
        InvalidArgumentError: empty, longer than `MAX_SIGNATURE_CHARS`, more than
            `MAX_SIGNATURE_VALUES` numbers, or an entry that is not a finite number (the
            message names the entry's position).
    """
    if len(text) > MAX_SIGNATURE_CHARS:
        raise InvalidArgumentError(
            f"metadata 'signature' is {len(text)} characters; the limit is {MAX_SIGNATURE_CHARS}"
        )
    parts = text.split(",")
    if not text.strip():
        raise InvalidArgumentError(
            "metadata 'signature' is empty: give 1..1024 comma-separated finite numbers"
        )
    if len(parts) > MAX_SIGNATURE_VALUES:
        raise InvalidArgumentError(
            f"metadata 'signature' has {len(parts)} values; the limit is {MAX_SIGNATURE_VALUES}"
        )
    out = []
    for i, part in enumerate(parts):
        try:
            v = float(part)
        except ValueError:
            v = math.nan
            bad = True
        else:
            bad = not math.isfinite(v)
        if bad:
            raise InvalidArgumentError(
                f"metadata 'signature' entry {i} is {part.strip()[:40]!r}: every entry must be "
                "a finite number (comma-separated)"
            )
        out.append(v)
    return tuple(out)


def signature_of(metadata_json: str | None) -> tuple[float, ...] | None:
    """The signature stored in a trial's metadata JSON (validated at Report), or None."""
    if not metadata_json or SIGNATURE_KEY not in metadata_json:
        return None
    text = json.loads(metadata_json).get(SIGNATURE_KEY)
    if text is None:
        return None
    try:
        return parse_signature(text)
    except InvalidArgumentError:  # stored before signatures were checked: ignore it
        return None
