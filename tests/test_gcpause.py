"""Start-up objects leave the collector's scans, so a full collection stays short."""

from __future__ import annotations

import gc

from archsampler.gcpause import freeze_startup_objects


def test_freezing_removes_startup_objects_from_full_collections() -> None:
    import archsampler.strategies.lanas  # noqa: F401 - a realistic set of loaded modules

    gc.unfreeze()
    tracked = len(gc.get_objects())
    try:
        frozen = freeze_startup_objects()
        assert frozen >= tracked // 2
        assert len(gc.get_objects()) < tracked // 10  # what a full pass still scans
        garbage: list[object] = []
        garbage.append(garbage)  # a cycle created after the freeze is still collected
        del garbage
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
