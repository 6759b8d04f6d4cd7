"""Browser security headers on every answer: API JSON, problem+json errors, the dashboard and its
assets; a strict Content-Security-Policy everywhere but the Swagger UI docs pages (CDN + inline start)."""

from __future__ import annotations

import uuid
from html.parser import HTMLParser
from pathlib import Path

import httpx

from libs.events.security_headers import DOCS_CSP, STRICT_CSP
from tests.support.api import post

GROUP = {"name": "กลุ่มหัวเรื่อง", "province_code": "27", "district_code": "2701", "founded_on": "1998-05-01"}
STATIC = Path(__file__).resolve().parents[2] / "services" / "reporting" / "dashboard_static"


def assert_secured(response: httpx.Response, policy: str = STRICT_CSP) -> None:
    where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
    assert response.headers.get("x-content-type-options") == "nosniff", where
    assert response.headers.get("x-frame-options") == "DENY", where
    assert response.headers.get("referrer-policy") == "no-referrer", where
    assert response.headers.get("content-security-policy") == policy, where
    assert len(response.headers.get_list("content-security-policy")) == 1, where


async def test_every_kind_of_answer_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    created = await post(client, "/ledger/v1/groups", GROUP)
    assert created.status_code == 201, created.text
    assert_secured(created)
    api = await client.get(f"/ledger/v1/groups/{created.json()['group_id']}")
    assert api.status_code == 200, api.text
    assert_secured(api)

    missing = await client.get(f"/ledger/v1/groups/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert_secured(missing)
    nowhere = await client.get("/no-such-service/anything")
    assert nowhere.status_code == 404
    assert_secured(nowhere)
    refused = await client.get(f"/ledger/v1/groups/{uuid.uuid4()}", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401
    assert_secured(refused)

    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert_secured(page)
    for asset in ("app.js", "style.css", "chart.umd.min.js"):
        served = await client.get(f"/reporting/static/{asset}")
        assert served.status_code == 200, asset
        assert_secured(served)
    services = await client.get("/services")
    assert services.status_code == 200 and "style=" not in services.text
    assert_secured(services)

    # Swagger UI loads from the jsDelivr CDN and starts with an inline script: its own, narrower policy.
    docs = await client.get("/ledger/docs")
    assert docs.status_code == 200 and "cdn.jsdelivr.net" in docs.text
    assert_secured(docs, DOCS_CSP)


class _InlineCode(HTMLParser):
    """Collects what a strict CSP would block in a page: inline scripts, <style>, style= and on*= attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "style":
            self.found.append("<style>")
        if tag == "script":
            self._script_without_src = "src" not in names
        self.found += [f"{tag} {name}=" for name in names if name == "style" or name.startswith("on")]
        self.found += [f"{tag} {name}=javascript:" for name, value in attrs if (value or "").startswith("javascript:")]

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script_without_src = False

    def handle_data(self, data: str) -> None:
        if self._script_without_src and data.strip():
            self.found.append("inline <script>")


def test_the_dashboard_has_nothing_inline_the_policy_would_block() -> None:
    parser = _InlineCode()
    parser.feed((STATIC / "index.html").read_text())
    assert parser.found == []
    app = (STATIC / "app.js").read_text()
    for blocked in ("style=", 'setAttribute("style"', "eval(", "new Function(", "javascript:"):
        assert blocked not in app, blocked
