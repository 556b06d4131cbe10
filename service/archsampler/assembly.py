"""Build the study workflow of a `Settings`: storage, model manager, `StudyService`.

What a server and an in-process `Engine` both run; neither needs anything else to serve
studies (the server adds gRPC, auth and metrics around it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from archsampler.config import Settings
from archsampler.predictor.manager import ModelManager
from archsampler.storage import SQLStorage
from archsampler.storage import database_url
from archsampler.study import StudyService


def models_dir(settings: Settings) -> Path:
    """Where model versions live: the setting, else next to the SQLite file, else ./."""
    if settings.models_dir:
        return Path(settings.models_dir)
    url = database_url(settings.db)
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///") + ".models")
    return Path("archsampler-models")


def build_service(
    settings: Settings,
    *,
    on_model: Callable[[str, int, float], None] | None = None,
    on_refused: Callable[[str, str], None] | None = None,
) -> StudyService:
    """Open `settings.db` (creating or upgrading its schema) and return the service over it
    (its writer thread started). `service.close()` then `service.storage.close()` release it.
    """
    storage = SQLStorage(settings.db, sqlite_synchronous=settings.sqlite_synchronous)
    models = ModelManager(
        storage,
        models_dir(settings),
        retrain_every=settings.model_retrain_every,
        min_trials=settings.model_min_trials,
        gate_retry_every=settings.model_gate_retry_every,
        config={"epochs": settings.model_epochs, "min_steps": settings.model_min_steps},
        on_model=on_model,
        on_refused=on_refused,
    )
    return StudyService(
        storage,
        default_strategy=settings.default_strategy,
        lease_seconds=settings.lease_seconds,
        models=models,
        strategy_processes=settings.strategy_processes,
    )
