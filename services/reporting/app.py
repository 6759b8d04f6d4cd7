"""Reporting composition root: projections, routes, health."""

from __future__ import annotations

from pathlib import Path

from libs.events.kafka import topic_for
from libs.events.runtime import Platform, ServiceRuntime, service_runtime
from services.reporting.api import SCHEMA, build_router
from services.reporting.audit import AuditLog
from services.reporting.dashboard import build_dashboard_router
from services.reporting.live import LiveFeed
from services.reporting.projections import MemberBalances
from services.reporting.referral_feed import ReferralFacts
from services.reporting.smart_handlers import GroupCloses
from services.reporting.statistics import Statistics
from services.reporting.webhooks import WebhookSender
from services.reporting.worklists import build_worklist_router

NAME = "reporting"
MIGRATIONS = Path(__file__).with_name("migrations")


def build(platform: Platform) -> ServiceRuntime:
    prefix = platform.settings.topic_prefix
    balances = MemberBalances(topic_for("ledger", prefix), SCHEMA)
    stats = Statistics(topic_for("ledger", prefix), topic_for("lending", prefix), SCHEMA)
    live = LiveFeed(platform.pool, SCHEMA)
    return service_runtime(
        NAME,
        platform,
        "Read models: balances, statistics, referral feeds; the operations dashboard at /reporting/.",
        routers=[
            build_router(platform, balances),
            build_dashboard_router(platform, SCHEMA, live),
            build_worklist_router(platform, SCHEMA),
        ],
        projectors=[
            platform.projector(SCHEMA, balances),
            # The dashboard refreshes when statistics change: their projector announces each batch.
            platform.projector(SCHEMA, stats, after_commit=live.publish),
            platform.projector(SCHEMA, GroupCloses(topic_for("ledger", prefix))),
            platform.projector(
                SCHEMA, AuditLog([topic_for(s, prefix) for s in ("ledger", "lending", "campaign")], SCHEMA)
            ),
            platform.projector(
                SCHEMA,
                ReferralFacts(
                    topic_for("ledger", prefix), topic_for("lending", prefix), platform.settings.national_id_hash_key
                ),
            ),
        ],
        workers=[WebhookSender(platform.pool, platform.settings), live],
    )
