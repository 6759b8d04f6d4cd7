"""The campaign counters' aggregates are the facts (DESIGN §5, issue 13): random histories — members
joining before, inside and after the window, commitments raised and lowered for various months, special
and sajja deposits above and below the rules' amounts, withdrawals, reversals, exits — are written to a
ledger topic's partitions (with redeliveries, and events that overtake their stream), and the campaign
launches to the campaign topic's; the real projector applies them in random batches across partitions,
each partition's slice in its own concurrent transaction, so streams interleave in any order and a
campaign arrives before, among or after the facts. Every
counter then read from the aggregates (national, province, district; several dates; the daily series;
the breakdowns) equals counters.py evaluated over the raw events."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.events.envelope import SYSTEM_ACTOR, Area, RecordedEvent
from libs.events.migrations import migrate
from libs.events.projector import Projector
from libs.events.schemas.campaign import CampaignLaunched, CampaignRule
from services.campaign import counters as counting
from services.campaign.aggregates import Progress
from services.campaign.app import MIGRATIONS
from services.campaign.projections import LedgerFacts

SCHEMA = "campaign_property"
LEDGER, CAMPAIGNS = "ledger-topic", "campaign-topic"
FIFTY_YEARS = CampaignLaunched(
    campaign_id="fifty",
    name_th="t",
    name_en="t",
    starts_on=date(2023, 12, 1),
    ends_on=date(2024, 2, 29),
    rules=[
        CampaignRule(kind="new_member"),
        CampaignRule(kind="commitment_raise", min_amount_satang=5_000),
        CampaignRule(kind="special_deposit", min_amount_satang=5_000),
    ],
)
# A province's campaign, with rules on their own dates, starting mid-month.
WEEKS = CampaignLaunched(
    campaign_id="weeks",
    name_th="t",
    name_en="t",
    starts_on=date(2024, 1, 10),
    ends_on=date(2024, 2, 10),
    provinces=["27"],
    rules=[
        CampaignRule(kind="new_member", starts_on=date(2024, 1, 15)),
        CampaignRule(kind="commitment_raise", min_amount_satang=3_000),
        CampaignRule(kind="special_deposit", min_amount_satang=10_000, ends_on=date(2024, 2, 1)),
    ],
)
# One rule only: the others count nothing.
SPECIALS = CampaignLaunched(
    campaign_id="specials",
    name_th="t",
    name_en="t",
    starts_on=date(2023, 11, 15),
    ends_on=date(2024, 1, 31),
    rules=[CampaignRule(kind="special_deposit", min_amount_satang=5_000)],
)
CAMPAIGN_LIST = (FIFTY_YEARS, WEEKS, SPECIALS)
GROUPS = [
    (uuid.UUID(int=1), "27", "2701"),
    (uuid.UUID(int=2), "27", "2701"),
    (uuid.UUID(int=3), "27", "2702"),
    (uuid.UUID(int=4), "10", "1001"),
]
DATES = (date(2023, 11, 30), date(2023, 12, 1), date(2024, 1, 9), date(2024, 1, 15), date(2024, 2, 29))
DAY = st.dates(date(2023, 10, 1), date(2024, 3, 31))
MONTH = st.sampled_from([date(2023, m, 1) for m in (10, 11, 12)] + [date(2024, m, 1) for m in (1, 2, 3, 4)])

action = st.one_of(
    st.tuples(st.just("commitment"), MONTH, st.sampled_from([4_000, 10_000, 13_000, 15_000, 20_000])),
    st.tuples(st.just("deposit"), st.sampled_from(["sajja", "special"]), st.sampled_from([4_999, 5_000, 12_000]), DAY),
    st.tuples(st.just("withdrawal"), st.sampled_from(["sajja", "special"]), st.just(1_000), DAY),
    st.tuples(st.just("reversal"), st.integers(0, 20)),
)
member_history = st.tuples(
    st.integers(0, len(GROUPS) - 1),
    DAY,
    st.sampled_from([5_000, 10_000]),
    st.lists(action, max_size=7),
    st.booleans(),  # exits at the end
)


@dataclass
class Built:
    streams: list[list[RecordedEvent]] = field(default_factory=list)
    facts: counting.Facts = field(default_factory=lambda: counting.Facts([], {}, []))


@dataclass
class _Stream:
    """One member's ledger stream as it is written, and the facts the oracle reads straight from it."""

    member: counting.MemberFact
    rng: random.Random
    events: list[RecordedEvent] = field(default_factory=list)
    changes: list[tuple[date, int]] = field(default_factory=list)
    moves: list[counting.SavingsMove] = field(default_factory=list)
    transactions: list[uuid.UUID] = field(default_factory=list)

    def add(self, kind: str, payload: dict[str, Any], on: date = date(2024, 3, 31)) -> None:
        m = self.member
        at = datetime(on.year, on.month, on.day, 5, tzinfo=UTC)
        self.events.append(
            RecordedEvent(
                event_id=uuid.UUID(int=self.rng.getrandbits(128)),
                event_type=f"ledger.{kind}",
                schema_version=1,
                stream_id=f"member-{m.member_id}",
                stream_version=len(self.events) + 1,
                position=0,
                occurred_at=at,
                recorded_at=at,
                actor=SYSTEM_ACTOR,
                correlation_id=None,
                causation_id=None,
                area=Area(province_code=m.province_code, district_code=m.district_code),
                payload=payload | {"member_id": str(m.member_id), "group_id": str(m.group_id)},
            )
        )

    def balance(self, account: str) -> int:
        return sum(
            m.amount_satang if m.kind == "deposit" else -m.amount_satang
            for m in self.moves
            if m.account == account and m.reversed_on is None
        )

    def act(self, a: tuple[Any, ...]) -> None:
        m = self.member
        if a[0] == "commitment" and a[1] >= m.joined_on.replace(day=1):
            self.changes.append((a[1], a[2]))
            self.add("CommitmentChanged", {"effective_month": a[1].isoformat(), "monthly_commitment_satang": a[2]})
        elif a[0] == "deposit" or (a[0] == "withdrawal" and self.balance(a[1]) >= a[2]):
            _, account, amount, on = a
            on = max(on, m.joined_on)
            tx = uuid.UUID(int=self.rng.getrandbits(128))
            deposit = a[0] == "deposit"
            self.moves.append(counting.SavingsMove(m.member_id, account, a[0], amount, on, None))
            self.transactions.append(tx)
            self.add(
                "SavingsDeposited" if deposit else "SavingsWithdrawn",
                {
                    "transaction_id": str(tx),
                    "account": account,
                    "amount_satang": amount,
                    ("deposited_on" if deposit else "withdrawn_on"): on.isoformat(),
                },
            )
        elif a[0] == "reversal" and self.moves:
            i = a[1] % len(self.moves)
            undone = self.moves[i]
            # Once, never below zero, only the member's own deposits and withdrawals (as the ledger decides).
            if (
                undone.kind != "exit"
                and undone.reversed_on is None
                and (undone.kind != "deposit" or self.balance(undone.account) >= undone.amount_satang)
            ):
                self.moves[i] = replace(undone, reversed_on=date(2024, 4, 1))
                self.add(
                    "TransactionReversed",
                    {
                        "transaction_id": str(self.transactions[i]),
                        "account": undone.account,
                        "reversed_kind": undone.kind,
                        "amount_satang": undone.amount_satang,
                    },
                    date(2024, 4, 1),
                )

    def exit(self) -> None:
        m = self.member
        paid = {account: self.balance(account) for account in ("sajja", "special")}
        on = max([m.joined_on, date(2024, 1, 20), *(mv.on_date for mv in self.moves)])
        payload = {"exited_on": on.isoformat()} | {f"{a}_paid_out_satang": amount for a, amount in paid.items()}
        self.add("MemberExited", payload)
        self.moves += [counting.SavingsMove(m.member_id, a, "exit", x, on, None) for a, x in paid.items() if x]


