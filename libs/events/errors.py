"""Errors the shared machinery raises; the HTTP layer maps them to problem+json."""


class ConcurrencyConflict(Exception):
    """A stream moved on since the command read it (stale expected version)."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int | None = None) -> None:
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(f"stream {stream_id} is at version {actual_version}, command expected {expected_version}")


class IdempotencyKeyReused(Exception):
    """The same Idempotency-Key arrived with a different request."""
