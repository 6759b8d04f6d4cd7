"""The access matrix, generated from every service's route table: each route names a rule, and each
non-public route refuses a missing token, an expired, tampered or foreign-signed one, a caller without
its scope, and (where the route is limited to an area) a caller from another area. A route added without
a rule fails here; so does one whose rule lets the wrong callers in. Then the issue's named cases. One
platform serves the module: the matrix seeds its own records, and the named cases act under other names."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from fastapi.routing import APIRoute

from libs.auth.access import Anywhere, api_routes, rule_of
from libs.auth.principal import ROLE_SCOPES, Principal
from libs.auth.tokens import KeyRing, new_signing_key_pem
from tests.conftest import shared_platform
from tests.support.api import new_group, new_member, post
from tests.support.auth import bearer, partner_token, signing_key_for_tests, user_token
from tests.support.lending import define_product

settings, database_url, broker, running = shared_platform()

ALL_SCOPES = frozenset().union(*ROLE_SCOPES.values())


def _token(principal: Principal, lifetime: int = 3600, now: float | None = None, key: str | None = None) -> str:
    return KeyRing([key or signing_key_for_tests()]).issue(principal, lifetime, now=now)


def _tampered(token: str) -> str:
    head, payload, signature = token.split(".")
    return ".".join((head, payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1], signature))


async def _seed(client: httpx.AsyncClient, pawnshop: httpx.AsyncClient) -> dict[str, str]:
    await define_product(client, guarantors_required=0, approvals_required=1)
    group = (await new_group(client, founded_on="2023-06-01"))["group_id"]
    member = (await new_member(client, group))["member_id"]
    body = {"account": "sajja", "amount": "500.00", "deposited_on": "2024-01-05"}
    deposit = await post(client, f"/ledger/v1/members/{member}/deposits", body)
    position = deposit.json()["position"]["ledger"]
    await client.get(f"/lending/v1/members/{member}", params={"after": f"ledger:{position}"})
    await client.get(f"/reporting/v1/members/{member}/balances", params={"after": f"ledger:{position}"})
    application = {
        "member_id": member,
        "product_id": "occupation",
        "principal": "1000.00",
        "term_months": 6,
        "purpose": "ทุนค้าขาย",
        "guarantor_ids": [],
        "applied_on": "2024-01-10",
    }
    loan = await post(client, "/lending/v1/loans", application)
    assert loan.status_code == 201, loan.text
    ticket = await post(
        pawnshop,
        "/lending/v1/pawn/tickets",
        {
            "branch_code": "SK-01",
            "province_code": "27",
            "district_code": "2701",
            "customer_ref": "c-matrix",
            "item_category": "gold",
            "item_description": "แหวนทอง",
            "appraised_value": "6000.00",
            "principal": "5000.00",
            "pledged_on": "2024-01-10",
            "payout": {"channel": "cash"},
        },
    )
    assert ticket.status_code == 201, ticket.text

    async def projected() -> bool:
        names = await client.get("/reporting/v1/places", params={"level": "group", "code": group})
        return names.status_code == 200

    from tests.support.api import eventually

    await eventually(projected, timeout=20)
    return {
        "group_id": group,
        "member_id": member,
        "loan_id": loan.json()["loan_id"],
        "ticket_id": ticket.json()["ticket_id"],
        "instruction_id": str(uuid.uuid4()),
        "product_id": "occupation",
        "programme_id": "matrix-programme",
        "campaign_id": "savings-50y",
        "district_code": "2701",
        "province_code": "27",
        "kind": "member",
        "level": "district",
        "code": "2701",
        "customer_ref": "c-matrix",
        "partner": "gsb",
        "client_id": "gsb",
        "name": "app.js",
    }


def _routes(running: Any) -> list[tuple[str, APIRoute]]:
    found = []
    for service, runtime in running.runtimes.items():
        found += [(service, route) for route in api_routes(runtime.app.routes)]
    return found


def _example(document: dict[str, Any], route: APIRoute, method: str, ids: dict[str, str]) -> dict[str, Any] | None:
    """The route's documented example body, placed in the seeded district (2701) and naming its member."""
    operation = document["paths"].get(route.path, {}).get(method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    schema = content["schema"]
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    body: dict[str, Any] = dict((schema.get("examples") or [{}])[0])
    for name, value in (("district_code", "2701"), ("province_code", "27"), ("member_id", ids["member_id"])):
        if name in body:
            body[name] = value
    if body.get("level") in ("district", "province"):
        body["level"], body["code"] = "district", "2701"
    return body


DOCUMENTS: dict[str, dict[str, Any]] = {}


async def _call(
    client: httpx.AsyncClient, route: APIRoute, ids: dict[str, str], headers: dict[str, str]
) -> httpx.Response:
    method = sorted(route.methods - {"HEAD"})[0]
    path = route.path_format.format(**{name: ids.get(name, "x") for name in route.param_convertors})
    params = {"level": "district", "code": "2701", "district": "2701", "province": "27", "partner": "gsb"}
    document = DOCUMENTS.get(route.path.split("/")[1], {"paths": {}})
    body = _example(document, route, method, ids)
    content = json.dumps(body).encode() if body is not None else None
    return await client.request(
        method,
        path,
        params=params,
        content=content,
        headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"} | headers,
    )


async def test_every_route_has_a_rule_and_refuses_who_it_must(
    client: httpx.AsyncClient, pawnshop: httpx.AsyncClient, running: Any
) -> None:
    ids = await _seed(client, pawnshop)
    routes = _routes(running)
    for service, runtime in running.runtimes.items():
        DOCUMENTS[service] = runtime.app.openapi()
    unruled = [f"{s} {sorted(r.methods)} {r.path}" for s, r in routes if rule_of(r.endpoint) is None]
    assert unruled == [], f"routes without an access rule: {unruled}"
    assert len(routes) > 80

    anonymous = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url), timeout=30)
    now = time.time()
    department = Principal("matrix-department", "user", ROLE_SCOPES["department"], role="department")
    expired = _token(department, lifetime=60, now=now - 7200)
    foreign = _token(department, key=new_signing_key_pem())
    tampered = _tampered(_token(department))
    no_scopes = _token(Principal("nobody", "partner", frozenset(), partner="other-bank"))
    # Every scope there is, but the district of another province: only area limits can stop this caller.
    elsewhere = _token(
        Principal("officer-1001", "user", ALL_SCOPES, role="district_officer", province_code="10", district_code="1001")
    )
    checked = {"unauthenticated": 0, "scope": 0, "area": 0}
    failures: list[str] = []
    for service, route in routes:
        rule = rule_of(route.endpoint)
        assert rule is not None
        if rule.public:
            continue
        where = f"{service} {sorted(route.methods)} {route.path}"
        for label, headers in (
            ("no token", {}),
            ("expired", bearer(expired)),
            ("foreign key", bearer(foreign)),
            ("tampered", bearer(tampered)),
        ):
            answer = await _call(anonymous, route, ids, headers)
            if answer.status_code != 401:
                failures.append(f"{where}: {label} → {answer.status_code}")
            checked["unauthenticated"] += 1
        if rule.scope:
            answer = await _call(anonymous, route, ids, bearer(no_scopes))
            if answer.status_code != 403:
                failures.append(f"{where}: a caller without {rule.scope} → {answer.status_code}")
            checked["scope"] += 1
        if rule.area is not None and not isinstance(rule.area, Anywhere):
            answer = await _call(anonymous, route, ids, bearer(elsewhere))
            if answer.status_code != 403:
                failures.append(f"{where}: an officer of another area → {answer.status_code} {answer.text[:120]}")
            checked["area"] += 1
        streams = route.path.endswith("/live")  # server-sent events never end: checked in the browser test
        if "GET" in route.methods and rule.scope in ROLE_SCOPES["department"] | {""} and not streams:
            # …and the rule is not a blanket refusal: the department gets past it.
            answer = await _call(anonymous, route, ids, bearer(_token(department)))
            if answer.status_code in (401, 403):
                failures.append(f"{where}: the department was refused: {answer.text[:160]}")
    assert failures == [], "\n".join(failures)
    assert checked["area"] > 40 and checked["scope"] > 70, checked
    await anonymous.aclose()


