"""What the dashboard shows, as JSON-ready dicts read from storage (never written).

Every answer is bounded: at most `MAX_STUDIES` studies, the newest `MAX_TABLE` trials of a
study, a best-so-far curve of at most `MAX_CURVE` points (every improvement kept first),
and at most `MAX_VERSIONS` model versions. The LaNAS tree is the one a restart would
rebuild from the trial log (the strategy's tree is a function of its observations).
"""

from __future__ import annotations

import json
import math
import re
import threading
from pathlib import Path
from typing import Any

from archsampler.config import StudyConfig
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


def _trials(service: StudyService, name: str) -> list[Trial]:
    out: list[Trial] = []
    after = 0
    while True:
        page = service.list_trials(name, after_id=after, limit=PAGE)
        out.extend(page)
        if len(page) < PAGE:
            return out
        after = page[-1].id


def best_curve(trials: list[Trial], maximize: bool) -> list[list[float]]:
    """`[evaluation, best value so far]` at each completed trial in number order, thinned
    to at most MAX_CURVE points: every improvement is kept, then evenly spaced others."""
    done = sorted(
        (t for t in trials if t.state == TrialState.COMPLETED and t.value is not None),
        key=lambda t: t.number,
    )
    points: list[list[float]] = []
    improved: list[int] = []
    best = None
    for i, t in enumerate(done, start=1):
        value = float(t.value)  # type: ignore[arg-type]
        if best is None or (value > best if maximize else value < best):
            best = value
            improved.append(len(points))
        points.append([i, best])
    if len(points) <= MAX_CURVE:
        return points
    keep = set(improved[: MAX_CURVE // 2])
    keep.add(len(points) - 1)
    step = len(points) / (MAX_CURVE - len(keep))
    keep.update(int(k * step) for k in range(MAX_CURVE - len(keep)))
    return [points[i] for i in sorted(keep)][:MAX_CURVE]


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


class TreeCache:
    """LaNAS trees rebuilt from the trial log, one per (study, its trial counts)."""

    def __init__(self, storage: SQLStorage) -> None:
        self.storage = storage
        self._lock = threading.Lock()
        self._trees: dict[str, tuple[tuple[float, int], list[dict[str, Any]]]] = {}

    def get(self, name: str, created_at: float, completed: int) -> list[dict[str, Any]]:
        key = (created_at, completed)
        with self._lock:
            found = self._trees.get(name)
            if found is not None and found[0] == key:
                return found[1]
            with self.storage.read_batch() as batch:
                runtime = StudyRuntime.load(batch, name)
                runtime.sync(batch)
            describe = getattr(runtime.strategy, "describe", None)
            nodes = describe() if describe is not None else []
            for node in nodes:  # back to the study's sign (strategies maximise)
                for k in ("mean", "ucb"):
                    node[k] = _num(None if node[k] is None else node[k] * runtime.sign)
            self._trees[name] = (key, nodes)
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
    trees: TreeCache,
    name: str,
    principal: Principal,
) -> dict[str, Any]:
    """Everything the page shows for one study."""
    record = service.get_study(name)
    authorize(principal, "ListTrials", record.namespace, name)
    config = StudyConfig.from_dict(record.config)
    trials = _trials(service, name)
    maximize = config.maximize
    done = [t for t in trials if t.state == TrialState.COMPLETED and t.value is not None]
    best = max(done, key=lambda t: config.sign * t.value) if done else None  # type: ignore[operator]
    lanas = config.strategy == "lanas"
    tree = trees.get(name, record.created_at, len(done)) if lanas else []
    objectives = [dict(o) for o in config.objectives or ()] or [
        {"name": "value", "goal": config.goal}
    ]
    front = service.pareto_front(name) if config.objectives else None
    scatter = (
        [
            [_num(t.values.get(objectives[0]["name"])), _num(t.values.get(objectives[1]["name"]))]
            for t in done[-MAX_CURVE:]
            if t.values
        ]
        if config.objectives
        else []
    )
    return {
        "name": record.name,
        "namespace": record.namespace,
        "config": record.config,
        "counts": {s.name: sum(t.state == s for t in trials) for s in TrialState},
        "best": None if best is None else _row(best),
        "curve": best_curve(trials, maximize),
        "trials": [_row(t) for t in sorted(trials, key=lambda t: -t.id)[:MAX_TABLE]],
        "trial_count": len(trials),
        "tree": tree,
        "models": model_versions(models, name),
        "objectives": objectives,
        "pareto_front": None if front is None else [_row(t) for t in front[:MAX_TABLE]],
        "scatter": scatter,  # the first two objectives of the newest completed trials
    }
