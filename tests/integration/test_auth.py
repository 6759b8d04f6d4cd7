"""Identity end to end: partner clients get short-lived signed tokens by OAuth2 client credentials, any
party verifies them from the published JWKS alone, officers sign in with a password (argon2) to a
session cookie that needs its CSRF token for changes; sign-in throttled per address and per name, never
locking an account; sessions and tokens that end when they are signed out or withdrawn; key rotation;
the audit of who did what; body size limits. One platform serves the module (its settings carry the
rotation and a low rate limit): each test uses its own names, addresses and area."""

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
from tests.conftest import shared_platform
from tests.support.api import eventually, new_group, new_member, post
from tests.support.auth import bearer, signing_key_for_tests, user_token

OLD_KEY = new_signing_key_pem()

# Rotation in progress: a new key signs, the old one is still published.
settings, database_url, broker, running = shared_platform(
    auth_signing_keys=[signing_key_for_tests(), OLD_KEY], rate_limit_per_minute=40
)


def _anonymous(client: httpx.AsyncClient, address: str | None = None) -> httpx.AsyncClient:
    """A client without the department's token; `address` makes it come from another client address."""
    transport = client._transport
    if address is not None:
        assert isinstance(transport, httpx.ASGITransport)
        transport = httpx.ASGITransport(app=transport.app, client=(address, 40_000))
    return httpx.AsyncClient(transport=transport, base_url=str(client.base_url), timeout=30)


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


