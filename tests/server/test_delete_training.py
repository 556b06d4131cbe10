"""DeleteStudy while the study's model trains: the result is dropped quietly, and a study
re-created with the same name never gets the old model."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from archsampler.testing import ServerProcess
from archsampler.testing.servers import child_pids
from archsampler_client import ArchSamplerError
from archsampler_client import Client

TRAINING = {  # a short training: the child's start-up (torch import) is most of it
    "ARCHSAMPLER_MODEL_MIN_TRIALS": "4",
    "ARCHSAMPLER_MODEL_RETRAIN_EVERY": "1",
    "ARCHSAMPLER_MODEL_EPOCHS": "2",
    "ARCHSAMPLER_MODEL_MIN_STEPS": "20",
}
DISCARDED = "study d was deleted while its model trained: result discarded"


def _complete(study, n: int) -> None:
    for k, trial in enumerate(study.propose(count=n, client_id="t")):
        study.report(trial.id, value=float(k % 5))


def _wait(condition, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_delete_during_training_discards_the_model_and_a_new_study_starts_afresh(
    tmp_path: Path,
) -> None:
    log = tmp_path / "server.log"
    models = tmp_path / "s.db.models"
    with ServerProcess(tmp_path / "s.db", log=log, **TRAINING) as srv, Client(srv.target) as c:
        assert srv.proc is not None
        old = c.create_study("d", space="nb201", strategy="random")
        _complete(old, 6)
        _wait(lambda: child_pids(srv.proc.pid), "a training child")
        old.delete()
        new = c.create_study("d", space="nb201", strategy="random")  # same name, same space
        _wait(lambda: DISCARDED in log.read_text(), "the old training's result")

        assert not list(models.glob("d@*")), "the deleted study's model folder is left"
        with pytest.raises(ArchSamplerError, match="no trained model") as none:
            new.predict(["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
        assert none.value.code == grpc.StatusCode.FAILED_PRECONDITION

        _complete(new, 6)  # the new incarnation trains its own first model
        created_us = int(new.info().created_at * 1e6)
        _wait(lambda: any(models.glob("d@*/v1/metadata.json")), "the new study's model")
        _wait(lambda: _has_model(new), "the new model to serve")
        values, version = new.predict(["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
        assert version == "v1" and len(values) == 1
        (folder,) = models.glob("d@*")
        assert abs(int(folder.name.split("@")[1]) - created_us) <= 1  # float rounding
    text = log.read_text()
    assert " ERROR " not in text and "Traceback" not in text, text


def _has_model(study) -> bool:
    try:
        study.predict(["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
    except ArchSamplerError:
        return False
    return True
