"""SMART Saving Group grading (DOMAIN §1): levels 1–3 from indicators against thresholds kept as data
(`smart/levels.json`). Pure.

Indicators: how far the books are behind (months since the last month-end close, counting the month
before the grading date as up to date), savings regularity (installments met over installments due
in the last 12 closes), savings growth over 12 months, PAR30 of the group's loans, and the governance
items officers recorded as done. A group is at the highest level whose every criterion it meets; the
reasons list each criterion with the group's value, and the gaps to the next level say what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

LEVELS_FILE = Path(__file__).with_name("smart") / "levels.json"


@dataclass(frozen=True)
class Indicators:
    books_months_behind: int | None  # None: never closed a month
    regularity: Decimal | None
    savings_growth: Decimal | None
    par30: Decimal
    governance_items: int


@dataclass(frozen=True)
class Criterion:
    name: str
    required: str
    value: str
    met: bool


@dataclass(frozen=True)
class Grade:
    level: int
    criteria: dict[int, list[Criterion]]  # level → its criteria, met or not

    def gaps(self, level: int) -> list[Criterion]:
        return [c for c in self.criteria.get(level, []) if not c.met]


def load_levels() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(LEVELS_FILE.read_text())
    return data


def months_behind(last_closed: date | None, as_of: date) -> int | None:
    if last_closed is None:
        return None
    previous_month = (as_of.year * 12 + as_of.month - 1) - 1
    return max(0, previous_month - (last_closed.year * 12 + last_closed.month - 1))


def _criteria(requires: dict[str, Any], ind: Indicators) -> list[Criterion]:
    def show(value: Decimal | int | None) -> str:
        return "ไม่มีข้อมูล" if value is None else str(value)

    out = []
    behind_max = int(requires["books_months_behind_max"])
    out.append(
        Criterion(
            "books_up_to_date",
            f"<= {behind_max}",
            show(ind.books_months_behind),
            ind.books_months_behind is not None and ind.books_months_behind <= behind_max,
        )
    )
    for name, key, value in (
        ("savings_regularity", "regularity_min", ind.regularity),
        ("savings_growth", "savings_growth_min", ind.savings_growth),
    ):
        minimum = Decimal(requires[key])
        out.append(Criterion(name, f">= {minimum}", show(value), value is not None and value >= minimum))
    par_max = Decimal(requires["par30_max"])
    out.append(Criterion("par30", f"<= {par_max}", str(ind.par30), ind.par30 <= par_max))
    items = int(requires["governance_items_min"])
    out.append(Criterion("governance", f">= {items}", str(ind.governance_items), ind.governance_items >= items))
    return out


def grade(ind: Indicators, levels: dict[str, Any]) -> Grade:
    criteria = {int(lv["level"]): _criteria(lv["requires"], ind) for lv in levels["levels"]}
    level = 1
    for lv in sorted(criteria):
        if all(c.met for c in criteria[lv]) and level == lv - 1:
            level = lv
    return Grade(level, criteria)
