"""What the dashboard shows, as JSON-ready dicts read from storage (never written).

Every answer is bounded: at most `MAX_STUDIES` studies, the newest `MAX_TABLE` trials of a
study, a best-so-far curve of at most `MAX_CURVE` points (every improvement kept first),
and at most `MAX_VERSIONS` model versions. The LaNAS tree is the one a restart would
rebuild from the trial log (the strategy's tree is a function of its observations). A
study's view reads only what changed since the last one (`StudyCache`), so its cost does
not grow with the study.
"""

from __future__ import annotations

import json
import math
import re
import threading
from array import array
from collections import OrderedDict
from collections import deque
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Sequence

import numpy as np

from archsampler.config import StudyConfig
from archsampler.objectives import MAX_FRONT
from archsampler.objectives import pareto_front as objectives_front
from archsampler.predictor.manager import ModelManager
from archsampler.runtime import StudyRuntime
from archsampler.server.access import Principal
from archsampler.server.access import authorize
from archsampler.storage import SQLStorage
from archsampler.study import StudyService
from archsampler.trial import Trial
from archsampler.trial import TrialState

MAX_STUDIES = 10_000
MAX_TABLE = 500
MAX_CURVE = 2_000
MAX_VERSIONS = 50
MAX_CACHED = 16  # studies whose summaries (and LaNAS trees) the dashboard keeps
PAGE = 1_000
_VERSION = re.compile(r"v(\d+)")


def _num(x: float | None) -> float | None:
    """JSON has no inf/NaN: those become null."""
    return x if x is not None and math.isfinite(x) else None


def studies(service: StudyService, principal: Principal) -> list[dict[str, Any]]:
    """The studies `principal` may see (admin: all), in creation order."""
    authorize(principal, "ListStudies")
    namespace = None if principal.is_admin else principal.namespace
    out: list[dict[str, Any]] = []
    after = 0
    while len(out) < MAX_STUDIES:
        page = service.list_studies(namespace=namespace, after_id=after, limit=PAGE)
        for r in page:
            space = r.config["space"]
            out.append(
                {
                    "name": r.name,
                    "namespace": r.namespace,
                    "space": space.get("builtin", "user"),
                    "strategy": r.config["strategy"],
                    "goal": r.config["goal"],
                    "trials": r.trial_count,
                    "completed": r.completed_count,
                    "pending": r.pending_count,
                }
            )
        if len(page) < PAGE:
            break
        after = page[-1].id
    return out[:MAX_STUDIES]


