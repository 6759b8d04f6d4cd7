"""Password work (argon2) runs in a bounded pool shared by sign-ins, new users and new client secrets: when it is
full, every one of them answers 503 with Retry-After, never a 500 (the demo's officers, created side by side,
met a 500 from POST /auth/v1/users). A pool of one with no queue makes it full at once."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import shared_platform

settings, database_url, broker, running = shared_platform(password_hash_workers=1, password_hash_queue=0)


async def test_a_full_password_pool_answers_503_with_retry_after_and_a_retry_gets_through(
    client: httpx.AsyncClient,
) -> None:
    def user(n: int) -> dict[str, str]:
        return {"username": f"busy-officer-{n}", "display_name": f"officer {n}", "role": "auditor",
                "password": f"a long enough password {n}"}  # fmt: skip

    answers = await asyncio.gather(*(client.post("/auth/v1/users", json=user(n)) for n in range(6)))
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {201, 503} and 503 in statuses and 201 in statuses, [a.text for a in answers]
    busy = next(a for a in answers if a.status_code == 503)
    assert busy.headers["retry-after"] == "1" and busy.json()["type"].endswith(":busy")
    for n, answer in enumerate(answers):
        while answer.status_code == 503:
            await asyncio.sleep(0.05)
            answer = await client.post("/auth/v1/users", json=user(n))
        assert answer.status_code == 201, answer.text
    clients = await asyncio.gather(
        *(
            client.post("/auth/v1/clients", json={"client_id": f"busy-{n}", "partner": "gsb", "scopes": ["referrals"]})
            for n in range(6)
        )
    )
    assert {c.status_code for c in clients} <= {201, 503}, [c.text for c in clients]
