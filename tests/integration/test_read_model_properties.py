"""Property test (hypothesis, real PostgreSQL): the aggregates the read models keep are the facts.

Random histories — groups registered, members joining, deposits, withdrawals, reversals, dividends, exits,
loans applied for, paid out, repaid, rescheduled, written off and closed (programme loans among them) — are
delivered through the projector framework's batch step in a shuffled cross-stream order, ledger and
lending topics interleaved, with records delivered again. Every read (each level, several dates, the
month-end series, the breakdown's child areas, borrowers) must equal a naive recomputation from the raw
events: `statistics.deltas()` summed, and borrowers counted from each member's open loans. The loan
portfolio's buckets and PAR30 by area, on dates around the loans' due dates, must equal the old pure
`portfolio_quality` over the loans as the old one-row-a-loan projection left them.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg
from aiokafka.structs import ConsumerRecord, TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.events.envelope import BANGKOK, Actor, Area, RecordedEvent
from libs.events.projector import Projection, Projector
from services.lending import domain
from services.lending.handlers import portfolio_children, portfolio_lines
from services.lending.projections import LoanPortfolio
from services.reporting import statistics
from services.reporting.statistics import Statistics

LEDGER, LENDING = "prop.ledger.v1", "prop.lending.v1"
AREAS = [("27", "2701"), ("27", "2702"), ("10", "1001")]
FIRST_DAY = date(2023, 11, 20)
SPAN = 500  # days: across two year ends and a leap day
ASKED = [
    date(2023, 11, 19),
    date(2023, 12, 31),
    date(2024, 1, 1),
    date(2024, 2, 29),
    date(2024, 7, 15),
    date(2024, 12, 31),
    date(2025, 1, 1),
    date(2025, 3, 31),
    date(2026, 1, 1),
]
REPORTING_TABLES = (
    "stat_totals",
    "stat_areas",
    "borrower_members",
    "borrower_days",
    "loan_kinds",
    "group_names",
    "projector_offsets",
    "projector_streams",
)

days = st.integers(min_value=0, max_value=SPAN).map(lambda n: FIRST_DAY + timedelta(days=n))
amounts = st.integers(min_value=1, max_value=500_000)


@dataclass
class History:
    streams: dict[str, list[RecordedEvent]] = field(default_factory=dict)
    topic_of: dict[str, str] = field(default_factory=dict)

    def add(
        self, topic: str, stream: str, event_type: str, payload: dict[str, Any], area: tuple[str, str], on: datetime
    ) -> None:
        events = self.streams.setdefault(stream, [])
        self.topic_of[stream] = topic
        events.append(
            RecordedEvent(
                event_id=uuid.uuid4(),
                event_type=event_type,
                schema_version=_latest(event_type),
                stream_id=stream,
                stream_version=len(events) + 1,
                position=0,
                occurred_at=on,
                recorded_at=on,
                actor=Actor(kind="user", id="officer"),
                correlation_id=None,
                causation_id=None,
                area=Area(province_code=area[0], district_code=area[1]),
                payload=payload,
            )
        )

    @property
    def events(self) -> list[RecordedEvent]:
        return [e for events in self.streams.values() for e in events]


def _latest(event_type: str) -> int:
    from libs.events.registry import REGISTRY

    return REGISTRY.latest_version(event_type) if REGISTRY.knows(event_type) else 1


def _at(day: date, late: bool) -> datetime:
    """Noon in Bangkok, or 20:00 UTC (the next day in Bangkok): a reversal counts on its Bangkok date."""
    return datetime.combine(day, time(20), UTC) if late else datetime.combine(day, time(12), BANGKOK)


ids = itertools.count(1)


def _id() -> str:
    return str(uuid.UUID(int=next(ids) | (7 << 76)))


@st.composite
def histories(draw: st.DrawFn) -> History:
    h = History()
    groups: list[tuple[str, tuple[str, str]]] = []
    for _ in range(draw(st.integers(1, 4))):
        gid, area = _id(), draw(st.sampled_from(AREAS))
        founded = draw(days)
        h.add(
            LEDGER,
            f"group-{gid}",
            "ledger.GroupRegistered",
            {
                "group_id": gid,
                "name": f"กลุ่ม {gid[-4:]}",
                "province_code": area[0],
                "district_code": area[1],
                "founded_on": founded.isoformat(),
            },
            area,
            _at(founded, False),
        )
        groups.append((gid, area))
    members: list[tuple[str, str, tuple[str, str]]] = []
    for _ in range(draw(st.integers(0, 7))):
        gid, area = draw(st.sampled_from(groups))
        mid = _id()
        stream = f"member-{mid}"
        joined = draw(days)
        h.add(
            LEDGER,
            stream,
            "ledger.MemberEnrolled",
            {"member_id": mid, "group_id": gid, "joined_on": joined.isoformat()},
            area,
            _at(joined, False),
        )
        moves: list[tuple[str, str, int]] = []
        for _ in range(draw(st.integers(0, 6))):
            kind = draw(st.sampled_from(["deposit", "deposit", "withdrawal", "reversal", "dividend"]))
            on, account, amount = draw(days), draw(st.sampled_from(["sajja", "special"])), draw(amounts)
            base = {"member_id": mid, "group_id": gid}
            if kind == "deposit":
                tx = _id()
                h.add(
                    LEDGER,
                    stream,
                    "ledger.SavingsDeposited",
                    base
                    | {
                        "transaction_id": tx,
                        "account": account,
                        "amount_satang": amount,
                        "deposited_on": on.isoformat(),
                        "balance_after_satang": 0,
                    },
                    area,
                    _at(on, False),
                )
                moves.append((tx, account, -amount))
            elif kind == "withdrawal":
                tx = _id()
                h.add(
                    LEDGER,
                    stream,
                    "ledger.SavingsWithdrawn",
                    base
                    | {
                        "transaction_id": tx,
                        "account": account,
                        "amount_satang": amount,
                        "withdrawn_on": on.isoformat(),
                        "balance_after_satang": 0,
                    },
                    area,
                    _at(on, False),
                )
                moves.append((tx, account, amount))
            elif kind == "reversal" and moves:
                tx, account, delta = draw(st.sampled_from(moves))
                h.add(
                    LEDGER,
                    stream,
                    "ledger.TransactionReversed",
                    base
                    | {
                        "transaction_id": tx,
                        "reversed_kind": "deposit" if delta < 0 else "withdrawal",
                        "account": account,
                        "amount_satang": abs(delta),
                        "balance_delta_satang": delta,
                    },
                    area,
                    _at(on, draw(st.booleans())),
                )
            elif kind == "dividend":
                h.add(
                    LEDGER,
                    stream,
                    "ledger.DividendPaid",
                    base
                    | {
                        "allocation_id": _id(),
                        "paid_on": on.isoformat(),
                        "dividend_satang": amount,
                        "rebate_satang": draw(st.integers(0, 999)),
                        "paid_into": draw(st.sampled_from(["special", "cash"])),
                    },
                    area,
                    _at(on, False),
                )
        if draw(st.integers(0, 3)) == 0:
            on = draw(days)
            h.add(
                LEDGER,
                stream,
                "ledger.MemberExited",
                {
                    "member_id": mid,
                    "group_id": gid,
                    "exited_on": on.isoformat(),
                    "sajja_paid_out_satang": draw(st.integers(0, 10_000)),
                    "special_paid_out_satang": draw(st.integers(0, 10_000)),
                },
                area,
                _at(on, False),
            )
        members.append((mid, gid, area))
    for _ in range(draw(st.integers(0, 8)) if members else 0):
        mid, gid, area = draw(st.sampled_from(members))
        lid = _id()
        stream = f"loan-{lid}"
        programme = draw(st.sampled_from([None, None, None, "village-fund"]))
        applied = draw(days)
        base = {"loan_id": lid, "member_id": mid, "group_id": gid}
        h.add(
            LENDING,
            stream,
            "lending.LoanApplied",
            base | {"programme_id": programme, "principal_satang": 1, "applied_on": applied.isoformat()},
            area,
            _at(applied, False),
        )
        if draw(st.integers(0, 5)) == 0:  # rejected, and closed without a payout
            h.add(
                LENDING,
                stream,
                "lending.LoanClosed",
                {"loan_id": lid, "closed_on": draw(days).isoformat(), "reason": "rejected"},
                area,
                _at(applied, False),
            )
            continue
        if draw(st.integers(0, 6)) == 0:
            continue  # never paid out
        paid = draw(days)
        principal = draw(amounts)
        dues = sorted({paid + timedelta(days=30 * (n + 1)) for n in range(draw(st.integers(1, 4)))})
        schedule = [
            {"number": n + 1, "due_on": d.isoformat(), "principal_satang": 0, "interest_satang": 0}
            for n, d in enumerate(dues)
        ]
        h.add(
            LENDING,
            stream,
            "lending.LoanDisbursed",
            base
            | {
                "request_id": _id(),
                "principal_satang": principal,
                "disbursed_on": paid.isoformat(),
                "schedule": schedule,
            },
            area,
            _at(paid, False),
        )
        outstanding = principal
        for _ in range(draw(st.integers(0, 3))):
            on, part = draw(days), draw(st.integers(0, outstanding))
            if draw(st.integers(0, 5)) == 0:
                h.add(
                    LENDING,
                    stream,
                    "lending.LoanRescheduled",
                    {
                        "loan_id": lid,
                        "rescheduled_on": on.isoformat(),
                        "schedule": schedule,
                        "outstanding_principal_satang": max(outstanding, 1),
                    },
                    area,
                    _at(on, False),
                )
                continue
            outstanding -= part
            oldest = draw(st.sampled_from([*dues, None]))
            h.add(
                LENDING,
                stream,
                "lending.RepaymentReceived",
                base
                | {
                    "repayment_id": _id(),
                    "paid_on": on.isoformat(),
                    "amount_satang": max(part, 1),
                    "penalty_satang": 0,
                    "interest_satang": 0,
                    "principal_satang": part,
                    "outstanding_principal_after_satang": outstanding,
                    "oldest_unpaid_due_on": oldest and oldest.isoformat(),
                    "programme_id": programme,
                },
                area,
                _at(on, False),
            )
        end = draw(st.sampled_from(["open", "repaid", "written_off"]))
        on = draw(days)
        if end == "written_off" and outstanding:
            h.add(
                LENDING,
                stream,
                "lending.LoanWrittenOff",
                base | {"written_off_on": on.isoformat(), "principal_satang": outstanding, "programme_id": programme},
                area,
                _at(on, False),
            )
        if end != "open":
            h.add(
                LENDING,
                stream,
                "lending.LoanClosed",
                {"loan_id": lid, "closed_on": on.isoformat(), "reason": end},
                area,
                _at(on, False),
            )
    return h


@st.composite
def deliveries(draw: st.DrawFn, h: History) -> list[list[RecordedEvent]]:
    """The events in a random order that keeps each stream's own order, some delivered again (a
    redelivery or a republished topic), cut into random batches."""
    left = {s: list(events) for s, events in h.streams.items()}
    order: list[RecordedEvent] = []
    while left:
        stream = draw(st.sampled_from(sorted(left)))
        order.append(left[stream].pop(0))
        if not left[stream]:
            del left[stream]
        if order and draw(st.integers(0, 9)) == 0:
            order.append(draw(st.sampled_from(order)))
    batches: list[list[RecordedEvent]] = []
    while order:
        size = draw(st.integers(1, max(1, len(order))))
        batches.append(order[:size])
        order = order[size:]
    return batches


class _Consumer:
    async def commit(self, offsets: object) -> None:
        return None


async def deliver(
    pool: asyncpg.Pool, schema: str, projection: Projection, h: History, batches: Sequence[Sequence[RecordedEvent]]
) -> None:
    """Through the framework's batch step: it skips what it applied before and records progress."""
    projector = Projector(pool, schema, projection, lambda group: None, "")  # type: ignore[arg-type,return-value]
    projector.cluster_id = "property-test"
    offsets: dict[str, int] = defaultdict(int)
    for batch in batches:
        records: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
        for e in batch:
            topic = h.topic_of[e.stream_id]
            if topic not in projection.topics:
                continue
            value = e.to_json()
            records[TopicPartition(topic, 0)].append(
                ConsumerRecord(topic, 0, offsets[topic], 0, 0, e.stream_id.encode(), value, None, 0, len(value), [])
            )
            offsets[topic] += 1
        if records:
            await projector.apply_batch(_Consumer(), dict(records))  # type: ignore[arg-type]


