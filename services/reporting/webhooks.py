"""Webhooks for partners' referral feeds: each feed entry (a referral or a revocation — never personal
data; the partner reads the contact from the feed) is posted to the partner's URL, signed with
HMAC-SHA256 over the timestamp and the body, and retried with exponential back-off (1 s, 2 s, 4 s, …,
at most 5 minutes) until the partner answers 2xx. Deliveries that have not succeeded are on view."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import asyncpg
import httpx

from libs.events.cancel import raise_if_cancelling
from libs.events.settings import Settings
from services.reporting.referrals import sign_webhook

log = logging.getLogger("sajja.webhooks")
S = '"reporting"'
MAX_BACKOFF_SECONDS = 300


class WebhookSender:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, poll_seconds: float = 0.2) -> None:
        self.pool = pool
        self.urls = settings.webhook_urls
        self.secrets = settings.webhook_secrets
        self.poll_seconds = poll_seconds

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                for partner, url in self.urls.items():
                    secret = self.secrets.get(partner)
                    if secret:
                        try:
                            await self.deliver_due(client, partner, url, secret)
                        except (asyncpg.PostgresError, OSError) as exc:
                            raise_if_cancelling()
                            log.warning("webhooks for %s: %s", partner, exc)
                await asyncio.sleep(self.poll_seconds)

    async def deliver_due(self, client: httpx.AsyncClient, partner: str, url: str, secret: str) -> None:
        # New feed entries join the delivery queue; then every due delivery is attempted once.
        await self.pool.execute(
            f"""insert into {S}.webhook_deliveries (partner, seq)
                select partner, seq from {S}.referral_feed where partner = $1
                on conflict do nothing""",
            partner,
        )
        due = await self.pool.fetch(
            f"""select d.seq, d.attempts, f.kind, f.referral_id from {S}.webhook_deliveries d
                join {S}.referral_feed f on f.seq = d.seq
                where d.partner = $1 and d.delivered_at is null and d.next_attempt_at <= now()
                order by d.seq limit 50""",
            partner,
        )
        for row in due:
            body = json.dumps(
                {"partner": partner, "seq": row["seq"], "kind": row["kind"], "referral_id": row["referral_id"]},
                separators=(",", ":"),
            ).encode()
            headers = {
                "Content-Type": "application/json",
                "Sajja-Signature": sign_webhook(secret, int(time.time()), body),
                "Sajja-Delivery": f"{partner}-{row['seq']}",
            }
            error = None
            try:
                answer = await client.post(url, content=body, headers=headers)
                if not answer.is_success:
                    error = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}"
            if error is None:
                await self.pool.execute(
                    f"update {S}.webhook_deliveries set delivered_at = now(), attempts = attempts + 1,"
                    " last_error = null where partner = $1 and seq = $2",
                    partner,
                    row["seq"],
                )
            else:
                backoff = min(2 ** row["attempts"], MAX_BACKOFF_SECONDS)
                await self.pool.execute(
                    f"""update {S}.webhook_deliveries set attempts = attempts + 1, last_error = $3,
                        next_attempt_at = now() + make_interval(secs => $4) where partner = $1 and seq = $2""",
                    partner,
                    row["seq"],
                    error,
                    float(backoff),
                )

    def __repr__(self) -> str:
        return "WebhookSender"
