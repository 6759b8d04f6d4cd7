"""The `sajja` command line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import typer

from libs.events.settings import Settings

app = typer.Typer(help="Sajja (สัจจะ): savings groups, lending and pawn lending — event-sourced.", no_args_is_help=True)
relay_app = typer.Typer(help="The outbox relays (event store → Kafka).", no_args_is_help=True)
app.add_typer(relay_app, name="relay")
projections_app = typer.Typer(help="The read models of a running platform.", no_args_is_help=True)
app.add_typer(projections_app, name="projections")
bench_app = typer.Typer(help="Benchmarks (figures, never pass/fail), from a source checkout.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "libs" / "events" / "schemas" / "json"


def _database_url(settings: Settings) -> str:
    if settings.database_url is None:
        typer.echo("Set SAJJA_DATABASE_URL (the embedded database runs only inside `make run`).", err=True)
        raise typer.Exit(2)
    return settings.database_url


@app.command()
def run() -> None:
    """Start everything (embedded servers unless SAJJA_DATABASE_URL / SAJJA_KAFKA_BOOTSTRAP_SERVERS are set)."""
    from deploy.local_runner import main

    main()


@app.command()
def serve(service: str = typer.Argument(..., help="auth, ledger, lending, campaign or reporting")) -> None:
    """Run ONE service against external servers (SAJJA_DATABASE_URL, SAJJA_KAFKA_BOOTSTRAP_SERVERS): one container."""
    from deploy.serve_one import main

    main(service)


@app.command()
def schemas(check: bool = typer.Option(False, help="Fail if the committed schemas differ from the models.")) -> None:
    """Write the JSON Schema of every event type and version under libs/events/schemas/json/."""
    from libs.events import schemas as _  # noqa: F401
    from libs.events.registry import REGISTRY, dump_schema

    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    wanted = {name: dump_schema(schema) for name, schema in REGISTRY.json_schemas().items()}
    stale = [n for n, text in wanted.items() if not (SCHEMA_DIR / n).exists() or (SCHEMA_DIR / n).read_text() != text]
    if check:
        if stale:
            typer.echo(f"out of date: {', '.join(stale)} — run `make schemas`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{len(wanted)} schemas up to date")
        return
    for name in stale:
        (SCHEMA_DIR / name).write_text(wanted[name])
    typer.echo(f"{len(wanted)} schemas, {len(stale)} written to {SCHEMA_DIR}")


@app.command("signing-key")
def signing_key() -> None:
    """Print a new token-signing key as SAJJA_AUTH_SIGNING_KEYS wants it (a JSON list). To rotate, put the
    new key first and keep the old one until the longest token lifetime has passed."""
    import json

    from libs.auth.tokens import new_signing_key_pem

    typer.echo(json.dumps([new_signing_key_pem()]))


@app.command()
def migrate() -> None:
    """Apply every service's schema migrations to SAJJA_DATABASE_URL."""
    from services.catalog import migrate_all

    settings = Settings()

    async def go() -> list[str]:
        pool = await asyncpg.create_pool(_database_url(settings), min_size=1, max_size=2)
        try:
            return await migrate_all(pool)
        finally:
            await pool.close()

    applied = asyncio.run(go())
    typer.echo(f"applied {len(applied)} migrations" + (": " + ", ".join(applied) if applied else ""))


@app.command()
def demo(
    url: str | None = typer.Option(
        None, show_default="http://127.0.0.1:8000, or SAJJA_HOST:SAJJA_PORT", help="Where the platform answers."
    ),
    groups: int = typer.Option(150, min=1, help="Savings groups."),
    members: int = typer.Option(15_000, min=5, help="Members in all (at least 5 a group)."),
    months: int = typer.Option(12, min=1, max=60, help="Months of history, ending with this month."),
    seed: int = typer.Option(
        2569, help="The same seed plans the same province; a re-run replays, posting nothing twice."
    ),
    concurrency: int = typer.Option(24, min=1, max=256, help="Requests in flight."),
    user: str = typer.Option("admin", help="A department user to sign in as (it creates the demo's officers)."),
    password: str | None = typer.Option(
        None,
        envvar="SAJJA_DEMO_PASSWORD",
        show_default="the one `make run` printed, from .sajja/dev-credentials",
        help="That user's password.",
    ),
) -> None:
    """Load a synthetic province (Sa Kaeo) through the public APIs: groups, members, a year of deposits,
    loans and repayments, pawn tickets, consents and referrals, a savings campaign and its reports."""
    from sajja_cli.demo.console import run_demo
    from sajja_cli.demo.generator import Scale

    if url is None:
        settings = Settings()
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        url = f"http://{host}:{settings.port}"
    try:
        scale = Scale(groups=groups, members=members, months=months)
    except ValueError as exc:
        typer.echo(f"sajja demo: {exc}", err=True)
        raise typer.Exit(2) from None
    if password is None:
        from sajja_cli.demo.console import development_credentials

        password = development_credentials(Settings().data_dir.resolve(), user)
        if password is None:
            typer.echo(f"sajja demo: no password for {user}: pass --password (or SAJJA_DEMO_PASSWORD)", err=True)
            raise typer.Exit(2)
    run_demo(url, scale, seed, concurrency, user, password)


def _platform_url(url: str | None) -> str:
    if url is not None:
        return url
    settings = Settings()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def _password(user: str, password: str | None, command: str) -> str:
    if password is None:
        from sajja_cli.demo.console import development_credentials

        password = development_credentials(Settings().data_dir.resolve(), user)
        if password is None:
            typer.echo(f"sajja {command}: no password for {user}: pass --password (or SAJJA_PASSWORD)", err=True)
            raise typer.Exit(2)
    return password


