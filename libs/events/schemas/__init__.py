"""The published language: one pydantic model per event type and version.

Importing this package registers every event type in `libs.events.registry.REGISTRY`.
"""

from libs.events.schemas import (
    campaign,  # noqa: F401
    ledger,  # noqa: F401
    lending,  # noqa: F401
)
