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


class RuleBroken(Exception):
    """A command a service's rules refuse; answered as problem+json by the shared handlers. `field` names
    the request field at fault, if one is. Each service names its own kind (`problem_type`, `title`)."""

    problem_type = "rule"
    title = "Request refused"

    def __init__(self, message: str, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


class NotFound(Exception):
    """What a request names does not exist (answered 404)."""

    def __init__(self, what: str, ident: object) -> None:
        super().__init__(f"{what} {ident} does not exist")
