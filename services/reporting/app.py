"""Reporting composition root: projections, routes, health."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from libs.events.http import install_problem_handlers
from libs.events.kafka import topic_for
from libs.events.runtime import Platform, ServiceRuntime, add_health_routes
from services.reporting.api import SCHEMA, build_router
from services.reporting.projections import MemberBalances

NAME = "reporting"
MIGRATIONS = Path(__file__).with_name("migrations")


def build(platform: Platform) -> ServiceRuntime:
    balances = MemberBalances(topic_for("ledger", platform.settings.topic_prefix), SCHEMA)
    app = FastAPI(
        title="Sajja reporting",
        version="1",
        description="Read models: balances, statistics, referral feeds.",
        openapi_url=f"/{NAME}/openapi.json",
        docs_url=f"/{NAME}/docs",
        redoc_url=None,
    )
    install_problem_handlers(app)
    app.include_router(build_router(platform, balances))
    runtime = ServiceRuntime(NAME, app, platform, projectors=[platform.projector(SCHEMA, balances)])
    add_health_routes(app, {"runtime": runtime}, NAME)
    return runtime
