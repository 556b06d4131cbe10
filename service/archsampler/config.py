"""Service settings, read from `ARCHSAMPLER_*` environment variables (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsConfigDict


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
    max_message_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="gRPC message limit")
    default_strategy: str = Field("lanas", description="strategy of studies that name none")
    log_level: str = Field("INFO", description="logging level")
