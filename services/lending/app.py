"""Lending composition root. Only health routes so far: its capabilities arrive with their issues."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from libs.events.http import install_problem_handlers
from libs.events.runtime import Platform, ServiceRuntime, add_health_routes

NAME = "lending"
MIGRATIONS = Path(__file__).with_name("migrations")


def build(platform: Platform) -> ServiceRuntime:
    app = FastAPI(
        title="Sajja lending",
        version="1",
        openapi_url=f"/{NAME}/openapi.json",
        docs_url=f"/{NAME}/docs",
        redoc_url=None,
    )
    install_problem_handlers(app)
    runtime = ServiceRuntime(NAME, app, platform)
    add_health_routes(app, {"runtime": runtime}, NAME)
    return runtime
