"""Small helpers for driving the HTTP API in tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from libs.events.ids import new_id

# Valid Thai national IDs are generated, not hard-coded: the 13th digit is the check digit.


def national_id(seed: int) -> str:
    from services.ledger.domain import national_id_check_digit

    first = f"1{seed:011d}"[:12]
    return first + str(national_id_check_digit(first))


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    return await client.post(path, json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


async def new_group(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "กลุ่มออมทรัพย์เพื่อการผลิตบ้านหนองบัว",
        "province_code": "27",
        "district_code": "2701",
        "founded_on": "1998-05-01",
    } | overrides
    response = await post(client, "/ledger/v1/groups", body)
    assert response.status_code == 201, response.text
    return response.json()


async def new_member(
    client: httpx.AsyncClient, group_id: str, seed: int | None = None, **overrides: Any
) -> dict[str, Any]:
    body = {
        "national_id": national_id(seed if seed is not None else new_id().int % 10**11),
        "full_name": "สมศรี ใจดี",
        "joined_on": "2023-12-01",
        "monthly_commitment": "100.00",
    } | overrides
    response = await post(client, f"/ledger/v1/groups/{group_id}/members", body)
    assert response.status_code == 201, response.text
    return response.json()


async def eventually(check: Any, timeout: float = 15.0) -> Any:
    """Poll `check` (an async callable returning a truthy value when done) until it is, or fail. For
    effects that cross services asynchronously (a saga's next step), where no read can wait on a position."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not done within {timeout} s"
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
