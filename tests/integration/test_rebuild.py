"""Rebuilding a read model from its topics (libs/events/rebuild.py) while it keeps answering: a damaged read
model comes back whole, reads made during the rebuild see the old tables or the new ones and nothing between,
writes made during it are in the new one, and the live projector goes on from the new progress. Then the
same through `sajja projections rebuild NAME` against the platform served on a real port."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from deploy.http_server import http_server
from services.auth.store import create_user
from tests.conftest import shared_platform
from tests.support.api import new_group, new_member, post
from tests.support.auth import bearer, user_token
from tests.support.lending import as_user, define_product, known_member

settings, database_url, broker, running = shared_platform()


async def deposit(client: httpx.AsyncClient, member: str, amount: str, on: str = "2024-03-05") -> int:
    answer = await post(
        client, f"/ledger/v1/members/{member}/deposits", {"account": "sajja", "amount": amount, "deposited_on": on}
    )
    assert answer.status_code == 201, answer.text
    position: int = answer.json()["position"]["ledger"]
    return position


async def group_savings(client: httpx.AsyncClient, group: str, after: int | None = None) -> str:
    params = {"level": "group", "code": group, "as_of": "2024-12-31"} | ({"after": f"ledger:{after}"} if after else {})
    answer = await client.get("/reporting/v1/stats", params=params)
    assert answer.status_code == 200, answer.text
    savings: str = answer.json()["savings"]
    return savings


async def finished(client: httpx.AsyncClient, service: str, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = (await client.get(f"/{service}/v1/projections/{name}/rebuild")).json()
        if status["state"] in ("done", "failed"):
            return status  # type: ignore[no-any-return]
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.05)


async def names_of(pool: asyncpg.Pool, schema: str, tables: list[str]) -> list[tuple[str, ...]]:
    """The indexes and constraints of the tables by name: a migration may name them."""
    rows = await pool.fetch(
        """select 'index' as kind, indexname as name from pg_indexes where schemaname = $1 and tablename = any($2)
           union all select 'constraint', conname from pg_constraint
           where conrelid in (select (quote_ident($1) || '.' || quote_ident(t))::regclass from unnest($2::text[]) t)
           order by 1, 2""",
        schema,
        tables,
    )
    return [tuple(r) for r in rows]


async def test_a_damaged_read_model_is_rebuilt_while_reads_keep_answering(
    client: httpx.AsyncClient, pool: asyncpg.Pool, running: Any
) -> None:
    group = (await new_group(client, district_code="2705", founded_on="2023-01-01"))["group_id"]
    members = [(await new_member(client, group, joined_on="2023-06-01"))["member_id"] for _ in range(3)]
    for i, member in enumerate(members):
        position = await deposit(client, member, f"{100 * (i + 1)}.00")
    assert await group_savings(client, group, after=position) == "600.00"
    listed = (await client.get("/reporting/v1/projections")).json()["items"]
    tables = next(p["tables"] for p in listed if p["name"] == "statistics")
    assert "stat_totals" in tables
    names_before = await names_of(pool, "reporting", tables)

    # Damage: the group's running totals are lost (the nation's and the district's stay).
    await pool.execute("delete from reporting.stat_totals where level = 'group' and code = $1", group)
    assert await group_savings(client, group) == "0.00"

    seen: list[str] = []
    reading = True

    async def keep_reading() -> None:
        while reading:
            seen.append(await group_savings(client, group))
            await asyncio.sleep(0.005)

    reader = asyncio.create_task(keep_reading())
    key = str(uuid.uuid4())
    started = await client.post("/reporting/v1/projections/statistics/rebuilds", headers={"Idempotency-Key": key})
    assert started.status_code == 202, started.text
    # Written while the rebuild runs: the live projector applies it to the old tables, the rebuild to the new.
    during = await deposit(client, members[0], "7.00")
    status = await finished(client, "reporting", "statistics")
    reading = False
    await reader
    assert status["state"] == "done", status
    assert status["applied"] > 0 and status["read"] == status["target"]

    # Whole again, with the deposit made during the rebuild; and the live projector goes on from the swap.
    assert await group_savings(client, group, after=during) == "607.00"
    after = await deposit(client, members[1], "3.00")
    assert await group_savings(client, group, after=after) == "610.00"
    # Every read answered from the old tables (damaged: nothing, then the deposit made meanwhile) or the new
    # (whole, with the deposit if the live projector had applied it before the swap, else from after it), in
    # that order: nothing between, nothing seen twice.
    changes = [v for i, v in enumerate(seen) if i == 0 or seen[i - 1] != v]
    paths = (["0.00", "7.00", "607.00"], ["0.00", "600.00", "607.00"])
    assert any(_in_order(changes, path) for path in paths), changes
    # The same names as the migrations made; no shadow left behind; the old tables gone.
    assert await names_of(pool, "reporting", tables) == names_before
    leftovers = await pool.fetch("select nspname from pg_namespace where nspname like 'reporting\\_\\_%'")
    assert leftovers == []
    # The national figure matches the group's history too (the rebuild did not count anything twice).
    nation = (await client.get("/reporting/v1/stats", params={"level": "district", "code": "2705"})).json()
    assert nation["savings"] == "610.00"

    # The same key answers the same rebuild; another projection's rebuild of another service; refusals.
    again = await client.post("/reporting/v1/projections/statistics/rebuilds", headers={"Idempotency-Key": key})
    assert again.status_code == 202 and again.json()["state"] == "done"
    portfolio = await client.post(
        "/lending/v1/projections/loan_portfolio/rebuilds", headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert portfolio.status_code == 202, portfolio.text
    assert (await finished(client, "lending", "loan_portfolio"))["state"] == "done"
    inbox_only = await client.post(
        "/ledger/v1/projections/lending_requests/rebuilds", headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert inbox_only.status_code == 409 and "names no tables" in inbox_only.json()["detail"]
    unknown = await client.post("/reporting/v1/projections/nothing/rebuilds", headers={"Idempotency-Key": "k"})
    assert unknown.status_code == 404
    auditor = bearer(user_token(running.platform.settings.auth_signing_keys, "auditor-1", "auditor"))
    refused = await client.post(
        "/reporting/v1/projections/statistics/rebuilds", headers={"Idempotency-Key": "a"} | auditor
    )
    assert refused.status_code == 403
    listed = (await client.get("/reporting/v1/projections")).json()["items"]
    assert {p["name"]: p["rebuild"]["state"] for p in listed if p["rebuild"]} == {"statistics": "done"}


def _in_order(values: list[str], path: list[str]) -> bool:
    """Whether `values` are some of `path`'s, in its order."""
    rest = iter(path)
    return all(any(v == p for p in rest) for v in values)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_the_cli_rebuilds_a_read_model_of_a_running_platform(
    client: httpx.AsyncClient, pool: asyncpg.Pool, running: Any, tmp_path: Path
) -> None:
    group = (await new_group(client, district_code="2706"))["group_id"]
    member = (await new_member(client, group))["member_id"]
    position = await deposit(client, member, "250.00")
    answer = await client.get(f"/reporting/v1/members/{member}/balances", params={"after": f"ledger:{position}"})
    assert answer.json()["sajja"] == "250.00"
    await pool.execute("delete from reporting.member_balances where member_id = $1", member)
    assert (await client.get(f"/reporting/v1/members/{member}/balances")).status_code == 404

    # The platform on a real port, and a department user's password where `make run` keeps it.
    password = secrets.token_urlsafe(12)
    await create_user(pool, "test", {"username": "admin", "display_name": "กรมฯ", "role": "department"}, password)
    (tmp_path / "dev-credentials").write_text(f"user (department)\tadmin\t{password}\n")
    port = _free_port()
    server = http_server(running.gateway, running.platform.settings.model_copy(update={"port": port}))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAJJA_")} | {"SAJJA_DATA_DIR": str(tmp_path)}
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sajja_cli.main",
            "projections",
            "rebuild",
            "member_balances",
            "--url",
            f"http://127.0.0.1:{port}",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(cli.communicate(), timeout=60)
        assert cli.returncode == 0, (out.decode(), err.decode())
        assert "member_balances: rebuilt from" in out.decode()
    finally:
        server.should_exit = True
        await serving
    answer = await client.get(f"/reporting/v1/members/{member}/balances")
    assert answer.status_code == 200 and answer.json()["sajja"] == "250.00"


