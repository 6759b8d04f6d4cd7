"""The HTTP baseline: a bare FastAPI endpoint doing one INSERT, served like the runner serves Sajja.

Run as `python -m bench.raw_server` with BENCH_DATABASE_URL and BENCH_PORT set: asyncio.run, an asyncpg
pool of the platform's size, uvicorn with the runner's options (lifespan off, no access log).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import date
from typing import Literal

import asyncpg
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict


class Deposit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: Literal["sajja", "special"]
    amount: str
    deposited_on: date


def build(pool: asyncpg.Pool) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/raw/v1/members/{member_id}/deposits", status_code=201)
    async def deposit(member_id: uuid.UUID, body: Deposit, request: Request) -> JSONResponse:
        key = request.headers["idempotency-key"]
        position = await pool.fetchval(
            "insert into bench_raw.deposits (key, member_id, account, amount, deposited_on)"
            " values ($1, $2, $3, $4, $5) returning position",
            key,
            member_id,
            body.account,
            body.amount,
            body.deposited_on,
        )
        return JSONResponse(
            {"member_id": str(member_id), "account": body.account, "amount": body.amount, "position": position},
            status_code=201,
        )

    return app


async def main() -> None:
    pool = await asyncpg.create_pool(
        os.environ["BENCH_DATABASE_URL"], min_size=2, max_size=int(os.environ.get("BENCH_POOL_SIZE", "40"))
    )
    assert pool is not None
    await pool.execute(
        "create schema if not exists bench_raw;"
        " create table if not exists bench_raw.deposits (position bigint generated always as identity,"
        " key text primary key, member_id uuid not null, account text not null, amount text not null,"
        " deposited_on date not null, created_at timestamptz not null default now())"
    )
    config = uvicorn.Config(
        build(pool),
        host="127.0.0.1",
        port=int(os.environ["BENCH_PORT"]),
        log_level="warning",
        lifespan="off",
        access_log=False,
    )
    try:
        await uvicorn.Server(config).serve()
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
