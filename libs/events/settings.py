"""Settings from SAJJA_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The default national-ID hash key: public (it is in this file), so hashes made with it can be reversed
# by hashing every possible ID. Tests use it; `make run` makes a random one; deployments set their own.
DEVELOPMENT_NATIONAL_ID_HASH_KEY = "sajja-development-key-not-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAJJA_", extra="ignore")

    # External servers; when unset the local runner starts embedded ones.
    database_url: str | None = None
    kafka_bootstrap_servers: str | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".sajja")
    # The local runner's worker processes: "" a process per service; "0" every service in the runner's
    # own process; else groups of services, "+" within a group, "," between (e.g. "auth+ledger,reporting").
    workers: str = Field(default="", pattern=r"^[a-z0-9+, ]*$")

    # Topics are "<prefix>.<service>.v1"; tests sharing one broker give each test its own prefix.
    topic_prefix: str = Field(default="sajja", pattern=r"^[a-z][a-z0-9_-]*$")
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    # Joining a consumer group takes session_timeout/2 on Tansu; tests shorten it.
    kafka_session_timeout_ms: int = 6_000
    kafka_heartbeat_interval_ms: int = 1_000
    # The most records a projector applies in one transaction (a catch-up's batch; live batches are smaller).
    projector_batch: int = Field(default=5_000, ge=1, le=100_000)

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
    national_id_hash_key: str = DEVELOPMENT_NATIONAL_ID_HASH_KEY

    # Access control (#7). Token-signing keys: PEM EC P-256 private keys, newest first (only the auth
    # service needs them; `make run` creates development ones). Lifetimes in seconds.
    auth_signing_keys: list[str] = Field(default_factory=list, repr=False)
    access_token_seconds: int = Field(default=900, ge=60, le=86_400)
    session_seconds: int = Field(default=8 * 3600, ge=300, le=7 * 86_400)
    # Cookies marked Secure (HTTPS only): on everywhere but a developer's http://127.0.0.1.
    secure_cookies: bool = False
    # Sign-in and token requests, per client address: attempts a minute, failures before each further
    # one waits (1 s, 2 s, 4 s … up to the ceiling). Per username, from anywhere: failures in 15 minutes
    # before attempts on it are slowed to one every few seconds. Nothing locks an account.
    sign_in_attempts_per_minute: int = Field(default=60, ge=1)
    sign_in_free_failures: int = Field(default=3, ge=1)
    sign_in_max_backoff_seconds: float = Field(default=300.0, gt=0)
    sign_in_failures_per_username: int = Field(default=10, ge=1)
    sign_in_username_slow_seconds: float = Field(default=5.0, ge=0)
    # Proxies whose X-Forwarded-For names the client (comma-separated addresses, or "*"); none by default.
    forwarded_allow_ips: str = ""
    # argon2 runs off the event loop: threads hashing at once, and how many more may wait (then 503).
    password_hash_workers: int = Field(default=1, ge=1, le=16)
    password_hash_queue: int = Field(default=16, ge=0)
    # How often each process brings its copy of the auth service's revocation list up to date.
    revocation_refresh_seconds: float = Field(default=2.0, gt=0, le=300)
    # Requests per minute per client (per user or partner; per address before sign-in), per process.
    rate_limit_per_minute: int = Field(default=1_200, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    # A file sent as the body (POST /ledger/v1/imports: a province's groups with a year of deposits is a few MB).
    max_upload_bytes: int = Field(default=64 * 1_048_576, ge=1_024)
    # Live (server-sent event) streams one caller may hold open at once, per process.
    live_streams_per_caller: int = Field(default=4, ge=1, le=100)

    database_pool_size: int = Field(default=20, ge=2)
    log_level: str = "INFO"


def public_key_warning(settings: Settings) -> str | None:
    """What to tell the operator when the national-ID hash key is the public development default."""
    if settings.national_id_hash_key != DEVELOPMENT_NATIONAL_ID_HASH_KEY:
        return None
    return (
        "SAJJA_NATIONAL_ID_HASH_KEY is the PUBLIC development key: anyone who reads the events or the member "
        "register can recover national IDs from their hashes by trying every ID. Set a secret key "
        "(`python -c 'import secrets; print(secrets.token_urlsafe(32))'`) in every real deployment."
    )
