"""Month-end series for charts: as far back as the calendar goes, and no further (never an overflow)."""

from __future__ import annotations

from datetime import date

import pytest

from services.reporting.statistics import month_ends, months_through


def test_a_series_reaches_back_to_january_of_year_1_at_most() -> None:
    assert months_through(date(1, 1, 31)) == 1
    assert months_through(date(2, 11, 30)) == 23
    assert month_ends(date(2, 11, 15), 23)[:2] == [date(1, 1, 31), date(1, 2, 28)]
    assert month_ends(date(2024, 3, 15), 3) == [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 15)]
    for last, months in ((date(1, 1, 31), 60), (date(2, 11, 30), 24), (date(2024, 3, 15), 0)):
        with pytest.raises(ValueError):
            month_ends(last, months)
