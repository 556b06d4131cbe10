"""Schema v3 -> v4 (trials.values_json, several objectives): a v3 database opens migrated
in place, its trials read back without values, and a multi-objective report stores and
reads back its vector while `value` keeps the first objective."""

from __future__ import annotations

import json
from pathlib import Path

from archsampler.storage import NewTrial
from archsampler.storage import SQLStorage
from archsampler.storage.models import LEASE_INDEX
from archsampler.storage.models import SCHEMA_VERSION
from archsampler.trial import Outcome
from archsampler.trial import TrialState

CONFIG = {
    "space": {"builtin": "nb201"},
    "strategy": "random",
    "strategy_options": {},
    "goal": "maximize",
    "seed": 0,
    "objectives": [{"name": "acc", "goal": "maximize"}, {"name": "params", "goal": "minimize"}],
}


def _new(i: int, state: TrialState = TrialState.PENDING, value: float | None = None) -> NewTrial:
    return NewTrial(arch=f"a{i}", arch_hash=f"h{i}", params={}, state=state, value=value)


def _versions(storage: SQLStorage) -> list[int]:
    with storage.engine.connect() as conn:
        return sorted(v for (v,) in conn.exec_driver_sql("SELECT version FROM schema_version"))


def test_a_v3_database_gains_values_json(tmp_path: Path) -> None:
    path = str(tmp_path / "v3.db")
    storage = SQLStorage(path)
    storage.create_study("old", {})
    storage.add_trials("old", [_new(0, TrialState.COMPLETED, 1.0), _new(1)])
    with storage.engine.begin() as conn:  # make it look like a v3 file
        conn.exec_driver_sql("ALTER TABLE trials DROP COLUMN values_json")
        conn.exec_driver_sql(f"DROP INDEX {LEASE_INDEX}")  # v5
        conn.exec_driver_sql("DELETE FROM schema_version")
        conn.exec_driver_sql("INSERT INTO schema_version (version) VALUES (3)")
    storage.close()
    assert SCHEMA_VERSION == 5
    migrated = SQLStorage(path)
    try:
        assert _versions(migrated) == [3, 4, 5]
        trials = migrated.list_trials("old")
        assert [t.values for t in trials] == [None, None] and trials[0].value == 1.0
        migrated.create_study("mo", CONFIG)
        (pending,) = migrated.add_trials("mo", [_new(5)])
        values = {"acc": 0.9, "params": 1200.0}
        outcome = Outcome(TrialState.COMPLETED, 0.0, values=values)
        done = migrated.finish_trial("mo", pending.id, outcome)
        assert done.values == values and done.value == 0.9  # value: the first objective
        again = migrated.get_trial("mo", pending.id)
        assert again.values == values and again.value == 0.9
        with migrated.engine.connect() as conn:
            (stored,) = conn.exec_driver_sql(
                f"SELECT values_json FROM trials WHERE id = {pending.id}"
            ).one()
        assert json.loads(stored) == values
    finally:
        migrated.close()
    reopened = SQLStorage(path)  # a second open migrates nothing
    try:
        assert _versions(reopened) == [3, 4, 5]
    finally:
        reopened.close()
