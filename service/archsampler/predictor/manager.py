"""Per-study NAO models: retrain in a child process, parity-check, swap in atomically.

Model versions live in `<models_dir>/<study>/v<N>/` (ONNX graphs + metadata.json); a
restarted server loads the latest one. Training never runs in the serving process: a
spawned worker process trains with torch, and the parent only loads the exported ONNX.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import shutil
import threading
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from typing import Callable

import numpy as np

from archsampler.config import StudyConfig
from archsampler.errors import NotFoundError
from archsampler.predictor.handle import ModelHandle
from archsampler.predictor.parity import ParityError
from archsampler.predictor.runtime import NAOPredictor
from archsampler.spaces import make_space
from archsampler.storage import SQLStorage
from archsampler.trial import TrialState

log = logging.getLogger(__name__)
TRAINING_NICENESS = 10
_VERSION = re.compile(r"^v(\d+)$")


def retrain_interval(retrain_every: int, gate_retry_every: int, gate_failures: int) -> int:
    """New completed trials before the next training.

    `retrain_every` while the current model passed its ranking gate (or none was trained);
    after `gate_failures` consecutive models that failed it, `gate_retry_every` doubled per
    further failure, never more than `retrain_every`: a study without a usable model gets
    one as soon as its data supports it, and a study whose values no model can rank costs
    at most one training per `retrain_every` trials in the long run.
    """
    if gate_failures <= 0:
        return retrain_every
    return min(retrain_every, gate_retry_every << min(gate_failures - 1, 30))


class ExportRefused(RuntimeError):
    """A trained model failed its parity check and was not exported; nothing changed."""


class ModelManager:
    """Owns every study's current model; thread-safe.

    Args:
        storage: where completed trials are read from for training.
        root: folder of model versions.
        retrain_every: train again after this many newly completed trials (0: never).
        min_trials: completed trials needed before the first model.
        gate_retry_every: after a model that failed its ranking gate, train again after this
            many new completed trials (doubled per further failure, capped at
            `retrain_every`; see `retrain_interval`).
        config: `NAOConfig` overrides for training (e.g. epochs).
        on_model: called with (study, version, training_seconds) after each swap.
        on_refused: called with (study, reason) when an export fails its parity check (the
            current model stays; `refusals` counts them per study).
    """

    def __init__(
        self,
        storage: SQLStorage,
        root: str | Path,
        *,
        retrain_every: int = 20,
        min_trials: int = 40,
        gate_retry_every: int = 10,
        config: dict[str, Any] | None = None,
        on_model: Callable[[str, int, float], None] | None = None,
        on_refused: Callable[[str, str], None] | None = None,
    ) -> None:
        self.storage = storage
        self.root = Path(root)
        self.retrain_every = retrain_every
        self.min_trials = min_trials
        self.gate_retry_every = gate_retry_every
        self.gate_failures: dict[str, int] = {}  # consecutive models that failed the gate
        self.config = dict(config or {})
        self.on_model = on_model
        self.on_refused = on_refused
        self.refusals: dict[str, int] = {}  # exports refused by the parity check, per study
        self._failed: set[str] = set()
        self._recheck: set[str] = set()
        self._models: dict[str, ModelHandle | None] = {}
        self._forgotten: dict[str, int] = {}  # per name: how many times `forget` ran
        self._trained_at: dict[str, int] = {}
        # study -> (completed count at its last check, completed reports notified since):
        # a check that cannot find a training due is skipped without reading storage
        self._counted: dict[str, tuple[int, int]] = {}
        self._training: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="archsampler-models")
        self._children: set[Any] = set()
        self._closed = False

    # -- serving ------------------------------------------------------------------------
    def get(self, study: str) -> ModelHandle | None:
        """The study's current model (loading the latest stored version on first use)."""
        with self._lock:
            if study in self._models:
                return self._models[study]
            generation = self._forgotten.get(study, 0)
        handle = self._load_latest(study)
        with self._lock:
            if self._forgotten.get(study, 0) != generation:
                return None  # deleted while loading: never cache the old incarnation's model
            return self._models.setdefault(study, handle)

    def folder(self, study: str) -> Path:
        """Model versions of this incarnation of `study` (a re-created study starts afresh)."""
        created = self.storage.get_study(study).created_at
        return self.root / f"{study}@{int(created * 1e6)}"

    def _load_latest(self, study: str) -> ModelHandle | None:
        folder = self.folder(study)
        versions = (
            sorted(
                (int(m.group(1)), p) for p in folder.glob("v*") if (m := _VERSION.match(p.name))
            )
            if folder.is_dir()
            else []
        )
        for version, path in reversed(versions):
            try:
                return self._handle(study, version, path)
            except Exception:  # noqa: BLE001 - a broken version is skipped, an older one used
                log.exception("model %s is unusable; trying an older version", path)
        return None

    def _handle(self, study: str, version: int, path: Path) -> ModelHandle:
        config = StudyConfig.from_dict(self.storage.get_study(study).config)
        predictor = NAOPredictor.load(path, threads=1)
        if predictor.metadata.get("space") != config.space:
            raise ValueError(f"{path} was trained for another search space")
        return ModelHandle(version, predictor, make_space(config.space), config.sign, path)

    def forget(self, study: str) -> None:
        """Drop a deleted study's models (memory and disk) and its training record: a study
        re-created with the same name starts afresh (a training still running is discarded
        when it ends)."""
        with self._lock:
            if len(self._forgotten) >= 100_000:  # bounded (names of deleted studies)
                self._forgotten.clear()
            self._forgotten[study] = self._forgotten.get(study, 0) + 1
            self._models.pop(study, None)
            self._trained_at.pop(study, None)
            self._counted.pop(study, None)
            self.gate_failures.pop(study, None)
            self.refusals.pop(study, None)
            self._failed.discard(study)
        for folder in self.root.glob(f"{study}@*"):
            shutil.rmtree(folder, ignore_errors=True)

    # -- training -----------------------------------------------------------------------
    def notify(self, study: str) -> None:
        """A trial of `study` completed: maybe start a training run (non-blocking). Storage is
        read only once this server's own completed reports since the last check could make a
        training due (other replicas' reports are counted at that check)."""
        if self.retrain_every <= 0:
            return  # automatic training is off
        with self._lock:
            counted = self._counted.get(study)
            if counted is not None:
                known, since = counted[0], counted[1] + 1
                self._counted[study] = (known, since)
                if known + since < self._next_at(study, self._trained_at.get(study, 0)):
                    return
            if study in self._training:
                self._recheck.add(study)  # looked at again when the running check ends
                return
            self._training[study] = self._threads.submit(self._maybe_train, study)

    def _next_at(self, study: str, last: int) -> int:
        """Completed trials at which `study`'s next training is due, its last one having
        used `last` (0: none yet).

        The first model comes once `min_trials` trials completed; later ones after every
        `retrain_every` new completed trials, sooner while the study's model fails its
        ranking gate (`retrain_interval`).
        """
        if last == 0:
            return self.min_trials
        interval = retrain_interval(
            self.retrain_every, self.gate_retry_every, self.gate_failures.get(study, 0)
        )
        return max(self.min_trials, last + interval)

    def due(self, study: str, completed: int, last: int) -> bool:
        """Whether `completed` trials call for a training of `study` (see `_next_at`)."""
        return self.retrain_every > 0 and completed >= self._next_at(study, last)

    def no_model_reason(self, study: str) -> str:
        """Why `study` has no model yet, for FAILED_PRECONDITION answers."""
        completed = self.storage.get_study(study).completed_count
        if self.retrain_every <= 0:
            return "automatic training is off (model_retrain_every = 0)"
        refused = self.refusals.get(study, 0)
        if completed < self.min_trials:
            return (
                f"the first one is trained once {self.min_trials} trials completed "
                f"({completed} so far)"
            )
        if study in self._training:
            return f"training on {completed} completed trials is under way"
        if refused or study in self._failed:
            last = self._trained_at.get(study, 0)
            return (
                f"the last training ({last} trials) was refused or failed; the next one "
                f"starts at {self._next_at(study, last)} completed trials ({completed} so far)"
            )
        return f"training on {completed} completed trials starts shortly"

    def _maybe_train(self, study: str) -> int | None:
        completed: int | None = None
        try:
            completed = self.storage.get_study(study).completed_count
            with self._lock:
                self._counted[study] = (completed, 0)
            last = self._trained_at.get(study)
            if last is None:
                current = self.get(study)
                last = int(current.metadata.get("train_size", 0)) if current else 0
                self._trained_at[study] = last
                if current is not None and not current.validated:  # restarted: count it once
                    self.gate_failures.setdefault(study, 1)
            if not self.due(study, completed, last):
                return None
            return self._train_locked(study)
        except NotFoundError:
            log.info("study %s was deleted: no training", study)
            return None
        except (ExportRefused, ParityError) as e:
            if isinstance(e, ParityError) and e.path is not None:
                shutil.rmtree(e.path, ignore_errors=True)  # failed on the serving provider
            self._trained_at[study] = completed or 0  # the next try waits retrain_every
            self.refusals[study] = self.refusals.get(study, 0) + 1
            log.warning(
                "study %s: model export refused (%s); the current model stays (%d refused)",
                study,
                e,
                self.refusals[study],
            )
            if self.on_refused is not None:
                self.on_refused(study, str(e))
            return None
        except Exception:
            if not self._closed:
                if completed is not None:
                    self._trained_at[study] = completed  # no retry storm: wait retrain_every
                self._failed.add(study)
                log.exception("study %s: training failed; the current model stays", study)
            raise
        finally:
            with self._lock:
                self._training.pop(study, None)
                again = study in self._recheck and not self._closed
                self._recheck.discard(study)
                if again:
                    self._training[study] = self._threads.submit(self._maybe_train, study)

    def _train_locked(self, study: str) -> int | None:
        record = self.storage.get_study(study)
        config = StudyConfig.from_dict(record.config)
        space = make_space(config.space)
        trials = self.storage.list_trials(study, states=[TrialState.COMPLETED])
        if len(trials) < 2:
            return None
        tokens = np.array([space.to_tokens(space.from_string(t.arch)) for t in trials])
        values = np.array([t.value for t in trials], dtype=np.float64)
        current = self.get(study)
        version = (current.version if current else 0) + 1
        created = record.created_at  # this incarnation: `folder(study)` of this record
        path = self.root / f"{study}@{int(created * 1e6)}" / f"v{version}"
        try:
            meta = self._run_child(tokens, values, dict(config.space), str(path))
            handle = self._handle(study, version, path)
        except Exception:
            for partial in path.parent.glob(f".{path.name}.*"):  # a killed child's export
                shutil.rmtree(partial, ignore_errors=True)
            if self._discard_if_gone(study, created):
                return None
            raise
        with self._lock:
            gone = self._gone(study, created)
            if not gone:
                self._models[study] = handle  # the swap: in-flight calls keep the old handle
                self._trained_at[study] = len(trials)
                if handle.validated:
                    self.gate_failures.pop(study, None)
                else:
                    self.gate_failures[study] = self.gate_failures.get(study, 0) + 1
        if gone:
            self._discard(study, created)
            return None
        log.info(
            "study %s: model v%d trained on %d trials in %.1f s (val pairwise %.3f)",
            study,
            version,
            len(trials),
            meta["training_seconds"],
            meta.get("metrics", {}).get("val_pairwise", float("nan")),
        )
        if self.on_model is not None:
            self.on_model(study, version, meta["training_seconds"])
        return version

    def _gone(self, study: str, created: float) -> bool:
        """Whether the incarnation of `study` created at `created` was deleted."""
        try:
            return self.storage.get_study(study).created_at != created
        except NotFoundError:
            return True

    def _discard_if_gone(self, study: str, created: float) -> bool:
        """Drop a training result whose study was deleted (or re-created) meanwhile."""
        if not self._gone(study, created):
            return False
        self._discard(study, created)
        return True

    def _discard(self, study: str, created: float) -> None:
        """Remove a deleted incarnation's folder: a study re-created with the same name has
        its own folder and never sees this model."""
        shutil.rmtree(self.root / f"{study}@{int(created * 1e6)}", ignore_errors=True)
        log.info("study %s was deleted while its model trained: result discarded", study)

    def _run_child(self, *args: Any) -> dict[str, Any]:
        """Train in a spawned process; killed (not awaited) when the manager closes."""
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_job, args=(child, *args, self.config), daemon=True)
        with self._lock:  # started under the lock: `close` kills only started children
            if self._closed:
                raise RuntimeError("model manager is closed")
            proc.start()
            self._children.add(proc)
        try:
            child.close()
            try:
                ok, payload = parent.recv()
            except EOFError:
                raise RuntimeError(f"training process exited with {proc.exitcode}") from None
            if not ok:
                if payload.startswith("ParityError"):
                    raise ExportRefused(payload)
                raise RuntimeError(f"training failed: {payload}")
            return payload
        finally:
            proc.join(timeout=5)
            with self._lock:
                self._children.discard(proc)

    def close(self) -> None:
        """Stop training (child processes are killed) and wait for the worker threads."""
        with self._lock:
            self._closed = True
            children = list(self._children)
        for proc in children:
            proc.kill()
        self._threads.shutdown(wait=True, cancel_futures=True)


def exit_with_parent() -> None:
    """A child's work (training, a strategy host) is useless once the server died (even by
    SIGKILL): exit with it."""
    import time

    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _job(conn: Any, *args: Any) -> None:
    """Child-process entry: train, export, send (ok, metadata | error text) back.

    Training runs at a lower CPU priority, so serving keeps the cores it needs under load.
    """
    threading.Thread(target=exit_with_parent, daemon=True).start()
    try:
        os.nice(TRAINING_NICENESS)
    except OSError:  # not permitted here: train at normal priority
        log.warning("could not lower the training process's CPU priority")
    from tqdm import tqdm

    # tqdm's default lock is a multiprocessing semaphore (made even for a disabled bar): a
    # child killed at shutdown would leave it behind, and the resource tracker would print
    # a "leaked semaphore" warning into the server's log. A thread lock does here.
    tqdm.set_lock(threading.RLock())
    try:
        from archsampler.predictor.training_job import train_and_export

        result = (True, train_and_export(*args))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which logs it
        result = (False, f"{type(e).__name__}: {e}")
    try:
        conn.send(result)
    except BrokenPipeError:  # the server is gone (killed or closed): nobody to tell
        os._exit(1)
    finally:
        conn.close()
