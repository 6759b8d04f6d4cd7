"""A trial's commands, as a client of the public API sees them: each POST with its own Idempotency-Key,
and what came back — acknowledged (2xx), refused (4xx: a business answer, nothing applied) or unknown (no
answer, a 5xx, a time-out: it may or may not have been applied). Seeded: the same seed plans the same
commands. Amounts carry a per-command number of satang, so each command is recognisable in the books."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.api import national_id
from tests.support.auth import bearer, user_token

ACKNOWLEDGED, REFUSED, UNKNOWN = "acknowledged", "refused", "unknown"
PRODUCT = {
    "product_id": "faults",
    "name_th": "เงินกู้ทดสอบ",
    "name_en": "Fault campaign loan",
    "interest_method": "flat",
    "interest_rate_percent": "1.00",
    "max_term_months": 24,
    "max_amount": "50000.00",
    "max_savings_multiple": "50",
    "guarantors_required": 0,
    "approvals_required": 1,
}
SETUP_SAJJA = 100_000  # satang each member deposits before the trial (Dec 2023, inside the campaign)
SETUP_SPECIAL = 500_000
SETUP_DAY = {"sajja": "2023-12-05", "special": "2023-12-06"}
COMMITMENT = 10_000
# Commands are dated in the months the trial may close, so entries race the closes.
MONTHS = ("2024-01", "2024-02")
CLOSABLE = ("2023-12", "2024-01")
DISBURSED_ON = "2024-02-20"


def baht(satang: int) -> str:
    sign = "-" if satang < 0 else ""
    return f"{sign}{abs(satang) // 100}.{abs(satang) % 100:02d}"


def satang(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    whole, _, part = text.lstrip("-").partition(".")
    return sign * (int(whole) * 100 + int((part + "00")[:2]))


@dataclass
class Answer:
    status: int | None  # None: no answer (connection refused or reset, time-out)
    body: dict[str, Any] | None
    error: str | None = None
    replayed: bool = False  # the server's stored first answer (Idempotent-Replayed: true)

    @property
    def outcome(self) -> str:
        if self.status is None or self.status >= 500 or self.status in (408, 429):
            return UNKNOWN
        return ACKNOWLEDGED if self.status < 300 else REFUSED


@dataclass
class Command:
    index: int
    kind: str  # deposit | withdrawal | loan-apply | loan-approve | loan-disburse | month-close
    path: str
    body: dict[str, Any]
    key: str
    subject: str = "faults-officer"
    group: str = ""
    member: str = ""
    account: str = ""
    amount: int = 0
    on: str = ""
    loan: str = ""  # the loan's id, once applied
    chain: int = -1  # which loan chain a loan step belongs to
    twin: bool = False  # sent twice at once (a client that retried before the first answer)
    answers: list[Answer] = field(default_factory=list)
    chaos_outcome: str = ""  # what the client knew when the faults stopped

    @property
    def final(self) -> Answer | None:
        """The settling answer: the last one that was not unknown."""
        return next((a for a in reversed(self.answers) if a.outcome != UNKNOWN), None)

    @property
    def applied(self) -> bool:
        final = self.final
        return final is not None and final.outcome == ACKNOWLEDGED

    def describe(self) -> str:
        answers = ", ".join(str(a.status) if a.status else f"none({a.error})" for a in self.answers)
        return f"#{self.index} {self.kind} {self.path} {self.body} key={self.key} answers=[{answers}]"


@dataclass
class Setup:
    groups: list[str]
    members: dict[str, str]  # member → group
    district: str


class Client:
    """The API as the campaign uses it: department tokens minted from the runner's development key (a
    maker and a checker for loans), one connection pool, and sends that never raise."""

    def __init__(self, url: str, signing_key: str, timeout: float) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=timeout, limits=httpx.Limits(max_connections=64))
        self.inflight = 0  # commands sent and not yet answered (the nemesis strikes when some are)
        self.tokens = {
            s: bearer(user_token([signing_key], subject=s, lifetime_seconds=6 * 3600))
            for s in ("faults-officer", "faults-maker", "faults-checker")
        }

    async def close(self) -> None:
        await self.http.aclose()

    async def get(self, path: str, timeout: float | None = None, **params: Any) -> httpx.Response:
        """A read; a time-out or a broken connection comes back as a 599 answer (reads are polled)."""
        try:
            return await self.http.get(
                path, params=params, headers=self.tokens["faults-officer"], timeout=timeout or self.http.timeout
            )
        except httpx.HTTPError as exc:
            return httpx.Response(599, json={"error": type(exc).__name__})

    async def read(self, path: str, **params: Any) -> dict[str, Any]:
        """A read that must answer 200: asked again for up to 30 s (a platform just restarted may need it)."""
        response = await self.get(path, **params)
        for _ in range(60):
            if response.status_code == 200:
                break
            await asyncio.sleep(0.5)
            response = await self.get(path, **params)
        assert response.status_code == 200, f"GET {path} {params}: {response.status_code} {response.text[:300]}"
        body: dict[str, Any] = response.json()
        return body

    async def send(self, command: Command) -> Answer:
        headers = {"Idempotency-Key": command.key} | self.tokens[command.subject]
        self.inflight += 1
        try:
            response = await self.http.post(command.path, json=command.body, headers=headers)
        except httpx.HTTPError as exc:
            return Answer(None, None, type(exc).__name__)
        finally:
            self.inflight -= 1
        body = None
        with contextlib.suppress(ValueError):
            body = response.json()
        replayed = response.headers.get("idempotent-replayed") == "true"
        return Answer(response.status_code, body if isinstance(body, dict) else None, replayed=replayed)

    async def post(self, path: str, body: dict[str, Any], subject: str = "faults-officer") -> httpx.Response:
        """A set-up step, retried with its key until it gets an answer that is not unknown."""
        key = str(uuid.uuid4())
        for attempt in range(60):
            answer = await self.send(Command(-1, "setup", path, body, key, subject))
            if answer.outcome != UNKNOWN:
                assert answer.status is not None and answer.status < 300, f"set-up {path} {body}: {answer}"
                return httpx.Response(answer.status, json=answer.body)
            await asyncio.sleep(min(0.1 * (attempt + 1), 1.0))
        raise RuntimeError(f"set-up {path} never answered")


async def set_up(client: Client, rng: random.Random, groups: int, members_per_group: int) -> Setup:
    """Groups and members with savings (the group's cash for payouts), and the loan product — before any fault."""
    district = rng.choice(["2701", "2702", "2703", "2704", "2705", "2706", "2707", "2708", "2709"])
    await client.post("/lending/v1/products", PRODUCT)
    setup = Setup([], {}, district)
    positions: dict[str, int] = {}  # member → the ledger position of its last event
    for g in range(groups):
        group = {"name": f"กลุ่มทดสอบ {g + 1}", "province_code": "27", "district_code": district}
        group_id = (await client.post("/ledger/v1/groups", group | {"founded_on": "2020-01-01"})).json()["group_id"]
        setup.groups.append(group_id)
        for _ in range(members_per_group):
            body = {
                "national_id": national_id(rng.randrange(10**10, 10**11)),
                "full_name": "สมาชิก ทดสอบ",
                "joined_on": "2023-12-01",
                "monthly_commitment": baht(COMMITMENT),
            }
            member_id = (await client.post(f"/ledger/v1/groups/{group_id}/members", body)).json()["member_id"]
            setup.members[member_id] = group_id
            for account, amount in (("sajja", SETUP_SAJJA), ("special", SETUP_SPECIAL)):
                deposit = {"account": account, "amount": baht(amount), "deposited_on": SETUP_DAY[account]}
                answer = await client.post(f"/ledger/v1/members/{member_id}/deposits", deposit)
                positions[member_id] = answer.json()["position"]["ledger"]
    # Lending decides loans on its projection of the members' savings: let it catch up first.
    for member_id, position in positions.items():
        for _ in range(30):
            seen = await client.get(f"/lending/v1/members/{member_id}", after=f"ledger:{position}")
            if seen.status_code == 200:
                break
            await asyncio.sleep(0.1)
    return setup


def plan(rng: random.Random, setup: Setup, commands: int, key_prefix: str) -> list[Command]:
    """The trial's first commands (loan chains add their approvals and payouts as they go)."""
    members = list(setup.members)
    planned: list[Command] = []
    for index in range(commands):
        key = f"{key_prefix}-{index}"
        member = rng.choice(members)
        group = setup.members[member]
        roll = rng.random()
        unique = index + 1  # satang that mark this command's amount
        if roll < 0.40:
            account = rng.choice(("sajja", "special"))
            amount = rng.randint(20, 3000) * 100 + unique
            on = f"{rng.choice(MONTHS)}-{rng.randint(1, 28):02d}"
            body = {"account": account, "amount": baht(amount), "deposited_on": on}
            command = Command(index, "deposit", f"/ledger/v1/members/{member}/deposits", body, key)
        elif roll < 0.65:
            account = "special"
            amount = rng.randint(50, 6000) * 100 + unique
            on = f"{rng.choice(MONTHS)}-{rng.randint(1, 28):02d}"
            body = {"account": account, "amount": baht(amount), "withdrawn_on": on}
            command = Command(index, "withdrawal", f"/ledger/v1/members/{member}/withdrawals", body, key)
        elif roll < 0.87:
            account, on = "", DISBURSED_ON
            amount = rng.randint(10, 250) * 100 + unique
            body = {
                "member_id": member,
                "product_id": PRODUCT["product_id"],
                "principal": baht(amount),
                "term_months": rng.choice((6, 12)),
                "purpose": "ค้าขาย",
                "applied_on": "2024-02-10",
            }
            command = Command(index, "loan-apply", "/lending/v1/loans", body, key, subject="faults-maker")
            command.chain = index
        else:
            account, amount, on = "", 0, rng.choice(CLOSABLE)
            command = Command(index, "month-close", f"/ledger/v1/groups/{group}/month-closes", {"month": on}, key)
        command.group, command.member, command.account, command.amount, command.on = group, member, account, amount, on
        command.twin = rng.random() < 0.15
        planned.append(command)
    return planned


def next_step(done: Command, index: int, key_prefix: str) -> Command | None:
    """After a loan step is acknowledged, the chain's next one: approval by another officer, then the payout."""
    if done.kind == "loan-apply":
        loan = str((done.final.body or {}).get("loan_id")) if done.final else ""
        path, body, kind, subject = f"/lending/v1/loans/{loan}/approvals", {}, "loan-approve", "faults-checker"
    elif done.kind == "loan-approve":
        loan = done.loan
        path, body, kind, subject = (
            f"/lending/v1/loans/{loan}/disbursements",
            {"disbursed_on": DISBURSED_ON},
            "loan-disburse",
            "faults-officer",
        )
    else:
        return None
    step = Command(index, kind, path, body, f"{key_prefix}-{index}", subject=subject)
    step.group, step.member, step.amount, step.on, step.loan, step.chain = (
        done.group,
        done.member,
        done.amount,
        done.on,
        loan,
        done.chain,
    )
    return step
