"""Katib's suggestion API end to end, driven as Katib's controller drives it.

A client built from Katib's own generated stubs (see conftest.py) calls a real
`archsampler serve --katib-port` on loopback: 3 rounds of GetSuggestions, each carrying the
earlier rounds' trials SUCCEEDED with metrics, for a hyperparameter Experiment and a
nas_config one; then checks every assignment (valid, new), every observation in the study
(through archsampler's own API), idempotent repeats, refused settings and gRPC health.
Imports no server code: runs in a venv with kubeflow-katib (protobuf < 5).
"""

from __future__ import annotations

import ast
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from katib_support import KatibApi
from katib_support import KatibServer
from katib_support import katib_api

from archsampler_client import Client

ROOT = Path(__file__).resolve().parents[2]
BATCH = 3
ROUNDS = 3


@pytest.fixture(scope="module")
def api() -> KatibApi:
    return katib_api()


@pytest.fixture(scope="module")
def stub(api: KatibApi, katib_server: KatibServer) -> Any:
    channel = grpc.insecure_channel(katib_server.katib_target)
    yield api.grpc.SuggestionStub(channel)
    channel.close()


# -- experiments ----------------------------------------------------------------------------
def setting(k: Any, name: str, value: str) -> Any:
    return k.AlgorithmSetting(name=name, value=value)


def spec(k: Any, name: str, kind: str, **space: Any) -> Any:
    return k.ParameterSpec(
        name=name,
        parameter_type=getattr(k, kind),
        feasible_space=k.FeasibleSpace(**space),
    )


def hpo_experiment(k: Any, name: str, settings: list[Any]) -> Any:
    return k.Experiment(
        name=name,
        spec=k.ExperimentSpec(
            objective=k.ObjectiveSpec(type=k.MAXIMIZE, objective_metric_name="accuracy"),
            algorithm=k.AlgorithmSpec(algorithm_name="archsampler", algorithm_settings=settings),
            parameter_specs=k.ExperimentSpec.ParameterSpecs(
                parameters=[
                    spec(k, "lr", "DOUBLE", min="0.0001", max="0.1", distribution=k.LOG_UNIFORM),
                    spec(k, "dropout", "DOUBLE", min="0.0", max="0.5"),
                    spec(k, "momentum", "DOUBLE", min="0.5", max="0.9", step="0.1"),
                    spec(k, "layers", "INT", min="1", max="9", step="2"),
                    spec(k, "batch", "DISCRETE", list=["16", "32", "64"]),
                    spec(k, "optimizer", "CATEGORICAL", list=["sgd", "adam", "rmsprop"]),
                ]
            ),
        ),
    )


def check_hpo(a: dict[str, str]) -> tuple[Any, ...]:
    """Every value inside its Katib feasible space; the assignment as a hashable key."""
    assert set(a) == {"lr", "dropout", "momentum", "layers", "batch", "optimizer"}
    assert 0.0001 <= float(a["lr"]) <= 0.1
    assert 0.0 <= float(a["dropout"]) <= 0.5
    assert a["momentum"] in {"0.5", "0.6", "0.7", "0.8", "0.9"}
    assert int(a["layers"]) in {1, 3, 5, 7, 9}
    assert a["batch"] in {"16", "32", "64"}
    assert a["optimizer"] in {"sgd", "adam", "rmsprop"}
    return tuple(sorted(a.items()))


NAS_LAYERS = 4
OPS = [  # (type, [(name, kind, space)]): ENAS numbers type x product of values, in order
    (
        "convolution",
        [
            ("filter_size", "CATEGORICAL", {"list": ["3", "5"]}),
            ("num_filter", "CATEGORICAL", {"list": ["32", "64"]}),
            ("stride", "INT", {"min": "1", "max": "2"}),
        ],
    ),
    (
        "separable_convolution",
        [
            ("filter_size", "CATEGORICAL", {"list": ["3", "5", "7"]}),
            ("dilation", "DOUBLE", {"min": "1.0", "max": "2.0", "step": "0.5"}),
        ],
    ),
    ("reduction", [("reduction_type", "CATEGORICAL", {"list": ["max_pooling", "avg_pooling"]})]),
]


