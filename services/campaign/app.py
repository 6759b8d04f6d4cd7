"""Campaign composition root. Only health routes so far: its capabilities arrive with their issues."""

from __future__ import annotations

from pathlib import Path

from libs.events.runtime import Platform, ServiceRuntime, service_runtime

NAME = "campaign"
MIGRATIONS = Path(__file__).with_name("migrations")


def build(platform: Platform) -> ServiceRuntime:
    return service_runtime(NAME, platform, "Savings campaigns: counters, district reports, nominations.")
