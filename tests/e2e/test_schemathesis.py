"""Schemathesis against every service's OpenAPI document, over real HTTP, signed in as the department:
generated requests (valid and not) never get a 5xx."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.support.auth import bearer, user_token

pytestmark = pytest.mark.slow

SERVICES = ("auth", "ledger", "lending", "campaign", "reporting")
EXAMPLES = int(os.environ.get("SAJJA_SCHEMATHESIS_EXAMPLES", "6"))
# Server-sent events never end: the browser test covers them.
STREAMING = {"/reporting/v1/live"}


def _fuzz(document: dict[str, Any], base_url: str, headers: dict[str, str]) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in STREAMING:
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            nonlocal calls
            # A generous client time-out: a route may wait its bound (e.g. /published up to 5 s) on a busy machine.
            response = case.call(
                base_url=base_url, headers=headers | {"Idempotency-Key": os.urandom(8).hex()}, timeout=60
            )
            calls += 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query or ''} → {response.status_code}: "
                    f"{response.text[:200]}"
                )

        check()
    return calls, failures


async def test_no_generated_request_gets_a_5xx(served: str, running: Any) -> None:
    headers = bearer(user_token(running.platform.settings.auth_signing_keys, "schemathesis"))
    all_failures: list[str] = []
    total = 0
    async with httpx.AsyncClient(base_url=served) as client:
        for service in SERVICES:
            document = (await client.get(f"/{service}/openapi.json")).json()
            calls, failures = await asyncio.to_thread(_fuzz, document, served, headers)
            total += calls
            all_failures += [f"{service}: {f}" for f in failures]
    assert total > 300
    assert all_failures == [], "\n".join(sorted(set(all_failures)))
