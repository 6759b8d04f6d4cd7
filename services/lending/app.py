"""Lending composition root: routes, relay, the ledger feed (borrowers and the saga's answers), health."""

from __future__ import annotations

from pathlib import Path

from libs.events.inbox import Inbox, InboxWorker
from libs.events.kafka import topic_for
from libs.events.runtime import Platform, ServiceRuntime, service_runtime
from services.lending.api import build_router
from services.lending.handlers import SCHEMA, LendingHandlers
from services.lending.projections import LedgerFeed, LoanPortfolio, WaitingApplications
from services.lending.worklists import build_worklist_router, group_place_of

NAME = "lending"
MIGRATIONS = Path(__file__).with_name("migrations")


def build(platform: Platform) -> ServiceRuntime:
    handlers = LendingHandlers(platform.pool, platform.settings)
    inbox = Inbox(SCHEMA)
    feed = LedgerFeed(topic_for("ledger", platform.settings.topic_prefix), inbox, SCHEMA)
    return service_runtime(
        NAME,
        platform,
        "Group loans, social-policy programme loans and pawn loans.",
        routers=[build_router(handlers), build_worklist_router(handlers, platform, group_place_of(platform.pool))],
        relays=[platform.relay(handlers.store, topic_for(NAME, platform.settings.topic_prefix))],
        projectors=[
            platform.projector(SCHEMA, feed),
            platform.projector(SCHEMA, LoanPortfolio(topic_for(NAME, platform.settings.topic_prefix), SCHEMA)),
            platform.projector(SCHEMA, WaitingApplications(topic_for(NAME, platform.settings.topic_prefix), SCHEMA)),
        ],
        workers=[handlers.commit_signal, InboxWorker(platform.pool, inbox, handlers.handle_ledger_answer)],
    )
