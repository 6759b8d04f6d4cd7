"""The dashboard's reads, timed over real HTTP against the served platform while HTTP deposits run in the
background at a fixed rate; and the campaign's and partners' own actions that need the service (district
reports, GSB's referral refresh and outcomes) before the reads."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

import asyncpg

from bench.common import percentile
from bench.national import nation
from bench.national.http import Client
from libs.auth.principal import PARTNER_SCOPES, Principal, user_scopes
from libs.auth.tokens import KeyRing
from sajja_cli.demo import names

AS_OF = nation.YEAR_END
CAMPAIGN_AS_OF = date(2024, 2, 29)
LEVELS = ("national", "province", "district", "group")


def department_token(keys: list[str], lifetime: int = 4 * 3600) -> str:
    principal = Principal(subject="bench-department", kind="user", scopes=user_scopes("department"), role="department")
    return KeyRing(keys).issue(principal, lifetime)


def partner_token(keys: list[str], partner: str, lifetime: int = 4 * 3600) -> str:
    principal = Principal(subject=f"{partner}-client", kind="partner", scopes=PARTNER_SCOPES, partner=partner)
    return KeyRing(keys).issue(principal, lifetime)


@dataclass(frozen=True)
class Areas:
    """Where the reads look: the province with most groups, its district with most groups, that district's
    largest group."""

    province: str
    district: str
    group: str


async def pick_areas(pool: asyncpg.Pool) -> Areas:
    row = await pool.fetchrow(
        """with g as (select payload->>'group_id' as group_id, area->>'province_code' as p, area->>'district_code' as d
                      from ledger.events where event_type = 'ledger.GroupRegistered'),
                p as (select p from g group by p order by count(*) desc, p limit 1),
                d as (select d from g join p using (p) group by d order by count(*) desc, d limit 1)
           select (select p from p) as province, (select d from d) as district,
                  (select g.group_id from g join d using (d)
                   left join ledger.member_register r on r.group_id = g.group_id::uuid
                   group by g.group_id order by count(r.member_id) desc, g.group_id limit 1) as group_id"""
    )
    return Areas(row["province"], row["district"], row["group_id"])


def dashboard_reads(areas: Areas) -> list[tuple[str, str, str]]:
    """(level, read, path) for everything the dashboard opens with at each level (services/reporting/
    dashboard_static/app.js), and the campaign breakdown and SMART's closest groups."""
    where = {
        "national": {"level": "national"},
        "province": {"level": "province", "code": areas.province},
        "district": {"level": "district", "code": areas.district},
        "group": {"level": "group", "code": areas.group},
    }
    campaign = f"/campaign/v1/campaigns/{nation.CAMPAIGN}"
    reads: list[tuple[str, str, str]] = []
    for level in LEVELS:
        w = where[level]
        # Campaign counters go down to districts; a group's page shows its district's.
        cw = {"level": "district", "code": areas.district} if level == "group" else w
        board = {"level": "province"} if level == "national" else {"level": "district", "province": areas.province}

        def add(name: str, path: str, query: dict[str, Any] | None = None, level: str = level) -> None:
            reads.append((level, name, path + ("?" + urlencode(query) if query else "")))

        add("places", "/reporting/v1/places", w)
        add("stats", "/reporting/v1/stats", w | {"as_of": AS_OF})
        add("stats/series", "/reporting/v1/stats/series", w | {"as_of": AS_OF, "months": 12})
        add("portfolio", "/lending/v1/portfolio", w | {"on": AS_OF})
        add("referral pipeline", "/reporting/v1/partners/gsb/pipeline", w)
        add("campaigns", "/campaign/v1/campaigns")
        if level != "group":
            add("stats/breakdown", "/reporting/v1/stats/breakdown", w | {"as_of": AS_OF})
        else:
            add("group summary", f"/reporting/v1/groups/{areas.group}/summary", {"as_of": AS_OF})
            add("group smart", f"/reporting/v1/groups/{areas.group}/smart", {"as_of": AS_OF})
        add("campaign progress", f"{campaign}/progress", cw | {"as_of": CAMPAIGN_AS_OF})
        add("campaign series", f"{campaign}/progress/series", cw | {"as_of": CAMPAIGN_AS_OF})
        if level != "group":
            add("campaign breakdown", f"{campaign}/progress/breakdown", cw | {"as_of": CAMPAIGN_AS_OF})
        add("campaign reports board", f"{campaign}/reports", board)
        if level == "district":
            add("smart closest", "/reporting/v1/smart/closest", {"district": areas.district, "as_of": AS_OF})
    return reads


