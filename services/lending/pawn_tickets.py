"""A pawn ticket's life: pledge and payout, renewals, redemption, forfeiture and sale. Pure; the
interest rules are in `pawn.py`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from libs.events.envelope import EventPayload
from libs.events.free_text import FreeText
from libs.events.schemas.lending import (
    ForfeitSold,
    ItemPledged,
    PawnForfeited,
    PawnInterestPaid,
    PawnRedeemed,
    PayoutChannel,
    PayoutConfirmed,
    PayoutFailed,
    PayoutInstructed,
)
from services.lending import pawn
from services.lending.domain import LendingRuleBroken
from services.lending.pawn_customers import check_customer_ref

# The office's rate tables, in force by date (the Act's cap, then its own lower tiers from 2025).
RATE_TABLES: tuple[pawn.RateTable, ...] = (pawn.ACT_CAP, pawn.OFFICE_2025)

TicketStatus = Literal["awaiting_payout", "payout_failed", "pawned", "redeemed", "forfeited", "sold"]


def ticket_stream(ticket_id: uuid.UUID) -> str:
    return f"pawn-{ticket_id}"


def table_named(name: str) -> pawn.RateTable:
    for table in RATE_TABLES:
        if table.name == name:
            return table
    raise LookupError(f"no rate table {name}")


@dataclass(frozen=True)
class Ticket:
    pledged: ItemPledged
    version: int
    status: TicketStatus = "awaiting_payout"
    instruction_id: uuid.UUID | None = None
    channel: PayoutChannel | None = None
    # The payment side's reference: its id in the free-text register (v2), and the text once read
    # (the handler resolves it; a v1 event carried it inline; "cash" for a payout at the counter).
    payout_reference_ref: uuid.UUID | None = None
    payout_reference: str | None = None
    interest_from: date | None = None  # the pledge date, then each renewal's date
    interest_paid_satang: int = 0

    @property
    def term_start(self) -> date:
        return self.interest_from or self.pledged.pledged_on


def ticket_from_events(events: Iterable[tuple[EventPayload, int]]) -> Ticket | None:
    ticket: Ticket | None = None
    for payload, version in events:
        if isinstance(payload, ItemPledged):
            ticket = Ticket(payload, version, interest_from=payload.pledged_on)
            continue
        if ticket is None:
            continue
        ticket = replace(ticket, version=version)
        if isinstance(payload, PayoutInstructed):
            ticket = replace(ticket, instruction_id=payload.instruction_id, channel=payload.channel)
        elif isinstance(payload, PayoutConfirmed):
            counter = "cash" if payload.reference_ref is None and ticket.channel == "cash" else None
            ticket = replace(
                ticket,
                status="pawned",
                payout_reference_ref=payload.reference_ref,
                payout_reference=payload.reference or counter,
            )
        elif isinstance(payload, PayoutFailed):
            ticket = replace(ticket, status="payout_failed")
        elif isinstance(payload, PawnInterestPaid):
            ticket = replace(
                ticket,
                interest_from=payload.paid_on,
                interest_paid_satang=ticket.interest_paid_satang + payload.interest_satang,
            )
        elif isinstance(payload, PawnRedeemed):
            ticket = replace(ticket, status="redeemed")
        elif isinstance(payload, PawnForfeited):
            ticket = replace(ticket, status="forfeited")
        elif isinstance(payload, ForfeitSold):
            ticket = replace(ticket, status="sold")
    return ticket


def _refuse_value_error(error: ValueError, field: str | None) -> LendingRuleBroken:
    return LendingRuleBroken(str(error), field)


def pledge_item(
    ticket_id: uuid.UUID,
    instruction_id: uuid.UUID,
    branch_code: str,
    customer_ref: str,
    item_category: str,
    item_description: FreeText,
    appraised_value_satang: int,
    principal_satang: int,
    pledged_on: date,
    channel: PayoutChannel,
    today: date,
) -> list[EventPayload]:
    """The ticket and its payout instruction; a cash payout is handed over at the counter at once."""
    check_customer_ref(customer_ref)
    if pledged_on > today:
        raise LendingRuleBroken("must not be in the future", "pledged_on")
    try:
        terms = pawn.pledge(principal_satang, appraised_value_satang, pledged_on, RATE_TABLES)
    except ValueError as error:
        field = "appraised_value" if "appraised" in str(error) else "principal"
        raise _refuse_value_error(error, field) from None
    events: list[EventPayload] = [
        ItemPledged(
            ticket_id=ticket_id,
            branch_code=branch_code,
            customer_ref=customer_ref,
            item_category=item_category,  # type: ignore[arg-type]
            item_description_ref=item_description.text_id,
            appraised_value_satang=appraised_value_satang,
            principal_satang=principal_satang,
            pledged_on=pledged_on,
            rate_table=terms.table_name,
            monthly_interest_satang=terms.monthly_interest_satang,
            maturity_date=terms.maturity_date,
        ),
        PayoutInstructed(
            ticket_id=ticket_id, instruction_id=instruction_id, channel=channel, amount_satang=principal_satang
        ),
    ]
    if channel == "cash":
        events.append(PayoutConfirmed(ticket_id=ticket_id, instruction_id=instruction_id, confirmed_on=pledged_on))
    return events


def payout_callback(
    ticket: Ticket,
    instruction_id: uuid.UUID,
    succeeded: bool,
    reference: FreeText | None,
    reason: FreeText | None,
    on: date,
) -> list[EventPayload]:
    """The payment side's answer. The same answer again changes nothing; a different one is refused.
    (`ticket.payout_reference` must hold the text of the reference confirmed before, if any.)"""
    if instruction_id != ticket.instruction_id:
        raise LendingRuleBroken("is not this ticket's payout instruction", "instruction_id", 404)
    if ticket.status == "pawned" and succeeded and reference and reference.body == ticket.payout_reference:
        return []
    if ticket.status == "payout_failed" and not succeeded:
        return []
    if ticket.status != "awaiting_payout":
        raise LendingRuleBroken(f"the payout was answered already (the ticket is {ticket.status})", None, 409)
    if succeeded:
        if not reference:
            raise LendingRuleBroken("is required when the payout succeeded", "reference")
        return [
            PayoutConfirmed(
                ticket_id=ticket.pledged.ticket_id,
                instruction_id=instruction_id,
                reference_ref=reference.text_id,
                confirmed_on=on,
            )
        ]
    return [
        PayoutFailed(
            ticket_id=ticket.pledged.ticket_id,
            instruction_id=instruction_id,
            reason_ref=reason.text_id if reason else None,
        )
    ]


def _ensure_pawned(ticket: Ticket, on: date, today: date, field: str) -> None:
    if ticket.status != "pawned":
        raise LendingRuleBroken(f"the ticket is {ticket.status}", None, 409)
    if on > today:
        raise LendingRuleBroken("must not be in the future", field)
    if on < ticket.term_start:
        raise LendingRuleBroken(f"must not be before {ticket.term_start}", field)


def interest_due(ticket: Ticket, on: date) -> int:
    return pawn.interest_due(
        ticket.pledged.principal_satang, table_named(ticket.pledged.rate_table), ticket.term_start, on
    )


def renew(ticket: Ticket, paid_on: date, today: date, grace_days: int) -> PawnInterestPaid:
    _ensure_pawned(ticket, paid_on, today, "paid_on")
    if pawn.may_forfeit(ticket.term_start, paid_on, grace_days):
        raise LendingRuleBroken(f"the term ended on {pawn.maturity_date(ticket.term_start)}", "paid_on", 409)
    renewal = pawn.renew(
        ticket.pledged.principal_satang, table_named(ticket.pledged.rate_table), ticket.term_start, paid_on
    )
    return PawnInterestPaid(
        ticket_id=ticket.pledged.ticket_id,
        paid_on=paid_on,
        interest_satang=renewal.interest_paid_satang,
        maturity_date=renewal.maturity_date,
    )


def redeem(ticket: Ticket, redeemed_on: date, today: date) -> PawnRedeemed:
    _ensure_pawned(ticket, redeemed_on, today, "redeemed_on")
    redemption = pawn.redeem(
        ticket.pledged.principal_satang, table_named(ticket.pledged.rate_table), ticket.term_start, redeemed_on
    )
    return PawnRedeemed(
        ticket_id=ticket.pledged.ticket_id,
        redeemed_on=redeemed_on,
        principal_satang=ticket.pledged.principal_satang,
        interest_satang=redemption.interest_satang,
    )


def forfeit(ticket: Ticket, forfeited_on: date, today: date, grace_days: int) -> PawnForfeited:
    _ensure_pawned(ticket, forfeited_on, today, "forfeited_on")
    if not pawn.may_forfeit(ticket.term_start, forfeited_on, grace_days):
        raise LendingRuleBroken(
            f"the term runs to {pawn.maturity_date(ticket.term_start)}"
            + (f" with {grace_days} days' grace" if grace_days else ""),
            "forfeited_on",
            409,
        )
    return PawnForfeited(ticket_id=ticket.pledged.ticket_id, forfeited_on=forfeited_on)


def sell(ticket: Ticket, sold_on: date, sale_price_satang: int, today: date) -> ForfeitSold:
    if ticket.status != "forfeited":
        raise LendingRuleBroken(f"only a forfeited item is sold (the ticket is {ticket.status})", None, 409)
    if sold_on > today:
        raise LendingRuleBroken("must not be in the future", "sold_on")
    principal = ticket.pledged.principal_satang
    return ForfeitSold(
        ticket_id=ticket.pledged.ticket_id,
        sold_on=sold_on,
        sale_price_satang=sale_price_satang,
        principal_satang=principal,
        gain_satang=sale_price_satang - principal,
    )
