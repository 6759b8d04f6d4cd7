"""The GSB referral feed: eligibility rules as data, only for consenting members, pseudonymous ids,
contact data read from the register when served (and logged), revocation at once on withdrawal,
outcomes posted back, and the webhook signature checked by an independent implementation."""

from __future__ import annotations

import hashlib

import asyncpg
import httpx

from libs.events.projector import wait_until_applied
from services.reporting.referrals import sign_webhook
from tests.support.api import new_group, new_member, post

CONSENT = {"partner": "gsb", "purpose": "loan-referral", "granted": True, "notice_version": "2024-01"}


async def seen(pool: asyncpg.Pool, member: str, position: int) -> None:
    assert await wait_until_applied(pool, "reporting", "referral_facts", f"member-{member}", position, 15)


async def test_the_referral_feed_from_consent_to_revocation(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    gid = (await new_group(client, founded_on="2020-01-01"))["group_id"]
    a = await new_member(client, gid, seed=9101, full_name="อรุณี ออมดี", phone="0811111111", joined_on="2023-01-01")
    b = await new_member(client, gid, seed=9102, full_name="บุญชัย ไม่ยินยอม", joined_on="2023-01-01")
    c = await new_member(client, gid, seed=9103, full_name="ใหม่ สมัครใหม่", joined_on="2024-10-01")
    d = await new_member(client, gid, seed=9104, full_name="ดวงใจ ขาดส่ง", joined_on="2023-01-01")
    positions: dict[str, int] = {}
    for m in (a, c, d):
        granted = await post(client, f"/ledger/v1/members/{m['member_id']}/consents", CONSENT)
        positions[m["member_id"]] = granted.json()["position"]["ledger"]
    await post(
        client,
        f"/ledger/v1/members/{a['member_id']}/deposits",
        {"account": "sajja", "amount": "100.00", "deposited_on": "2024-11-05"},
    )
    closed = (await post(client, f"/ledger/v1/groups/{gid}/month-closes", {"month": "2024-11"})).json()
    for member_id, position in closed["member_positions"].items():
        positions[member_id] = max(positions.get(member_id, 0), position["ledger"])
    assert set(closed["member_positions"]) == {b["member_id"], c["member_id"], d["member_id"]}  # a paid
    for member_id, position in positions.items():
        await seen(pool, member_id, position)
    assert await pool.fetchval("select count(*) from reporting.referral_consents where in_force") == 3

    refreshed = await post(client, "/reporting/v1/partners/gsb/referrals/refresh", {"as_of": "2024-12-31"})
    assert (
        refreshed.status_code == 201 and refreshed.json()["referred"] == 1
    )  # a only: c too new, d missed, b no consent
    again = await post(client, "/reporting/v1/partners/gsb/referrals/refresh", {"as_of": "2024-12-31"})
    assert again.json()["referred"] == 0

    page = (await client.get("/reporting/v1/partners/gsb/referrals")).json()
    [referral] = page["items"]
    assert referral["kind"] == "referral" and referral["contact"] == {"full_name": "อรุณี ออมดี", "phone": "0811111111"}
    assert a["member_id"] not in referral["referral_id"] and len(referral["referral_id"]) == 24
    assert referral["evidence"]["membership_passed"] == "ผ่าน" and float(referral["score"]) > 50
    logged = await pool.fetch("select partner, fields from reporting.disclosure_log")
    assert [(r["partner"], sorted(r["fields"])) for r in logged] == [("gsb", ["full_name", "phone"])]

    # Outcomes come back for known referrals only.
    ok = await post(
        client, "/reporting/v1/partners/gsb/outcomes", {"referral_id": referral["referral_id"], "outcome": "contacted"}
    )
    assert ok.status_code == 201
    unknown = await post(client, "/reporting/v1/partners/gsb/outcomes", {"referral_id": "nope", "outcome": "approved"})
    assert unknown.status_code == 404

    # Withdrawal: the feed carries a revocation at once, and the contact is no longer given out.
    withdrawn = await post(
        client, f"/ledger/v1/members/{a['member_id']}/consents", CONSENT | {"granted": False, "notice_version": None}
    )
    await seen(pool, a["member_id"], withdrawn.json()["position"]["ledger"])
    later = (await client.get("/reporting/v1/partners/gsb/referrals", params={"after": referral["seq"]})).json()
    assert [(i["kind"], i["referral_id"]) for i in later["items"]] == [("revocation", referral["referral_id"])]
    replay = (await client.get("/reporting/v1/partners/gsb/referrals")).json()["items"][0]
    assert replay["contact"] is None
    assert await pool.fetchval("select count(*) from reporting.disclosure_log") == 1
    assert (await client.get("/reporting/v1/partners/bank-x/referrals")).status_code == 404


def _hmac_sha256(key: bytes, message: bytes) -> str:
    """RFC 2104 by hand: an implementation independent of the one under test."""
    block = 64
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(k ^ 0x36 for k in key) + message).digest()
    return hashlib.sha256(bytes(k ^ 0x5C for k in key) + inner).hexdigest()


def test_webhook_signatures_verify_with_an_independent_implementation() -> None:
    body = b'{"kind":"referral","referral_id":"abc"}'
    header = sign_webhook("whsec-test", 1732457000, body)
    timestamp, signature = (part.split("=", 1)[1] for part in header.split(","))
    assert signature == _hmac_sha256(b"whsec-test", timestamp.encode() + b"." + body)
    # Another time or body gives another signature (replays with a new timestamp do not verify).
    assert sign_webhook("whsec-test", 1732457001, body) != header
    assert sign_webhook("whsec-test", 1732457000, body + b" ") != header