def build(histories: list[tuple[Any, ...]], rng: random.Random) -> Built:
    """The members' ledger streams, and the facts the oracle reads straight from them."""
    built = Built()
    members: list[counting.MemberFact] = []
    changes: dict[uuid.UUID, list[tuple[date, int]]] = {}
    moves: list[counting.SavingsMove] = []
    for group, joined, commitment, actions, exits in histories:
        gid, province, district = GROUPS[group]
        member = counting.MemberFact(uuid.UUID(int=rng.getrandbits(128)), gid, province, district, joined, commitment)
        stream = _Stream(member, rng)
        stream.add("MemberEnrolled", {"joined_on": joined.isoformat(), "monthly_commitment_satang": commitment})
        for a in actions:
            stream.act(a)
        if exits:
            stream.exit()
        members.append(member)
        changes[member.member_id] = stream.changes
        moves += stream.moves
        built.streams.append(stream.events)
    built.facts = counting.Facts(members, changes, moves)
    return built


def launched(campaign: CampaignLaunched, position: int) -> RecordedEvent:
    at = datetime(2023, 11, 1, tzinfo=UTC)
    return RecordedEvent(
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, campaign.campaign_id),
        event_type="campaign.CampaignLaunched",
        schema_version=1,
        stream_id=f"campaign-{campaign.campaign_id}",
        stream_version=1,
        position=position,
        occurred_at=at,
        recorded_at=at,
        actor=SYSTEM_ACTOR,
        correlation_id=None,
        causation_id=None,
        area=None,
        payload=campaign.model_dump(mode="json"),
    )