async def test_officers_sign_in_with_sessions_csrf_throttling_and_sign_out(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
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

    # Wrong passwords slow the guessing address down; they never lock the account: its owner, from
    # their own address, signs in at once. Unknown and real names get the same answers.
    guesser = _anonymous(client, "203.0.113.7")
    answers = []
    for name in ("officer-2701", "nobody", "officer-2701", "nobody", "officer-2701"):
        wrong = await guesser.post("/auth/v1/sessions", json={"username": name, "password": "guess"})
        answers.append((wrong.status_code, wrong.json()["detail"]))
    assert answers[:3] == [(401, "wrong username or password")] * 3
    assert [a[0] for a in answers[3:]] == [429, 429]
    throttled = await guesser.post("/auth/v1/sessions", json={"username": "officer-2701", "password": "guess"})
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
    owner = _anonymous(client, "10.20.30.40")
    right = await owner.post("/auth/v1/sessions", json={"username": "officer-2701", "password": officer["password"]})
    assert right.status_code == 201, right.text
    assert all(status != 423 for status, _ in answers)

    # Signing out ends the session itself, not just the cookie: a copy of it no longer reads or writes.
    stolen = {"Cookie": f"sajja_session={signed.cookies['sajja_session']}", "X-CSRF-Token": csrf}
    signed_out = await browser.delete("/auth/v1/sessions")
    assert signed_out.status_code == 204
    assert (await browser.get("/auth/v1/me")).status_code == 401
    copy = _anonymous(client, "198.51.100.5")
    read = await copy.get("/auth/v1/me", headers=stolen)
    assert read.status_code == 401 and "session has ended" in read.json()["detail"]
    write = await copy.post("/ledger/v1/groups", json=group, headers=stolen | {"Idempotency-Key": "g-4"})
    assert write.status_code == 401
    # The owner's other session goes on.
    assert (await owner.get("/auth/v1/me")).status_code == 200
    for c in (browser, guesser, owner, copy):
        await c.aclose()


async def test_deactivating_or_resetting_a_user_ends_all_their_sessions(client: httpx.AsyncClient) -> None:
    user = {
        "username": "province-27",
        "display_name": "เจ้าหน้าที่จังหวัดสระแก้ว",
        "role": "province_officer",
        "province_code": "27",
        "password": "first-passphrase-2569",
    }
    assert (await post(client, "/auth/v1/users", user)).status_code == 201
    sessions = []
    for i in range(2):  # signed in on two devices
        device = _anonymous(client, f"10.0.0.{i + 1}")
        signed = await device.post(
            "/auth/v1/sessions", json={"username": user["username"], "password": user["password"]}
        )
        assert signed.status_code == 201, signed.text
        sessions.append(device)
    assert [
        (await d.get("/reporting/v1/stats", params={"level": "province", "code": "27"})).status_code for d in sessions
    ] == [200, 200]

    reset = await post(client, "/auth/v1/users/province-27/password", {"password": "second-passphrase-2569"})
    assert reset.status_code == 204, reset.text
    assert [(await d.get("/auth/v1/me")).status_code for d in sessions] == [401, 401]
    device = sessions[0]
    old = await device.post("/auth/v1/sessions", json={"username": "province-27", "password": user["password"]})
    assert old.status_code == 401
    new = await device.post("/auth/v1/sessions", json={"username": "province-27", "password": "second-passphrase-2569"})
    assert new.status_code == 201, new.text
    assert (await device.get("/auth/v1/me")).status_code == 200

    # Users change their own password with the current one; every session ends, this one too.
    csrf = new.json()["csrf_token"]
    wrong = await device.post(
        "/auth/v1/me/password",
        json={"current_password": "not-it", "new_password": "third-passphrase-2569"},
        headers={"X-CSRF-Token": csrf},
    )
    assert wrong.status_code == 403
    changed = await device.post(
        "/auth/v1/me/password",
        json={"current_password": "second-passphrase-2569", "new_password": "third-passphrase-2569"},
        headers={"X-CSRF-Token": csrf},
    )
    assert changed.status_code == 204, changed.text
    assert (await device.get("/auth/v1/me")).status_code == 401

    again = await device.post(
        "/auth/v1/sessions", json={"username": "province-27", "password": "third-passphrase-2569"}
    )
    assert again.status_code == 201
    deactivated = await post(client, "/auth/v1/users/province-27/deactivation", {})
    assert deactivated.status_code == 200 and deactivated.json() == {"username": "province-27", "active": False}
    assert (await device.get("/auth/v1/me")).status_code == 401
    refused = await device.post(
        "/auth/v1/sessions", json={"username": "province-27", "password": "third-passphrase-2569"}
    )
    assert (refused.status_code, refused.json()["detail"]) == (401, "wrong username or password")
    listed = (await client.get("/auth/v1/users")).json()["items"]
    assert next(u for u in listed if u["username"] == "province-27")["active"] is False
    assert (await post(client, "/auth/v1/users/province-27/activation", {})).status_code == 200
    back = await device.post("/auth/v1/sessions", json={"username": "province-27", "password": "third-passphrase-2569"})
    assert back.status_code == 201
    assert (await post(client, "/auth/v1/users/nobody-here/deactivation", {})).status_code == 404
    for d in sessions:
        await d.aclose()


TICKET = "/lending/v1/pawn/tickets/0190f0a4-0000-7000-8000-000000000000"


async def test_deactivating_or_rotating_a_partner_client_ends_its_tokens(client: httpx.AsyncClient) -> None:
    made = await post(
        client, "/auth/v1/clients", {"client_id": "pawn-prod", "partner": "pawnshop", "scopes": ["pawn:read"]}
    )
    secret = made.json()["client_secret"]
    partner = _anonymous(client, "192.0.2.50")
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    async def token(secret: str) -> httpx.Response:
        body = f"grant_type=client_credentials&client_id=pawn-prod&client_secret={secret}".encode()
        return await partner.post("/auth/v1/token", content=body, headers=form)

    first = bearer((await token(secret)).json()["access_token"])
    assert (await partner.get(TICKET, headers=first)).status_code != 401

    rotated = await post(client, "/auth/v1/clients/pawn-prod/secrets", {})
    assert rotated.status_code == 201
    assert (await partner.get(TICKET, headers=first)).status_code == 401
    assert (await token(secret)).status_code == 401
    new_secret = rotated.json()["client_secret"]
    second = bearer((await token(new_secret)).json()["access_token"])
    assert (await partner.get(TICKET, headers=second)).status_code != 401

    assert (await post(client, "/auth/v1/clients/pawn-prod/deactivation", {})).status_code == 200
    answer = await partner.get(TICKET, headers=second)
    assert answer.status_code == 401 and "revoked" in answer.json()["detail"]
    assert (await token(new_secret)).status_code == 401
    assert (await post(client, "/auth/v1/clients/pawn-prod/activation", {})).status_code == 200
    third = bearer((await token(new_secret)).json()["access_token"])
    assert (await partner.get(TICKET, headers=third)).status_code != 401
    # The list every service reads names nobody: hashes only.
    listed = (await partner.get("/auth/v1/revocations")).json()
    assert listed["subjects"] and "pawn-prod" not in str(listed)
    await partner.aclose()


async def test_the_audit_says_who_did_what_where(client: httpx.AsyncClient, running: Any) -> None:
    keys = running.platform.settings.auth_signing_keys
    # Nakhon Ratchasima: a province no other test of the module acts in (they work in Sa Kaeo, 27).
    officer = bearer(user_token(keys, "kannika", "district_officer", province_code="30", district_code="3001"))
    gid = (await new_group(client, province_code="30", district_code="3001"))["group_id"]
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
        "3001",
    )
    everyone = (await client.get("/reporting/v1/audit", params={"province": "30"})).json()["items"]
    assert {e["actor"]["id"] for e in everyone} == {"test-department", "kannika"}
    # The audit is itself restricted: not for district officers, and province officers see their province.
    assert (await client.get("/reporting/v1/audit", headers=officer)).status_code == 403
    province = bearer(user_token(keys, "prasert", "province_officer", province_code="10"))
    assert (await client.get("/reporting/v1/audit", params={"province": "30"}, headers=province)).status_code == 403
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
