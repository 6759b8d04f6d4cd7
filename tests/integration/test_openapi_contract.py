"""The published API contract is what partners read first: every service's OpenAPI document, as the
gateway serves it, is a valid OpenAPI document (openapi-spec-validator), shows money and its defaults as
they are sent ("50.00", with the pattern the API enforces), and a standard generator
(openapi-python-client, offline) makes a client from it that imports."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from openapi_python_client import generate
from openapi_python_client.config import Config, ConfigFile, MetaType
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from libs.events.money import AMOUNT_PATTERN

SERVICES = ("auth", "ledger", "lending", "campaign", "reporting")


def _schemas(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schemas(value)


def _problems(document: dict[str, Any]) -> list[str]:
    problems = []
    try:
        validate(document)
    except OpenAPIValidationError as error:
        problems.append(f"openapi-spec-validator: {error.message}")
    for schema in _schemas(document.get("components", {})):
        pattern, default = schema.get("pattern"), schema.get("default")
        if pattern is not None and default is not None and not re.search(pattern, str(default)):
            problems.append(f"{schema.get('title')}: default {default!r} does not match {pattern}")
        if isinstance(pattern, str) and "(\\.\\d{1,2})" in pattern:
            problems.append(f"{schema.get('title')}: amount pattern {pattern} is not the enforced {AMOUNT_PATTERN}")
    return problems


async def test_every_document_validates_and_generates_a_client_that_imports(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    documents = {s: (await client.get(f"/{s}/openapi.json")).json() for s in SERVICES}
    problems = {s: p for s, d in documents.items() if (p := _problems(d))}
    assert problems == {}

    # Money defaults read as sent, with the enforced pattern.
    rules = documents["ledger"]["components"]["schemas"]["GroupRulesRequest"]["properties"]
    assert (rules["share_value"]["default"], rules["share_value"]["pattern"]) == ("50.00", AMOUNT_PATTERN)
    assert rules["entrance_fee"]["default"] == "0.00"
    assert documents["lending"]["components"]["schemas"]["ProgrammeRequest"]["properties"]["budget"]["default"] == (
        "0.00"
    )

    # One generator run per document, in this process (no post hooks: formatting is not the point).
    packages = []
    for service, document in documents.items():
        source = tmp_path / f"{service}.json"
        source.write_text(json.dumps(document), encoding="utf-8")
        package = f"sajja_{service}_client_under_test"
        config = Config.from_sources(
            ConfigFile(post_hooks=[], package_name_override=package),
            MetaType.NONE,
            source,
            "utf-8",
            True,
            tmp_path / "clients" / package,
        )
        errors = generate(config=config)
        assert [f"{e.header}: {e.detail}" for e in errors] == [], service
        packages.append(package)

    sys.path.insert(0, str(tmp_path / "clients"))
    try:
        for package in packages:
            root = importlib.import_module(package)
            modules = [m.name for m in pkgutil.walk_packages(root.__path__, f"{package}.")]
            for name in modules:
                importlib.import_module(name)
            assert any(".api." in m for m in modules) and any(".models." in m for m in modules), package
        ledger_models = importlib.import_module("sajja_ledger_client_under_test.models")
        assert ledger_models.GroupRulesRequest().to_dict()["share_value"] == "50.00"
    finally:
        sys.path.remove(str(tmp_path / "clients"))
        for name in [m for m in sys.modules if m.split(".")[0] in packages]:
            del sys.modules[name]
