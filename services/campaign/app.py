"""Campaign composition root: definitions, the ledger facts projection (with the counters' aggregates, from
the ledger and campaign topics), routes, relay, health."""

from __future__ import annotations

from pathlib import Path

from libs.events.kafka import topic_for
from libs.events.runtime import Platform, ServiceRuntime, service_runtime
from services.campaign.api import build_router
from services.campaign.handlers import SCHEMA, CampaignHandlers
from services.campaign.projections import LedgerFacts, LendingFacts

NAME = "campaign"
MIGRATIONS = Path(__file__).with_name("migrations")


def build(platform: Platform) -> ServiceRuntime:
    handlers = CampaignHandlers(platform.pool, platform.settings)
    facts = LedgerFacts(
        topic_for("ledger", platform.settings.topic_prefix),
        SCHEMA,
        campaign_topic=topic_for(NAME, platform.settings.topic_prefix),
    )
    return service_runtime(
        NAME,
        platform,
        "Savings campaigns: counters, district reports, nominations.",
        routers=[build_router(handlers)],
        relays=[platform.relay(handlers.store, topic_for(NAME, platform.settings.topic_prefix))],
        projectors=[
            platform.projector(SCHEMA, facts),
            platform.projector(SCHEMA, LendingFacts(topic_for("lending", platform.settings.topic_prefix), SCHEMA)),
        ],
        workers=[handlers.commit_signal],
        on_start=[handlers.launch_definitions],
    )
