"""SMART grading reads PAR30 from lending over HTTP: a lending that cannot answer (no URL for it, refused, failing)
makes the grading a 503 problem with Retry-After that the dashboard may retry, never a 500. The platform here stands
in for its HTTP edge alone (the service client); the district's groups come from a list, not a database."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from libs.events.http import Problem
from libs.events.runtime import Platform
from services.reporting.smart_handlers import SmartGrading


class _Groups:
    async def fetch(self, sql: str, *args: Any) -> list[dict[str, str]]:
        return [{"group_id": "01a227eb-62fb-733c-9eb3-8122d97605e6", "name": "กลุ่มออมทรัพย์"}]


class _Platform:
    def __init__(self, lending: Any) -> None:
        self.pool = _Groups()
        self.lending = lending

    def service_client(self, name: str) -> httpx.AsyncClient:
        if self.lending is None:
            raise LookupError(f"service {name} is not in this process and SAJJA_SERVICE_URLS has no URL for it")
        return httpx.AsyncClient(transport=httpx.MockTransport(self.lending), base_url=f"http://{name}.internal")

    service_get = Platform.service_get  # the real refusal, over the client above


def _failing(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, json={"title": "Internal error"})


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize("lending", [None, _failing, _refused], ids=["no-url", "failing", "refused"])
async def test_a_lending_that_cannot_answer_is_a_503_not_a_500(lending: Any) -> None:
    smart = SmartGrading(_Platform(lending))  # type: ignore[arg-type]
    for grading in (
        smart.district_levels("2701", date(2024, 6, 1)),
        smart.closest("2701", date(2024, 6, 1)),
        smart.indicators(uuid.uuid4(), date(2024, 6, 1)),
    ):
        with pytest.raises(Problem) as refused:
            await grading
        assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "2"}
