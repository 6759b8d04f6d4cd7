"""The balances projector under injected faults: every read model must end exactly as if each event
had been applied once. Real PostgreSQL, real broker, the real relay in between."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from libs.events.envelope import SYSTEM_ACTOR, NewEvent, RecordedEvent
from libs.events.kafka import ensure_topics, make_consumer, make_producer, topic_for
from libs.events.projector import Projector
from libs.events.registry import REGISTRY
from libs.events.relay import Relay
from libs.events.schemas.ledger import MemberEnrolled, SavingsDeposited
from libs.events.settings import Settings
from libs.events.store import EventStore
from services.reporting.projections import MemberBalances
from tests.conftest import Broker

STORE = EventStore("ledger")


class Ledger:
    """Writes member streams straight into the ledger's store and remembers what balances must be."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.versions: dict[uuid.UUID, int] = {}
        self.expected: dict[uuid.UUID, dict[str, int]] = {}
        self.group = uuid.uuid4()
        self.rng = random.Random(7)

    async def enroll(self, count: int) -> None:
        for _ in range(count):
            member = uuid.uuid4()
            await self._append(
                member,
                MemberEnrolled(
                    member_id=member,
                    group_id=self.group,
                    joined_on=date(2023, 12, 1),
                    monthly_commitment_satang=10000,
                    national_id_hash="h",
                ),
            )
            self.expected[member] = {"sajja": 0, "special": 0}

    async def deposit_round(self) -> None:
        for member in list(self.expected):
            account = self.rng.choice(["sajja", "special"])
            amount = self.rng.randint(1, 500_00)
            self.expected[member][account] += amount
            await self._append(
                member,
                SavingsDeposited(
                    transaction_id=uuid.uuid4(),
                    member_id=member,
                    group_id=self.group,
                    account=account,  # type: ignore[arg-type]
                    amount_satang=amount,
                    deposited_on=date(2024, 1, 5),
                    balance_after_satang=self.expected[member][account],
                ),
            )

    async def _append(self, member: uuid.UUID, payload: MemberEnrolled | SavingsDeposited) -> None:
        version = self.versions.get(member, 0)
        async with self.pool.acquire() as conn, conn.transaction():
            await STORE.append(conn, f"member-{member}", version, [NewEvent(payload)])
        self.versions[member] = version + 1

    @property
    def event_count(self) -> int:
        return sum(self.versions.values())

    async def balances(self) -> dict[uuid.UUID, dict[str, int]]:
        rows = await self.pool.fetch("select member_id, sajja_satang, special_satang from reporting.member_balances")
        return {r["member_id"]: {"sajja": r["sajja_satang"], "special": r["special_satang"]} for r in rows}


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Rig:
    """The relay and the balances projector as background tasks, restartable one at a time."""

    def __init__(self, pool: asyncpg.Pool, broker: Broker, settings: Settings) -> None:
        self.pool, self.broker, self.settings = pool, broker, settings
        self.topic = topic_for("ledger", settings.topic_prefix)
        self.tasks: list[asyncio.Task[None]] = []

    def relay(self) -> Relay:
        relay = Relay(
            self.pool,
            STORE,
            self.broker.bootstrap_servers,
            self.topic,
            lambda: make_producer(self.settings, self.broker.bootstrap_servers),
            idle_check_seconds=0.5,
        )
        self.tasks.append(asyncio.create_task(relay.run()))
        return relay

    def projector(self, **kwargs: object) -> Projector:
        projector = Projector(
            self.pool,
            "reporting",
            MemberBalances(self.topic),
            lambda group: make_consumer(self.settings, self.broker.bootstrap_servers, group),
            self.broker.bootstrap_servers,
            **kwargs,
        )  # type: ignore[arg-type]
        self.tasks.append(asyncio.create_task(projector.run()))
        return projector

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()


@pytest.fixture
async def rig(pool: asyncpg.Pool, embedded_only_broker: Broker, settings: Settings) -> Rig:
    await ensure_topics(embedded_only_broker.bootstrap_servers, [topic_for("ledger", settings.topic_prefix)], 6)
    r = Rig(pool, embedded_only_broker, settings)
    yield r  # type: ignore[misc]
    await r.stop()


async def caught_up(ledger: Ledger) -> bool:
    return await ledger.balances() == ledger.expected


async def test_redelivery_of_everything_changes_nothing(pool: asyncpg.Pool, rig: Rig) -> None:
    ledger = Ledger(pool)
    await ledger.enroll(30)
    await ledger.deposit_round()
    rig.relay()
    first = rig.projector()
    await eventually(lambda: caught_up(ledger), what="first projection")
    await rig.stop()
    assert first.status.applied == ledger.event_count

    # Lose the stored offsets: the whole topic is delivered again to a new projector.
    await pool.execute("delete from reporting.projector_offsets")
    rig.relay()
    second = rig.projector()
    await eventually(lambda: asyncio.sleep(0, result=second.status.duplicates >= ledger.event_count), what="redelivery")
    assert second.status.applied == 0
    assert await ledger.balances() == ledger.expected


