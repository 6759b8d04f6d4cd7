"""Routes of onboarding imports: upload a file (202 and a job), follow the job, fetch its report, and the
template. The department imports anywhere; a district officer imports the groups of their district."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from libs.auth.access import Anywhere, Rule, access, principal_of
from libs.documents.tables import XLSX
from libs.events.http import Problem, idempotency_key
from services.ledger.onboarding import importer, workbook

Key = Annotated[str, Depends(idempotency_key)]
SUFFIXES = (".xlsx", ".csv", ".zip")


def build_import_router(pool: asyncpg.Pool) -> APIRouter:
    router = APIRouter(prefix="/ledger/v1", tags=["imports"])

    @router.post(
        "/imports",
        status_code=202,
        summary="Onboard groups from a spreadsheet: XLSX, a CSV of one sheet, or a ZIP of the CSVs (the body)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        responses={413: {"description": "The file is larger than the import takes (SAJJA_MAX_UPLOAD_BYTES)"}},
    )
    @access(Rule("ledger:write", Anywhere()))
    async def start_import(
        request: Request,
        key: Key,
        file_name: Annotated[str, Query(min_length=5, max_length=200, description="The file's name, e.g. groups.xlsx")],
        good_groups_only: Annotated[
            bool, Query(description="Import the groups without problems, and report the others (default: all or none)")
        ] = False,
    ) -> JSONResponse:
        name = Path(file_name).name
        if not name.lower().endswith(SUFFIXES):
            raise Problem(422, "Invalid request", "file_name: must end in .xlsx, .csv or .zip", "validation")
        body = await _body(request)
        principal = principal_of(request)
        assert principal is not None  # access control ran
        import_id, new = await importer.submit(pool, importer.Scope.of(principal), key, name, body, good_groups_only)
        answer = await importer.status(pool, import_id)
        assert answer is not None
        return JSONResponse(_shown(answer), status_code=202 if new else 200)

    @router.get("/imports/template", summary="The import template, filled with an example (XLSX, or a ZIP of CSVs)")
    @access(Rule("ledger:read", Anywhere()))
    async def template(
        format: Annotated[Literal["xlsx", "zip"], Query()] = "xlsx",  # noqa: A002
        example: bool = True,
    ) -> Response:
        content = await asyncio.to_thread(_template, format, example)
        media = XLSX if format == "xlsx" else "application/zip"
        headers = {"Content-Disposition": f'attachment; filename="sajja-import-template.{format}"'}
        return Response(content, media_type=media, headers=headers)

    @router.get("/imports/{import_id}", summary="An import job: its progress, what it found, what it wrote")
    @access(Rule("ledger:write", Anywhere()))
    async def import_status(
        import_id: uuid.UUID,
        request: Request,
        ids: Annotated[bool, Query(description="Include the id of each group and member row imported")] = False,
    ) -> dict[str, Any]:
        shown = _shown(await _own(pool, request, import_id))
        if not ids and shown["result"]:
            shown["result"] = {k: v for k, v in shown["result"].items() if k != "ids"}
        return shown

    @router.get(
        "/imports/{import_id}/report",
        summary="The refused rows: the file with each bad cell marked and a sheet listing the problems (XLSX)",
    )
    @access(Rule("ledger:write", Anywhere()))
    async def import_report(import_id: uuid.UUID, request: Request) -> Response:
        await _own(pool, request, import_id)
        content = await importer.report(pool, import_id)
        if content is None:
            raise Problem(404, "Not found", f"import {import_id} has no report (no row was refused)", "not-found")
        headers = {"Content-Disposition": f'attachment; filename="sajja-import-{import_id}-report.xlsx"'}
        return Response(content, media_type=XLSX, headers=headers)

    return router


async def _body(request: Request) -> bytes:
    """The file: its size is bounded before the route runs (SAJJA_MAX_UPLOAD_BYTES, libs/auth/hardening.py)."""
    body = await request.body()
    if not body:
        raise Problem(422, "Invalid request", "the request's body must be the file", "validation")
    return body


async def _own(pool: asyncpg.Pool, request: Request, import_id: uuid.UUID) -> dict[str, Any]:
    """The job, for whoever asked for it (and the department); others learn nothing of it."""
    answer = await importer.status(pool, import_id)
    principal = principal_of(request)
    if answer is None or principal is None or not (principal.nationwide or answer["requested_by"] == principal.subject):
        raise Problem(404, "Not found", f"no import {import_id}", "not-found")
    return answer


def _shown(job: dict[str, Any]) -> dict[str, Any]:
    import_id = job["import_id"]
    return {
        "import_id": str(import_id),
        "file_name": job["file_name"],
        "file_sha256": job["file_sha256"],
        "good_groups_only": job["good_groups_only"],
        "status": job["status"],
        "progress": {"events_done": job["events_done"], "events_total": job["events_total"]},
        "result": job["result"],
        "created_at": job["created_at"].isoformat(),
        "finished_at": job["finished_at"].isoformat() if job["finished_at"] else None,
        "links": {
            "self": f"/ledger/v1/imports/{import_id}",
            "report": f"/ledger/v1/imports/{import_id}/report" if job["has_report"] else None,
        },
    }


def _template(format: str, example: bool) -> bytes:  # noqa: A002
    if format == "zip":
        return workbook.template_zip(example=example)
    with tempfile.TemporaryDirectory(prefix="sajja-template-") as tmp:
        path = Path(tmp) / "template.xlsx"
        workbook.write_template(path, example=example)
        return path.read_bytes()
