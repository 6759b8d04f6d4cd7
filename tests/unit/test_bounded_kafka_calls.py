"""The projector's informative offset commit and its consumer's stop are bounded: a library call that waits
for a group coordinator without end (after a broker came back empty), even one that swallows its
cancellation, cannot hold the projector."""

from __future__ import annotations

import asyncio
import time

from libs.events.projector import _within


async def _stubborn() -> None:
    """Waits forever and ignores being cancelled, as a coordinator lookup that retries on every error."""
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            continue


async def _fails() -> None:
    raise RuntimeError("rebalance in progress")


async def _answers() -> None:
    await asyncio.sleep(0)


def test_a_call_that_never_ends_is_left_behind_in_time() -> None:
    async def scenario() -> tuple[bool, float]:
        started = time.monotonic()
        finished = await _within(_stubborn(), 0.2)
        return finished, time.monotonic() - started

    loop = asyncio.new_event_loop()
    try:
        finished, took = loop.run_until_complete(scenario())
    finally:
        for task in asyncio.all_tasks(loop):  # the stubborn call, left behind
            task.cancel()
        loop.close()
    assert not finished and took < 1.0


def test_a_failure_or_an_answer_is_told_apart() -> None:
    assert asyncio.run(_within(_fails(), 1.0)) is False
    assert asyncio.run(_within(_answers(), 1.0)) is True
