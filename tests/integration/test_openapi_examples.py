"""Every request body in each service's OpenAPI document carries an example, and the example is
valid against its own schema (so integrators can paste it). One platform serves the module: both tests
only read the documents."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema

from tests.conftest import shared_platform

settings, database_url, broker, running = shared_platform()

SERVICES = ("auth", "ledger", "lending", "campaign", "reporting")


async def test_every_request_body_has_a_valid_example(client: httpx.AsyncClient) -> None:
    for service in SERVICES:  # one platform for all: starting one per service cost half a minute
        await _examples_are_valid(client, service)


async def _examples_are_valid(client: httpx.AsyncClient, service: str) -> None:
    document = (await client.get(f"/{service}/openapi.json")).json()
    components = document.get("components", {}).get("schemas", {})
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if not body or _is_file_upload(body):
                continue
            schema: dict[str, Any] = body["content"]["application/json"]["schema"]
            if "$ref" in schema:
                schema = components[schema["$ref"].rsplit("/", 1)[1]]
            examples = schema.get("examples")
            assert examples, f"{method.upper()} {path}: request body has no example"
            resolver_root = {"components": {"schemas": components}} | schema
            for example in examples:
                jsonschema.validate(example, resolver_root)
            checked += 1
    assert checked >= 2, service


def _is_file_upload(body: dict[str, Any]) -> bool:
    """A file sent as the body (an import): binary, with no JSON to give an example of."""
    return set(body["content"]) == {"application/octet-stream"} and body["content"]["application/octet-stream"][
        "schema"
    ] == {"type": "string", "format": "binary"}


async def test_every_request_body_refuses_unknown_fields(client: httpx.AsyncClient) -> None:
    """Hardening: a field the API does not know is an error, never silently dropped."""
    lax = []
    for service in SERVICES:
        lax += await _lax_bodies(client, service)
    assert lax == []


async def _lax_bodies(client: httpx.AsyncClient, service: str) -> list[str]:
    document = (await client.get(f"/{service}/openapi.json")).json()
    components = document.get("components", {}).get("schemas", {})
    lax = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if not body or _is_file_upload(body):
                continue
            ref = body["content"]["application/json"]["schema"].get("$ref", "")
            schema = components.get(ref.rsplit("/", 1)[-1], {})
            if schema.get("additionalProperties") is not False:
                lax.append(f"{service} {method.upper()} {path}")
    return lax