def expected_embedding() -> list[dict[str, Any]]:
    """ENAS's operation ids for OPS, written out by this test's own enumeration."""
    table = []
    for kind, params in OPS:
        grids = []
        for _, typ, space in params:
            if typ == "CATEGORICAL":
                grids.append(space["list"])
            elif typ == "INT":
                grids.append(list(range(int(space["min"]), int(space["max"]) + 1)))
            else:
                lo, hi, st = (float(space[x]) for x in ("min", "max", "step"))
                grids.append([lo + i * st for i in range(int(round((hi - lo) / st)) + 1)])
        for values in itertools.product(*grids):
            names = [p[0] for p in params]
            table.append(
                {
                    "opt_id": len(table),
                    "opt_type": kind,
                    "opt_params": dict(zip(names, values, strict=True)),
                }
            )
    return table


def nas_experiment(k: Any, name: str, settings: list[Any]) -> Any:
    operations = [
        k.Operation(
            operation_type=kind,
            parameter_specs=k.Operation.ParameterSpecs(
                parameters=[spec(k, n, typ, **space) for n, typ, space in params]
            ),
        )
        for kind, params in OPS
    ]
    return k.Experiment(
        name=name,
        spec=k.ExperimentSpec(
            objective=k.ObjectiveSpec(
                type=k.MAXIMIZE, objective_metric_name="Validation-Accuracy"
            ),
            algorithm=k.AlgorithmSpec(algorithm_name="archsampler", algorithm_settings=settings),
            nas_config=k.NasConfig(
                graph_config=k.GraphConfig(
                    num_layers=NAS_LAYERS, input_sizes=[32, 32, 3], output_sizes=[10]
                ),
                operations=k.NasConfig.Operations(operation=operations),
            ),
        ),
    )


def check_nas(a: dict[str, str]) -> tuple[Any, ...]:
    """Katib ENAS's format: architecture and nn_config, single-quoted JSON, consistent."""
    assert set(a) == {"architecture", "nn_config"}
    assert '"' not in a["architecture"] and '"' not in a["nn_config"]
    arch = json.loads(a["architecture"].replace("'", '"'))
    table = expected_embedding()
    assert len(arch) == NAS_LAYERS
    for layer, entry in enumerate(arch):
        assert len(entry) == layer + 1
        assert 0 <= entry[0] < len(table)
        assert all(flag in (0, 1) for flag in entry[1:])
    config = json.loads(a["nn_config"].replace("'", '"'))
    assert config["num_layers"] == NAS_LAYERS
    assert config["input_sizes"] == [32, 32, 3] and config["output_sizes"] == [10]
    used = list(dict.fromkeys(entry[0] for entry in arch))
    assert list(config["embedding"]) == [str(op) for op in used]
    for op in used:
        got = config["embedding"][str(op)]
        want = table[op]
        assert got["opt_id"] == want["opt_id"] and got["opt_type"] == want["opt_type"]
        assert got["opt_params"].keys() == want["opt_params"].keys()
        for key, value in want["opt_params"].items():
            if isinstance(value, float):
                assert math.isclose(got["opt_params"][key], value)
            else:
                assert got["opt_params"][key] == value
    return tuple(map(tuple, arch))


# -- a round of Katib's controller -----------------------------------------------------------
def katib_trial(k: Any, name: str, assignments: Any, metric: str, value: float | None) -> Any:
    """A Trial as Katib sends it: RUNNING, or SUCCEEDED with the objective metric."""
    status = k.TrialStatus(condition=k.TrialStatus.RUNNING)
    if value is not None:
        status = k.TrialStatus(
            condition=k.TrialStatus.SUCCEEDED,
            observation=k.Observation(metrics=[k.Metric(name=metric, value=repr(value))]),
        )
    return k.Trial(
        name=name,
        spec=k.TrialSpec(
            objective=k.ObjectiveSpec(type=k.MAXIMIZE, objective_metric_name=metric),
            parameter_assignments=k.TrialSpec.ParameterAssignments(assignments=assignments),
        ),
        status=status,
    )