async def test_crash_between_database_commit_and_kafka_commit(pool: asyncpg.Pool, rig: Rig) -> None:
    ledger = Ledger(pool)
    await ledger.enroll(20)
    for _ in range(3):
        await ledger.deposit_round()
    crashes = {"left": 1}

    async def die_after_commit(events: list[RecordedEvent]) -> None:
        if events and crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("killed after the database commit, before the Kafka offset commit")

    rig.relay()
    crashing = rig.projector(max_batch=7, after_commit=die_after_commit)
    await eventually(
        lambda: asyncio.sleep(0, result=crashing.status.running is False and crashes["left"] == 0),
        what="the injected crash",
    )
    assert 0 < crashing.status.applied < ledger.event_count  # it died part-way
    survivor = rig.projector()
    await eventually(lambda: caught_up(ledger), what="recovery")
    assert crashing.status.applied + survivor.status.applied == ledger.event_count


async def test_broker_restarting_empty_is_refilled_and_nothing_counts_twice(
    pool: asyncpg.Pool, rig: Rig, settings: Settings
) -> None:
    ledger = Ledger(pool)
    await ledger.enroll(25)
    await ledger.deposit_round()
    rig.relay()
    projector = rig.projector()
    await eventually(lambda: caught_up(ledger), what="first projection")
    before = projector.status.applied

    rig.broker.restart_empty()  # Tansu keeps data in memory: topics, offsets and groups are gone
    await ledger.deposit_round()  # written while the relay and projector find the new broker

    await eventually(lambda: caught_up(ledger), timeout=60, what="recovery after the broker restart")
    assert projector.status.applied - before == 25  # the new deposits, once each
    assert projector.status.duplicates > 0  # the republished history was recognised, not applied again
    assert not projector.status.waiting
    assert await projector.missing_events(0.0) == {}


async def test_a_broker_back_empty_with_fewer_partitions_loses_nothing(
    pool: asyncpg.Pool, rig: Rig, settings: Settings
) -> None:
    """Tansu makes a topic that a client asks about with its own default of 4 partitions, and acknowledges
    records sent to a partition the topic does not have, which nobody can then read. A relay whose producer
    still knew the old broker's 6 partitions published such records after the broker came back empty (the
    fault campaign found reporting's balances and lending's payout answers that never arrived): once the relay
    sees the new cluster it publishes only with a producer that has asked the new broker."""
    ledger = Ledger(pool)
    await ledger.enroll(25)
    await ledger.deposit_round()
    producers: list[AIOKafkaProducer] = []

    def new_producer() -> AIOKafkaProducer:
        producers.append(make_producer(settings, rig.broker.bootstrap_servers))
        return producers[-1]

    relay = Relay(pool, STORE, rig.broker.bootstrap_servers, rig.topic, new_producer, idle_check_seconds=0.5)
    rig.tasks.append(asyncio.create_task(relay.run()))
    rig.projector()
    await eventually(lambda: caught_up(ledger), what="first projection")
    assert len(producers) == 1

    rig.broker.restart_empty()
    await ensure_topics(rig.broker.bootstrap_servers, [rig.topic], 4)  # as the first client to ask makes it
    await ledger.deposit_round()

    await eventually(lambda: caught_up(ledger), timeout=30, what="every deposit, after the broker came back")
    await eventually(lambda: asyncio.sleep(0, result=len(producers) == 2), what="a producer for the new broker")
    assert sorted(await producers[-1].partitions_for(rig.topic)) == [0, 1, 2, 3]


async def test_a_projector_joins_again_when_its_assignment_no_longer_fits_the_broker(
    pool: asyncpg.Pool, rig: Rig
) -> None:
    """After a broker came back empty, a consumer can hold partitions assigned from the old broker's metadata or
    from a topic half made (seen in the fault campaign: statistics reading 4 of the new topic's 6 partitions), and
    aiokafka looks at the metadata again only every 5 minutes. The projector compares, every few seconds, the
    partitions its assignment was made from with the broker's own answer, and joins again with a new consumer."""
    ledger = Ledger(pool)
    await ledger.enroll(10)
    rig.relay()
    projector = rig.projector(layout_check_seconds=0.2)
    await eventually(lambda: caught_up(ledger), what="enrolments")
    assert projector.assigned_layout == {rig.topic: 6}
    first = projector._consumer

    projector.assigned_layout = {rig.topic: 4}  # as if assigned from a topic with 4 partitions

    async def joined_again() -> bool:
        return projector._consumer is not first and projector.assigned_layout == {rig.topic: 6}

    await eventually(joined_again, what="a new consumer, assigned from the broker's partitions")
    await ledger.deposit_round()
    await eventually(lambda: caught_up(ledger), what="deposits after joining again")
    assert projector.status.running


