"""Ledger composition root: routes, relay, health."""

from __future__ import annotations

from pathlib import Path

from libs.events.inbox import Inbox, InboxWorker
from libs.events.kafka import topic_for
from libs.events.runtime import Platform, ServiceRuntime, service_runtime
from services.ledger import book_totals
from services.ledger.api import build_router
from services.ledger.handlers import SCHEMA, LedgerHandlers
from services.ledger.lending_postings import LendingPostingHandler, LendingRequests
from services.ledger.member_search import build_member_search_router
from services.ledger.onboarding.api import build_import_router
from services.ledger.onboarding.importer import ImportWorker

NAME = "ledger"
MIGRATIONS = Path(__file__).with_name("migrations")


def build(platform: Platform) -> ServiceRuntime:
    handlers = LedgerHandlers(platform.pool, platform.settings)
    inbox = Inbox(SCHEMA)
    lending_requests = LendingRequests(topic_for("lending", platform.settings.topic_prefix), inbox)
    return service_runtime(
        NAME,
        platform,
        "Savings groups, members and their savings: the book of record.",
        # The member search first: /members/search is not a member's id.
        routers=[
            build_member_search_router(platform.pool, platform.settings),
            build_router(handlers),
            build_import_router(platform.pool),
        ],
        relays=[platform.relay(handlers.store, topic_for(NAME, platform.settings.topic_prefix))],
        projectors=[platform.projector(SCHEMA, lending_requests)],
        workers=[
            handlers.commit_signal,
            InboxWorker(platform.pool, inbox, LendingPostingHandler(handlers)),
            ImportWorker(platform.pool, handlers.store, platform.settings.national_id_hash_key),
        ],
        on_start=[lambda: book_totals.build_once(platform.pool)],
    )
