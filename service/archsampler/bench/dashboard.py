"""`archsampler bench dashboard`: what one study's dashboard view costs as the study grows.

For each size in `--sizes` a study of that many finished trials (the 8^8 load space,
`random`, every trial COMPLETED but one in twenty FAILED) is written straight to a fresh
SQLite file. Then, side by side on that file:

- `full read`: every trial read through `list_trials` in pages of 1,000, a lower bound of
  what each view cost before it kept a summary (it read every trial like this, then built
  the page from them, on every refresh);
- `first view`: the view of a dashboard that has not seen the study (it catches up a page
  at a time);
- `refresh`: `--refreshes` views in a row, each after `--new` more trials were proposed
  and reported (the study keeps growing while someone watches it).

Each is timed per call (p50 / p99 / max); the Python heap's peak growth during one more
call of each (traced by tracemalloc, so not timed) is printed beside it, and so is
`refresh p50 / full read p50` per size.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any
from typing import Callable

import numpy as np
from tqdm import tqdm

from archsampler.bench.load import LOAD_SPACE
from archsampler.dashboard import views
from archsampler.errors import AlreadyExistsError
from archsampler.server.access import AUTH_OFF
from archsampler.spaces import make_space
from archsampler.storage import NewTrial
from archsampler.storage import SQLStorage
from archsampler.study import StudyService
from archsampler.trial import Outcome
from archsampler.trial import TrialState

STUDY = "watched"
CHUNK = 1_000
SPACE = {"user": LOAD_SPACE}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sizes", default="1000,10000,100000", help="finished trials per study (comma list)"
    )
    p.add_argument("--refreshes", type=int, default=30, help="timed refreshes per size")
    p.add_argument("--new", type=int, default=100, help="trials reported before each refresh")
    p.add_argument("--full-reads", type=int, default=3, help="timed full reads per size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="write the results here")


def _grow(storage: SQLStorage, n: int, rng: np.random.Generator, space: Any) -> None:
    """Add `n` finished trials to the study, `CHUNK` per transaction."""
    done = 0
    while done < n:
        batch = []
        for _ in range(min(CHUNK, n - done)):
            arch = space.sample(rng)
            text = space.to_string(arch)
            batch.append(NewTrial(text, space.canonical_hash(arch), space.to_params(arch)))
        try:
            made = storage.add_trials(STUDY, batch)
        except AlreadyExistsError:  # an architecture drawn twice: draw the chunk again
            continue
        outcomes = [
            (STUDY, t.id, Outcome(TrialState.FAILED, None))
            if rng.random() < 0.05
            else (STUDY, t.id, Outcome(TrialState.COMPLETED, float(rng.random())))
            for t in made
        ]
        with storage.batch() as b:
            b.finish(outcomes)
        done += len(made)


def _timed(fn: Callable[[], Any]) -> float:
    """Milliseconds of one call."""
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def _peak(fn: Callable[[], Any]) -> float:
    """The Python heap's peak growth (MB) during one call (traced, so not timed)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return (tracemalloc.get_traced_memory()[1] - base) / 1e6
    finally:
        tracemalloc.stop()


def _stats(ms: list[float], peak_mb: float) -> dict[str, Any]:
    a = np.asarray(ms)
    return {
        "n": len(ms),
        "p50_ms": float(np.percentile(a, 50)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
        "peak_mb": peak_mb,
    }


def _full_read(service: StudyService) -> None:
    after = 0
    while True:
        page = service.list_trials(STUDY, after_id=after, limit=views.PAGE)
        if len(page) < views.PAGE:
            return
        after = page[-1].id


def _size(n: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    storage = SQLStorage(str(tmp / f"dashboard-{n}.db"))
    try:
        service = StudyService(storage)
        service.create_study(STUDY, {"space": SPACE, "strategy": "random", "seed": args.seed})
        space = make_space(SPACE)
        rng = np.random.default_rng(args.seed)
        _grow(storage, n, rng, space)
        full = [_timed(lambda: _full_read(service)) for _ in range(args.full_reads)]
        full_peak = _peak(lambda: _full_read(service))
        cache = views.StudyCache(storage)

        def view(on: views.StudyCache = cache) -> None:
            views.study(service, None, on, STUDY, AUTH_OFF)

        first = [_timed(view)]
        first_peak = _peak(lambda: view(views.StudyCache(storage)))  # another unseen view
        refresh = []
        for _ in tqdm(range(args.refreshes), desc=f"refreshes at {n:,}", leave=False):
            _grow(storage, args.new, rng, space)
            refresh.append(_timed(view))
        _grow(storage, args.new, rng, space)
        refresh_peak = _peak(view)
        total = service.get_study(STUDY).trial_count
    finally:
        storage.close()
    out = {
        "trials": n,
        "trials_at_end": total,
        "full_read": _stats(full, full_peak),
        "first_view": _stats(first, first_peak),
        "refresh": _stats(refresh, refresh_peak),
    }
    out["refresh_over_full_read_p50"] = out["refresh"]["p50_ms"] / out["full_read"]["p50_ms"]
    return out


def run(args: argparse.Namespace) -> int:
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not sizes or min(sizes) < 1 or min(args.refreshes, args.full_reads) < 1 or args.new < 0:
        print(
            "archsampler bench dashboard: error: --sizes, --refreshes and --full-reads must "
            "be positive, --new at least 0",
            file=sys.stderr,
        )
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="archsampler-dashboard-") as tmp:
        for n in tqdm(sizes, desc="study sizes"):
            rows.append(_size(n, args, Path(tmp)))
    head = f"{'trials':>8} {'what':<11} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} {'peak MB':>8}"
    print(head)
    for r in rows:
        for key in ("full_read", "first_view", "refresh"):
            s = r[key]
            print(
                f"{r['trials']:>8,} {key:<11} {s['p50_ms']:9.1f} {s['p99_ms']:9.1f} "
                f"{s['max_ms']:9.1f} {s['peak_mb']:8.1f}"
            )
        print(f"{'':>8} refresh p50 / full read p50 = {r['refresh_over_full_read_p50']:.4f}")
    if args.json:
        args.json.write_text(json.dumps({"sizes": rows, "new_per_refresh": args.new}, indent=2))
    return 0
