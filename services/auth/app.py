"""Auth composition root: the token and session endpoints, the published keys, users and clients."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from libs.auth.passwords import PasswordWork
from libs.auth.tokens import KeyRing
from libs.events.runtime import Platform, ServiceRuntime, guard_for, service_runtime
from services.auth import store
from services.auth.api import build_router

NAME = "auth"
MIGRATIONS = Path(__file__).with_name("migrations")


def build(platform: Platform) -> ServiceRuntime:
    settings = platform.settings
    keys = KeyRing(settings.auth_signing_keys)
    work = PasswordWork(settings.password_hash_workers, settings.password_hash_queue)
    platform.revocation_source = partial(store.revocations_since, platform.pool)
    guard = guard_for(platform)

    async def after_revocation() -> None:
        await guard.revocations.refresh(force=True)

    runtime = service_runtime(
        NAME,
        platform,
        "Identity: OAuth2 client credentials for partners, dashboard sign-in, the keys tokens are signed with.",
        routers=[build_router(platform.pool, settings, keys, work, after_revocation)],
    )
    runtime.on_stop.append(work.close)
    return runtime
