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


PAWN_CONSENT = {"partner": "gsb", "purpose": "pawn-customer-referral", "granted": True, "notice_version": "2025-01"}


async def pawn_ticket(
    client: httpx.AsyncClient, customer_ref: str, pledged_on: str, redeemed_on: str, **kw: str
) -> tuple[str, int]:
    """A ticket paid out in cash, renewed on the given days, then redeemed: its stream and last position."""
    body = {
        "branch_code": kw.get("branch_code", "SK-01"),
        "province_code": "27",
        "district_code": "2701",
        "customer_ref": customer_ref,
        "item_category": "gold",
        "item_description": "สร้อยคอทองคำ 96.5% หนัก 1 สลึง",
        "appraised_value": "6000.00",
        "principal": "5000.00",
        "pledged_on": pledged_on,
        "payout": {"channel": "cash"},
    }
    made = await post(client, "/lending/v1/pawn/tickets", body)
    assert made.status_code == 201, made.text
    url = f"/lending/v1/pawn/tickets/{made.json()['ticket_id']}"
    if "renewed_on" in kw:
        renewed = await post(client, f"{url}/renewals", {"on": kw["renewed_on"]})
        assert renewed.status_code == 201, renewed.text
    redeemed = await post(client, f"{url}/redemptions", {"on": redeemed_on})
    assert redeemed.status_code == 201, redeemed.text
    return f"pawn-{made.json()['ticket_id']}", redeemed.json()["position"]["lending"]