async def test_a_missing_event_is_detected_not_papered_over(pool: asyncpg.Pool, rig: Rig, settings: Settings) -> None:
    ledger = Ledger(pool)
    await ledger.enroll(3)
    rig.relay()
    projector = rig.projector()
    await eventually(lambda: caught_up(ledger), what="enrolments")
    member = next(iter(ledger.expected))
    # A version-3 event reaches the topic while version 2 never will (not through the store).
    orphan = RecordedEvent(
        event_id=uuid.uuid4(),
        event_type="ledger.SavingsDeposited",
        schema_version=1,
        stream_id=f"member-{member}",
        stream_version=3,
        position=10**9,
        occurred_at=datetime.now(UTC),
        recorded_at=datetime.now(UTC),
        actor=SYSTEM_ACTOR,
        correlation_id=None,
        causation_id=None,
        area=None,
        payload={
            "transaction_id": str(uuid.uuid4()),
            "member_id": str(member),
            "group_id": str(ledger.group),
            "account": "sajja",
            "amount_satang": 999,
            "deposited_on": "2024-01-05",
            "balance_after_satang": 999,
        },
    )
    producer = make_producer(rig.settings, rig.broker.bootstrap_servers)
    await producer.start()
    await producer.send_and_wait(rig.topic, orphan.to_json(), key=orphan.stream_id.encode())
    await producer.stop()
    await eventually(
        lambda: asyncio.sleep(0, result=f"member-{member}" in projector.status.waiting), what="the hole to be noticed"
    )
    assert projector.status.waiting[f"member-{member}"][:2] == (1, 3)
    assert projector.status.missing(older_than_seconds=0.0)
    # Recorded in the database, so a restarted projector still reports the hole.
    await asyncio.sleep(0.05)
    restarted = Projector(pool, "reporting", MemberBalances(rig.topic), lambda g: None, "unused")  # type: ignore[arg-type,return-value]
    missing = await restarted.missing_events(0.0)
    assert list(missing) == [f"member-{member}"]
    assert "applied version 1, saw version 3" in missing[f"member-{member}"]
    assert (await ledger.balances())[member] == {"sajja": 0, "special": 0}  # not applied out of order


class SlowBalances(MemberBalances):
    """Holds its transaction open after applying, so a second owner of the partition overlaps it."""

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        await super().apply(conn, events)
        await asyncio.sleep(0.3)


async def test_two_owners_of_a_partition_during_a_rebalance_apply_a_new_stream_once(pool: asyncpg.Pool) -> None:
    from aiokafka import TopicPartition
    from aiokafka.structs import ConsumerRecord

    member, group = uuid.uuid4(), uuid.uuid4()
    payloads = [
        MemberEnrolled(
            member_id=member,
            group_id=group,
            joined_on=date(2023, 12, 1),
            monthly_commitment_satang=0,
            national_id_hash="h",
        ),
        SavingsDeposited(
            transaction_id=uuid.uuid4(),
            member_id=member,
            group_id=group,
            account="sajja",
            amount_satang=100_000,
            deposited_on=date(2024, 1, 5),
            balance_after_satang=100_000,
        ),
    ]
    tp = TopicPartition("sajja.ledger.v1", 0)
    records = []
    for version, payload in enumerate(payloads, start=1):
        event_type, _ = REGISTRY.name_of(payload)
        envelope = RecordedEvent(
            event_id=uuid.uuid4(),
            event_type=event_type,
            schema_version=1,
            stream_id=f"member-{member}",
            stream_version=version,
            position=version,
            occurred_at=datetime.now(UTC),
            recorded_at=datetime.now(UTC),
            actor=SYSTEM_ACTOR,
            correlation_id=None,
            causation_id=None,
            area=None,
            payload=payload.model_dump(mode="json"),
        )
        records.append(
            ConsumerRecord(
                tp.topic,
                tp.partition,
                version - 1,
                0,
                0,
                None,
                envelope.to_json(),
                None,
                0,
                len(envelope.to_json()),
                [],
            )
        )

    def owner() -> Projector:
        projector = Projector(
            pool,
            "reporting",
            SlowBalances("sajja.ledger.v1"),
            lambda g: None,  # type: ignore[arg-type,return-value]
            "unused",
        )
        projector.cluster_id = "c1"
        return projector

    first, second = owner(), owner()
    await asyncio.gather(
        first.apply_batch(None, {tp: records}),  # type: ignore[arg-type]
        second.apply_batch(None, {tp: records}),
    )  # type: ignore[arg-type]
    row = await pool.fetchrow("select sajja_satang from reporting.member_balances where member_id = $1", member)
    assert row is not None and row["sajja_satang"] == 100_000  # not 200,000
    assert first.status.applied + second.status.applied == 2