URL_OPTION = typer.Option(
    None, show_default="http://127.0.0.1:8000, or SAJJA_HOST:SAJJA_PORT", help="Where the platform answers."
)
USER_OPTION = typer.Option("admin", help="A department user to sign in as.")
PASSWORD_OPTION = typer.Option(
    None,
    envvar="SAJJA_PASSWORD",
    show_default="the one `make run` printed, from .sajja/dev-credentials",
    help="That user's password.",
)


@projections_app.command("list")
def projections_list(
    url: str | None = URL_OPTION, user: str = USER_OPTION, password: str | None = PASSWORD_OPTION
) -> None:
    """Every service's read models: which can be rebuilt, and their tables."""
    from sajja_cli.projections import run as run_projections

    run_projections(_platform_url(url), user, _password(user, password, "projections"), "list", None, None)


@projections_app.command("rebuild")
def projections_rebuild(
    name: str = typer.Argument(..., help="The read model, e.g. statistics (see `sajja projections list`)."),
    service: str | None = typer.Option(None, help="The service that keeps it (found by asking each, if not given)."),
    url: str | None = URL_OPTION,
    user: str = USER_OPTION,
    password: str | None = PASSWORD_OPTION,
) -> None:
    """Rebuild a read model from its topics in the running platform, with a progress bar: the old one keeps
    answering until the new one has caught up, then they are swapped in one transaction."""
    from sajja_cli.projections import run as run_projections

    run_projections(_platform_url(url), user, _password(user, password, "projections"), "rebuild", name, service)


@app.command("import")
def import_(
    file: Path | None = typer.Argument(None, help="The file: XLSX, a CSV of one sheet, or a ZIP of the CSVs."),
    template: Path | None = typer.Option(
        None, help="Write the template (XLSX; a .zip or a directory gets the CSVs) with its example, and stop."
    ),
    example: bool = typer.Option(True, help="Fill the template with an example."),
    good_groups_only: bool = typer.Option(
        False, help="Import the groups without problems and report the others (default: all or nothing)."
    ),
    report: Path | None = typer.Option(None, help="Where the report of refused rows goes (default: FILE-report.xlsx)."),
    url: str | None = URL_OPTION,
    user: str = USER_OPTION,
    password: str | None = PASSWORD_OPTION,
) -> None:
    """Onboard savings groups from their spreadsheets: groups, members, opening balances and the deposits since,
    checked row by row with the API's rules. The same file again changes nothing."""
    from sajja_cli.imports import run as run_import
    from sajja_cli.imports import write_template

    if template is not None:
        write_template(template, example)
        typer.echo(f"wrote the import template to {template}")
        return
    if file is None:
        typer.echo("sajja import: give a FILE, or --template OUT.xlsx", err=True)
        raise typer.Exit(2)
    if not file.exists():
        typer.echo(f"sajja import: {file} does not exist", err=True)
        raise typer.Exit(2)
    run_import(_platform_url(url), user, _password(user, password, "import"), file, good_groups_only, report)


@bench_app.command("national")
def bench_national(
    scale: float = typer.Option(0.1, help="1.0 = the nation: 31,715 groups, 3.26 million members, a year."),
    seed: int = typer.Option(13, help="The nation is a function of the seed and the scale."),
    workers: int | None = typer.Option(None, help="Processes generating the nation (default: the usable cores)."),
    rounds: int = typer.Option(30, help="Timed rounds of every dashboard read."),
    deposit_rate: float = typer.Option(200.0, help="Background HTTP deposits a second while the reads are timed."),
    output: Path | None = typer.Option(None, help="Where the JSON goes (default bench/results/national-SCALE.json)."),
) -> None:
    """A synthetic nation written in bulk into the event stores, the platform catching up from it, and every
    dashboard read timed at national, province, district and group level under a deposit load (`make
    bench-national`; see README, "Benchmarks")."""
    import sys

    root = Path(__file__).resolve().parent.parent
    if not (root / "bench" / "national").is_dir():
        typer.echo("sajja bench needs a source checkout (bench/ is not installed with the package).", err=True)
        raise typer.Exit(2)
    sys.path.insert(0, str(root))
    from bench.national.runner import main as run_national

    args = ["--scale", str(scale), "--seed", str(seed), "--rounds", str(rounds), "--deposit-rate", str(deposit_rate)]
    args += ["--workers", str(workers)] if workers else []
    args += ["--output", str(output)] if output else []
    run_national(args)


@relay_app.command("republish")
def republish(service: str = typer.Argument(..., help="ledger, lending or campaign")) -> None:
    """Publish every event of SERVICE again from the start (after a broker lost its data). Consumers
    skip what they already applied."""
    from libs.events.kafka import topic_for
    from libs.events.relay import reset_checkpoint
    from services.catalog import SERVICES

    if service not in SERVICES or not SERVICES[service].publishes:
        typer.echo(f"unknown publishing service {service!r}; choose from ledger, lending, campaign", err=True)
        raise typer.Exit(2)
    settings = Settings()

    async def go() -> int:
        conn = await asyncpg.connect(_database_url(settings))
        try:
            await reset_checkpoint(conn, service, topic_for(service, settings.topic_prefix))
            return int(await conn.fetchval(f'select count(*) from "{service}".events'))
        finally:
            await conn.close()

    count = asyncio.run(go())
    typer.echo(f"{service}: the running relay will republish {count} events from the start")


if __name__ == "__main__":
    app()