# --- the oracle: the raw events summed naively ------------------------------------------------------
Fact = tuple[date, str, str, str, str | None, str, int]  # day, province, district, group, member, metric, delta


def facts(events: Sequence[RecordedEvent]) -> list[Fact]:
    applied = {e.payload["loan_id"]: e.payload for e in events if e.event_type == "lending.LoanApplied"}
    programme = {loan for loan, p in applied.items() if p.get("programme_id")}
    out: list[Fact] = []
    for e in events:
        assert e.area is not None
        where = (e.area.province_code, e.area.district_code)
        for day, group, member, metric, delta in statistics.deltas(e, programme):
            out.append((day, *where, group, member, metric, delta))
        if e.event_type == "lending.LoanClosed" and e.payload["loan_id"] not in programme:
            loan = applied[e.payload["loan_id"]]
            out.append(
                (
                    date.fromisoformat(e.payload["closed_on"]),
                    *where,
                    loan["group_id"],
                    loan["member_id"],
                    "loan_open",
                    -1,
                )
            )
    return out


def matches(fact: Fact, level: str, code: str) -> bool:
    return {"national": True, "province": fact[1] == code, "district": fact[2] == code, "group": fact[3] == code}[level]


def naive(all_facts: Sequence[Fact], level: str, code: str, on: date) -> dict[str, int]:
    sums: dict[str, int] = defaultdict(int)
    open_loans: dict[str | None, int] = defaultdict(int)
    for f in all_facts:
        if f[0] <= on and matches(f, level, code):
            if f[5] == "loan_open":
                open_loans[f[4]] += f[6]
            else:
                sums[f[5]] += f[6]
    return {
        "groups": sums["groups"],
        "members": sums["members"],
        "sajja_savings": sums["sajja"],
        "special_savings": sums["special"],
        "savings": sums["sajja"] + sums["special"],
        "borrowers": sum(1 for n in open_loans.values() if n > 0),
        "loans_outstanding": sums["loans_outstanding"],
    }


