"""`ArchSamplerTuner` driven through NNI's tuner contract (as NNI's dispatcher calls it)
with NNI's documented search-space examples, against a real server on loopback."""

from __future__ import annotations

import math
from typing import Any

import pytest

from archsampler.testing.optional import import_or_skip

nni = import_or_skip("nni", "pip install 'archsampler-client[nni]'")  # CI: fails

from archsampler_client.integrations._nni_space import NniSpace  # noqa: E402
from archsampler_client.integrations.nni import ArchSamplerTuner  # noqa: E402

# NNI's documentation, "Search Space": the example, then one entry of every bounded type.
DOC_EXAMPLE = {
    "dropout_rate": {"_type": "uniform", "_value": [0.1, 0.5]},
    "conv_size": {"_type": "choice", "_value": [2, 3, 5, 7]},
    "hidden_size": {"_type": "choice", "_value": [124, 512, 1024]},
    "batch_size": {"_type": "choice", "_value": [50, 250, 500]},
    "learning_rate": {"_type": "uniform", "_value": [0.0001, 0.1]},
}
EVERY_TYPE = {
    "optimizer": {"_type": "choice", "_value": ["Adam", "SGD", None, 0.5]},
    "layers": {"_type": "randint", "_value": [1, 6]},
    "momentum": {"_type": "uniform", "_value": [0.0, 0.99]},
    "batch": {"_type": "quniform", "_value": [10, 105, 20]},
    "lr": {"_type": "loguniform", "_value": [1e-5, 1e-1]},
    "width": {"_type": "qloguniform", "_value": [8, 1024, 8]},
}
# NNI's examples/trials/mnist-nested-search-space/search_space.json (two of its layers).
_POOL = {"_type": "choice", "_value": [2, 3, 5]}
NESTED = {
    f"layer{i}": {
        "_type": "choice",
        "_value": [
            {"_name": "Empty"},
            {"_name": "Conv", "kernel_size": {"_type": "choice", "_value": [1, 2, 3, 5]}},
            {"_name": "Max_pool", "pooling_size": _POOL},
            {"_name": "Avg_pool", "pooling_size": _POOL},
        ],
    }
    for i in range(2)
}


def check_every_type(p: dict[str, Any]) -> None:
    assert p["optimizer"] in ("Adam", "SGD", None, 0.5)
    assert type(p["layers"]) is int and 1 <= p["layers"] < 6
    assert 0.0 <= p["momentum"] <= 0.99 and 1e-5 <= p["lr"] <= 1e-1
    assert p["batch"] in (10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 105.0)  # clip(round(x/q)*q)
    assert 8 <= p["width"] <= 1024 and p["width"] % 8 == 0


def drive(tuner: ArchSamplerTuner, first_id: int, n: int) -> list[tuple[int, dict]]:
    """NNI's `handle_request_trial_jobs`: ask for `n` parameter sets at once."""
    ids = list(range(first_id, first_id + n))
    return list(zip(ids, tuner.generate_multiple_parameters(ids), strict=False))


def test_documented_spaces_propose_report_and_fail(client) -> None:
    tuner = ArchSamplerTuner(client, study="nni-doc", strategy="lanas", optimize_mode="minimize")
    tuner.update_search_space(DOC_EXAMPLE)
    assert client.study("nni-doc").info().config["goal"] == "MINIMIZE"
    seen = []
    for rnd in range(3):
        batch = drive(tuner, 10 * rnd, 4)
        assert len(batch) == 4
        for pid, params in batch:
            assert set(params) == set(DOC_EXAMPLE)
            assert 0.1 <= params["dropout_rate"] <= 0.5 and params["conv_size"] in (2, 3, 5, 7)
            seen.append(params)
            if pid % 10 == 3:  # a trial that crashed: no final result, then trial_end
                tuner.trial_end(pid, False)
                continue
            loss = params["dropout_rate"] + math.log10(params["learning_rate"]) ** 2
            tuner.receive_trial_result(pid, params, {"default": loss, "acc": 0.5})
            tuner.trial_end(pid, True)
    trials = list(client.study("nni-doc").trials())
    assert len(trials) == 12 and len({t.arch_hash for t in trials}) == 12
    space = NniSpace(DOC_EXAMPLE)
    for t in trials:
        pid = int(t.metadata["nni_parameter_id"])
        params = space.parameters(t.params)
        assert params in seen
        if pid % 10 == 3:
            assert (
                t.state == "FAILED" and t.metadata["reason"] == "NNI trial ended: failed / killed"
            )
        else:
            assert t.state == "COMPLETED"
            assert t.value == params["dropout_rate"] + math.log10(params["learning_rate"]) ** 2


