"""While the database is down, every request answers 503 problem+json with Retry-After (never a 500),
and the platform answers normally again once the database is back. The test runs its own embedded
PostgreSQL, so that it can stop it under the running platform."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from deploy.http_server import http_server
from deploy.platform import running_platform
from libs.infra.embedded import EmbeddedPostgres, free_port
from tests.conftest import Broker, settings_for_test
from tests.support.api import new_group, post
from tests.support.auth import bearer, user_token


async def test_reads_and_writes_answer_503_with_retry_after_while_the_database_is_down(
    broker: Broker, tmp_path: Path
) -> None:
    database = EmbeddedPostgres(tmp_path / "pg", free_port(), durable=False)
    database.start()
    try:
        settings = settings_for_test(host="127.0.0.1", port=free_port())
        async with running_platform(settings, database.dsn, broker.bootstrap_servers) as running:
            server = http_server(running.gateway, settings)
            serving = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.05)
                if serving.done():
                    serving.result()
            token = user_token(settings.auth_signing_keys)
            try:
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{settings.port}", headers=bearer(token), timeout=30
                ) as client:
                    group = await new_group(client)
                    read = f"/ledger/v1/groups/{group['group_id']}"
                    assert (await client.get(read)).status_code == 200

                    database.stop("fast")
                    answers = {
                        "read": await client.get(read),
                        "write": await post(
                            client,
                            f"{read}/members",
                            {
                                "national_id": "1101700207030",
                                "full_name": "สมศรี ใจดี",
                                "joined_on": "2023-12-01",
                                "monthly_commitment": "100.00",
                            },
                        ),
                        "another service's read": await client.get("/lending/v1/portfolio"),
                        "a second write": await post(
                            client,
                            "/ledger/v1/groups",
                            {"name": "กลุ่ม", "province_code": "27", "district_code": "2701", "founded_on": "2000-01-01"},
                        ),
                    }
                    for what, answer in answers.items():
                        assert answer.status_code == 503, f"{what}: {answer.status_code} {answer.text}"
                        assert answer.headers["content-type"] == "application/problem+json", what
                        assert int(answer.headers["retry-after"]) > 0, what
                        problem = answer.json()
                        assert (problem["status"], problem["type"]) == (503, "urn:sajja:problem:unavailable"), what

                    database.start()
                    deadline = time.monotonic() + 15
                    while (back := await client.get(read)).status_code != 200 and time.monotonic() < deadline:
                        assert back.status_code == 503, back.text  # a pooled connection the restart closed
                        await asyncio.sleep(0.2)
                    assert back.status_code == 200, back.text
            finally:
                server.should_exit = True
                await serving
    finally:
        database.stop("immediate")