async def _reset(pool: asyncpg.Pool) -> None:
    await pool.execute("truncate " + ", ".join(f"reporting.{t}" for t in REPORTING_TABLES))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
async def test_statistics_equal_the_events_summed(pool: asyncpg.Pool, data: st.DataObject) -> None:
    h = data.draw(histories())
    batches = data.draw(deliveries(h))
    extra = data.draw(days)
    await _reset(pool)
    await deliver(pool, "reporting", Statistics(LEDGER, LENDING), h, batches)
    all_facts = facts(h.events)
    asked = [*ASKED, extra]
    codes = {
        "national": [""],
        "province": sorted({f[1] for f in all_facts} | {"99"}),
        "district": sorted({f[2] for f in all_facts} | {"9999"}),
        "group": sorted({f[3] for f in all_facts}),
    }
    for level, level_codes in codes.items():
        got = await statistics.figures_on(pool, "reporting", level, level_codes, asked)
        for code in level_codes:
            for on in asked:
                assert got[(code, on)] == naive(all_facts, level, code, on), (level, code, on)
        assert await statistics.figures(pool, "reporting", level, level_codes[0] or None, extra) == naive(
            all_facts, level, level_codes[0], extra
        )
    # The breakdown's child areas: those with any history under the area.
    assert await statistics.child_codes(pool, "reporting", "national", None) == sorted({f[1] for f in all_facts})
    for province in codes["province"]:
        want = sorted({f[2] for f in all_facts if f[1] == province})
        assert await statistics.child_codes(pool, "reporting", "province", province) == want
    for district in codes["district"]:
        want = sorted({f[3] for f in all_facts if f[2] == district})
        assert await statistics.child_codes(pool, "reporting", "district", district) == want
    # The month-end series.
    month_ends = statistics.month_ends(date(2025, 2, 10), 18)
    for level, code in (("national", ""), ("district", codes["district"][0])):
        points = await statistics.series(pool, "reporting", level, code or None, month_ends)
        for on, point in zip(month_ends, points, strict=True):
            figures = naive(all_facts, level, code, on)
            del figures["borrowers"]
            assert point == figures, (level, code, on)
    # Nothing is kept per member beyond their dated open-loan changes.
    assert await pool.fetchval("select count(*) from reporting.borrower_days where open = 0") == 0