async def test_pawn_customers_with_on_time_redemptions_are_referred_through_the_office(
    client: httpx.AsyncClient, pawnshop: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    applied: list[tuple[str, int]] = []
    # c-good: three tickets redeemed by maturity in the 12 months to 2025-06-30, one after a renewal (ต่อดอก)
    # and one on its maturity date itself; the latest pledged at branch SK-02.
    applied.append(await pawn_ticket(pawnshop, "c-good", "2024-09-01", "2024-11-15"))
    applied.append(await pawn_ticket(pawnshop, "c-good", "2024-12-01", "2025-06-10", renewed_on="2025-04-20"))
    applied.append(await pawn_ticket(pawnshop, "c-good", "2025-01-10", "2025-06-09", branch_code="SK-02"))
    # c-late: the same, but one ticket redeemed a day after its maturity date (2025-06-09).
    applied.append(await pawn_ticket(pawnshop, "c-late", "2024-09-01", "2024-11-15"))
    applied.append(await pawn_ticket(pawnshop, "c-late", "2024-12-01", "2025-03-01"))
    applied.append(await pawn_ticket(pawnshop, "c-late", "2025-01-10", "2025-06-10"))
    # c-silent: a good record, but no consent.
    for pledged, redeemed in (("2024-09-01", "2024-11-15"), ("2024-12-01", "2025-03-01"), ("2025-01-10", "2025-05-01")):
        applied.append(await pawn_ticket(pawnshop, "c-silent", pledged, redeemed))

    consents = "/lending/v1/pawn/customers/{}/consents"
    no_notice = await post(pawnshop, consents.format("c-good"), PAWN_CONSENT | {"notice_version": None})
    assert no_notice.status_code == 422 and no_notice.json()["errors"][0]["field"] == "notice_version"
    nothing = await post(pawnshop, consents.format("c-good"), PAWN_CONSENT | {"granted": False, "notice_version": None})
    assert nothing.status_code == 409 and nothing.headers["content-type"] == "application/problem+json"
    granted = {}
    for ref in ("c-good", "c-late"):
        granted[ref] = await post(pawnshop, consents.format(ref), PAWN_CONSENT, key=f"consent-{ref}")
        assert granted[ref].status_code == 201, granted[ref].text
        applied.append((f"pawn-customer-{ref}", granted[ref].json()["position"]["lending"]))
    # A retry with the same key answers as the first time; a second grant of the same notice is refused.
    replayed = await post(pawnshop, consents.format("c-good"), PAWN_CONSENT, key="consent-c-good")
    assert (replayed.status_code, replayed.json()) == (201, granted["c-good"].json())
    again = await post(pawnshop, consents.format("c-good"), PAWN_CONSENT)
    assert again.status_code == 409
    history = (await pawnshop.get(consents.format("c-good"))).json()
    assert [(c["partner"], c["purpose"], c["notice_version"]) for c in history["in_force"]] == [
        ("gsb", "pawn-customer-referral", "2025-01")
    ]
    assert (await pawnshop.get(consents.format("c-nobody"))).json() == {
        "customer_ref": "c-nobody",
        "in_force": [],
        "history": [],
    }
    for stream, position in applied:
        await seen_stream(pool, stream, position)

    refreshed = await post(client, "/reporting/v1/partners/gsb/referrals/refresh", {"as_of": "2025-06-30"})
    assert refreshed.status_code == 201 and refreshed.json()["referred"] == 1  # c-good only
    assert (await post(client, "/reporting/v1/partners/gsb/referrals/refresh", {"as_of": "2025-06-30"})).json()[
        "referred"
    ] == 0

    [referral] = (await client.get("/reporting/v1/partners/gsb/referrals")).json()["items"]
    assert (referral["kind"], referral["purpose"]) == ("referral", "pawn-customer-referral")
    # Only the office's reference and the branch of the latest pledge: the bank goes through the office.
    assert referral["contact"] == {"customer_ref": "c-good", "branch_code": "SK-02"}
    assert len(referral["referral_id"]) == 24 and "c-good" not in referral["referral_id"]
    assert referral["evidence"]["redemptions"] == "ไถ่ถอนตรงเวลา 3 ครั้งใน 12 เดือน (เกณฑ์อย่างน้อย 3) รวมต่อดอกตรงเวลา 1 ครั้ง"
    assert referral["evidence"]["forfeits_passed"] == "ผ่าน" and referral["score"] == "75.00"
    logged = await pool.fetch("select partner, purpose, member_id, customer_ref, fields from reporting.disclosure_log")
    assert [(r["partner"], r["purpose"], r["member_id"], r["customer_ref"], sorted(r["fields"])) for r in logged] == [
        ("gsb", "pawn-customer-referral", None, "c-good", ["branch_code", "customer_ref"])
    ]

    # Withdrawal: a revocation in the feed at once, and the contact no longer given out.
    withdrawn = await post(
        pawnshop, consents.format("c-good"), PAWN_CONSENT | {"granted": False, "notice_version": None}
    )
    assert withdrawn.status_code == 201, withdrawn.text
    await seen_stream(pool, "pawn-customer-c-good", withdrawn.json()["position"]["lending"])
    later = (await client.get("/reporting/v1/partners/gsb/referrals", params={"after": referral["seq"]})).json()
    assert [(i["kind"], i["referral_id"]) for i in later["items"]] == [("revocation", referral["referral_id"])]
    assert (await client.get("/reporting/v1/partners/gsb/referrals")).json()["items"][0]["contact"] is None
    assert await pool.fetchval("select count(*) from reporting.disclosure_log") == 1
    assert (await post(client, "/reporting/v1/partners/gsb/referrals/refresh", {"as_of": "2025-06-30"})).json()[
        "referred"
    ] == 0
    history = (await pawnshop.get(consents.format("c-good"))).json()
    assert history["in_force"] == [] and [h["granted"] for h in history["history"]] == [True, False]
    ok = await post(
        client, "/reporting/v1/partners/gsb/outcomes", {"referral_id": referral["referral_id"], "outcome": "contacted"}
    )
    assert ok.status_code == 201


async def seen_stream(pool: asyncpg.Pool, stream: str, position: int) -> None:
    assert await wait_until_applied(pool, "reporting", "referral_facts", stream, position, 15), stream
