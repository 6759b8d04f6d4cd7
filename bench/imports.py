"""Figure 5: onboarding a province from its spreadsheet (the import job) vs a plain COPY of the same rows.

Ours: the import job as the ledger's worker runs it (services/ledger/onboarding/importer.py), on a generated
province as CSV files in a ZIP — groups over Sa Kaeo's districts, members with opening sajja and special
balances and some loans outstanding, then months of sajja deposits (some special) since the opening day: read
and checked row by row, planned into events, written with COPY a chunk per transaction with the register rows.
The rate is events written over the whole job (reading and checking included).
Baseline: the same number of event rows (same columns, payloads of the same size) COPYed into a copy of the
events table (`like ledger.events including all`): the database's own floor for writing them.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from bench.common import Comparison, CpuMeter, Side, fresh_database
from services.ledger import domain
from services.ledger.handlers import ledger_event_store
from services.ledger.onboarding import workbook
from services.ledger.onboarding.importer import ImportWorker, Scope

DISTRICTS = ("2701", "2702", "2703", "2704", "2705", "2706", "2707", "2708", "2709")
OPENING = date(2025, 12, 31)
KEY = "bench-national-id-hash-key"


def _national_id(n: int) -> str:
    first = f"3270{n:08d}"
    return first + str(domain.national_id_check_digit(first))


def province_zip(groups: int, members_per_group: int, months: int, seed: int = 5) -> bytes:
    """A province as the CSV files of the import template, zipped."""
    rng = random.Random(seed)
    sheets: dict[str, list[list[str]]] = {"groups": [], "members": [], "deposits": [], "loans": []}
    n = 0
    for g in range(groups):
        code = f"B-{g:04d}"
        district = DISTRICTS[g % len(DISTRICTS)]
        sheets["groups"].append([code, f"กลุ่มออมทรัพย์ทดสอบ {g}", "27", district, "2000-01-01", OPENING.isoformat()])
        for _ in range(members_per_group):
            n += 1
            ident = _national_id(n)
            commitment = rng.choice((50, 100, 200, 500))
            sajja = commitment * rng.randint(1, 120)
            special = rng.choice((0, 0, rng.randint(1, 5000)))
            sheets["members"].append(
                [code, ident, f"สมาชิก ทดสอบ{n}", "2015-06-01", f"{commitment}.00", f"{sajja}.00", f"{special}.00"]
            )
            for month in range(1, months + 1):
                if rng.random() < 0.9:
                    day = date(2026, month, 5).isoformat()
                    sheets["deposits"].append([code, ident, day, "sajja", f"{commitment}.00"])
                if rng.random() < 0.1:
                    day = date(2026, month, 20).isoformat()
                    sheets["deposits"].append([code, ident, day, "special", f"{rng.randint(1, 20) * 50}.00"])
            if rng.random() < 0.25:
                principal = rng.randint(10, 60) * 1000
                left = rng.randint(1, 12)
                outstanding = principal * left // 12
                sheets["loans"].append(
                    [code, ident, f"L-{n}", "2025-06-15", f"{principal}.00", f"{outstanding}.00", "flat", "1.00",
                     str(left), "2026-01-15"]
                )  # fmt: skip
    fields = {
        "groups": ("group_code", "name", "province_code", "district_code", "founded_on", "opening_on"),
        "members": (
            "group_code", "national_id", "full_name", "joined_on", "monthly_commitment_satang",
            "opening_sajja_satang", "opening_special_satang",
        ),
        "deposits": ("group_code", "national_id", "deposited_on", "account", "amount_satang"),
        "loans": (
            "group_code", "national_id", "contract_no", "disbursed_on", "principal_satang", "outstanding_satang",
            "interest_method", "rate_per_month", "installments_left", "next_due_on",
        ),
    }  # fmt: skip
    return workbook.csv_zip({key: (fields[key], rows) for key, rows in sheets.items()})  # type: ignore[misc]


async def run(
    admin_dsn: str, pids: dict[str, list[int]], groups: int, members_per_group: int, months: int
) -> Comparison:
    source = province_zip(groups, members_per_group, months)
    url = await fresh_database(admin_dsn, "bench_import")
    pool = await asyncpg.create_pool(url, min_size=2, max_size=8)
    assert pool is not None
    try:
        worker = ImportWorker(pool, ledger_event_store(), KEY)
        scope = Scope("bench-department", "user", "department", None, None)
        with CpuMeter({"postgres": pids.get("postgres", []), "import worker": [os.getpid()]}) as meter:
            started = time.perf_counter()
            outcome = await worker.execute(uuid.uuid4(), "province.zip", source, scope, False)
            seconds = time.perf_counter() - started
        cpu = meter.cores
        if outcome.status != "imported":
            problems = outcome.result.get("problems", [])[:5]
            raise RuntimeError(f"the bench province was not imported: {outcome.status} {problems}")
        written = int(outcome.result["events_written"])
        ours = Side(
            "import job (read, check, plan, COPY)",
            written,
            seconds,
            written / seconds,
            cpu_cores=cpu,
            extra={"new": outcome.result["new"], "file_bytes": len(source)},
        )
        baseline = await _raw_copy(pool, written)
    finally:
        await pool.close()
    return Comparison(
        "import",
        "5. Onboarding import: events written a second",
        ours,
        baseline,
        "≥ 20,000 events/s (issue #14)",
        notes=[f"{groups} groups × {members_per_group} members, {months} months of deposits since the opening day"],
    )


async def _raw_copy(pool: asyncpg.Pool, count: int) -> Side:
    payload = json.dumps(
        {
            "transaction_id": str(uuid.uuid4()),
            "member_id": str(uuid.uuid4()),
            "group_id": str(uuid.uuid4()),
            "account": "sajja",
            "amount_satang": 10_000,
            "deposited_on": "2026-01-05",
            "balance_after_satang": 120_000,
        }
    )
    actor = json.dumps({"kind": "user", "id": "bench-department"})
    area = json.dumps({"province_code": "27", "district_code": "2701"})
    now = datetime.now(UTC)
    rows: list[tuple[Any, ...]] = [
        (f"member-{i // 12}", i % 12 + 1, uuid.uuid4(), "ledger.SavingsDeposited", 1, now, actor, area, payload)
        for i in range(count)
    ]
    await pool.execute(
        "drop schema if exists bench_raw cascade; create schema bench_raw;"
        " create table bench_raw.events (like ledger.events including all)"
    )
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for first in range(0, count, 20_000):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "events",
                    schema_name="bench_raw",
                    columns=[
                        "stream_id", "stream_version", "event_id", "event_type", "schema_version", "occurred_at",
                        "actor", "area", "payload",
                    ],
                    records=rows[first : first + 20_000],
                )  # fmt: skip
    seconds = time.perf_counter() - started
    return Side("COPY of the same number of rows", count, seconds, count / seconds)