def test_every_bounded_type_and_unsupported_ones(client) -> None:
    tuner = ArchSamplerTuner(client, study="nni-types", strategy="random", seed=1)
    tuner.update_search_space(EVERY_TYPE)
    for pid, params in drive(tuner, 0, 30):
        check_every_type(params)
        tuner.receive_trial_result(pid, params, float(params["layers"]))
    for kind in ("normal", "qnormal", "lognormal", "qlognormal"):
        with pytest.raises(ValueError, match=rf"'x'.*{kind}.*not supported"):
            tuner.update_search_space({"x": {"_type": kind, "_value": [0, 1]}})


def test_nested_choices_become_conditions_and_import_data_is_told(client) -> None:
    tuner = ArchSamplerTuner(client, study="nni-nested", strategy="random", seed=2)
    tuner.update_search_space(NESTED)
    spec = {p["name"]: p for p in NniSpace(NESTED).spec["params"]}
    assert spec["layer0.Conv.kernel_size"]["condition"] == {
        "param": "layer0",
        "op": "==",
        "value": "Conv",
    }
    imported = [
        {"parameter": {"layer0": {"_name": "Conv", "kernel_size": 3},
                       "layer1": {"_name": "Empty"}},
         "value": 0.9},
        {"parameter": {"layer0": {"_name": "Avg_pool", "pooling_size": 5},
                       "layer1": {"_name": "Max_pool", "pooling_size": 2}},
         "value": {"default": 0.7}},
    ]  # fmt: skip
    tuner.import_data(imported)
    told = [t for t in client.study("nni-nested").trials() if t.state == "COMPLETED"]
    assert sorted(t.value for t in told) == [0.7, 0.9]
    # 4 options per layer: 1 + 4 + 3 + 3 = 11 per layer, 121 in all; 2 are told.
    batch = drive(tuner, 0, 119)
    assert len(batch) == 119
    got = [p for _, p in batch] + [e["parameter"] for e in imported]
    for params in got:
        for layer in ("layer0", "layer1"):
            option = params[layer]
            extra = {"Empty": set(), "Conv": {"kernel_size"}}.get(
                option["_name"], {"pooling_size"}
            )
            assert set(option) == {"_name"} | extra
    assert len({repr(sorted(p.items())) for p in got}) == 121
    with pytest.raises(nni.NoMoreTrialError):
        tuner.generate_parameters(1000)
    assert tuner.generate_multiple_parameters([1001, 1002]) == []


def test_unran_proposals_are_given_back_when_nni_exits(client) -> None:
    """NNI's manager may ask for a parameter set it never submits; on exit it is released."""
    tuner = ArchSamplerTuner(client, study="nni-exit", strategy="random")
    tuner.update_search_space(DOC_EXAMPLE)
    (pid, params), *unran = drive(tuner, 0, 3)
    tuner.receive_trial_result(pid, params, 0.5)
    tuner.trial_end(pid, True)
    tuner._on_exit()  # what NNI's dispatcher calls when it stops
    states = sorted(t.state for t in client.study("nni-exit").trials())
    assert states == ["COMPLETED", "STALE", "STALE"] and len(unran) == 2