def delivery(built: Built, rng: random.Random) -> list[dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]]:
    """Batches as a consumer would get them: the ledger's streams on three partitions (each stream's events
    in order, streams interleaved at random, some events published again later, some overtaking their
    stream and held back), the launches on the campaign topic's partition, read in random slices."""
    logs: dict[TopicPartition, list[RecordedEvent]] = {TopicPartition(LEDGER, p): [] for p in range(3)}
    queues = {i: list(s) for i, s in enumerate(built.streams)}
    sent: dict[int, list[RecordedEvent]] = {i: [] for i in queues}
    while queues:
        i = rng.choice(sorted(queues))
        log = logs[TopicPartition(LEDGER, i % 3)]
        if rng.random() < 0.1 and sent[i]:
            log.append(rng.choice(sent[i]))  # delivered again
        if rng.random() < 0.05 and len(queues[i]) > 1:
            log.append(rng.choice(queues[i][1:]))  # overtakes its stream: held back, published again later
        event = queues[i].pop(0)
        log.append(event)
        sent[i].append(event)
        if not queues[i]:
            del queues[i]
    logs[TopicPartition(CAMPAIGNS, 0)] = [launched(c, n + 1) for n, c in enumerate(CAMPAIGN_LIST)]
    offsets = dict.fromkeys(logs, 0)
    batches = []
    while any(offsets[tp] < len(log) for tp, log in logs.items()):
        batch = {}
        for tp, log in logs.items():
            if offsets[tp] < len(log) and rng.random() < 0.6:
                take = rng.randint(1, 6)
                batch[tp] = [
                    ConsumerRecord(tp.topic, tp.partition, o, 0, 0, None, log[o].to_json(), None, 0, 0, ())
                    for o in range(offsets[tp], min(len(log), offsets[tp] + take))
                ]
                offsets[tp] += len(batch[tp])
        if batch:
            batches.append(batch)
    return batches


class _Consumer:
    """What the projector asks of a consumer after applying a batch."""

    async def commit(self, offsets: object) -> None:
        return None


