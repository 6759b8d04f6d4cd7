"""The ledger's side of the lending sagas: payouts and repayments posted to the group's books.

The lending service publishes `DisbursementRequested`, `RepaymentReceived` and `LoanWrittenOff`. A
projector keeps each in the ledger's inbox exactly once; the inbox worker answers each with one group
event — a `JournalEntryPosted` carrying the request's id, or, for a payout the group's cash cannot
cover (or a payout dated in a closed month), a `LendingPostingRefused`. The group's state knows every
request it answered, so a redelivered or retried request is never posted twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import asyncpg

from libs.events.envelope import Actor, EventPayload, NewEvent, RecordedEvent
from libs.events.ids import new_id
from libs.events.inbox import Inbox, InboxMessage
from libs.events.money import format_baht
from libs.events.schemas.ledger import JournalEntryPosted, JournalLine, LendingPostingRefused, SystemMemo
from services.ledger import books, domain
from services.ledger.handlers import _MONTH_CLOSE_LOCK, LedgerHandlers, today_in_thailand
from services.ledger.months import may_fall_in_a_closable_month, month_end, next_month

REQUESTS = ("lending.DisbursementRequested", "lending.RepaymentReceived", "lending.LoanWrittenOff")
LENDING = Actor(kind="system", id="lending-saga")


class LendingRequests:
    """Projection: lending events the ledger must act on, into the ledger's inbox."""

    name = "lending_requests"

    def __init__(self, lending_topic: str, inbox: Inbox) -> None:
        self.topics: Sequence[str] = (lending_topic,)
        self.inbox = inbox

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        await self.inbox.put(
            conn,
            [
                InboxMessage(str(e.event_id), e.event_type, e.payload)
                for e in events
                # A programme loan's money is the programme's, not the group's: nothing to post.
                if e.event_type in REQUESTS and not e.payload.get("programme_id")
            ],
        )


def request_id_of(message: InboxMessage) -> uuid.UUID:
    """Each request's own id: the payout request, the repayment, or (for a write-off) the event."""
    p = message.payload
    if message.kind == "lending.DisbursementRequested":
        return uuid.UUID(p["request_id"])
    if message.kind == "lending.RepaymentReceived":
        return uuid.UUID(p["repayment_id"])
    return uuid.UUID(message.message_id)


def decide_posting(
    group: domain.Group, message: InboxMessage, cash_satang: int, entry_id: uuid.UUID
) -> JournalEntryPosted | LendingPostingRefused:
    """Pure: the ledger's answer to one lending request."""
    p = message.payload
    loan_id, member_id = uuid.UUID(p["loan_id"]), uuid.UUID(p["member_id"])
    request_id = request_id_of(message)
    source = f"lending:loan-{loan_id}"

    def line(account: str, debit: int = 0, credit: int = 0, member: bool = True) -> JournalLine:
        return JournalLine(
            account=account, debit_satang=debit, credit_satang=credit, member_id=member_id if member else None
        )

    if message.kind == "lending.DisbursementRequested":
        amount, on = int(p["amount_satang"]), date.fromisoformat(p["disbursed_on"])
        refusal = None
        if group.closed_through is not None and on <= month_end(group.closed_through):
            refusal = f"{group.closed_through:%Y-%m} is closed in the group's books; pay out on a later date"
        elif amount > cash_satang:
            refusal = (
                f"the group holds {format_baht(cash_satang)} baht in cash,"
                f" less than the {format_baht(amount)} to pay out"
            )
        if refusal:
            return LendingPostingRefused(
                group_id=group.group_id, request_id=request_id, loan_id=loan_id, reason=refusal
            )
        lines = [line(books.LOANS_RECEIVABLE, debit=amount), line(books.CASH, credit=amount, member=False)]
        return JournalEntryPosted(
            group_id=group.group_id,
            entry_id=entry_id,
            posted_on=on,
            memo_code="loan_disbursement",
            lines=lines,
            source=source,
            request_id=request_id,
        )
    # Money that already changed hands is always posted; dated in a closed month, on the first open day.
    if message.kind == "lending.RepaymentReceived":
        on = _first_open_day(group, date.fromisoformat(p["paid_on"]))
        penalty, interest, principal = int(p["penalty_satang"]), int(p["interest_satang"]), int(p["principal_satang"])
        lines = [line(books.CASH, debit=penalty + interest + principal, member=False)]
        lines += [line(books.LOANS_RECEIVABLE, credit=principal)] if principal else []
        lines += [line(books.LOAN_INTEREST, credit=interest)] if interest else []
        lines += [line(books.LOAN_PENALTIES, credit=penalty)] if penalty else []
        memo: SystemMemo = "loan_repayment"
    else:
        on = _first_open_day(group, date.fromisoformat(p["written_off_on"]))
        amount = int(p["principal_satang"])
        lines = [line(books.BAD_DEBTS, debit=amount), line(books.LOANS_RECEIVABLE, credit=amount)]
        memo = "loan_write_off"
    return JournalEntryPosted(
        group_id=group.group_id,
        entry_id=entry_id,
        posted_on=on,
        memo_code=memo,
        lines=lines,
        source=source,
        request_id=request_id,
    )


def _first_open_day(group: domain.Group, on: date) -> date:
    if group.closed_through is not None and on <= month_end(group.closed_through):
        return next_month(group.closed_through)
    return on


class LendingPostingHandler:
    """Answers one inbox message inside the inbox worker's transaction (its append comes first)."""

    def __init__(self, handlers: LedgerHandlers) -> None:
        self.handlers = handlers

    async def __call__(self, conn: asyncpg.Connection, message: InboxMessage) -> str:
        group_id = uuid.UUID(message.payload["group_id"])
        on = date.fromisoformat(
            message.payload.get("disbursed_on") or message.payload.get("paid_on") or message.payload["written_off_on"]
        )
        if may_fall_in_a_closable_month(on, today_in_thailand()):
            await conn.execute(_MONTH_CLOSE_LOCK.format(mode="_shared"), str(group_id))
        cash = await self.handlers.lock_group_cash(conn, group_id)
        group = await self.handlers.load_group(conn, group_id)
        if request_id_of(message) in group.lending_requests:
            return "answered before"
        event: EventPayload = decide_posting(group, message, cash, new_id())
        await self.handlers.store.append(
            conn, domain.group_stream(group_id), group.version, [NewEvent(event, actor=LENDING, area=group.area)]
        )
        self.handlers.commit_signal.poke()
        return "refused" if isinstance(event, LendingPostingRefused) else "posted"
