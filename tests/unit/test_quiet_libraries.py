"""`make run`'s log says what the platform does: the libraries' own INFO lines (a line per HTTP call between
services, hundreds per PDF from fontTools) are held back, their warnings are not, and the platform's INFO is."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from libs.events.telemetry import setup_logging


@pytest.fixture
def logging_as_make_run() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "fontTools", "aiokafka")}
    setup_logging("INFO")
    yield
    root.handlers[:], root.level = handlers, level
    for name, before in levels.items():
        logging.getLogger(name).setLevel(before)


def test_library_info_lines_are_held_back_and_the_platforms_are_not(logging_as_make_run: None) -> None:
    for library in ("httpx", "httpcore", "fontTools.subset", "aiokafka.consumer"):
        assert not logging.getLogger(library).isEnabledFor(logging.INFO), library
        assert logging.getLogger(library).isEnabledFor(logging.WARNING), library
    assert logging.getLogger("sajja.relay").isEnabledFor(logging.INFO)
