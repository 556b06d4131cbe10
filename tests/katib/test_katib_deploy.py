"""deploy/katib and the Dockerfile: what they name is what a real server accepts.

The Experiments are converted to Katib's gRPC message as Katib's controller does and sent to
a real server's Katib port (`ARCHSAMPLER_KATIB_PORT`, as the katib-config entry sets it);
the HEALTHCHECK command of the Dockerfile is run against it.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from archsampler.katib._proto import api_pb2 as k
from archsampler.katib._proto import api_pb2_grpc as kg
from archsampler.testing import ServerProcess
from archsampler.testing.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "katib"
EXPERIMENTS = sorted(DEPLOY.glob("experiment-*.yaml"))
KINDS = {"double": k.DOUBLE, "int": k.INT, "discrete": k.DISCRETE, "categorical": k.CATEGORICAL}
DISTRIBUTIONS = {"uniform": k.UNIFORM, "logUniform": k.LOG_UNIFORM}


def _parameter(p: dict[str, Any]) -> Any:
    space = p["feasibleSpace"]
    return k.ParameterSpec(
        name=p["name"],
        parameter_type=KINDS[p["parameterType"]],
        feasible_space=k.FeasibleSpace(
            min=space.get("min", ""),
            max=space.get("max", ""),
            step=space.get("step", ""),
            list=space.get("list", []),
            distribution=DISTRIBUTIONS.get(space.get("distribution", ""), 0),
        ),
    )


def experiment_message(doc: dict[str, Any]) -> Any:
    """The Experiment CR as Katib's controller sends it (ConvertExperiment)."""
    spec = doc["spec"]
    message = k.Experiment(
        name=doc["metadata"]["name"],
        spec=k.ExperimentSpec(
            objective=k.ObjectiveSpec(
                type=k.MAXIMIZE if spec["objective"]["type"] == "maximize" else k.MINIMIZE,
                objective_metric_name=spec["objective"]["objectiveMetricName"],
            ),
            algorithm=k.AlgorithmSpec(
                algorithm_name=spec["algorithm"]["algorithmName"],
                algorithm_settings=[
                    k.AlgorithmSetting(name=s["name"], value=s["value"])
                    for s in spec["algorithm"].get("algorithmSettings", [])
                ],
            ),
            parameter_specs=k.ExperimentSpec.ParameterSpecs(
                parameters=[_parameter(p) for p in spec.get("parameters", [])]
            ),
        ),
    )
    nas = spec.get("nasConfig")
    if nas:
        graph = nas["graphConfig"]
        message.spec.nas_config.CopyFrom(
            k.NasConfig(
                graph_config=k.GraphConfig(
                    num_layers=graph["numLayers"],
                    input_sizes=graph["inputSizes"],
                    output_sizes=graph["outputSizes"],
                ),
                operations=k.NasConfig.Operations(
                    operation=[
                        k.Operation(
                            operation_type=op["operationType"],
                            parameter_specs=k.Operation.ParameterSpecs(
                                parameters=[_parameter(p) for p in op["parameters"]]
                            ),
                        )
                        for op in nas["operations"]
                    ]
                ),
            )
        )
    return message


def suggestion_entry() -> dict[str, Any]:
    config = yaml.safe_load((DEPLOY / "katib-config.yaml").read_text())
    assert config["kind"] == "KatibConfig"
    (entry,) = config["runtime"]["suggestions"]
    return entry


