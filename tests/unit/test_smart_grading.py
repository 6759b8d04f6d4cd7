"""SMART grading against the thresholds kept as data."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.reporting import smart_grading as sg

LEVELS = sg.load_levels()


def test_levels_follow_the_thresholds_with_reasons_and_gaps() -> None:
    top = sg.Indicators(0, Decimal("0.98"), Decimal("0.10"), Decimal("0.02"), 4)
    assert sg.grade(top, LEVELS).level == 3
    # Regularity of 0.90 meets level 2 (0.80) but not level 3 (0.95).
    middle = sg.grade(sg.Indicators(1, Decimal("0.90"), Decimal("0.10"), Decimal("0.02"), 4), LEVELS)
    assert middle.level == 2 and [c.name for c in middle.gaps(3)] == ["savings_regularity"]
    # A group that never closed a month cannot be up to date: level 1, whatever else it does.
    never_closed = sg.grade(sg.Indicators(None, None, Decimal("0.10"), Decimal(0), 4), LEVELS)
    assert never_closed.level == 1
    assert {c.name for c in never_closed.gaps(2)} == {"books_up_to_date", "savings_regularity"}
    # Meeting level 3's criteria but not level 2's PAR30 is still level 1 (levels are climbed in order).
    assert sg.grade(sg.Indicators(0, Decimal(1), Decimal(1), Decimal("0.20"), 4), LEVELS).level == 1


def test_books_behind_counts_from_the_month_before_the_grading_date() -> None:
    assert sg.months_behind(date(2024, 11, 1), date(2024, 12, 15)) == 0
    assert sg.months_behind(date(2024, 9, 1), date(2024, 12, 15)) == 2
    assert sg.months_behind(None, date(2024, 12, 15)) is None
