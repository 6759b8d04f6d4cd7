"""Every request body in each service's OpenAPI document carries an example, and the example is
valid against its own schema (so integrators can paste it)."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest


@pytest.mark.parametrize("service", ["ledger", "lending", "campaign", "reporting"])
async def test_every_request_body_has_a_valid_example(client: httpx.AsyncClient, service: str) -> None:
    document = (await client.get(f"/{service}/openapi.json")).json()
    components = document.get("components", {}).get("schemas", {})
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if not body:
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
    assert checked >= 2
