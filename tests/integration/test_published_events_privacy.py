"""No published event carries a national ID, a name or a phone number (DESIGN §3, issue 12). A history that
produces every ledger event type and fills every free-text field of every event type — reasons, memos,
purposes, notes, descriptions, payout references, nomination texts, citations — with a marker holding a valid
national ID, a phone number and a name; every topic read back as partners would see it. The services' own
reads still show the texts (from their free-text registers), and erasure blanks them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from libs.events.free_text import reference_fields
from libs.events.kafka import topic_for
from libs.events.projector import wait_until_applied
from libs.events.registry import REGISTRY
from libs.events.settings import Settings
from services.ledger.onboarding import workbook
from services.ledger.onboarding.workbook import EXAMPLE_MEMBERS
from tests.integration.test_import import finished, start
from tests.support.api import eventually, national_id, new_group, new_member, post
from tests.support.kafka import read_topic_values
from tests.support.lending import as_user, define_product

PROGRAMME = {
    "programme_id": "privacy-test",
    "name_th": "สินเชื่อทดสอบ",
    "name_en": "Test credit",
    "funding_source": "local_budget",
    "funder": "อบจ.สระแก้ว",
    "interest_method": "flat",
    "interest_rate_percent": "12.00",
    "rate_per": "year",
    "max_amount": "30000.00",
    "max_term_months": 12,
    "province_code": "27",
    "budget": "50000.00",
    "funded_on": "2024-01-02",
}


class Markers:
    """Free text for each field, each holding a person's valid national ID, phone number and name."""

    def __init__(self) -> None:
        self.by_field: dict[str, str] = {}
        self.forbidden: list[str] = []

    def __call__(self, field: str) -> str:
        i = len(self.by_field) + 1
        ident, phone, name, thai = national_id(7700 + i), f"08{i:08d}", f"Manee Marker{i:02d}", f"มานี เครื่องหมาย{i:02d}"
        text = f"{field}: {thai} {name} บัตร {ident} โทร {phone}"
        self.by_field[field] = text
        self.forbidden += [ident, phone, name, thai]
        return text