# --- loan portfolio ----------------------------------------------------------------------------------
LENDING_TABLES = ("loan_portfolio", "portfolio_dues", "projector_offsets", "projector_streams")


def loans_now(events: Sequence[RecordedEvent]) -> dict[str, dict[str, Any]]:
    """The loans as the old projection left them: one row a paid-out loan, updated in place."""
    rows: dict[str, dict[str, Any]] = {}
    for e in events:
        p, t = e.payload, e.event_type
        row = rows.get(p.get("loan_id", ""))
        if t == "lending.LoanDisbursed" and row is None:
            assert e.area is not None
            rows[p["loan_id"]] = {
                "area": (e.area.province_code, e.area.district_code, p["group_id"]),
                "status": "active",
                "outstanding": p["principal_satang"],
                "due": date.fromisoformat(p["schedule"][0]["due_on"]),
            }
        elif row is not None and t == "lending.RepaymentReceived":
            due = p["oldest_unpaid_due_on"]
            row |= {"outstanding": p["outstanding_principal_after_satang"], "due": due and date.fromisoformat(due)}
        elif row is not None and t == "lending.LoanRescheduled":
            row |= {
                "outstanding": p["outstanding_principal_satang"],
                "due": date.fromisoformat(p["schedule"][0]["due_on"]),
            }
        elif row is not None and t == "lending.LoanClosed":
            row |= {"status": "closed", "outstanding": 0, "due": None}
    return rows


