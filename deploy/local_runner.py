"""`make run`: embedded PostgreSQL and Tansu (unless SAJJA_DATABASE_URL / SAJJA_KAFKA_BOOTSTRAP_SERVERS
name external servers), every service with its relays and projectors, one HTTP port.

Ctrl-C (SIGINT) or SIGTERM stops everything it started. Servers left by a run that crashed are found
through their pid files under .sajja/ and stopped at the next start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from deploy.http_server import http_server
from deploy.platform import running_platform
from libs.auth.tokens import new_signing_key_pem
from libs.events.runtime import run_until_complete
from libs.events.settings import Settings
from libs.events.telemetry import setup_logging, setup_tracing
from libs.infra.embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from services.auth.store import create_development_credentials

log = logging.getLogger("sajja.run")


@contextmanager
def infrastructure(settings: Settings) -> Iterator[tuple[str, str]]:
    """Yields (database URL, bootstrap servers), starting embedded servers for whatever is not set."""
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        database_url = settings.database_url
        if database_url is None:
            postgres = EmbeddedPostgres(data_dir / "postgres", free_port(), durable=True)
            log.info(
                "starting embedded PostgreSQL in %s", postgres.data_dir if hasattr(postgres, "data_dir") else data_dir
            )
            postgres.start()
            stack.callback(postgres.stop)
            database_url = postgres.dsn
        bootstrap = settings.kafka_bootstrap_servers
        if bootstrap is None:
            # A new cluster id each start: the broker keeps nothing, and relays/projectors notice and
            # republish / re-read from the start.
            kafka = EmbeddedKafka(free_port(), data_dir / "kafka", cluster_id=f"sajja-{uuid.uuid4().hex[:12]}")
            kafka.start()
            stack.callback(kafka.stop)
            bootstrap = kafka.bootstrap_servers
        yield database_url, bootstrap


def development_signing_key(settings: Settings) -> Settings:
    """Without SAJJA_AUTH_SIGNING_KEYS (a developer's machine), a key is made once under the data
    directory (readable by its owner only) and used as if it came from the environment."""
    if settings.auth_signing_keys:
        return settings
    path = settings.data_dir.resolve() / "dev-signing-key.pem"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(new_signing_key_pem())
        log.info("created a development token-signing key in %s", path)
    return settings.model_copy(update={"auth_signing_keys": [path.read_text()]})


def show_credentials_once(settings: Settings, created: list[tuple[str, str, str]] | None) -> None:
    """First start only: print the development users and partner clients, and keep them (owner-only)
    for `make demo`; later starts print nothing of them."""
    if not created:
        return
    lines = [f"  {kind:<28} {name:<16} {secret}" for kind, name, secret in created]
    print("Development credentials (shown once; kept in .sajja/dev-credentials for `make demo`):", flush=True)
    print("\n".join(lines), flush=True)
    path = settings.data_dir.resolve() / "dev-credentials"
    path.touch(mode=0o600)
    path.write_text("\n".join(f"{kind}\t{name}\t{secret}" for kind, name, secret in created) + "\n")


async def serve(settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    settings = development_signing_key(settings)
    with infrastructure(settings) as (database_url, bootstrap):
        async with running_platform(settings, database_url, bootstrap) as running:
            show_credentials_once(settings, await create_development_credentials(running.platform.pool))
            server = http_server(running.gateway, settings)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
            print(
                f"Sajja is running: http://{settings.host}:{settings.port}/  "
                f"(database {database_url.split('@')[-1]}, broker {bootstrap}). Ctrl-C stops it.",
                flush=True,
            )
            await server.serve()
            print("Stopping services …", flush=True)
    print("Stopped: services, broker and database are down.", flush=True)


def main() -> None:
    settings = Settings()
    setup_logging(settings.log_level)
    setup_tracing("sajja-local")
    run_until_complete(serve(settings))


if __name__ == "__main__":
    main()
