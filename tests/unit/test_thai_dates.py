from datetime import date

from libs.documents.thai_dates import thai_date, thai_date_short


def test_the_50th_anniversary_in_thai() -> None:
    assert thai_date(date(2024, 3, 6)) == "๖ มีนาคม ๒๕๖๗"
    assert thai_date_short(date(2024, 3, 6)) == "6 มี.ค. 2567"
    assert thai_date_short(date(2023, 12, 31)) == "31 ธ.ค. 2566"