async def _fresh_schema(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(f'drop schema if exists "{SCHEMA}" cascade')
        await migrate(conn, SCHEMA, MIGRATIONS)


def _children(facts: counting.Facts, level: str, code: str | None) -> dict[str, counting.Facts]:
    key = {"national": "province_code", "province": "district_code"}.get(level, "group_id")
    return counting.split_by(facts, key)


def _area(facts: counting.Facts, level: str, code: str | None) -> counting.Facts:
    if level == "national":
        return facts
    key = "province_code" if level == "province" else "district_code"
    return counting.split_by(facts, key).get(code or "", counting.Facts([], {}, []))


async def check(pool: asyncpg.Pool, progress: Progress, built: Built, as_of: date) -> None:
    areas = [("national", None), ("province", "27"), ("province", "10"), ("district", "2701"), ("district", "2702")]
    for campaign in CAMPAIGN_LIST:
        members = counting.in_campaign(campaign, built.facts.members)
        ids = {m.member_id for m in members}
        facts = counting.Facts(
            members,
            {k: v for k, v in built.facts.commitment_changes.items() if k in ids},
            [mv for mv in built.facts.moves if mv.member_id in ids],
        )
        for level, code in areas:
            area = _area(facts, level, code)
            for day in (*DATES, as_of):
                expected = counting.counters(campaign, area, day)
                assert await progress.counters(campaign, level, code, day) == expected, (
                    campaign.campaign_id,
                    level,
                    code,
                    day,
                )
            for day in (date(2024, 1, 20), date(2024, 3, 31)):
                child, parts = await progress.breakdown(campaign, level, code, day)
                want = [(c, counting.counters(campaign, f, day)) for c, f in _children(area, level, code).items()]
                assert parts == want, (campaign.campaign_id, level, code, day, child)
        for level, code in (("national", None), ("district", "2701")):
            series = await progress.series(campaign, level, code, as_of)
            assert series == counting.series(campaign, _area(facts, level, code), as_of), (campaign.campaign_id, level)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    histories=st.lists(member_history, min_size=1, max_size=9),
    seed=st.integers(0, 2**32),
    as_of=DAY,
)
async def test_aggregates_equal_the_counters_over_the_raw_events(
    pool: asyncpg.Pool, histories: list[tuple[Any, ...]], seed: int, as_of: date
) -> None:
    rng = random.Random(seed)
    built = build(histories, rng)
    await _fresh_schema(pool)
    projector = Projector(pool, SCHEMA, LedgerFacts(LEDGER, SCHEMA, campaign_topic=CAMPAIGNS), lambda _: None, "")  # type: ignore[arg-type, return-value]
    projector.cluster_id = "property"
    for batch in delivery(built, rng):
        # Each partition's slice in its own transaction, at the same time (as consumers in several
        # processes would apply them): members of one group, a launch beside the facts.
        await asyncio.gather(*(projector.apply_batch(_Consumer(), {tp: records}) for tp, records in batch.items()))  # type: ignore[arg-type]
    assert not projector.status.waiting  # every stream applied to its end
    await check(pool, Progress(pool, SCHEMA), built, as_of)


async def test_members_of_one_group_applied_at_the_same_time_count_it_once(pool: asyncpg.Pool) -> None:
    """Two members of one group on different partitions, applied by two transactions at once: the later
    one waits for the group's row, then sees the earlier one's member (without the lock it counted the
    group twice)."""
    await _fresh_schema(pool)
    projection = LedgerFacts(LEDGER, SCHEMA, campaign_topic=CAMPAIGNS)
    rng = random.Random(7)

    def member_with_special(on: date) -> list[RecordedEvent]:
        gid, province, district = GROUPS[0]
        m = counting.MemberFact(uuid.UUID(int=rng.getrandbits(128)), gid, province, district, date(2020, 1, 1), 10_000)
        stream = _Stream(m, rng)
        stream.add("MemberEnrolled", {"joined_on": "2020-01-01", "monthly_commitment_satang": 10_000})
        stream.act(("deposit", "special", 5_000, on))
        return stream.events

    async with pool.acquire() as conn, conn.transaction():
        await projection.apply(conn, [launched(FIFTY_YEARS, 1), *member_with_special(date(2024, 1, 20))])
    first, second = pool.acquire(), pool.acquire()
    async with first as one, second as two:
        held = one.transaction()
        await held.start()
        await projection.apply(one, member_with_special(date(2023, 12, 5)))

        async def other() -> None:
            async with two.transaction():
                await projection.apply(two, member_with_special(date(2023, 12, 3)))

        waiting = asyncio.create_task(other())
        await asyncio.sleep(0.5)
        assert not waiting.done()  # it waits for the group's row
        await held.commit()
        await waiting
    progress = Progress(pool, SCHEMA)
    expected = (
        (date(2023, 12, 2), 0, 0),
        (date(2023, 12, 3), 1, 1),
        (date(2023, 12, 10), 1, 2),
        (date(2024, 2, 29), 1, 3),
    )
    for day, groups, members in expected:
        figures = await progress.counters(FIFTY_YEARS, "national", None, day)
        assert (figures["groups_taking_part"], figures["members_taking_part"]) == (groups, members), day
