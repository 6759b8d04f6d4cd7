"""Calendar months as the ledger uses them: a month is named by its first day. Pure."""

from __future__ import annotations

import calendar
from datetime import date


def month_of(day: date) -> date:
    return day.replace(day=1)


def month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def may_fall_in_a_closable_month(on: date, today: date) -> bool:
    """Whether an entry dated `on` could land in a month someone closes before the entry commits: any
    earlier month, and a month's last day (at midnight it becomes closable). Such entries serialise
    with the close; entries dated in the running month do not need to."""
    return month_of(on) < month_of(today) or on == month_end(on)
