"""What the import's speed rests on keeps its meaning: derived ids are uuid5's own, event ids stay UUIDv7s in
order, a column's repeated values are judged alike on every row, and the cyclic collector pauses for a job and
comes back as it was."""

from __future__ import annotations

import gc
import random
import uuid
from datetime import date
from pathlib import Path

from libs.events.ids import deriver, new_id
from services.ledger.domain import national_id_check_digit
from services.ledger.onboarding import workbook
from services.ledger.onboarding.importer import _cycles_uncollected


def test_derived_ids_are_uuid5_and_new_ids_are_increasing_uuid7() -> None:
    rng = random.Random(14)
    for _ in range(500):
        namespace = uuid.UUID(int=rng.getrandbits(128))
        name = "".join(rng.choice("deposit:2026-01-05ก๑ ") for _ in range(rng.randint(0, 40)))
        derived, standard = deriver(namespace)(name), uuid.uuid5(namespace, name)
        assert derived == standard and str(derived) == str(standard) and hash(derived) == hash(standard)
        assert derived.version == 5 and derived.bytes == standard.bytes
    ids = [new_id() for _ in range(2_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and {i.version for i in ids} == {7}
    assert all(isinstance(i, uuid.UUID) for i in ids)


def _id(first_twelve: str) -> str:
    return first_twelve + str(national_id_check_digit(first_twelve))


def test_a_value_repeated_down_a_column_is_judged_alike_on_every_row(tmp_path: Path) -> None:
    """Each column's cells are read once per distinct value: every row with a bad value is still refused, and
    values equal but of other kinds (100, "100", "๑๐๐") are each read as what they are."""
    member = _id("327010011111")
    folder = tmp_path / "file"
    folder.mkdir()
    (folder / "groups.csv").write_text(
        "group_code,name,province_code,district_code,founded_on,opening_on\nG1,บ้านหนึ่ง,27,2701,2000-01-01,2025-12-31\n"
    )
    (folder / "members.csv").write_text(
        "group_code,national_id,full_name,joined_on,monthly_commitment,opening_sajja,opening_special\n"
        f"G1,{member},ก ข,2010-01-01,100,0,0\n"
    )
    deposits = ["group_code,national_id,deposited_on,account,amount"]
    for month in (1, 2, 3):
        deposits += [
            f"G1,{member},2026-0{month}-05,sajja,100",
            f"G1,{member},2026-0{month}-06,sajja,๑๐๐",
            f"G1,{member},2026-0{month}-07,sajja,12.345",  # refused on every row
            f"G1,{member},31/02/2569,sajja,100",  # no such day, on every row
        ]
    (folder / "deposits.csv").write_text("\n".join(deposits) + "\n")
    found = workbook.read_file(folder, today=date(2026, 6, 1))
    refused = sorted((p.row, p.field) for p in found.problems)
    assert [row for row, _ in refused] == [4, 5, 8, 9, 12, 13]
    assert {field for _, field in refused} == {"amount", "deposited_on"}
    assert [(d.deposited_on.day, d.amount_satang) for d in found.deposits] == [(5, 10_000), (6, 10_000)] * 3


def test_the_cyclic_collector_pauses_for_a_job_and_comes_back_as_it_was() -> None:
    assert gc.isenabled()
    with _cycles_uncollected():
        assert not gc.isenabled()
        with _cycles_uncollected():  # two jobs side by side
            assert not gc.isenabled()
        assert not gc.isenabled()  # the other job still runs
    assert gc.isenabled()
    gc.disable()
    try:
        with _cycles_uncollected():
            pass
        assert not gc.isenabled()  # it was off: it stays off
    finally:
        gc.enable()
