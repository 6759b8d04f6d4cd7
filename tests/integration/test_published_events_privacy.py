"""No published ledger event carries a national ID, a name or a phone number (DESIGN §3): a history
that produces every ledger event type, read back from the Kafka topic as partners would see it."""

from __future__ import annotations

import json

import httpx

from libs.events.kafka import topic_for
from libs.events.registry import REGISTRY
from libs.events.settings import Settings
from tests.support.api import national_id, new_group, new_member, post
from tests.support.kafka import read_topic_values
from tests.support.lending import as_user, define_product


async def _ok(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_no_published_event_contains_personal_data(
    client: httpx.AsyncClient, settings: Settings, broker: object
) -> None:
    people = [(4101, "บุญมี ศรีสุข", "0812345678"), (4102, "Somchai Jaidee", "+66 89 765 4321")]
    gid = (await new_group(client, founded_on="2023-06-01", rules={"entrance_fee": "10.00"}))["group_id"]
    members = []
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
    await _ok(await post(client, f"{m}/reversals", {"transaction_id": deposited["transaction_id"], "reason": "ผิด"}))
    await _ok(
        await post(client, f"{m}/deposits", {"account": "sajja", "amount": "500.00", "deposited_on": "2024-01-08"})
    )
    await _ok(await post(client, f"{m}/commitment", {"monthly_commitment": "150.00", "effective_on": "2024-02-01"}))
    await _ok(
        await post(
            client,
            f"{m}/consents",
            {"partner": "gsb", "purpose": "loan-referral", "granted": True, "notice_version": "v1"},
        )
    )
    await _ok(await post(client, f"{m}/consents", {"partner": "gsb", "purpose": "loan-referral", "granted": False}))
    entry = {
        "posted_on": "2024-01-20",
        "memo": "ดอกเบี้ยธนาคาร",
        "lines": [{"account": "1010", "debit": "90.00"}, {"account": "4030", "credit": "90.00"}],
    }
    await _ok(await post(client, f"/ledger/v1/groups/{gid}/journal-entries", entry))
    for month in ("2023-12", "2024-01"):
        await _ok(await post(client, f"/ledger/v1/groups/{gid}/month-closes", {"month": month}))
    allocation = {"period_start": "2024-01", "period_end": "2024-01", "allocated_on": "2024-02-10"}
    await _ok(await post(client, f"/ledger/v1/groups/{gid}/profit-allocations", allocation))
    # A loan the group's cash cannot pay out: the ledger records its refusal.
    await define_product(client, guarantors_required=0, approvals_required=1, max_savings_multiple=None)
    seen = await client.get(
        f"/lending/v1/members/{first}", params={"after": f"ledger:{deposited['position']['ledger']}"}
    )  # type: ignore[index]
    assert seen.status_code == 200, seen.text
    loan = {
        "member_id": first,
        "product_id": "occupation",
        "principal": "40000.00",
        "term_months": 12,
        "purpose": "ค้าขาย",
    }
    loan_id = (await _ok(await as_user(client, "maker", "/lending/v1/loans", loan)))["loan_id"]
    await _ok(await as_user(client, "checker", f"/lending/v1/loans/{loan_id}/approvals", {}))
    assert (
        await post(client, f"/lending/v1/loans/{loan_id}/disbursements", {"disbursed_on": "2024-02-12"})
    ).status_code == 202
    refused = (await client.get(f"/lending/v1/loans/{loan_id}", params={"wait": 10})).json()
    assert refused["disbursement_failure"], refused
    await _ok(await post(client, f"/ledger/v1/members/{second}/exit", {"exited_on": "2024-02-11"}))
    last = await _ok(await post(client, f"/ledger/v1/members/{second}/erasure", {}))

    # The last event reached the reporting projector, so the relay has published everything before it.
    caught_up = await client.get(
        f"/reporting/v1/members/{second}/balances",
        params={"after": f"ledger:{last['position']['ledger']}"},  # type: ignore[index]
    )
    assert caught_up.status_code == 200
    values = await read_topic_values(broker.bootstrap_servers, topic_for("ledger", settings.topic_prefix), at_least=1)  # type: ignore[attr-defined]
    types = {json.loads(v)["event_type"] for v in values}
    ledger_types = {name for name in REGISTRY.event_types() if name.startswith("ledger.")}
    assert types == ledger_types, f"not exercised: {ledger_types - types}"
    forbidden = [national_id(seed) for seed, _, _ in people]
    forbidden += [name for _, name, _ in people] + [f"ทายาท {name}" for _, name, _ in people]
    forbidden += [phone for _, _, phone in people] + [phone.replace(" ", "") for _, _, phone in people]
    lending = await read_topic_values(broker.bootstrap_servers, topic_for("lending", settings.topic_prefix), at_least=4)  # type: ignore[attr-defined]
    assert len(lending) >= 4
    for value in values + lending:
        text = value.decode()
        assert not [f for f in forbidden if f in text], text
