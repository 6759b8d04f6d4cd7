"""Social-policy programme loans (DOMAIN §4): programmes funded from named sources, each with a budget,
eligibility rules, a limit, a rate and a term. A payout draws the programme's budget and is refused
beyond it; repaid principal revolves back into the budget. Pure."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from libs.events.envelope import Area, EventPayload
from libs.events.free_text import FreeText
from libs.events.money import format_baht
from libs.events.schemas.lending import (
    FundsAllocated,
    FundsReturned,
    LoanApplied,
    LoanDisbursed,
    ProgrammeFunded,
    ProgrammeLaunched,
    RepaymentReceived,
)
from services.lending.domain import LendingRuleBroken, MemberFacts, check_borrower


def programme_stream(programme_id: str) -> str:
    return f"programme-{programme_id}"


@dataclass(frozen=True)
class Programme:
    launched: ProgrammeLaunched
    version: int
    funded_satang: int = 0
    allocated_satang: int = 0
    returned_satang: int = 0

    @property
    def available_satang(self) -> int:
        return self.funded_satang - self.allocated_satang + self.returned_satang

    @property
    def outstanding_satang(self) -> int:
        return self.allocated_satang - self.returned_satang


def programme_from_events(events: Iterable[tuple[EventPayload, int]]) -> Programme | None:
    programme: Programme | None = None
    for payload, version in events:
        if isinstance(payload, ProgrammeLaunched):
            programme = Programme(payload, version)
        elif programme is None:
            continue
        elif isinstance(payload, ProgrammeFunded):
            programme = replace(
                programme, funded_satang=programme.funded_satang + payload.amount_satang, version=version
            )
        elif isinstance(payload, FundsAllocated):
            programme = replace(
                programme, allocated_satang=programme.allocated_satang + payload.amount_satang, version=version
            )
        elif isinstance(payload, FundsReturned):
            programme = replace(
                programme, returned_satang=programme.returned_satang + payload.amount_satang, version=version
            )
        else:
            programme = replace(programme, version=version)
    return programme


def fund(programme: Programme, amount_satang: int, funded_on: date, note: FreeText, today: date) -> ProgrammeFunded:
    if funded_on > today:
        raise LendingRuleBroken("must not be in the future", "funded_on")
    return ProgrammeFunded(
        programme_id=programme.launched.programme_id,
        amount_satang=amount_satang,
        funded_on=funded_on,
        note_ref=note.text_id,
        available_after_satang=programme.available_satang + amount_satang,
    )


def apply_for_programme_loan(
    loan_id: uuid.UUID,
    programme: Programme,
    member: MemberFacts | None,
    principal_satang: int,
    term_months: int,
    purpose: FreeText,
    eligibility: dict[str, bool],
    applied_on: date,
    today: date,
    entered_by: str,
) -> LoanApplied:
    p = programme.launched
    member = check_borrower(member, applied_on, today)
    if p.province_code and member.area.province_code != p.province_code:
        raise LendingRuleBroken(f"the programme lends in province {p.province_code} only", "member_id", 409)
    if p.district_code and member.area.district_code != p.district_code:
        raise LendingRuleBroken(f"the programme lends in district {p.district_code} only", "member_id", 409)
    missing = [rule for rule in p.eligibility_required if not eligibility.get(rule)]
    if missing:
        raise LendingRuleBroken(f"the programme lends only where these hold: {', '.join(missing)}", "eligibility", 409)
    if principal_satang > p.max_amount_satang:
        raise LendingRuleBroken(f"the programme lends at most {format_baht(p.max_amount_satang)} baht", "principal")
    if not 1 <= term_months <= p.max_term_months:
        raise LendingRuleBroken(f"must be between 1 and {p.max_term_months} months", "term_months")
    return LoanApplied(
        loan_id=loan_id,
        member_id=member.member_id,
        group_id=member.group_id,
        product_id=f"programme-{p.programme_id}",
        principal_satang=principal_satang,
        term_months=term_months,
        purpose_ref=purpose.text_id,
        applied_on=applied_on,
        entered_by=entered_by,
        terms=p.terms,
        programme_id=p.programme_id,
        eligibility=eligibility,
    )


def budget_effects(programme: Programme, loan_events: Sequence[EventPayload], area: Area) -> list[EventPayload]:
    """What a programme loan's events do to the programme's budget: a payout draws it (refused beyond
    what is available), repaid principal returns to it."""
    effects: list[EventPayload] = []
    available = programme.available_satang
    pid = programme.launched.programme_id
    for event in loan_events:
        if isinstance(event, LoanDisbursed):
            if event.principal_satang > available:
                raise LendingRuleBroken(
                    f"programme {pid} has {format_baht(available)} baht left to lend,"
                    f" less than {format_baht(event.principal_satang)}",
                    None,
                    409,
                )
            available -= event.principal_satang
            effects.append(
                FundsAllocated(
                    programme_id=pid,
                    loan_id=event.loan_id,
                    amount_satang=event.principal_satang,
                    allocated_on=event.disbursed_on,
                    province_code=area.province_code,
                    district_code=area.district_code,
                    available_after_satang=available,
                )
            )
        elif isinstance(event, RepaymentReceived) and event.principal_satang:
            available += event.principal_satang
            effects.append(
                FundsReturned(
                    programme_id=pid,
                    loan_id=event.loan_id,
                    amount_satang=event.principal_satang,
                    returned_on=event.paid_on,
                    province_code=area.province_code,
                    district_code=area.district_code,
                    available_after_satang=available,
                )
            )
    return effects


@dataclass(frozen=True)
class ProgrammeFigures:
    outstanding_satang: int
    allocated_satang: int
    returned_satang: int


def figures_by_area(events: Iterable[EventPayload], on: date, level: str) -> dict[str, ProgrammeFigures]:
    """Outstanding, lent and repaid per province or district (or "all") up to a date, from the
    programme's own events: growth between two dates is the difference of two such readings."""
    totals: dict[str, list[int]] = {}
    for event in events:
        if isinstance(event, FundsAllocated) and event.allocated_on <= on:
            key, sign, day = _area_key(event.province_code, event.district_code, level), 1, event.allocated_on
        elif isinstance(event, FundsReturned) and event.returned_on <= on:
            key, sign, day = _area_key(event.province_code, event.district_code, level), -1, event.returned_on
        else:
            continue
        assert day <= on
        t = totals.setdefault(key, [0, 0])
        t[0 if sign > 0 else 1] += event.amount_satang
    return {k: ProgrammeFigures(a - r, a, r) for k, (a, r) in sorted(totals.items())}


def _area_key(province_code: str, district_code: str, level: str) -> str:
    return {"province": province_code, "district": district_code}.get(level, "all")
