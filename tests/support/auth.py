"""Tokens for tests, signed with the test settings' key as the auth service would sign them."""

from __future__ import annotations

from functools import cache

from libs.auth.principal import Principal, user_scopes
from libs.auth.tokens import KeyRing, new_signing_key_pem


@cache
def signing_key_for_tests() -> str:
    """One key for the whole test session (generating one takes a moment)."""
    return new_signing_key_pem()


def user_token(
    keys: list[str],
    subject: str = "test-department",
    role: str = "department",
    province_code: str | None = None,
    district_code: str | None = None,
    group_id: str | None = None,
    lifetime_seconds: int = 3600,
    now: float | None = None,
) -> str:
    principal = Principal(
        subject=subject,
        kind="user",
        scopes=user_scopes(role),
        role=role,
        province_code=province_code,
        district_code=district_code,
        group_id=group_id,
    )
    return KeyRing(keys).issue(principal, lifetime_seconds, now=now)


def partner_token(keys: list[str], partner: str, scopes: frozenset[str], lifetime_seconds: int = 3600) -> str:
    principal = Principal(subject=f"{partner}-client", kind="partner", scopes=scopes, partner=partner)
    return KeyRing(keys).issue(principal, lifetime_seconds)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