def drive(k: Any, stub: Any, experiment: Any, metric: str, check: Any) -> tuple[list, Any]:
    """ROUNDS rounds of BATCH suggestions; returns (trials sent last, the last request)."""
    sent: list[tuple[str, Any, float]] = []  # (trial name, assignments, value)
    seen: set[tuple[Any, ...]] = set()
    request = None
    for round_ in range(ROUNDS):
        trials = [katib_trial(k, n, a, metric, v) for n, a, v in sent]
        request = k.GetSuggestionsRequest(
            experiment=experiment,
            trials=trials,
            current_request_number=BATCH,
            total_request_number=BATCH * (round_ + 1),
        )
        reply = stub.GetSuggestions(request)
        assert len(reply.parameter_assignments) == BATCH
        for i, pa in enumerate(reply.parameter_assignments):
            key = check({x.name: x.value for x in pa.assignments})
            assert key not in seen, f"round {round_}: assignment {key} was suggested before"
            seen.add(key)
            value = round(0.3 + 0.05 * len(sent), 6)
            sent.append((f"{experiment.name}-r{round_}-{i}", pa.assignments, value))
    return sent, request


def study_trials(target: str, experiment: str) -> list[Any]:
    with Client(target) as client:
        return list(client.study(f"katib-{experiment}").trials())


@pytest.mark.parametrize("kind", ["hpo", "nas"])
def test_three_rounds_every_assignment_new_every_observation_stored(
    kind: str, api: KatibApi, stub: Any, katib_server: KatibServer
) -> None:
    k = api.pb2
    name = f"acc-{kind}"
    if kind == "hpo":
        experiment = hpo_experiment(k, name, [setting(k, "strategy", "evolution")])
        metric, check = "accuracy", check_hpo
    else:
        experiment = nas_experiment(k, name, [setting(k, "strategy", "lanas")])
        metric, check = "Validation-Accuracy", check_nas
    stub.ValidateAlgorithmSettings(k.ValidateAlgorithmSettingsRequest(experiment=experiment))
    sent, last = drive(k, stub, experiment, metric, check)

    trials = study_trials(katib_server.target, name)
    reported = sent[: BATCH * (ROUNDS - 1)]  # rounds 1-2 came back SUCCEEDED in round 3
    by_katib = {t.metadata.get("katib.trial"): t for t in trials}
    for trial_name, _, value in reported:
        stored = by_katib[trial_name]
        assert stored.state.name == "COMPLETED" and stored.value == value
    assert len(trials) == BATCH * ROUNDS  # nothing but what was suggested
    pending = [t for t in trials if t.state.name == "PENDING"]
    assert len(pending) == BATCH  # the last round's, still running in Katib

    # Katib retries the last request after a lost reply: the same suggestions, no change
    again = stub.GetSuggestions(last)
    assert [[(a.name, a.value) for a in pa.assignments] for pa in again.parameter_assignments] == [
        [(a.name, a.value) for a in s[1]] for s in sent[-BATCH:]
    ]
    assert study_trials(katib_server.target, name) == trials