async def _ok(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_no_published_event_contains_personal_data(
    client: httpx.AsyncClient,
    pawnshop: httpx.AsyncClient,
    settings: Settings,
    broker: object,
    pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    mark = Markers()
    people = [(4101, "บุญมี ศรีสุข", "0812345678"), (4102, "Somchai Jaidee", "+66 89 765 4321")]
    gid = (await new_group(client, founded_on="2023-06-01", rules={"entrance_fee": "10.00"}))["group_id"]
    members, last_position = [], {}
    for seed, name, phone in people:
        enrolled = await new_member(
            client,
            gid,
            seed=seed,
            full_name=name,
            phone=phone,
            joined_on="2023-12-01",
            beneficiaries=[{"full_name": f"ทายาท {name}", "relationship": "บุตร", "share_percent": "100"}],
        )
        members.append(enrolled["member_id"])
        last_position[enrolled["member_id"]] = enrolled["position"]["ledger"]
    first, second = members
    m = f"/ledger/v1/members/{first}"
    deposited = await _ok(
        await post(client, f"{m}/deposits", {"account": "sajja", "amount": "500.00", "deposited_on": "2024-01-05"})
    )
    await _ok(
        await post(client, f"{m}/deposits", {"account": "special", "amount": "80.00", "deposited_on": "2024-01-06"})
    )
    await _ok(
        await post(client, f"{m}/withdrawals", {"account": "special", "amount": "30.00", "withdrawn_on": "2024-01-07"})
    )
    reversal = {"transaction_id": deposited["transaction_id"], "reason": mark("reversal reason")}
    await _ok(await post(client, f"{m}/reversals", reversal))
    await _ok(
        await post(client, f"{m}/deposits", {"account": "sajja", "amount": "500.00", "deposited_on": "2024-01-08"})
    )
    await _ok(await post(client, f"{m}/commitment", {"monthly_commitment": "150.00", "effective_on": "2024-02-01"}))
    consent = {"partner": "gsb", "purpose": "loan-referral", "granted": True, "notice_version": "v1"}
    await _ok(await post(client, f"{m}/consents", consent))
    changed = await _ok(
        await post(client, f"{m}/consents", {"partner": "gsb", "purpose": "loan-referral", "granted": False})
    )
    last_position[first] = changed["position"]["ledger"]
    entry = {
        "posted_on": "2024-01-20",
        "memo": mark("journal memo"),
        "lines": [{"account": "1010", "debit": "90.00"}, {"account": "4030", "credit": "90.00"}],
    }
    await _ok(await post(client, f"/ledger/v1/groups/{gid}/journal-entries", entry))
    for month in ("2023-12", "2024-01"):
        await _ok(await post(client, f"/ledger/v1/groups/{gid}/month-closes", {"month": month}))
    allocation = {"period_start": "2024-01", "period_end": "2024-01", "allocated_on": "2024-02-10"}
    await _ok(await post(client, f"/ledger/v1/groups/{gid}/profit-allocations", allocation))

    # Lending: a loan the group's cash cannot pay out (the ledger records its refusal), one rejected, and a
    # programme loan paid out of its budget, rescheduled and written off.
    await define_product(client, guarantors_required=0, approvals_required=1, max_savings_multiple=None)
    seen = await client.get(f"/lending/v1/members/{first}", params={"after": f"ledger:{last_position[first]}"})
    assert seen.status_code == 200, seen.text
    application = {
        "member_id": first,
        "product_id": "occupation",
        "principal": "40000.00",
        "term_months": 12,
        "purpose": mark("loan purpose"),
    }
    loan_id = (await _ok(await as_user(client, "maker", "/lending/v1/loans", application)))["loan_id"]
    await _ok(await as_user(client, "checker", f"/lending/v1/loans/{loan_id}/approvals", {}))
    disbursing = await post(client, f"/lending/v1/loans/{loan_id}/disbursements", {"disbursed_on": "2024-02-12"})
    assert disbursing.status_code == 202
    refused = (await client.get(f"/lending/v1/loans/{loan_id}", params={"wait": 10})).json()
    assert refused["disbursement_failure"], refused
    rejected_id = (await _ok(await as_user(client, "maker", "/lending/v1/loans", application)))["loan_id"]
    rejection = {"reason": mark("rejection reason")}
    await _ok(await as_user(client, "checker", f"/lending/v1/loans/{rejected_id}/rejections", rejection))

    await _ok(await post(client, "/lending/v1/programmes", PROGRAMME))
    funding = {"amount": "1000.00", "funded_on": "2024-01-03", "note": mark("programme note")}
    await _ok(await post(client, "/lending/v1/programmes/privacy-test/funding", funding))
    programme_loan = {
        "member_id": first,
        "programme_id": "privacy-test",
        "principal": "6000.00",
        "term_months": 6,
        "purpose": application["purpose"],
        "applied_on": "2024-01-10",
    }
    lent = (await _ok(await as_user(client, "officer", "/lending/v1/loans", programme_loan)))["loan_id"]
    await _ok(await as_user(client, "head", f"/lending/v1/loans/{lent}/approvals", {}))
    await _ok(await post(client, f"/lending/v1/loans/{lent}/disbursements", {"disbursed_on": "2024-01-15"}), 202)
    reschedule = {"term_months": 10, "rescheduled_on": "2024-01-15", "reason": mark("reschedule reason")}
    await _ok(await as_user(client, "head", f"/lending/v1/loans/{lent}/reschedules", reschedule))
    write_off = {"written_off_on": "2024-01-16", "reason": mark("write-off reason")}
    await _ok(await as_user(client, "head", f"/lending/v1/loans/{lent}/write-offs", write_off))

    # Pawn: customer references that are personal data are refused at the edge, naming the field.
    ticket = {
        "branch_code": "SK-01",
        "province_code": "27",
        "district_code": "2701",
        "customer_ref": "PS-0001-2567",
        "item_category": "gold",
        "item_description": mark("item description"),
        "appraised_value": "12000.00",
        "principal": "10000.00",
        "pledged_on": "2024-01-10",
        "payout": {"channel": "bank_transfer", "bank_code": "030", "account_number": "020012345678"},
    }
    for personal in (national_id(7799), "081-234-5678", "0200-1234-5678", "c/1", "c 1"):
        problem = await _ok(await post(pawnshop, "/lending/v1/pawn/tickets", ticket | {"customer_ref": personal}), 422)
        assert [e["field"] for e in problem["errors"]] == ["customer_ref"], (personal, problem)
    refused_consent = await post(
        pawnshop, f"/lending/v1/pawn/customers/{national_id(7799)}/consents", {"partner": "gsb", **_consent()}
    )
    assert refused_consent.status_code == 422 and refused_consent.json()["errors"][0]["field"] == "customer_ref"
    assert (await pawnshop.get("/lending/v1/pawn/customers/c%201/consents")).status_code == 422
    await _ok(
        await post(pawnshop, "/lending/v1/pawn/customers/PS-0001-2567/consents", {"partner": "gsb", **_consent()})
    )
    paid = await _ok(await post(pawnshop, "/lending/v1/pawn/tickets", ticket))
    callback = {"succeeded": True, "reference": mark("payout reference"), "on": "2024-01-10"}
    await _ok(await post(pawnshop, f"/lending/v1/pawn/payouts/{paid['instruction_id']}/callback", callback))
    again = await post(pawnshop, f"/lending/v1/pawn/payouts/{paid['instruction_id']}/callback", callback)
    assert again.status_code == 200 and again.json()["unchanged"] is True  # the same answer, read from the register
    failed = await _ok(await post(pawnshop, "/lending/v1/pawn/tickets", ticket))
    failure = {"succeeded": False, "reason": mark("payout failure reason")}
    await _ok(await post(pawnshop, f"/lending/v1/pawn/payouts/{failed['instruction_id']}/callback", failure))

    # Campaign: a district report, a nomination overriding the proposal, the province's award.
    for member_id, position in last_position.items():
        assert await wait_until_applied(pool, "campaign", "ledger_facts", f"member-{member_id}", position, 15)
    report = {"level": "district", "code": "2701", "notes": mark("report notes")}
    await _ok(await post(client, "/campaign/v1/campaigns/savings-50y/reports", report))
    proposals = (await client.get("/campaign/v1/campaigns/savings-50y/nominations/2701/proposals")).json()
    runner_up = proposals["members"][1]["id"]
    assert runner_up == second  # the first member saved more; the committee chooses the second
    nomination = {
        "district_code": "2701",
        "kind": "member",
        "nominee_id": runner_up,
        "override_reason": mark("override reason"),
        "narrative": {"occupation": mark("narrative occupation"), "suggestions": mark("narrative suggestions")},
    }
    await _ok(await post(client, "/campaign/v1/campaigns/savings-50y/nominations", nomination))
    award = {"province_code": "27", "kind": "member", "nominee_id": runner_up, "citation": mark("award citation")}
    await _ok(await post(client, "/campaign/v1/campaigns/savings-50y/awards", award))
    listed = (await client.get("/campaign/v1/campaigns/savings-50y/nominations")).json()
    [nominated], [awarded] = listed["nominations"], listed["awards"]
    assert nominated["override_reason"] == mark.by_field["override reason"]
    assert nominated["narrative"]["occupation"] == mark.by_field["narrative occupation"]
    assert awarded["citation"] == mark.by_field["award citation"]

    # Groups onboarded from a spreadsheet (opening balances, the group's onboarding): the register keeps their
    # people, the events only ids.
    template = tmp_path / "groups.xlsx"
    workbook.write_template(template)
    imported = await finished(client, await start(client, template))
    assert imported["status"] == "imported", imported

    await _ok(
        await post(
            client, f"/ledger/v1/members/{second}/exit", {"exited_on": "2024-02-11", "reason": mark("exit reason")}
        )
    )
    last = await _ok(await post(client, f"/ledger/v1/members/{second}/erasure", {"confirm": True}))

    # Every topic as partners read it. The last ledger event reached the reporting projector, so the relay
    # has published everything before it; lending and campaign are read until all their events arrived.
    caught_up = await client.get(
        f"/reporting/v1/members/{second}/balances", params={"after": f"ledger:{last['position']['ledger']}"}
    )
    assert caught_up.status_code == 200
    bootstrap = broker.bootstrap_servers  # type: ignore[attr-defined]
    published: list[bytes] = []
    for service in ("ledger", "lending", "campaign"):
        stored = await pool.fetchval(f"select count(*) from {service}.events")
        values = await read_topic_values(bootstrap, topic_for(service, settings.topic_prefix), at_least=stored)
        assert len({json.loads(v)["event_id"] for v in values}) == stored, service
        published += values
    types = {json.loads(v)["event_type"] for v in published}
    ledger_types = {t for t in REGISTRY.event_types() if t.startswith("ledger.")}
    assert ledger_types <= types, f"not exercised: {ledger_types - types}"
    with_free_text = {
        t for (t, v), model in REGISTRY.models().items() if v == REGISTRY.latest_version(t) and reference_fields(model)
    }
    assert with_free_text <= types, f"free-text fields not exercised: {with_free_text - types}"
    assert len(mark.by_field) == 16
    forbidden = mark.forbidden + [national_id(7799)] + [national_id(seed) for seed, _, _ in people]
    forbidden += [name for _, name, _ in people] + [f"ทายาท {name}" for _, name, _ in people]
    forbidden += [phone for _, _, phone in people] + [phone.replace(" ", "") for _, _, phone in people]
    forbidden += [m.national_id for m in EXAMPLE_MEMBERS] + [m.full_name for m in EXAMPLE_MEMBERS]
    forbidden += [p for m in EXAMPLE_MEMBERS if m.phone for p in (m.phone, m.phone.replace("-", ""))]
    for value in published:
        text = value.decode()
        assert not [f for f in forbidden if f in text], text

    # What users see has not changed: the services read the texts from their registers.
    journal = (await client.get(f"/ledger/v1/groups/{gid}/journal")).json()["entries"]
    memos = {e["memo"] for e in journal}
    assert mark.by_field["journal memo"] in memos and "จ่ายเงินกู้ให้สมาชิก" not in memos
    rejected = (await client.get(f"/lending/v1/loans/{rejected_id}")).json()
    assert rejected["rejection_reason"] == mark.by_field["rejection reason"]
    shown_ticket = (await pawnshop.get(f"/lending/v1/pawn/tickets/{paid['ticket_id']}")).json()
    assert shown_ticket["item_description"] == mark.by_field["item description"]
    assert shown_ticket["payout"]["reference"] == mark.by_field["payout reference"]

    # Erasure: the member's erasure took their exit reason, and what the campaign was told about them; the
    # department erases any text by its id.
    assert (
        await pool.fetch(
            "select field from ledger.free_text where stream_id = $1 and body is not null", f"member-{second}"
        )
        == []
    )

    async def campaign_erased() -> bool:
        listed = (await client.get("/campaign/v1/campaigns/savings-50y/nominations")).json()
        [nominated], [awarded] = listed["nominations"], listed["awards"]
        texts = [nominated["override_reason"], *nominated["narrative"].values(), awarded["citation"]]
        return texts == [None] * 4

    await eventually(campaign_erased)
    memo_id = await pool.fetchval(
        "select text_id from ledger.free_text where field = 'memo' and body = $1", mark.by_field["journal memo"]
    )
    await _ok(await post(client, f"/ledger/v1/free-texts/{memo_id}/erasure", {"confirm": True}))
    journal = (await client.get(f"/ledger/v1/groups/{gid}/journal")).json()["entries"]
    assert mark.by_field["journal memo"] not in {e["memo"] for e in journal}
    description_id = await pool.fetchval(
        "select text_id from lending.free_text where field = 'item_description' and stream_id = $1",
        f"pawn-{paid['ticket_id']}",
    )
    await _ok(await post(client, f"/lending/v1/free-texts/{description_id}/erasure", {"confirm": True}))
    assert (await pawnshop.get(f"/lending/v1/pawn/tickets/{paid['ticket_id']}")).json()["item_description"] is None
    assert (await post(client, f"/campaign/v1/free-texts/{uuid.uuid4()}/erasure", {"confirm": True})).status_code == 404


def _consent() -> dict[str, object]:
    return {"purpose": "pawn-customer-referral", "granted": True, "notice_version": "2025-01"}