@dataclass
class ReadFigure:
    level: str
    read: str
    path: str
    samples: list[float] = field(default_factory=list)  # milliseconds
    errors: Counter[int] = field(default_factory=Counter)
    bytes: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "read": self.read,
            "path": self.path,
            "samples": len(self.samples),
            "p50_ms": round(percentile(self.samples, 50), 1) if self.samples else None,
            "p99_ms": round(percentile(self.samples, 99), 1) if self.samples else None,
            "max_ms": round(max(self.samples), 1) if self.samples else None,
            "errors": {str(k): v for k, v in self.errors.items()},
            "response_bytes": self.bytes,
        }


@dataclass
class DepositLoad:
    """Deposits at a fixed rate (open loop: each is due at its time, late or not), each to a member drawn from
    those still in their groups, dated today."""

    rate: float
    connections: int = 16
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # ms, from the moment each was due
    behind: int = 0  # deposits sent more than 100 ms after they were due (the server or the client fell behind)
    dropped: int = 0  # deposits not sent: more than a second overdue (the platform cannot keep this rate)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        done = sum(self.statuses.values())
        return {
            "target_per_second": self.rate,
            "achieved_per_second": round(self.statuses.get(201, 0) / self.seconds, 1) if self.seconds else 0,
            "sent": self.sent,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "answered": done,
            "p50_ms": round(percentile(self.latencies, 50), 1) if self.latencies else None,
            "p99_ms": round(percentile(self.latencies, 99), 1) if self.latencies else None,
            "sent_late": self.behind,
            "dropped_overdue": self.dropped,
            "seconds": round(self.seconds, 1),
        }

    async def run(self, base_url: str, token: str, members: list[str], stop: asyncio.Event) -> None:
        today = date.today().isoformat()
        due: asyncio.Queue[float] = asyncio.Queue()
        rng = random.Random(13)
        started = time.perf_counter()

        async def pace() -> None:
            k = 0
            while not stop.is_set():
                at = started + k / self.rate
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                due.put_nowait(at)
                self.sent += 1
                k += 1

        async def worker() -> None:
            async with Client(base_url, {"authorization": f"Bearer {token}"}) as client:
                while not stop.is_set() or not due.empty():
                    try:
                        at = await asyncio.wait_for(due.get(), timeout=0.5)
                    except TimeoutError:
                        continue
                    late = time.perf_counter() - at
                    if late > 1.0:
                        self.dropped += 1  # open loop, bounded: a backlog would only measure the queue
                        continue
                    if late > 0.1:
                        self.behind += 1
                    member = members[rng.randrange(len(members))]
                    body = {"account": "special", "amount": "50.00", "deposited_on": today}
                    try:
                        status, _ = await client.post(
                            f"/ledger/v1/members/{member}/deposits", body, {"idempotency-key": str(uuid.uuid4())}
                        )
                    except (OSError, asyncio.IncompleteReadError, ValueError):
                        status = 0
                        await client.close()
                    self.statuses[status] += 1
                    if status == 201:
                        self.latencies.append((time.perf_counter() - at) * 1000)

        tasks = [asyncio.create_task(pace()), *(asyncio.create_task(worker()) for _ in range(self.connections))]
        try:
            await asyncio.gather(*tasks)
        finally:
            self.seconds = time.perf_counter() - started
            for t in tasks:
                t.cancel()