def test_failed_early_stopped_and_unknown_trials(
    api: KatibApi, stub: Any, katib_server: KatibServer
) -> None:
    k = api.pb2
    experiment = hpo_experiment(k, "outcomes", [setting(k, "strategy", "random")])
    reply = stub.GetSuggestions(
        k.GetSuggestionsRequest(experiment=experiment, current_request_number=4)
    )
    assignments = [pa.assignments for pa in reply.parameter_assignments]
    proposed = study_trials(katib_server.target, "outcomes")
    failed = katib_trial(k, "t-failed", assignments[0], "accuracy", None)
    failed.status.condition = k.TrialStatus.FAILED
    stopped = katib_trial(k, "t-stopped", assignments[1], "accuracy", 0.5)
    stopped.status.condition = k.TrialStatus.EARLYSTOPPED
    no_metric = katib_trial(k, "t-nometric", assignments[2], "loss", 0.1)
    told = [
        k.ParameterAssignment(name=n, value=v)
        for n, v in [("lr", "0.01"), ("dropout", "0.25"), ("momentum", "0.7"), ("layers", "3"),
                     ("batch", "32"), ("optimizer", "sgd")]
    ]  # fmt: skip
    manual = katib_trial(k, "t-manual", told, "accuracy", 0.75)
    running = katib_trial(k, "t-running", assignments[3], "accuracy", None)
    request = k.GetSuggestionsRequest(
        experiment=experiment,
        trials=[failed, stopped, no_metric, manual, running],
        current_request_number=1,
    )
    stub.GetSuggestions(request)
    trials = {
        t.metadata.get("katib.trial"): t for t in study_trials(katib_server.target, "outcomes")
    }
    assert trials["t-failed"].state.name == "FAILED"
    assert trials["t-failed"].metadata["reason"] == "katib trial FAILED"
    assert trials["t-stopped"].state.name == "STOPPED"  # Katib's early stopping: partial
    assert trials["t-stopped"].value == 0.5  # evidence with its last objective value
    assert trials["t-stopped"].metadata["reason"] == "katib trial EARLYSTOPPED"
    assert trials["t-nometric"].state.name == "FAILED"
    assert "without the objective metric 'accuracy'" in trials["t-nometric"].metadata["reason"]
    assert trials["t-manual"].state.name == "COMPLETED" and trials["t-manual"].value == 0.75
    assert (
        trials["t-manual"].arch
        == "lr=0.01,dropout=0.25,momentum=0.7,layers=3,batch=32,optimizer=sgd"
    )
    # a running Katib trial keeps its archsampler trial PENDING: its lease was extended
    lease = {t.id: t.lease_expires_at for t in proposed}
    now = study_trials(katib_server.target, "outcomes")
    (pending,) = [t for t in now if t.state.name == "PENDING" and t.id in lease]
    assert pending.lease_expires_at > lease[pending.id]

    def outcomes() -> list[tuple[Any, ...]]:
        return [
            (t.id, t.state, t.value, t.arch, t.metadata)
            for t in study_trials(katib_server.target, "outcomes")
        ]

    before = outcomes()
    request.total_request_number = 5  # the same trials again: nothing new is reported
    stub.GetSuggestions(request)
    stub.GetSuggestions(request)
    after = outcomes()
    assert after[: len(before)] == before and len(after) == len(before) + 1


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ([("strategy", "evolution"), ("population", "0")], "'population'"),
        ([("strategy", "random"), ("bogus", "1")], "'bogus'"),
        ([("strategy", "no-such-strategy")], "'no-such-strategy'"),
        ([("seed", "-3")], "'seed'"),
        ([("strategy", "random"), ("strategy", "lanas")], "'strategy' is repeated"),
    ],
)
def test_bad_algorithm_setting_is_invalid_argument(
    settings: list[tuple[str, str]], named: str, api: KatibApi, stub: Any
) -> None:
    k = api.pb2
    for make in (hpo_experiment, nas_experiment):
        experiment = make(k, "bad-settings", [setting(k, n, v) for n, v in settings])
        validate = k.ValidateAlgorithmSettingsRequest(experiment=experiment)
        suggest = k.GetSuggestionsRequest(experiment=experiment, current_request_number=1)
        for call, request in (
            (stub.ValidateAlgorithmSettings, validate),
            (stub.GetSuggestions, suggest),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                call(request)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "algorithm_settings" in caught.value.details()
            assert named in caught.value.details()


def _health(target: str, service: str) -> int:
    """grpc.health.v1.Health/Check by hand (HealthCheckRequest{service}: field 1, string)."""
    body = service.encode()
    with grpc.insecure_channel(target) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        reply = check(b"\x0a" + bytes([len(body)]) + body if body else b"", timeout=10)
    return reply[1] if reply else 0  # HealthCheckResponse{status: field 1, enum}


@pytest.mark.parametrize("service", ["", "manager.v1beta1.Suggestion", "api.v1.beta1.Suggestion"])
def test_health_serving_on_the_katib_port(service: str, katib_server: KatibServer) -> None:
    assert _health(katib_server.katib_target, service) == 1  # SERVING


def _serialized_descriptor(path: Path) -> descriptor_pb2.FileDescriptorProto:
    text = path.read_text()
    blob = re.search(r"AddSerializedFile\((b'.*?')\)\n", text, re.S)
    assert blob is not None, path
    return descriptor_pb2.FileDescriptorProto.FromString(ast.literal_eval(blob.group(1)))


def _contract(fd: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """The wire contract: messages, fields, enums, services (not the file name or json names)."""
    fd.ClearField("name")
    fd.ClearField("source_code_info")
    todo = list(fd.message_type)
    while todo:
        message = todo.pop()
        for field in message.field:
            field.ClearField("json_name")
        todo.extend(message.nested_type)
    return fd


def test_vendored_api_proto_is_the_katib_contract(api: KatibApi) -> None:
    ours = ROOT / "service" / "archsampler" / "katib" / "_proto"
    theirs = descriptor_pb2.FileDescriptorProto()
    api.pb2.DESCRIPTOR.CopyToProto(theirs)
    for copy in ("_protobuf4", "_protobuf6"):
        assert _contract(_serialized_descriptor(ours / copy / "api_pb2.py")) == _contract(theirs)
