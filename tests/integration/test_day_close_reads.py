"""The daily close reads the loans in arrears on its date, not every active loan (real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import date

import asyncpg

from services.lending.handlers import _LOANS_IN_ARREARS_SQL


async def test_only_active_loans_with_an_installment_unpaid_past_its_due_date_are_read(pool: asyncpg.Pool) -> None:
    loans = {
        "paid up, next due later": ("active", date(2024, 5, 15)),
        "first unpaid due on the date": ("active", date(2024, 4, 4)),
        "in arrears": ("active", date(2024, 3, 15)),
        "long in arrears": ("active", date(2023, 11, 15)),
        "closed": ("closed", None),
        "closed with a date left": ("closed", date(2024, 1, 15)),
    }
    ids = {name: uuid.uuid4() for name in loans}
    await pool.executemany(
        "insert into lending.loan_portfolio values ($1, $2, $3, '27', '2701', $4, 100, 100, $5, '2023-10-15')",
        [(ids[name], uuid.uuid4(), uuid.uuid4(), status, due) for name, (status, due) in loans.items()],
    )
    read = {r["stream_id"] for r in await pool.fetch(_LOANS_IN_ARREARS_SQL, date(2024, 4, 4))}
    assert read == {f"loan-{ids['in arrears']}", f"loan-{ids['long in arrears']}"}
    assert await pool.fetchval("select count(*) from pg_indexes where indexname = 'loan_portfolio_in_arrears'") == 1
