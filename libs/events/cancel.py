"""Cancellation that survives libraries which turn it into their own errors."""

from __future__ import annotations

import asyncio


def raise_if_cancelling() -> None:
    """Call in an `except Exception` that retries: a library may turn our cancellation into its own
    error (asyncpg's "pool is closing", aiokafka's connection errors), and a retry loop that swallows
    it would never stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
