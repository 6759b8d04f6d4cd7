"""One trace follows a request from HTTP through the store, Kafka and the projector that applies it."""

from __future__ import annotations

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from libs.events.telemetry import setup_tracing
from tests.support.api import new_group, new_member

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_a_deposit_is_traced_from_http_to_the_projection(client: httpx.AsyncClient) -> None:
    exporter = InMemorySpanExporter()
    provider = setup_tracing("sajja-test", exporter)
    group = await new_group(client)
    member = await new_member(client, group["group_id"])
    response = await client.post(
        f"/ledger/v1/members/{member['member_id']}/deposits",
        json={"account": "sajja", "amount": "20.00", "deposited_on": "2024-01-05"},
        headers={"Idempotency-Key": "traced-1", "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
    )
    assert response.status_code == 201
    position = response.json()["position"]["ledger"]
    balance = await client.get(
        f"/reporting/v1/members/{member['member_id']}/balances", params={"after": f"ledger:{position}"}
    )
    assert balance.status_code == 200
    provider.force_flush()
    spans = exporter.get_finished_spans()
    in_trace = {s.name for s in spans if format(s.context.trace_id, "032x") == TRACE_ID}
    assert f"POST /ledger/v1/members/{member['member_id']}/deposits" in in_trace
    assert "event_store.append" in in_trace
    # The projector applies batches: its span is in the request's trace or linked to it.
    applied = [s for s in spans if s.name == "projector.apply member_balances"]
    assert any(
        format(s.context.trace_id, "032x") == TRACE_ID
        or any(format(link.context.trace_id, "032x") == TRACE_ID for link in s.links)
        for s in applied
    )
