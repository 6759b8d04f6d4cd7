"""Identity end to end: partner clients get short-lived signed tokens by OAuth2 client credentials, any
party verifies them from the published JWKS alone, officers sign in with a password (argon2) to a
session cookie that needs its CSRF token for changes and locks after repeated failures; key rotation;
the audit of who did what; body size limits."""

from __future__ import annotations

import base64
import time
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from libs.auth.principal import Principal
from libs.auth.tokens import InvalidToken, KeyRing, Verifier, new_signing_key_pem
from libs.events.settings import Settings
from tests.conftest import settings_for_test
from tests.support.api import eventually, new_group, new_member, post
from tests.support.auth import bearer, signing_key_for_tests, user_token

OLD_KEY = new_signing_key_pem()


@pytest.fixture
def settings() -> Settings:
    # Rotation in progress: a new key signs, the old one is still published.
    return settings_for_test(
        auth_signing_keys=[signing_key_for_tests(), OLD_KEY], login_lockout_failures=3, rate_limit_per_minute=40
    )


def _anonymous(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url), timeout=30)


async def test_client_credentials_tokens_verified_from_the_published_keys(client: httpx.AsyncClient) -> None:
    made = await post(client, "/auth/v1/clients", {"client_id": "gsb-test", "partner": "gsb", "scopes": ["referrals"]})
    assert made.status_code == 201, made.text
    secret = made.json()["client_secret"]
    anonymous = _anonymous(client)
    basic = {"Authorization": "Basic " + base64.b64encode(f"gsb-test:{secret}".encode()).decode()}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    issued = await anonymous.post("/auth/v1/token", content=b"grant_type=client_credentials", headers=basic | form)
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 900, "referrals")
    assert issued.headers["cache-control"] == "no-store"

    # Anyone can verify it with the JWKS alone (PyJWT here, not the platform's verifier).
    jwks = (await anonymous.get("/auth/v1/jwks.json")).json()
    assert len(jwks["keys"]) == 2 and {k["alg"] for k in jwks["keys"]} == {"ES256"}
    kid = jwt.get_unverified_header(body["access_token"])["kid"]
    key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
    claims = jwt.decode(body["access_token"], key, algorithms=["ES256"], audience="sajja", issuer="sajja-auth")
    assert (claims["sub"], claims["partner"], claims["kind"]) == ("gsb-test", "gsb", "partner")
    assert claims["exp"] - claims["iat"] == 900

    token = bearer(body["access_token"])
    assert (await anonymous.get("/reporting/v1/partners/gsb/referrals", headers=token)).status_code == 200
    assert (await anonymous.get("/reporting/v1/stats", headers=token)).status_code == 403

    # Refusals, in OAuth2's own error shape.
    wrong = await anonymous.post(
        "/auth/v1/token", content=b"grant_type=client_credentials&client_id=gsb-test&client_secret=nope", headers=form
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    grant = await anonymous.post("/auth/v1/token", content=b"grant_type=password", headers=basic | form)
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    scope = await anonymous.post(
        "/auth/v1/token", content=b"grant_type=client_credentials&scope=pawn:write", headers=basic | form
    )
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"
    # Partners are never given officers' scopes.
    greedy = await post(client, "/auth/v1/clients", {"client_id": "x-bank", "partner": "x", "scopes": ["ledger:write"]})
    assert greedy.status_code == 422

    # A rotated secret: the old one stops working.
    rotated = await post(client, "/auth/v1/clients/gsb-test/secrets", {})
    assert rotated.status_code == 201 and rotated.json()["client_secret"] != secret
    again = await anonymous.post("/auth/v1/token", content=b"grant_type=client_credentials", headers=basic | form)
    assert again.status_code == 401
    await anonymous.aclose()


async def test_tokens_from_the_old_key_still_pass_during_a_rotation(client: httpx.AsyncClient) -> None:
    principal = Principal("somchai", "user", frozenset({"reporting:read"}), role="auditor")
    old = KeyRing([OLD_KEY]).issue(principal, 600)
    anonymous = _anonymous(client)
    assert (await anonymous.get("/reporting/v1/stats", headers=bearer(old))).status_code == 200
    # Once the old key is dropped from the published set, its tokens no longer verify.
    newest_only = Verifier(KeyRing([signing_key_for_tests()]).jwks())
    with pytest.raises(InvalidToken, match="unknown key"):
        newest_only.verify(old)
    expired = KeyRing([signing_key_for_tests()]).issue(principal, 60, now=time.time() - 3600)
    answer = await anonymous.get("/reporting/v1/stats", headers=bearer(expired))
    assert answer.status_code == 401 and answer.json()["detail"] == "the token has expired"
    await anonymous.aclose()


async def test_officers_sign_in_with_sessions_csrf_and_lock_out(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    officer = {
        "username": "officer-2701",
        "display_name": "เจ้าหน้าที่อำเภอเมืองสระแก้ว",
        "role": "district_officer",
        "province_code": "27",
        "district_code": "2701",
        "password": "a-long-passphrase-2569",
    }
    assert (await post(client, "/auth/v1/users", officer)).status_code == 201
    stored = await pool.fetchval("select password_hash from auth.users where username = 'officer-2701'")
    assert stored.startswith("$argon2id$") and "passphrase" not in stored
    short = await post(client, "/auth/v1/users", officer | {"username": "x-officer", "password": "short"})
    assert short.status_code == 422
    no_area = await post(client, "/auth/v1/users", officer | {"username": "y-officer", "district_code": None})
    assert no_area.status_code == 422 and "district_code" in no_area.json()["detail"]

    browser = _anonymous(client)
    signed = await browser.post("/auth/v1/sessions", json={"username": "officer-2701", "password": officer["password"]})
    assert signed.status_code == 201, signed.text
    assert "HttpOnly" in signed.headers.get_list("set-cookie")[0]
    csrf = signed.json()["csrf_token"]
    me = (await browser.get("/auth/v1/me")).json()
    assert (me["subject"], me["role"], me["district_code"]) == ("officer-2701", "district_officer", "2701")

    group = {"name": "กลุ่มใหม่", "province_code": "27", "district_code": "2701", "founded_on": "2020-01-01"}
    without = await browser.post("/ledger/v1/groups", json=group, headers={"Idempotency-Key": "g-1"})
    assert without.status_code == 403 and "CSRF" in without.json()["detail"]
    made = await browser.post("/ledger/v1/groups", json=group, headers={"Idempotency-Key": "g-2", "X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    elsewhere = await browser.post(
        "/ledger/v1/groups",
        json=group | {"district_code": "2702"},
        headers={"Idempotency-Key": "g-3", "X-CSRF-Token": csrf},
    )
    assert elsewhere.status_code == 403

    # Three wrong passwords lock the account, even against the right one afterwards.
    other = _anonymous(client)
    for _ in range(2):
        wrong = await other.post("/auth/v1/sessions", json={"username": "officer-2701", "password": "guess"})
        assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong username or password"
    third = await other.post("/auth/v1/sessions", json={"username": "officer-2701", "password": "guess"})
    assert third.status_code == 423
    right = await other.post("/auth/v1/sessions", json={"username": "officer-2701", "password": officer["password"]})
    assert right.status_code == 423 and "try again after" in right.json()["detail"]
    unknown = await other.post("/auth/v1/sessions", json={"username": "nobody", "password": "guess"})
    assert unknown.status_code == 401 and unknown.json()["detail"] == "wrong username or password"

    signed_out = await browser.delete("/auth/v1/sessions")
    assert signed_out.status_code == 204
    assert (await browser.get("/auth/v1/me")).status_code == 401
    await browser.aclose()
    await other.aclose()


async def test_the_audit_says_who_did_what_where(client: httpx.AsyncClient, running: Any) -> None:
    keys = running.platform.settings.auth_signing_keys
    officer = bearer(user_token(keys, "kannika", "district_officer", province_code="27", district_code="2701"))
    gid = (await new_group(client))["group_id"]
    member = (await new_member(client, gid))["member_id"]
    deposit = {"account": "sajja", "amount": "100.00", "deposited_on": "2024-01-05"}
    made = await client.post(
        f"/ledger/v1/members/{member}/deposits", json=deposit, headers={"Idempotency-Key": "d-1"} | officer
    )
    assert made.status_code == 201, made.text

    async def audited() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = (await client.get("/reporting/v1/audit", params={"actor": "kannika"})).json()[
            "items"
        ]
        return items or None

    [entry] = await eventually(audited)
    assert (entry["event_type"], entry["actor"], entry["district_code"]) == (
        "ledger.SavingsDeposited",
        {"kind": "user", "id": "kannika"},
        "2701",
    )
    everyone = (await client.get("/reporting/v1/audit", params={"province": "27"})).json()["items"]
    assert {e["actor"]["id"] for e in everyone} == {"test-department", "kannika"}
    # The audit is itself restricted: not for district officers, and province officers see their province.
    assert (await client.get("/reporting/v1/audit", headers=officer)).status_code == 403
    province = bearer(user_token(keys, "prasert", "province_officer", province_code="10"))
    assert (await client.get("/reporting/v1/audit", params={"province": "27"}, headers=province)).status_code == 403
    assert (await client.get("/reporting/v1/audit", params={"province": "10"}, headers=province)).status_code == 200


async def test_oversized_bodies_are_refused(client: httpx.AsyncClient) -> None:
    huge = b'{"name": "' + b"x" * 2_000_000 + b'"}'
    answer = await client.post(
        "/ledger/v1/groups", content=huge, headers={"Idempotency-Key": "big", "Content-Type": "application/json"}
    )
    assert answer.status_code == 413 and answer.json()["title"] == "Request too large"

    async def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 60_000

    streamed = await client.post(
        "/ledger/v1/groups", content=chunks(), headers={"Idempotency-Key": "big-2", "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


async def test_each_client_is_rate_limited(client: httpx.AsyncClient, running: Any) -> None:
    keys = running.platform.settings.auth_signing_keys
    busy = bearer(user_token(keys, "busy-officer", "auditor"))
    calm = bearer(user_token(keys, "calm-officer", "auditor"))
    answers = [(await client.get("/reporting/v1/stats", headers=busy)).status_code for _ in range(41)]
    assert answers[:40] == [200] * 40 and answers[40] == 429
    # Another caller is not held back by the busy one.
    assert (await client.get("/reporting/v1/stats", headers=calm)).status_code == 200