def best_curve(
    numbers: Sequence[int], values: Sequence[float], maximize: bool
) -> list[list[float]]:
    """`[evaluation, best value so far]` at each completed trial in number order, thinned
    to at most MAX_CURVE points: every improvement is kept, then evenly spaced others."""
    n = len(numbers)
    if not n:
        return []
    order = np.argsort(np.asarray(numbers), kind="stable")
    v = np.asarray(values, dtype=float)[order]
    running = np.maximum.accumulate(v if maximize else -v)
    best = running if maximize else -running
    if n <= MAX_CURVE:
        keep = range(n)
    else:  # only the kept points become Python objects
        improved = [0, *(np.flatnonzero(running[1:] > running[:-1]) + 1).tolist()]
        chosen = set(improved[: MAX_CURVE // 2])
        chosen.add(n - 1)
        step = n / (MAX_CURVE - len(chosen))
        chosen.update(int(k * step) for k in range(MAX_CURVE - len(chosen)))
        keep = sorted(chosen)[:MAX_CURVE]
    return [[i + 1, float(best[i])] for i in keep]


def _row(t: Trial) -> dict[str, Any]:
    return {
        "id": t.id,
        "number": t.number,
        "state": t.state.name,
        "value": _num(t.value),
        "values": {k: _num(v) for k, v in (t.values or {}).items()},
        "arch": t.arch,
        "region": t.region,
        "client_id": t.client_id,
    }


@dataclass
class _Summary:
    """What the page shows of one study that only grows: kept up to date from the trials
    finished after `cursor` (a finished trial never changes), so a refresh reads only
    those."""

    key: tuple[int, float]  # (study id, created_at): not a study re-created under its name
    stored: dict[str, Any]  # the study's config as stored
    config: StudyConfig
    cursor: tuple[int, int] = (0, 0)  # how far the trial log was read (`finished_page`)
    numbers: array = field(default_factory=lambda: array("q"))  # COMPLETED with a value
    values: array = field(default_factory=lambda: array("d"))
    best: Trial | None = None
    front: list[Trial] = field(default_factory=list)  # several objectives
    scatter: deque = field(default_factory=lambda: deque(maxlen=MAX_CURVE))
    runtime: StudyRuntime | None = None  # lanas: the tree a restart rebuilds
    curve: list[list[float]] | None = None  # until the next completion
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, trials: list[Trial]) -> None:
        done = [t for t in trials if t.state == TrialState.COMPLETED and t.value is not None]
        if not done:
            return
        key = self.config.sign
        for t in done:
            self.numbers.append(t.number)
            self.values.append(float(t.value))  # type: ignore[arg-type]
            b = self.best  # the best value, the lowest id among equals
            if b is None or (key * t.value, -t.id) > (key * b.value, -b.id):  # type: ignore[operator]
                self.best = t
        if self.config.objectives:
            names = [o["name"] for o in self.config.objectives][:2]
            self.scatter.extend(
                [_num(t.values.get(names[0])), _num(t.values.get(names[-1]))]
                for t in done
                if t.values
            )
            self.front = objectives_front(self.config, self.front + done, limit=None)
        self.curve = None


class StudyCache:
    """The dashboard's summaries of the studies it was asked about, the `MAX_CACHED` most
    recently viewed: each refresh reads the trials finished since the last one, the state
    counts and the newest `MAX_TABLE` trials, never the whole trial log."""

    def __init__(self, storage: SQLStorage) -> None:
        self.storage = storage
        self._lock = threading.Lock()
        self._summaries: OrderedDict[str, _Summary] = OrderedDict()

    def _summary(self, name: str, key: tuple[int, float], config_json: str) -> _Summary:
        with self._lock:
            found = self._summaries.pop(name, None)
            if found is None or found.key != key:
                stored = json.loads(config_json)
                found = _Summary(key, stored, StudyConfig.from_dict(stored))
            self._summaries[name] = found  # the most recent last
            while len(self._summaries) > MAX_CACHED:
                self._summaries.popitem(last=False)
            return found

    def view(self, name: str) -> dict[str, Any]:
        """The page's data for study `name`, caught up with its trial log."""
        with self.storage.read_batch() as batch:
            row = batch.study(name)
            summary = self._summary(name, (row.id, row.created_at), row.config_json)
            with summary.lock:
                while True:  # a page at a time: memory O(page) on a first view
                    finished, summary.cursor = batch.finished_page(name, summary.cursor, PAGE)
                    summary.add(finished)
                    if len(finished) < PAGE:
                        break
                counts = batch.state_counts(name)
                newest = batch.newest(name, MAX_TABLE)
                tree = self._tree(summary, batch, name)
                if summary.curve is None:
                    summary.curve = best_curve(
                        summary.numbers, summary.values, summary.config.maximize
                    )
                config = summary.config
                return {
                    "config": summary.stored,
                    "objectives": [dict(o) for o in config.objectives or ()]
                    or [{"name": "value", "goal": config.goal}],
                    "counts": {s.name: counts[s] for s in TrialState},
                    "trial_count": sum(counts.values()),
                    "best": None if summary.best is None else _row(summary.best),
                    "curve": summary.curve,
                    "trials": [_row(t) for t in newest],
                    "tree": tree,
                    "pareto_front": None
                    if not summary.config.objectives
                    else [_row(t) for t in sorted(summary.front, key=lambda t: t.id)[:MAX_FRONT]],
                    "scatter": list(summary.scatter),
                }

    @staticmethod
    def _tree(summary: _Summary, batch: Any, name: str) -> list[dict[str, Any]]:
        """The LaNAS tree of the study's trials so far (lanas only): the strategy a restart
        would rebuild, fed only what finished since the last view."""
        if summary.config.strategy != "lanas":
            return []
        if summary.runtime is None:
            summary.runtime = StudyRuntime.load(batch, name)
        runtime = summary.runtime
        runtime.sync(batch)
        describe = getattr(runtime.strategy, "describe", None)
        nodes = describe() if describe is not None else []
        for node in nodes:  # back to the study's sign (strategies maximise)
            for k in ("mean", "ucb"):
                node[k] = _num(None if node[k] is None else node[k] * runtime.sign)
        return nodes


def model_versions(models: ModelManager | None, name: str) -> list[dict[str, Any]]:
    """The study's trained predictor versions, newest first, with validation metrics."""
    if models is None:
        return []
    folder: Path = models.folder(name)
    if not folder.is_dir():
        return []
    found = sorted(
        ((int(m.group(1)), p) for p in folder.iterdir() if (m := _VERSION.fullmatch(p.name))),
        reverse=True,
    )
    out = []
    for version, path in found[:MAX_VERSIONS]:
        try:
            meta = json.loads((path / "metadata.json").read_text())
        except (OSError, ValueError):
            continue  # a version still being written or broken: not shown
        metrics = {k: _num(v) for k, v in (meta.get("metrics") or {}).items()}
        out.append(
            {
                "version": version,
                "train_size": meta.get("train_size"),
                "training_seconds": _num(meta.get("training_seconds")),
                "metrics": metrics,
            }
        )
    return out


def study(
    service: StudyService,
    models: ModelManager | None,
    cache: StudyCache,
    name: str,
    principal: Principal,
) -> dict[str, Any]:
    """Everything the page shows for one study (authorized by its namespace, looked up as
    the gRPC calls look it up)."""
    namespace = service.namespace_of(name)
    authorize(principal, "ListTrials", namespace, name)
    return {
        "name": name,
        "namespace": namespace,
        **cache.view(name),
        "models": model_versions(models, name),
    }