async def test_partners_officers_and_auditors_stay_in_their_lanes(client: httpx.AsyncClient, running: Any) -> None:
    keys = running.platform.settings.auth_signing_keys
    other_bank = bearer(partner_token(keys, "bank-x", frozenset({"referrals"})))
    gsb = bearer(partner_token(keys, "gsb", frozenset({"referrals"})))
    # A partner reads its own feed, never another's.
    assert (await client.get("/reporting/v1/partners/gsb/referrals", headers=gsb)).status_code == 200
    assert (await client.get("/reporting/v1/partners/gsb/referrals", headers=other_bank)).status_code == 403
    assert (await client.get("/reporting/v1/partners/gsb/webhooks/deliveries", headers=other_bank)).status_code == 403
    outcome = {"referral_id": "3f1c0a9e2b7d4c5e6f708192", "outcome": "contacted"}
    refused = await client.post(
        "/reporting/v1/partners/gsb/outcomes", json=outcome, headers={"Idempotency-Key": "o-1"} | other_bank
    )
    assert refused.status_code == 403
    # …nor anything else of the platform.
    assert (await client.get("/reporting/v1/stats", headers=gsb)).status_code == 403

    # A district officer submits their own district's report, not another's.
    officer = bearer(user_token(keys, "officer-2702", "district_officer", province_code="27", district_code="2702"))
    report = {"level": "district", "code": "2701", "notes": ""}
    other = await client.post(
        "/campaign/v1/campaigns/savings-50y/reports", json=report, headers={"Idempotency-Key": "r-1"} | officer
    )
    assert other.status_code == 403 and "not in your area" in other.json()["detail"]
    own = await client.post(
        "/campaign/v1/campaigns/savings-50y/reports",
        json=report | {"code": "2702"},
        headers={"Idempotency-Key": "r-2"} | officer,
    )
    assert own.status_code == 201, own.text
    assert (
        await client.get("/reporting/v1/stats", params={"level": "district", "code": "2702"}, headers=officer)
    ).status_code == 200
    assert (
        await client.get("/reporting/v1/stats", params={"level": "district", "code": "2701"}, headers=officer)
    ).status_code == 403

    # An auditor reads everywhere and writes nowhere.
    auditor = bearer(user_token(keys, "auditor-1", "auditor"))
    assert (await client.get("/reporting/v1/stats", headers=auditor)).status_code == 200
    group = {"name": "กลุ่มใหม่", "province_code": "27", "district_code": "2701", "founded_on": "2020-01-01"}
    write = await client.post("/ledger/v1/groups", json=group, headers={"Idempotency-Key": "g-1"} | auditor)
    assert write.status_code == 403
    posts = [
        r
        for s, r in _routes(running)
        if "POST" in r.methods and (rule := rule_of(r.endpoint)) is not None and not rule.public
    ]
    for route in posts:
        rule = rule_of(route.endpoint)
        assert rule is not None and rule.scope not in ROLE_SCOPES["auditor"], f"{route.path}: auditors could write"
