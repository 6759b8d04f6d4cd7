"""Property tests over random sequences of ledger commands (hypothesis), pure domain: whatever the
sequence, balances never go negative, every journal entry balances, the books' member-savings
accounts equal the sum of member balances, and replaying the published events rebuilds the same state."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from libs.events.envelope import EventPayload
from libs.events.free_text import FreeText
from libs.events.registry import REGISTRY
from libs.events.schemas.ledger import GroupRules, JournalLine
from services.ledger import allocation, books, domain, installments
from services.ledger.months import month_end, month_of

GROUP_ID = uuid.UUID(int=1)
RULES = GroupRules(sajja_withdrawable_before_exit=True, entrance_fee_satang=2_000)
amounts = st.integers(min_value=1, max_value=50_000)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.today = date(2024, 1, 3)
        registered = domain.register_group(
            GROUP_ID, "กลุ่ม", "27", "2701", None, None, date(2023, 1, 1), self.today, RULES
        )
        self.streams: dict[str, list[EventPayload]] = {domain.group_stream(GROUP_ID): [registered]}
        self.log: list[EventPayload] = [registered]  # every event, in append order
        self.refusals = 0
        for n in range(2):
            self.enroll(n + 1)

    # --- state from the streams ------------------------------------------------------------------
    def group(self) -> domain.Group:
        found = domain.group_from_events(self._versioned(domain.group_stream(GROUP_ID)))
        assert found is not None
        return found

    def members(self) -> dict[uuid.UUID, domain.Member]:
        out = {}
        for stream in self.streams:
            if stream.startswith("member-"):
                member = domain.member_from_events(self._versioned(stream))
                assert member is not None
                out[member.member_id] = member
        return out

    def _versioned(self, stream: str) -> list[tuple[EventPayload, int]]:
        return [(e, v) for v, e in enumerate(self.streams[stream], start=1)]

    def append(self, stream: str, *events: EventPayload) -> None:
        self.streams.setdefault(stream, []).extend(events)
        self.log.extend(events)

    def attempt(self, decide: Any) -> None:
        try:
            decide()
        except domain.LedgerRuleBroken:
            self.refusals += 1

    def money(self) -> list[tuple[str, dict[str, Any], date]]:
        out = []
        for event in self.log:
            name = REGISTRY.name_of(event)[0]
            if name in books.MONEY_EVENTS:
                payload = event.model_dump(mode="json")
                out.append((name, payload, books.business_date(name, payload, self.today)))
        return out

    def cash(self) -> int:
        return books.account_balance(books.CASH, (books.postings(t, p) for t, p, _ in self.money()))

    def pick(self, index: int) -> domain.Member | None:
        """A member, mostly an active one (exited members are picked now and then, to be refused)."""
        everyone = sorted(self.members().values(), key=lambda m: m.member_id)
        active = [m for m in everyone if m.exited_on is None]
        members = everyone if index % 10 == 0 or not active else active
        return members[index % len(members)] if members else None

    # --- commands ----------------------------------------------------------------------------------
    @rule(commitment_shares=st.integers(min_value=1, max_value=10))
    def enroll(self, commitment_shares: int) -> None:
        member_id = uuid.UUID(int=len(self.streams) + 1000)
        self.attempt(
            lambda: self.append(
                domain.member_stream(member_id),
                domain.enroll_member(
                    self.group(), member_id, self.today, commitment_shares * 5_000, f"h{member_id}", self.today
                ),
            )
        )

    @rule(who=st.integers(0, 50), account=st.sampled_from(["sajja", "special"]), amount=amounts)
    def deposit(self, who: int, account: Any, amount: int) -> None:
        self._deposit(who, account, amount)

    @rule(who=st.integers(0, 50), amount=amounts)
    def pay_installment(self, who: int, amount: int) -> None:
        self._deposit(who, "sajja", amount)

    def _deposit(self, who: int, account: Any, amount: int) -> None:
        member = self.pick(who)
        if member:
            event = lambda: domain.deposit(  # noqa: E731
                member, uuid.uuid4(), account, amount, self.today, self.today, self.group().closed_through
            )
            self.attempt(lambda: self.append(domain.member_stream(member.member_id), event()))

    @rule(
        who=st.integers(0, 50),
        account=st.sampled_from(["sajja", "special"]),
        percent=st.integers(min_value=1, max_value=110),
    )
    def withdraw(self, who: int, account: Any, percent: int) -> None:
        """Withdraw a share of the balance; above 100 percent, more than there is (to be refused)."""
        member = self.pick(who)
        if member:
            amount = max(1, member.balances[account] * percent // 100)
            self.attempt(
                lambda: self.append(
                    domain.member_stream(member.member_id),
                    domain.withdraw(
                        member, RULES, uuid.uuid4(), account, amount, self.today, self.today, None, self.cash()
                    ),
                )
            )

    @rule(who=st.integers(0, 50), which=st.integers(0, 50))
    def reverse(self, who: int, which: int) -> None:
        member = self.pick(who)
        if member and member.transactions:
            tx = sorted(member.transactions)[which % len(member.transactions)]
            self.attempt(
                lambda: self.append(
                    domain.member_stream(member.member_id),
                    domain.reverse(member, tx, FreeText.of("reason", "แก้ไข"), self.cash()),
                )
            )

    @rule(who=st.integers(0, 50))
    def exit(self, who: int) -> None:
        member = self.pick(who)
        if member:
            self.attempt(
                lambda: self.append(
                    domain.member_stream(member.member_id),
                    domain.exit_member(member, self.today, None, self.today, None, self.cash()),
                )
            )

    @rule(amount=amounts, income=st.booleans())
    def journal_entry(self, amount: int, income: bool) -> None:
        cash = self.cash()
        lines = (
            [JournalLine(account="1010", debit_satang=amount), JournalLine(account="4030", credit_satang=amount)]
            if income
            else [JournalLine(account="5010", debit_satang=amount), JournalLine(account="1010", credit_satang=amount)]
        )
        reserved = books.MEMBER_SAVINGS_ACCOUNTS | books.ALLOCATION_ONLY_ACCOUNTS
        self.attempt(
            lambda: self.append(
                domain.group_stream(GROUP_ID),
                domain.post_journal_entry(
                    self.group(),
                    uuid.uuid4(),
                    self.today,
                    FreeText.of("memo", "x"),
                    lines,
                    self.today,
                    cash,
                    books.CHART,
                    reserved,
                ),
            )
        )

    @rule(days=st.integers(min_value=1, max_value=40))
    def time_passes(self, days: int) -> None:
        self.today += timedelta(days=days)

    @rule()
    def next_month_begins(self) -> None:
        self.today = installments.next_month(month_of(self.today)) + timedelta(days=1)

    @precondition(lambda self: month_of(self.today) > date(2024, 1, 1))
    @rule()
    def close_month(self) -> None:
        group = self.group()
        month = installments.next_month(group.closed_through) if group.closed_through else date(2024, 1, 1)
        members = self.members()

        def close() -> None:
            closed, missed = installments.close_month(group, members.values(), month, self.today)
            self.append(domain.group_stream(GROUP_ID), closed)
            for m in missed:
                self.append(domain.member_stream(m.member_id), m)

        self.attempt(close)

    @rule(dividends_into_cash=st.booleans())
    def allocate(self, dividends_into_cash: bool) -> None:
        group = self.group()
        if group.closed_through is None:
            return
        start = installments.next_month(group.allocated_through) if group.allocated_through else date(2024, 1, 1)
        end = month_end(group.closed_through)
        money = self.money()

        def allocate() -> None:
            decided = allocation.allocate_profit(
                group,
                uuid.uuid4(),
                start,
                end,
                self.today,
                self.today,
                books.period_profit(money, start, end),
                [m for m in self.members().values() if m.exited_on is None],
                books.sajja_movements(money),
                books.interest_paid(money, start, end),
                group.allocated_through,
                books.account_balance(books.CASH, (books.postings(t, p) for t, p, _ in money)),
                paid_into="cash" if dividends_into_cash else "special",
            )
            self.append(domain.group_stream(GROUP_ID), decided.allocated)
            for p in decided.payments:
                self.append(domain.member_stream(p.member_id), p)

        self.attempt(allocate)

    # --- invariants --------------------------------------------------------------------------------
    @invariant()
    def balances_never_negative(self) -> None:
        for member in self.members().values():
            assert all(v >= 0 for v in member.balances.values()), member.balances

    @invariant()
    def every_journal_entry_balances_and_the_books_reconcile(self) -> None:
        posting_sets = [books.postings(t, p) for t, p, _ in self.money()]
        for ps in posting_sets:
            assert sum(p.debit_satang for p in ps) == sum(p.credit_satang for p in ps), ps
        trial = {b.account: b for b in books.trial_balance(posting_sets)}
        assert sum(b.balance_satang for b in trial.values()) == 0
        members = self.members().values()
        assert -trial[books.SAJJA].balance_satang == sum(m.balances["sajja"] for m in members)
        assert -trial[books.SPECIAL].balance_satang == sum(m.balances["special"] for m in members)
        assert trial[books.CASH].balance_satang >= 0
        assert trial[books.DIVIDENDS_PAYABLE].balance_satang == trial[books.REBATES_PAYABLE].balance_satang == 0

    @invariant()
    def replaying_the_published_events_rebuilds_the_same_state(self) -> None:
        for stream, events in self.streams.items():
            published = [
                (REGISTRY.parse(*REGISTRY.name_of(e), json.loads(e.model_dump_json())), v)
                for v, e in enumerate(events, start=1)
            ]
            if stream.startswith("member-"):
                assert domain.member_from_events(published) == domain.member_from_events(self._versioned(stream))
            else:
                assert domain.group_from_events(published) == domain.group_from_events(self._versioned(stream))


LedgerMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)
test_ledger_command_sequences = LedgerMachine.TestCase
