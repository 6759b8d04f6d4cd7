"""Helpers for driving lending in tests: a product, members lending knows, a loan through approval."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import new_member, post

OCCUPATION = {
    "product_id": "occupation",
    "name_th": "เงินกู้เพื่อการประกอบอาชีพ",
    "name_en": "Occupation loan",
    "interest_method": "declining",
    "interest_rate_percent": "1.00",
    "max_term_months": 24,
    "max_amount": "50000.00",
    "max_savings_multiple": "5",
    "guarantors_required": 2,
    "penalty_rate_percent_per_month": "1.00",
    "approvals_required": 2,
}


async def define_product(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await post(client, "/lending/v1/products", OCCUPATION | overrides)
    assert response.status_code == 201, response.text
    return response.json()


async def known_member(client: httpx.AsyncClient, group_id: str, sajja: str | None = None, **kw: Any) -> str:
    """A member enrolled in the ledger (with a sajja deposit) whom lending's projection has caught up with."""
    member = await new_member(client, group_id, joined_on="2023-12-01", **kw)
    member_id = str(member["member_id"])
    position = member["position"]["ledger"]
    if sajja:
        body = {"account": "sajja", "amount": sajja, "deposited_on": "2024-01-05"}
        deposited = await post(client, f"/ledger/v1/members/{member_id}/deposits", body)
        assert deposited.status_code == 201, deposited.text
        position = deposited.json()["position"]["ledger"]
    seen = await client.get(f"/lending/v1/members/{member_id}", params={"after": f"ledger:{position}"})
    assert seen.status_code == 200, seen.text
    return member_id


async def as_user(client: httpx.AsyncClient, user: str, path: str, body: dict[str, Any]) -> httpx.Response:
    """A POST by the named department user (maker-checker tells users apart by their tokens' subjects)."""
    import uuid

    from tests.support.auth import bearer, signing_key_for_tests, user_token

    token = user_token([signing_key_for_tests()], subject=user)
    return await client.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())} | bearer(token))