# Columns numbered by a sequence as rows arrive, or stamped with the time they arrived: a rebuild numbers and
# stamps them anew.
RENUMBERED = {
    ("reporting", "audit_log"): {"seq"},
    ("reporting", "audit_days"): {"first_seq", "last_seq"},
    ("campaign", "campaigns"): {"launched_at"},
}


async def snapshot(pool: asyncpg.Pool, models: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Every row of every table of the read models, as sorted text (renumbered columns left out; a row of
    counters that came back to zero is the same as no row, which a rebuild that nets the moves out first
    never writes)."""
    out: dict[tuple[str, str], list[str]] = {}
    for model in models:
        for table in model["tables"]:
            key = (model["service"], table)
            columns = [
                r["attname"]
                for r in await pool.fetch(
                    "select attname from pg_attribute where attrelid = $1::regclass and attnum > 0"
                    " and not attisdropped order by attnum",
                    f'"{model["service"]}"."{table}"',
                )
                if r["attname"] not in RENUMBERED.get(key, set())
            ]
            rows = await pool.fetch(f'select {", ".join(columns)} from "{model["service"]}"."{table}"')
            out[key] = sorted(repr(tuple(r)) for r in rows if not _all_zero(tuple(r)))
    return out


def _all_zero(row: tuple[Any, ...]) -> bool:
    numbers = [v for v in row if isinstance(v, int) and not isinstance(v, bool)]
    return bool(numbers) and not any(numbers)


async def settled(pool: asyncpg.Pool, models: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """A snapshot once everything has happened: the sagas' inboxes handled, and the read models the same
    for a second."""
    before = await snapshot(pool, models)
    quiet = 0
    for _ in range(100):
        await asyncio.sleep(0.25)
        now = await snapshot(pool, models)
        waiting = sum(
            [
                await pool.fetchval(f"select count(*) from {s}.inbox where handled_at is null")
                for s in ("ledger", "lending")
            ]
        )
        quiet = quiet + 1 if now == before and not waiting else 0
        if quiet == 4:
            return now
        before = now
    raise AssertionError("the read models kept changing")


async def test_every_read_model_rebuilds_to_the_rows_it_had(
    client: httpx.AsyncClient, pawnshop: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """A history that reaches every projection; each rebuildable read model rebuilt (a write outside the tables
    it names would fail its rebuild) comes back row for row."""
    group = (await new_group(client, district_code="2707", founded_on="2023-01-01"))["group_id"]
    await define_product(client, guarantors_required=0, approvals_required=1, max_savings_multiple=None)
    a, b, c = [await known_member(client, group, sajja="1000.00") for _ in range(3)]
    made = await post(
        client,
        f"/ledger/v1/members/{b}/deposits",
        {"account": "special", "amount": "40.00", "deposited_on": "2024-01-09"},
    )
    assert made.status_code == 201
    assert (
        await post(
            client,
            f"/ledger/v1/members/{b}/reversals",
            {"transaction_id": made.json()["transaction_id"], "reason": "แก้ไข"},
        )
    ).status_code == 201
    raise_ = {"monthly_commitment": "150.00", "effective_on": "2024-02-01"}
    assert (answer := await post(client, f"/ledger/v1/members/{a}/commitment", raise_)).status_code == 201, answer.text
    consent = {"partner": "gsb", "purpose": "loan-referral", "granted": True, "notice_version": "2024-01"}
    assert (await post(client, f"/ledger/v1/members/{a}/consents", consent)).status_code == 201
    withdrawal = consent | {"granted": False, "notice_version": None}
    assert (await post(client, f"/ledger/v1/members/{b}/consents", consent)).status_code == 201
    assert (await post(client, f"/ledger/v1/members/{b}/consents", withdrawal)).status_code == 201
    assert (await post(client, f"/ledger/v1/groups/{group}/month-closes", {"month": "2024-02"})).status_code == 201
    application = {"member_id": a, "product_id": "occupation", "principal": "500.00", "term_months": 3, "purpose": "x"}
    loan = (await as_user(client, "maker", "/lending/v1/loans", application)).json()["loan_id"]
    await as_user(client, "checker", f"/lending/v1/loans/{loan}/approvals", {})
    await post(client, f"/lending/v1/loans/{loan}/disbursements", {"disbursed_on": "2024-03-01"})
    assert (await client.get(f"/lending/v1/loans/{loan}", params={"wait": 10})).json()["status"] == "active"
    assert (
        await post(client, f"/lending/v1/loans/{loan}/repayments", {"amount": "100.00", "paid_on": "2024-04-01"})
    ).status_code == 201
    assert (await post(client, "/lending/v1/day-closes", {"business_date": "2024-05-20"})).status_code in (200, 201)
    ticket = {
        "branch_code": "SK-01",
        "province_code": "27",
        "district_code": "2707",
        "customer_ref": "c-rebuild",
        "item_category": "gold",
        "item_description": "แหวน",
        "appraised_value": "6000.00",
        "principal": "5000.00",
        "pledged_on": "2024-01-10",
        "payout": {"channel": "cash"},
    }
    pledged = await post(pawnshop, "/lending/v1/pawn/tickets", ticket)
    assert pledged.status_code == 201, pledged.text
    redeemed = await post(
        pawnshop, f"/lending/v1/pawn/tickets/{pledged.json()['ticket_id']}/redemptions", {"on": "2024-02-01"}
    )
    assert redeemed.status_code == 201, redeemed.text
    pawn_consent = {"partner": "gsb", "purpose": "pawn-customer-referral", "granted": True, "notice_version": "2025-01"}
    assert (await post(pawnshop, "/lending/v1/pawn/customers/c-rebuild/consents", pawn_consent)).status_code == 201
    assert (await post(client, f"/ledger/v1/members/{c}/exit", {"exited_on": "2024-06-30"})).status_code == 201

    models = [
        p
        for service in ("ledger", "lending", "campaign", "reporting")
        for p in (await client.get(f"/{service}/v1/projections")).json()["items"]
        if p["rebuildable"]
        for p in [p | {"service": service}]
    ]
    assert {p["name"] for p in models} >= {
        "statistics",
        "member_balances",
        "group_closes",
        "audit_log",
        "referral_facts",
        "loan_portfolio",
        "ledger_feed",
        "ledger_facts",
        "lending_facts",
    }
    before = await settled(pool, models)
    assert all(before[("reporting", t)] for t in ("stat_totals", "audit_log", "referral_consents", "group_closes"))
    assert all(before[("campaign", t)] for t in ("member_facts", "savings_moves", "campaigns", "loan_facts"))
    for model in models:
        started = await client.post(
            f"/{model['service']}/v1/projections/{model['name']}/rebuilds",
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert started.status_code == 202, started.text
        status = await finished(client, model["service"], model["name"])
        assert status["state"] == "done", str(status)
    after = await settled(pool, models)
    differ = {
        key: {"lost": sorted(set(before[key]) - set(after[key])), "new": sorted(set(after[key]) - set(before[key]))}
        for key in before
        if before[key] != after[key]
    }
    assert differ == {}, json.dumps({".".join(k): v for k, v in differ.items()}, indent=1, default=str)