def aged(loans: dict[str, dict[str, Any]], level: str, code: str, on: date) -> domain.PortfolioQuality:
    index = {"province": 0, "district": 1, "group": 2}
    lines = [
        domain.PortfolioLine(row["outstanding"], row["due"])
        for row in loans.values()
        if row["status"] == "active" and (level == "national" or row["area"][index[level]] == code)
    ]
    return domain.portfolio_quality(lines, on)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
async def test_portfolio_buckets_equal_the_loans_aged(pool: asyncpg.Pool, data: st.DataObject) -> None:
    h = data.draw(histories())
    batches = data.draw(deliveries(h))
    await pool.execute("truncate " + ", ".join(f"lending.{t}" for t in LENDING_TABLES))
    await deliver(pool, "lending", LoanPortfolio(LENDING, "lending"), h, batches)
    loans = loans_now(h.events)
    dues = sorted({row["due"] for row in loans.values() if row["due"]})
    # Around the buckets' edges of the loans' own due dates, and the fixed dates.
    asked = [*ASKED, *(d + timedelta(days=n) for d in dues[:3] for n in (0, 1, 30, 31, 60, 61, 90, 91))]
    areas = {
        "national": [""],
        "province": sorted({r["area"][0] for r in loans.values()} | {"99"}),
        "district": sorted({r["area"][1] for r in loans.values()} | {"9999"}),
        "group": sorted({r["area"][2] for r in loans.values()}),
    }
    for level, codes in areas.items():
        for code in codes:
            lines = await portfolio_lines(pool, level, code or None)
            for on in asked:
                assert domain.portfolio_quality(lines, on) == aged(loans, level, code, on), (level, code, on)
    for level, child in (("national", "province"), ("province", "district"), ("district", "group")):
        for code in areas[level]:
            children = await portfolio_children(pool, level, code or None)
            index = {"province": 0, "district": 1, "group": 2}[child]
            parent = {"province": None, "district": 0, "group": 1}[child]
            want = sorted(
                {
                    r["area"][index]
                    for r in loans.values()
                    if r["status"] == "active" and (parent is None or r["area"][parent] == code)
                }
            )
            assert sorted(children) == want, (level, code)
            for name, lines in children.items():
                for on in asked[:4]:
                    assert domain.portfolio_quality(lines, on) == aged(loans, child, name, on)
    # Paid-off loans leave: no empty rows are kept.
    assert await pool.fetchval("select count(*) from lending.portfolio_dues where loans = 0") == 0
