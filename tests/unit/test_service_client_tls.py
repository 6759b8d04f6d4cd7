"""Calls between services share one TLS context: httpx builds one per client otherwise, loading the CA bundle
every time (tens of milliseconds of CPU on every call between services, seen in a profile of the workers)."""

from __future__ import annotations

import asyncio

from libs.events.runtime import Platform, tls_context
from libs.events.settings import Settings


def test_every_client_between_services_uses_the_one_tls_context() -> None:
    settings = Settings(service_urls={"ledger": "https://ledger.internal:8443", "lending": "http://lending:8000"})
    platform = Platform(settings=settings, pool=None, bootstrap_servers="")  # type: ignore[arg-type]

    async def contexts() -> list[object]:
        found = []
        for name in ("ledger", "ledger", "lending"):
            async with platform.service_client(name) as client:
                found.append(client._transport._pool._ssl_context)  # type: ignore[attr-defined]  # noqa: SLF001
        return found

    found = asyncio.run(contexts())
    assert all(context is tls_context() for context in found)


def test_a_service_that_cannot_answer_is_a_503_problem_never_a_500() -> None:
    import socket

    import pytest

    from libs.events.http import Problem

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    settings = Settings(service_urls={"ledger": f"http://127.0.0.1:{closed}"})
    platform = Platform(settings=settings, pool=None, bootstrap_servers="")  # type: ignore[arg-type]
    for name in ("lending", "ledger"):  # no URL for it; nothing listening at its URL
        with pytest.raises(Problem) as refused:
            asyncio.run(platform.service_get(name, "/x/v1/portfolio", {"on": "2024-01-01"}))
        assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "2"}
