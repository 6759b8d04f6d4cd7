"""Run ONE service (its HTTP app, relays and projectors) against external servers: what each
container of a real deployment runs (`python -m deploy.serve_one SERVICE`, or `sajja serve SERVICE`).
The local runner starts its worker processes with it too: several services in one process, listening on a
Unix socket (`python -m deploy.serve_one ledger lending --uds PATH`).

Needs SAJJA_DATABASE_URL and SAJJA_KAFKA_BOOTSTRAP_SERVERS (nothing embedded is started here); exits
with code 2 and says so when one is missing or SERVICE is unknown. Creates the topics and migrates the
database, then serves the service behind the gateway (its routes, /healthz, /readyz) on SAJJA_HOST
(0.0.0.0 in the image) and SAJJA_PORT. SIGTERM or SIGINT stops uvicorn, then the relays, projectors
and database pool; a second signal forces uvicorn to stop without waiting for open connections."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from deploy.http_server import OwnSignalsServer, http_server
from libs.events.runtime import run_until_complete
from libs.events.settings import Settings, public_key_warning

log = logging.getLogger("sajja.serve")

EXIT_USAGE = 2


def service_names() -> list[str]:
    from services.catalog import SERVICES

    return list(SERVICES)


def _fail(message: str) -> None:
    print(f"sajja serve: {message}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_USAGE)


def check(services: str | list[str], settings: Settings) -> tuple[str, str]:
    """(database URL, bootstrap servers), or exit 2 with a message naming what is wrong."""
    names = service_names()
    for service in [services] if isinstance(services, str) else services:
        if service not in names:
            _fail(f"unknown service {service!r}; choose one of {', '.join(names)}")
    missing = [
        var
        for var, value in (
            ("SAJJA_DATABASE_URL", settings.database_url),
            ("SAJJA_KAFKA_BOOTSTRAP_SERVERS", settings.kafka_bootstrap_servers),
        )
        if not value
    ]
    if missing:
        _fail(
            f"set {' and '.join(missing)}: one service runs against external PostgreSQL and Kafka "
            "(use `sajja run` / `make run` for the embedded servers)"
        )
    assert settings.database_url is not None and settings.kafka_bootstrap_servers is not None
    return settings.database_url, settings.kafka_bootstrap_servers


async def serve(
    service: str | list[str], settings: Settings, database_url: str, bootstrap: str, uds: str | None = None
) -> None:
    from deploy.platform import running_platform

    services = [service] if isinstance(service, str) else list(service)
    named = "+".join(services)

    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    server: OwnSignalsServer | None = None
    stopping = False

    def stop() -> None:
        nonlocal stopping
        if server is not None:
            # A second signal skips waiting for open connections.
            server.force_exit = server.should_exit
            server.should_exit = True
        elif not stopping and main_task is not None:
            main_task.cancel()  # still starting (waiting for the database or the broker)
        stopping = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        # running_platform migrates the schemas and creates the topics before it builds the runtime.
        async with running_platform(settings, database_url, bootstrap, services=services) as running:
            server = http_server(running.gateway, settings, uds=uds)
            log.info(
                "serving %s on %s (database %s, broker %s)",
                named,
                f"unix socket {uds}" if uds else f"http://{settings.host}:{settings.port}",
                database_url.split("@")[-1],
                bootstrap,
            )
            await server.serve()
            log.info("stopping %s", named)
        log.info("stopped %s", named)
    except asyncio.CancelledError:
        if not stopping:
            raise
        if main_task is not None:
            main_task.uncancel()
        log.info("stopped %s before it was serving", named)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(service: str | list[str], uds: str | None = None) -> None:
    """Run SERVICE (or several) until SIGTERM/SIGINT. Raises SystemExit(2) on a usage or configuration error."""
    settings = Settings()
    database_url, bootstrap = check(service, settings)

    from libs.events.telemetry import setup_logging, setup_tracing

    setup_logging(settings.log_level)
    setup_tracing(f"sajja-{service if isinstance(service, str) else '+'.join(service)}")
    warning = public_key_warning(settings)
    if warning is not None:  # running_platform logs it too; say it where a person starting this sees it
        print(f"sajja serve: WARNING: {warning}", file=sys.stderr, flush=True)
    try:
        run_until_complete(serve(service, settings, database_url, bootstrap, uds))
    except Exception:
        # Exit non-zero so the orchestrator restarts the container (e.g. the database not up yet).
        log.exception("%s stopped on an error", service)
        raise SystemExit(1) from None


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.serve_one",
        description="Run one Sajja service against SAJJA_DATABASE_URL and SAJJA_KAFKA_BOOTSTRAP_SERVERS.",
    )
    parser.add_argument("service", nargs="+", help="auth, ledger, lending, campaign or reporting (one or more)")
    parser.add_argument("--uds", help="listen on this Unix socket instead of SAJJA_HOST:SAJJA_PORT")
    args = parser.parse_args(argv)  # exits 2 on a usage error
    main(args.service[0] if len(args.service) == 1 else args.service, args.uds)


if __name__ == "__main__":
    cli()
