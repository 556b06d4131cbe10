"""Service settings (`Settings`, from `ARCHSAMPLER_*` environment variables) and a study's
config (`StudyConfig`, frozen)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated
from typing import Any
from typing import Literal

from pydantic import Field
from pydantic import SecretStr
from pydantic import field_validator
from pydantic_settings import BaseSettings
from pydantic_settings import NoDecode
from pydantic_settings import SettingsConfigDict

from archsampler.priority import BULK_SHARE


class Settings(BaseSettings):
    """Every knob of the server. `ARCHSAMPLER_PORT=6000` sets `port`, and so on.

    A `.env` file in the working directory is read too; CLI flags override both.
    """

    model_config = SettingsConfigDict(env_prefix="ARCHSAMPLER_", env_file=".env", extra="ignore")

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(50051, ge=0, le=65535, description="port to listen on (0 = any free port)")
    db: str = Field(
        "archsampler.db",
        description="SQLite file path, or a SQLAlchemy URL (sqlite:///..., postgresql+psycopg://...)",
    )
    lease_seconds: float = Field(
        3600.0, gt=0, description="how long a proposed trial stays PENDING without a heartbeat"
    )
    lease_sweep_seconds: float = Field(
        5.0, gt=0, description="how often expired leases are looked for (at most lease/20)"
    )
    models_dir: str | None = Field(
        None,
        description="where NAO model versions are kept (default: '<db file>.models' for "
        "SQLite, ./archsampler-models otherwise)",
    )
    model_min_trials: int = Field(40, ge=2, description="completed trials before a first model")
    model_retrain_every: int = Field(
        20, ge=0, description="retrain after this many newly completed trials (0 = never)"
    )
    model_gate_retry_every: int = Field(
        10,
        ge=1,
        description="after a model that failed its ranking gate, retrain after this many "
        "newly completed trials (doubled per further failure, at most model_retrain_every)",
    )
    model_epochs: int = Field(60, ge=1, description="NAO training epochs")
    model_min_steps: int = Field(
        2000, ge=0, description="at least this many optimizer steps per training (small sets)"
    )
    max_message_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="gRPC message limit")
    shutdown_grace_seconds: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="on SIGTERM/SIGINT, how long calls in flight may finish before they are "
        "cancelled (the writer then gets at most 2 s more to commit what it holds)",
    )
    max_sessions: int = Field(
        4096,
        ge=1,
        le=1_000_000,
        description="Session streams one principal may hold open at once (auth off: every "
        "caller together); one more is refused with RESOURCE_EXHAUSTED (each open stream "
        "holds ~18 KB of the server's memory)",
    )
    default_strategy: str = Field("lanas", description="strategy of studies that name none")
    strategy_processes: int = Field(
        0,
        ge=0,
        le=64,
        description="run studies' strategies in this many host processes at a lower CPU "
        "priority, so a CPU-bound Propose cannot slow other studies' calls (0 = in the "
        "server process)",
    )
    bulk_share: float = Field(
        BULK_SHARE,
        gt=0.0,
        le=1.0,
        description="share of wall-clock time one study's bulk work (the rows, hints, "
        "messages and insert chunks of a large Propose) may take while other studies "
        "report, so their Reports stay fast (1 = never paced)",
    )
    log_level: str = Field("INFO", description="logging level")
    log_format: Literal["text", "json"] = Field(
        "text", description="log line format: text, or json (one object per line)"
    )
    auth_tokens: Annotated[list[SecretStr] | None, NoDecode] = Field(
        None,
        description="bearer tokens, comma-separated or a JSON list: `token` (admin of the "
        "default namespace) or `token:role:namespace`; unset = auth off, set but empty = error",
    )
    auth_file: str | None = Field(
        None,
        description='JSON file {"principals": [{name, role, namespace, token_sha256}]}; '
        "unset = none",
    )
    tls_cert_file: str | None = Field(None, description="server certificate chain (PEM)")
    tls_key_file: str | None = Field(None, description="server private key (PEM)")
    tls_client_ca_file: str | None = Field(
        None, description="CA bundle (PEM) for client certificates: set = mutual TLS required"
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Prometheus /metrics port (unset = off, 0 = any free)"
    )
    katib_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="also serve Katib's suggestion API (api.v1.beta1.Suggestion) and gRPC "
        "health on this port, no TLS or tokens (unset = off, 0 = any free)",
    )
    sqlite_synchronous: Literal["full", "normal"] = Field(
        "full",
        description="SQLite only: 'full' syncs every commit to disk (nothing acknowledged is "
        "lost on power failure); 'normal' syncs at WAL checkpoints (safe when the process "
        "dies, a power failure may lose the last commits; several times cheaper per commit)",
    )
    dashboard_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="serve the read-only web dashboard on this port (unset = off, 0 = any "
        "free); HTTPS with the server's certificate when TLS is on; same tokens as gRPC",
    )
    metrics_require_token: bool = Field(
        False, description="/metrics answers 401 without a valid bearer token (needs auth on)"
    )
    metrics_study_labels: bool = Field(
        True, description="label metrics by study name (off: totals only, no study names)"
    )

    @field_validator("auth_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        """Accept `a,b` as well as `["a", "b"]` from the environment; drop empty entries.

        A set value that leaves no entry stays an empty list: the server refuses it.
        """
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except ValueError:
                    raise ValueError("starts with '[' but is not a JSON list") from None
            else:
                value = text.split(",")
        if isinstance(value, (list, tuple)):
            return [str(v).strip() for v in value if str(v).strip()]
        return value


GOALS = ("maximize", "minimize")


@dataclass(frozen=True)
class StudyConfig:
    """A study's validated config: what is stored, compared on create and read everywhere.

    Built by `study.normalise_config` (the one validation) or read back from storage with
    `from_dict`; `to_dict` is the stored JSON form. Attributes are read, never changed (the
    dataclass is frozen; `to_dict` returns copies of the nested dicts).
    """

    space: Mapping[str, Any]  # {"builtin": name} or {"user": spec}, as `SearchSpace.spec()`
    strategy: str
    strategy_options: Mapping[str, Any]
    goal: str  # one of GOALS
    seed: int
    stopping: Mapping[str, Any] | None = None  # {"rule", "options"} (`archsampler.stopping`)
    # Several objectives: [{"name", "goal"}, ...] (2..8) and [{"name", "op", "bound"}, ...]
    objectives: tuple[Mapping[str, Any], ...] | None = None
    metric_constraints: tuple[Mapping[str, Any], ...] | None = None
    max_retries: int = 0  # retryable failures of one architecture that are queued again

    @property
    def maximize(self) -> bool:
        return self.goal == "maximize"

    @property
    def objective_names(self) -> list[str]:
        """Declared objective names, in order (empty for a single-objective study)."""
        return [o["name"] for o in self.objectives or ()]

    @property
    def objective_signs(self) -> list[float]:
        """Per objective +1 (maximise) or -1 (minimise): values times sign are maximised."""
        return [1.0 if o["goal"] == "maximize" else -1.0 for o in self.objectives or ()]

    def feasible(self, values: Mapping[str, float]) -> bool:
        """Whether reported `values` satisfy every metric constraint."""
        for c in self.metric_constraints or ():
            v = values[c["name"]]
            if (c["op"] == "<=" and v > c["bound"]) or (c["op"] == ">=" and v < c["bound"]):
                return False
        return True

    @property
    def sign(self) -> float:
        """+1 when maximizing, -1 when minimizing: values times sign are "higher is better"."""
        return 1.0 if self.maximize else -1.0

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> StudyConfig:
        """The config of a stored (already normalised) dict."""
        return cls(
            space=stored["space"],
            strategy=stored["strategy"],
            strategy_options=stored["strategy_options"],
            goal=stored["goal"],
            seed=int(stored["seed"]),
            stopping=stored.get("stopping"),
            objectives=_tuple(stored.get("objectives")),
            metric_constraints=_tuple(stored.get("metric_constraints")),
            max_retries=int(stored.get("max_retries", 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored form (plain, JSON-serialisable, a copy). Optional parts appear only
        when set, so a study stored before they existed compares equal to its re-creation."""
        out = {
            "space": copy.deepcopy(dict(self.space)),
            "strategy": self.strategy,
            "strategy_options": copy.deepcopy(dict(self.strategy_options)),
            "goal": self.goal,
            "seed": self.seed,
        }
        if self.stopping is not None:
            out["stopping"] = copy.deepcopy(dict(self.stopping))
        if self.objectives:
            out["objectives"] = [dict(o) for o in self.objectives]
        if self.metric_constraints:
            out["metric_constraints"] = [dict(c) for c in self.metric_constraints]
        if self.max_retries:
            out["max_retries"] = self.max_retries
        return out


def _tuple(items: Any) -> tuple[Mapping[str, Any], ...] | None:
    return tuple(dict(i) for i in items) if items else None
