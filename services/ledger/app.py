"""Ledger composition root: routes, relay, health."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from libs.events.http import install_problem_handlers
from libs.events.kafka import topic_for
from libs.events.runtime import Platform, ServiceRuntime, add_health_routes
from services.ledger.api import build_router
from services.ledger.handlers import SCHEMA, LedgerHandlers

NAME = "ledger"
MIGRATIONS = Path(__file__).with_name("migrations")


def build(platform: Platform) -> ServiceRuntime:
    handlers = LedgerHandlers(platform.pool, platform.settings)
    app = FastAPI(
        title="Sajja ledger",
        version="1",
        description="Savings groups, members and their savings: the book of record.",
        openapi_url=f"/{NAME}/openapi.json",
        docs_url=f"/{NAME}/docs",
        redoc_url=None,
    )
    install_problem_handlers(app)
    app.include_router(build_router(handlers))
    runtime = ServiceRuntime(
        NAME, app, platform, relays=[platform.relay(handlers.store, topic_for(NAME, platform.settings.topic_prefix))]
    )
    add_health_routes(app, {"runtime": runtime}, NAME)
    assert handlers.store.schema == SCHEMA
    return runtime
