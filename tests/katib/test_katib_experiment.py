"""Katib Experiments that cannot become a study: each refused with INVALID_ARGUMENT naming the
field, by a real server's Katib port; and the ENAS numbering / format, exactly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from archsampler.katib._proto import api_pb2 as k
from archsampler.katib._proto import api_pb2_grpc as kg
from archsampler.katib.enas import NasCodec
from archsampler.testing import ServerThread

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    db = tmp_path_factory.mktemp("katib") / "studies.db"
    with ServerThread(db, katib_port=0, default_strategy="random") as server:
        assert server.running is not None and server.running.katib is not None
        with grpc.insecure_channel(f"127.0.0.1:{server.running.katib.port}") as channel:
            yield kg.SuggestionStub(channel)


def param(name: str, kind: int, **space: Any) -> Any:
    return k.ParameterSpec(name=name, parameter_type=kind, feasible_space=k.FeasibleSpace(**space))


def experiment(*params: Any, name: str = "exp", nas: Any = None, settings=()) -> Any:
    spec = k.ExperimentSpec(
        objective=k.ObjectiveSpec(type=k.MAXIMIZE, objective_metric_name="acc"),
        algorithm=k.AlgorithmSpec(
            algorithm_name="archsampler",
            algorithm_settings=[k.AlgorithmSetting(name=n, value=v) for n, v in settings],
        ),
        parameter_specs=k.ExperimentSpec.ParameterSpecs(parameters=list(params)),
    )
    if nas is not None:
        spec.nas_config.CopyFrom(nas)
    return k.Experiment(name=name, spec=spec)


def nas_config(layers: int = 2, ops: list[Any] | None = None, sizes=(32, 32, 3)) -> Any:
    if ops is None:
        ops = [operation("conv", param("filter_size", k.CATEGORICAL, list=["3", "5"]))]
    return k.NasConfig(
        graph_config=k.GraphConfig(num_layers=layers, input_sizes=sizes, output_sizes=[10]),
        operations=k.NasConfig.Operations(operation=ops),
    )


def operation(kind: str, *params: Any) -> Any:
    return k.Operation(
        operation_type=kind, parameter_specs=k.Operation.ParameterSpecs(parameters=list(params))
    )


def refused(stub: Any, exp: Any, count: int = 1) -> str:
    """GetSuggestions and ValidateAlgorithmSettings both refuse `exp`; the message."""
    details = set()
    suggest = k.GetSuggestionsRequest(experiment=exp, current_request_number=count)
    for call, request in (
        (stub.ValidateAlgorithmSettings, k.ValidateAlgorithmSettingsRequest(experiment=exp)),
        (stub.GetSuggestions, suggest),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            call(request, timeout=60)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
        details.add(caught.value.details())
    assert len(details) == 1
    return details.pop()


LR = param("lr", k.DOUBLE, min="0.001", max="0.1")
BAD_EXPERIMENTS = [
    (experiment(LR, name=""), "experiment.name must not be empty"),
    (experiment(LR, name="a b"), "experiment.name (prefixed 'katib-') 'katib-a b' may only use"),
    (experiment(LR, name="x" * 130), "experiment.name (prefixed 'katib-') is 136 characters"),
    (experiment(), "experiment.spec.parameter_specs is empty and there is no nas_config"),
    (
        experiment(param("1lr", k.DOUBLE, min="0", max="1")),
        "parameters[0].name '1lr' must be 1..64 characters",
    ),
    (
        experiment(LR, LR),
        "experiment.spec.parameter_specs.parameters[1].name 'lr' is repeated",
    ),
    (
        experiment(param("lr", k.DOUBLE, min="abc", max="1")),
        "parameters[0].feasible_space.min 'abc' is not a number",
    ),
    (
        experiment(param("lr", k.DOUBLE, min="nan", max="1")),
        "parameters[0].feasible_space.min must be finite",
    ),
    (
        experiment(param("lr", k.DOUBLE, min="2", max="1")),
        "parameters[0]: min 2.0 is above max 1.0",
    ),
    (
        experiment(param("lr", k.DOUBLE, min="0", max="1", step="0.0001")),
        "parameters[0].feasible_space: min..max by step has 10001 values; the limit is 1024",
    ),
    (
        experiment(param("lr", k.DOUBLE, min="0", max="1", step="-1")),
        "parameters[0].feasible_space.step must be > 0",
    ),
    (
        experiment(param("lr", k.DOUBLE, min="0", max="1", distribution=k.NORMAL)),
        "parameters[0].feasible_space.distribution NORMAL is not supported",
    ),
    (
        experiment(param("lr", k.DOUBLE, min="0", max="1", distribution=k.LOG_UNIFORM)),
        "params[0].low: must be > 0 when log is true",
    ),
    (
        experiment(param("n", k.INT, min="1", max="5", step="0")),
        "parameters[0]: needs min <= max and step >= 1, got min=1 max=5 step=0",
    ),
    (experiment(param("n", k.INT, min="1.5", max="5")), "min '1.5' is not an integer"),
    (experiment(param("c", k.CATEGORICAL)), "parameters[0].feasible_space.list is empty"),
    (
        experiment(param("c", k.DISCRETE, list=["1", "two"])),
        "parameters[0].feasible_space.list value 'two' is not a number",
    ),
    (
        experiment(param("c", k.CATEGORICAL, list=["a,b"])),
        "experiment.spec (as a study space): ",
    ),
    (experiment(param("c", 0)), "parameters[0].parameter_type must be DOUBLE, INT,"),
    (experiment(LR, nas=nas_config()), "set parameter_specs or nas_config, not both"),
    (experiment(nas=nas_config(layers=23)), "graph_config.num_layers must be in 1..22, got 23"),
    (experiment(nas=nas_config(sizes=())), "graph_config.input_sizes needs 1..64 entries, got 0"),
    (experiment(nas=nas_config(ops=[])), "experiment.spec.nas_config.operations is empty"),
    (
        experiment(nas=nas_config(ops=[operation("conv")])),
        "operations.operation[0].parameter_specs is empty",
    ),
    (
        experiment(nas=nas_config(ops=[operation("con'v", param("s", k.INT, min="1", max="2"))])),
        'operation[0].operation_type "con\'v" must be 1..256 characters without quotes',
    ),
    (
        experiment(nas=nas_config(ops=[operation("conv", param("s", k.DISCRETE, list=["1"]))])),
        "DISCRETE operation parameters are not numbered by Katib's ENAS",
    ),
    (
        experiment(
            nas=nas_config(
                ops=[
                    operation(
                        "conv",
                        param("a", k.INT, min="1", max="40"),
                        param("b", k.INT, min="1", max="40"),
                    )
                ]
            )
        ),
        "the operations have more than 1024 ids",
    ),
    (
        experiment(nas=nas_config(ops=[operation("c", param("d", k.DOUBLE, min="0", max="1"))])),
        "feasible_space.step is required for DOUBLE",
    ),
    (
        experiment(
            nas=nas_config(
                layers=16,
                ops=[operation("c", param("a", k.INT, min="1", max="300"))],
            )
        ),
        "16 layers × 300 operation ids = 4800 choices; the limit is 4096",
    ),
    (
        experiment(LR, settings=[("s", "x" * 4097)]),
        "algorithm_settings[0] 's': the value is longer than 4096 characters",
    ),
    (
        experiment(LR, settings=[(f"s{i}", "1") for i in range(65)]),
        "algorithm_settings: 65 settings; the limit is 64",
    ),
]


@pytest.mark.parametrize(("exp", "message"), BAD_EXPERIMENTS)
def test_bad_experiment_is_invalid_argument_naming_the_field(
    stub: Any, exp: Any, message: str
) -> None:
    assert message in refused(stub, exp)


def test_bad_objective_and_request_number(stub: Any) -> None:
    exp = experiment(LR)
    exp.spec.objective.type = k.UNKNOWN
    assert "experiment.spec.objective.type must be MAXIMIZE or MINIMIZE" in refused(stub, exp)
    exp = experiment(LR)
    exp.spec.objective.objective_metric_name = ""
    assert "objective_metric_name is empty" in refused(stub, exp)
    for count in (0, 1001):
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetSuggestions(
                k.GetSuggestionsRequest(experiment=experiment(LR), current_request_number=count)
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"current_request_number must be in 1..1000, got {count}" in caught.value.details()


def test_exhausted_space_and_changed_experiment(stub: Any) -> None:
    small = experiment(param("c", k.CATEGORICAL, list=["a", "b"]), name="small")
    reply = stub.GetSuggestions(
        k.GetSuggestionsRequest(experiment=small, current_request_number=2)
    )
    assert sorted(pa.assignments[0].value for pa in reply.parameter_assignments) == ["a", "b"]
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetSuggestions(k.GetSuggestionsRequest(experiment=small, current_request_number=1))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    changed = experiment(param("c", k.CATEGORICAL, list=["a", "b", "c"]), name="small")
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetSuggestions(k.GetSuggestionsRequest(experiment=changed, current_request_number=1))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "katib-small" in caught.value.details()


def test_experiment_created_again_gets_new_suggestions(stub: Any) -> None:
    """Katib numbers requests per Experiment: the same name created again over the same
    database sends total_request_number 2 again, and must not get the trials that ran."""
    exp = experiment(param("n", k.INT, min="1", max="50"), name="again")
    first = k.GetSuggestionsRequest(
        experiment=exp, current_request_number=2, total_request_number=2
    )
    old = stub.GetSuggestions(first)
    assert stub.GetSuggestions(first) == old  # a retry after a lost reply: the same trials
    finished = [
        k.Trial(
            name=f"again-old-{i}",
            spec=k.TrialSpec(parameter_assignments=k.TrialSpec.ParameterAssignments(
                assignments=pa.assignments)),
            status=k.TrialStatus(condition=k.TrialStatus.SUCCEEDED, observation=k.Observation(
                metrics=[k.Metric(name="acc", value="0.5")])),
        )
        for i, pa in enumerate(old.parameter_assignments)
    ]  # fmt: skip
    stub.GetSuggestions(
        k.GetSuggestionsRequest(
            experiment=exp, trials=finished, current_request_number=1, total_request_number=3
        )
    )
    new = stub.GetSuggestions(first)  # the Experiment again, from its first request
    values = lambda reply: {pa.assignments[0].value for pa in reply.parameter_assignments}  # noqa: E731
    assert len(values(new)) == 2 and not values(new) & values(old)


def _katib_enas_example() -> Any:
    """deploy/katib/experiment-nas.yaml's nas_config (Katib's own ENAS example)."""
    from test_katib_deploy import experiment_message

    doc = yaml.safe_load((ROOT / "deploy" / "katib" / "experiment-nas.yaml").read_text())
    return experiment_message(doc).spec.nas_config


def test_enas_operation_ids_follow_katib_numbering() -> None:
    codec = NasCodec(_katib_enas_example())
    ops = codec.ops
    assert len(ops) == 3 * 5 * 2 + 3 * 5 * 2 * 2 + 3 * 2 * 2 + 2 * 2 == 106
    assert ops[0].as_dict() == {
        "opt_id": 0,
        "opt_type": "convolution",
        "opt_params": {"filter_size": "3", "num_filter": "32", "stride": "1"},
    }
    assert ops[1].opt_params == {"filter_size": "3", "num_filter": "32", "stride": "2"}
    assert ops[2].opt_params == {"filter_size": "3", "num_filter": "48", "stride": "1"}
    assert ops[29].opt_params == {"filter_size": "7", "num_filter": "128", "stride": "2"}
    assert ops[30].opt_type == "separable_convolution"
    assert ops[30].opt_params == {
        "filter_size": "3",
        "num_filter": "32",
        "stride": "1",
        "depth_multiplier": 1,
    }
    assert ops[90].opt_type == "depthwise_convolution"
    assert ops[105].as_dict() == {
        "opt_id": 105,
        "opt_type": "reduction",
        "opt_params": {"reduction_type": "avg_pooling", "pool_size": 3},
    }


def test_enas_assignments_are_katib_enas_text() -> None:
    nas = nas_config(
        layers=3,
        ops=[
            operation("convolution", param("filter_size", k.CATEGORICAL, list=["3", "5"])),
            operation("dilated", param("rate", k.DOUBLE, min="0.1", max="0.3", step="0.1")),
        ],
    )
    codec = NasCodec(nas)
    params = {
        "layer_0_op": "2",
        "layer_1_op": "0",
        "layer_1_skip_0": 1,
        "layer_2_op": "2",
        "layer_2_skip_0": 0,
        "layer_2_skip_1": 1,
    }
    assert codec.to_assignments(params) == [
        ("architecture", "[[2], [0, 1], [2, 0, 1]]"),
        (
            "nn_config",
            "{'num_layers': 3, 'input_sizes': [32, 32, 3], 'output_sizes': [10], 'embedding': "
            "{'2': {'opt_id': 2, 'opt_type': 'dilated', 'opt_params': {'rate': 0.1}}, "
            "'0': {'opt_id': 0, 'opt_type': 'convolution', 'opt_params': {'filter_size': '3'}}}}",
        ),
    ]
    assert [op.opt_params for op in codec.ops[2:]] == [{"rate": 0.1}, {"rate": 0.2}, {"rate": 0.3}]
    assert codec.from_assignments({"architecture": "[[2], [0, 1], [2, 0, 1]]"}) == params
