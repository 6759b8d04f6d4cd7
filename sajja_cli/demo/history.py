"""The demo's history through the import path: its groups, the members who were in them before the demo year
(with the savings their paper books brought forward) and every deposit of the months already ended, as the
onboarding file (CSV in a ZIP, the template's headings) that `POST /ledger/v1/imports` takes. What the import
cannot carry — members joining later, raises, withdrawals, exits, loans and repayments, pawn tickets, the
month-end closes — and the month still running go through the public API, as before."""

from __future__ import annotations

from dataclasses import dataclass, field

from libs.events.money import format_baht
from sajja_cli.demo.generator import PROVINCE_CODE, Province, month_end
from services.ledger.onboarding import workbook

GROUP_FIELDS = ("group_code", "name", "province_code", "district_code", "subdistrict_code", "village", "founded_on",
                "opening_on", "collection_day")  # fmt: skip
MEMBER_FIELDS = ("group_code", "national_id", "full_name", "joined_on", "monthly_commitment_satang",
                 "opening_sajja_satang", "opening_special_satang", "phone")  # fmt: skip
DEPOSIT_FIELDS = ("group_code", "national_id", "deposited_on", "account", "amount_satang")


@dataclass
class History:
    """The file, and what it holds: the members it enrols (by plan number → their row in the members sheet) and
    the member commands it carries ((member, seq) of each deposit, the brought-forward ones included)."""

    file: bytes
    groups: int = 0
    rows: dict[int, int] = field(default_factory=dict)
    ops: set[tuple[int, int]] = field(default_factory=set)


def history_file(plan: Province) -> History:
    """The onboarding file of the plan's history: through the end of the last month already ended."""
    opening = plan.opening_day
    history_end = month_end(plan.closed_months[-1])  # the lead month at least
    groups = {g.number: g for g in plan.groups}
    founders = {m.number: m for m in plan.members if m.joined_on <= opening}
    brought: dict[int, dict[str, int]] = {n: {"sajja": 0, "special": 0} for n in founders}
    history = History(b"")
    deposits: list[list[str]] = []
    for op in plan.member_ops:
        if op.member not in founders or op.kind != "deposit" or op.on > history_end:
            continue
        if op.on <= opening:
            brought[op.member][op.account] += op.amount
        else:
            member = founders[op.member]
            deposits.append([groups[member.group].key, member.national_id, op.on.isoformat(), op.account,
                             format_baht(op.amount)])  # fmt: skip
        history.ops.add((op.member, op.seq))
    sheets: dict[str, tuple[tuple[str, ...], list[list[str]]]] = {
        "groups": (
            GROUP_FIELDS,
            [
                [
                    g.key,
                    g.name,
                    PROVINCE_CODE,
                    g.district_code,
                    g.subdistrict_code,
                    g.village,
                    g.founded_on.isoformat(),
                    opening.isoformat(),
                    str(g.collection_day),
                ]  # fmt: skip
                for g in plan.groups
            ],
        ),
        "members": (MEMBER_FIELDS, []),
        "deposits": (DEPOSIT_FIELDS, deposits),
    }
    for row, member in enumerate(founders.values(), start=2):
        history.rows[member.number] = row
        sheets["members"][1].append(
            [
                groups[member.group].key,
                member.national_id,
                member.full_name,
                member.joined_on.isoformat(),
                format_baht(member.commitment),
                format_baht(brought[member.number]["sajja"]),
                format_baht(brought[member.number]["special"]),
                member.phone or "",
            ]  # fmt: skip
        )
    history.file = workbook.csv_zip(sheets)  # type: ignore[arg-type]
    history.groups = len(plan.groups)
    return history