async def active_members(pool: asyncpg.Pool, count: int) -> list[str]:
    rows = await pool.fetch(
        """select r.member_id::text from ledger.member_register r
           where not exists (select 1 from ledger.events e where e.stream_id = 'member-' || r.member_id
                             and e.event_type = 'ledger.MemberExited')
           order by md5(r.member_id::text) limit $1""",
        count,
    )
    return [r[0] for r in rows]


async def time_reads(
    base_url: str, token: str, reads: list[tuple[str, str, str]], rounds: int, on_round: Any = None
) -> list[ReadFigure]:
    """Each read once to warm, then `rounds` rounds of all of them, one after another (the dashboard's own
    calls run a few at once; here each is timed alone)."""
    figures = [ReadFigure(level, name, path) for level, name, path in reads]
    async with Client(base_url, {"authorization": f"Bearer {token}", "accept": "application/json"}) as client:
        for figure in figures:
            status, body = await client.get(figure.path)
            if status != 200:
                figure.errors[status] += 1
            figure.bytes = len(body)
        for k in range(rounds):
            for figure in figures:
                t = time.perf_counter()
                status, _ = await client.get(figure.path)
                elapsed = (time.perf_counter() - t) * 1000
                if status == 200:
                    figure.samples.append(elapsed)
                else:
                    figure.errors[status] += 1
            if on_round is not None:
                on_round(k + 1)
    return figures


async def campaign_reports(base_url: str, token: str, districts: list[str], seed: int) -> dict[str, int]:
    """Most districts submit their savings-promotion report (the service prefills it from the counters); a
    few never do. Submitted now, after the deadline: late."""
    rng = random.Random(f"{seed}:reports")
    statuses: Counter[int] = Counter()
    queue = [d for d in districts if rng.random() < 0.9]

    async def worker() -> None:
        async with Client(base_url, {"authorization": f"Bearer {token}"}) as client:
            while queue:
                district = queue.pop()
                body = {"level": "district", "code": district, "notes": rng.choice(names.CAMPAIGN_REPORT_NOTES)}
                status, _ = await client.post(
                    f"/campaign/v1/campaigns/{nation.CAMPAIGN}/reports", body, {"idempotency-key": f"report:{district}"}
                )
                statuses[status] += 1

    await asyncio.gather(*(worker() for _ in range(4)))
    return {str(k): v for k, v in statuses.items()}


async def referrals(base_url: str, department: str, gsb: str, seed: int, outcomes: int) -> dict[str, Any]:
    """GSB's referral feed refreshed as of the year's end (timed), then GSB posts outcomes for some."""
    async with Client(base_url, {"authorization": f"Bearer {department}"}) as client:
        t = time.perf_counter()
        status, body = await client.post(
            "/reporting/v1/partners/gsb/referrals/refresh", {"as_of": AS_OF.isoformat()}, {"idempotency-key": "refresh"}
        )
        refresh_seconds = time.perf_counter() - t
    result: dict[str, Any] = {"refresh_status": status, "refresh_seconds": round(refresh_seconds, 2)}
    if status not in (200, 201):
        result["refresh_error"] = body[:300].decode(errors="replace")
        return result
    import json

    result["referred"] = json.loads(body)["referred"]
    rng = random.Random(f"{seed}:outcomes")
    posted: Counter[int] = Counter()
    async with Client(base_url, {"authorization": f"Bearer {gsb}"}) as client:
        status, body = await client.get(f"/reporting/v1/partners/gsb/referrals?after=0&limit={outcomes}")
        items = json.loads(body).get("items", []) if status == 200 else []
        for item in items:
            if item.get("kind") != "referral":
                continue
            outcome = rng.choices(("contacted", "approved", "loan_granted", "declined"), weights=(30, 12, 10, 8))[0]
            status, _ = await client.post(
                "/reporting/v1/partners/gsb/outcomes",
                {"referral_id": item["referral_id"], "outcome": outcome},
                {"idempotency-key": f"outcome:{item['referral_id']}"},
            )
            posted[status] += 1
    result["outcomes"] = dict(posted)
    return result
