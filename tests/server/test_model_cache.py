"""A study deleted while its model is being loaded never gets that model cached under its
name (a study re-created with the same name would otherwise be served the old one)."""

from __future__ import annotations

from pathlib import Path

from archsampler.predictor.manager import ModelManager
from archsampler.storage import SQLStorage


def test_a_model_loaded_across_a_delete_is_not_cached(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    storage = SQLStorage(str(tmp_path / "s.db"))
    try:
        config = {"space": {"builtin": "nb201"}, "strategy": "random"}
        storage.create_study(
            "s", {**config, "strategy_options": {}, "goal": "maximize", "seed": 0}
        )
        manager = ModelManager(storage, tmp_path / "models", retrain_every=0)
        old_model = object()

        def load_while_deleted(study: str) -> object:
            manager.forget(study)  # DeleteStudy lands while the old version is being read
            return old_model

        monkeypatch.setattr(manager, "_load_latest", load_while_deleted)
        assert manager.get("s") is None
        new_model = object()
        monkeypatch.setattr(manager, "_load_latest", lambda study: new_model)
        assert manager.get("s") is new_model  # the old incarnation's model was not cached
        monkeypatch.setattr(manager, "_load_latest", lambda study: old_model)
        assert manager.get("s") is new_model  # a load with no delete in between is cached
        manager.close()
    finally:
        storage.close()
