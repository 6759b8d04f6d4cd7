"""Auth composition root: the token and session endpoints, the published keys, users and clients."""

from __future__ import annotations

from pathlib import Path

from libs.auth.tokens import KeyRing
from libs.events.runtime import Platform, ServiceRuntime, service_runtime
from services.auth.api import build_router

NAME = "auth"
MIGRATIONS = Path(__file__).with_name("migrations")


def build(platform: Platform) -> ServiceRuntime:
    keys = KeyRing(platform.settings.auth_signing_keys)
    return service_runtime(
        NAME,
        platform,
        "Identity: OAuth2 client credentials for partners, dashboard sign-in, the keys tokens are signed with.",
        routers=[build_router(platform.pool, platform.settings, keys)],
    )