@pytest.fixture(scope="module")
def katib_target(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server configured as the katib-config entry configures it (env), Katib port 6789's
    stand-in a free port."""
    entry = suggestion_entry()
    env = {e["name"]: e["value"] for e in entry["env"]}
    env["ARCHSAMPLER_DB"] = str(tmp_path_factory.mktemp("deploy") / "archsampler.db")
    port = free_port()
    with ServerProcess(env["ARCHSAMPLER_DB"], ARCHSAMPLER_KATIB_PORT=str(port), **env):
        yield f"127.0.0.1:{port}"


def test_katib_config_entry() -> None:
    entry = suggestion_entry()
    assert entry["algorithmName"] == "archsampler" and entry["image"]
    assert not entry.get("ports"), "Katib adds port 6789 itself and refuses a config listing it"
    env = {e["name"]: e["value"] for e in entry["env"]}
    assert env["ARCHSAMPLER_DB"].startswith("/opt/katib/data/")  # Katib's suggestion volume
    assert float(env["ARCHSAMPLER_LEASE_SECONDS"]) >= 3600


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_experiment_is_accepted_and_answered(path: Path, katib_target: str) -> None:
    doc = yaml.safe_load(path.read_text())
    assert doc["kind"] == "Experiment"
    assert doc["spec"]["algorithm"]["algorithmName"] == suggestion_entry()["algorithmName"]
    experiment = experiment_message(doc)
    with grpc.insecure_channel(katib_target) as channel:
        stub = kg.SuggestionStub(channel)
        stub.ValidateAlgorithmSettings(k.ValidateAlgorithmSettingsRequest(experiment=experiment))
        reply = stub.GetSuggestions(
            k.GetSuggestionsRequest(
                experiment=experiment, current_request_number=2, total_request_number=2
            )
        )
    assert len(reply.parameter_assignments) == 2
    names = {a.name for a in reply.parameter_assignments[0].assignments}
    references = {p["reference"] for p in doc["spec"]["trialTemplate"]["trialParameters"]}
    assert references <= names, "every trial parameter references an assignment"
    template = json.dumps(doc["spec"]["trialTemplate"]["trialSpec"])
    for p in doc["spec"]["trialTemplate"]["trialParameters"]:
        assert "${trialParameters." + p["name"] + "}" in template


def _dockerfile() -> dict[str, list[str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Z]+)\s+(.*)$", line.strip())
        if match:
            found.setdefault(match.group(1), []).append(match.group(2))
    return found


def test_dockerfile_runs_unprivileged_with_grpc_healthcheck() -> None:
    found = _dockerfile()
    (user,) = found["USER"]
    assert user.split(":")[0] not in ("root", "0")
    (check,) = found["HEALTHCHECK"]
    command = json.loads(check.split("CMD", 1)[1])
    assert command[:3] == ["python", "-m", "archsampler.katib.healthcheck"]
    entry = json.loads(found["ENTRYPOINT"][-1]) + json.loads(found["CMD"][-1])
    assert entry[:2] == ["archsampler", "serve"] and "--katib-port" in entry
    port = entry[entry.index("--katib-port") + 1]
    assert command[command.index("--port") + 1] == port == "6789"


def test_healthcheck_command(katib_target: str) -> None:
    host, port = katib_target.rsplit(":", 1)
    cmd = [sys.executable, "-m", "archsampler.katib.healthcheck", "--host", host]
    ok = subprocess.run([*cmd, "--port", port], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    closed = subprocess.run(
        [*cmd, "--port", str(free_port()), "--timeout", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert closed.returncode == 1 and closed.stderr.startswith("unhealthy: ")
    unknown = subprocess.run(
        [*cmd, "--port", port, "--service", "no.such.Service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 1 and "NOT_FOUND" in unknown.stderr


def test_serve_refuses_a_taken_or_bad_katib_port(tmp_path: Path) -> None:
    """One line, exit status 2: a Katib port that is taken, or out of range."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for flag, expected in (
            (str(port), f"cannot listen on 127.0.0.1:{port} for the Katib suggestion service"),
            ("70000", "ARCHSAMPLER_KATIB_PORT: Input should be less than or equal to 65535"),
        ):
            ran = subprocess.run(
                [sys.executable, "-m", "archsampler", "serve", "--port", "0", "--katib-port",
                 flag, "--db", str(tmp_path / "x.db")],
                capture_output=True, text=True, timeout=120, cwd=tmp_path,
            )  # fmt: skip
            assert ran.returncode == 2, ran.stderr
            assert ran.stderr.startswith("archsampler serve: error: ")
            assert expected in ran.stderr and ran.stderr.count("\n") == 1
