"""Settings from SAJJA_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAJJA_", extra="ignore")

    # External servers; when unset the local runner starts embedded ones.
    database_url: str | None = None
    kafka_bootstrap_servers: str | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".sajja")

    # Topics are "<prefix>.<service>.v1"; tests sharing one broker give each test its own prefix.
    topic_prefix: str = Field(default="sajja", pattern=r"^[a-z][a-z0-9_-]*$")
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    # Joining a consumer group takes session_timeout/2 on Tansu; tests shorten it.
    kafka_session_timeout_ms: int = 6_000
    kafka_heartbeat_interval_ms: int = 1_000

    # How long a read with ?after=… waits for its projection before answering 504.
    read_wait_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # Partner webhooks (partner → URL, partner → signing secret); secrets come only from the environment.
    webhook_urls: dict[str, str] = Field(default_factory=dict)
    webhook_secrets: dict[str, str] = Field(default_factory=dict)
    # Where other services answer when they do not run in this process (name → base URL).
    service_urls: dict[str, str] = Field(default_factory=dict)
    # Where Debian's fonts-thai-tlwg puts its fonts (reports and exports are set in Laksaman).
    thai_font_dir: str = "/usr/share/fonts/truetype/tlwg"
    # Days after a pawn ticket's maturity before its item may be forfeited (some public pawnshops give 60).
    pawn_forfeit_grace_days: int = Field(default=0, ge=0, le=365)
    # Key for the national-ID hash carried in events. Set a secret one in every real deployment.
    national_id_hash_key: str = "sajja-development-key-not-secret"

    database_pool_size: int = Field(default=20, ge=2)
    log_level: str = "INFO"
