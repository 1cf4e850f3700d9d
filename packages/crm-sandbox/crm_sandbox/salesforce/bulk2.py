"""Bulk API 2.0 in the Salesforce sandbox: ingest jobs fed by CSV and query jobs read back in locator pages."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crm_sandbox.ids import normalize_id
from crm_sandbox.salesforce import schema
from crm_sandbox.salesforce.bodies import json_object
from crm_sandbox.salesforce.errors import SfError, SfErrors, allow, no_resource, not_deserializable, not_found
from crm_sandbox.salesforce.query import Cursor, compile_or_error
from crm_sandbox.salesforce.rules import now_stamp
from crm_sandbox.salesforce.soql import csv_header, csv_values
from crm_sandbox.state import utc_day

if TYPE_CHECKING:
    from crm_sandbox.salesforce.app import SalesforceService

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
CHUNK = 1000  # rows per transaction; the event loop serves other requests between chunks
DEFAULT_MAX_RECORDS = 100_000


class Bulk2:
    """Job registry and processing; job info and results live in the org's SQLite file."""

    def __init__(self, service: SalesforceService):
        self.service = service
        self.store = service.store
        self.conn = service.store.conn
        self.conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS _bulk_jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, day TEXT NOT NULL,
                                                   info TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS _bulk_data (job_id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS _bulk_results (job_id TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL);
            """
        )
        self.query_cursors: dict[str, tuple[Cursor, int]] = {}
        self.tasks: set[asyncio.Task] = set()
        # A job interrupted by a restart cannot resume mid-way; Salesforce would fail it too.
        for job_id, info in self.conn.execute("SELECT id, info FROM _bulk_jobs").fetchall():
            data = json.loads(info)
            if data["state"] in ("UploadComplete", "InProgress"):
                data.update(state="Failed", errorMessage="InternalServerError: job interrupted by a restart")
                self._save(job_id, data)

    # ---- storage ----------------------------------------------------------------------------------------
    def jobs_today(self, kind: str) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM _bulk_jobs WHERE kind = ? AND day = ?",
                                 (kind, utc_day())).fetchone()[0]

    def _load(self, kind: str, job_id: str) -> dict:
        row = self.conn.execute("SELECT info FROM _bulk_jobs WHERE id = ? AND kind = ?", (job_id, kind)).fetchone()
        if row is None:
            raise not_found()
        return json.loads(row[0])

    def _save(self, job_id: str, info: dict) -> None:
        info["systemModstamp"] = now_stamp()
        self.conn.execute("UPDATE _bulk_jobs SET info = ? WHERE id = ?", (json.dumps(info), job_id))

    def _new_job(self, kind: str, info: dict, user: str) -> dict:
        job_id = self.store.allocate_ids(_JOB, 1)[0]
        version = self.service.settings["api_version"]
        stamp = now_stamp()
        info = {"id": job_id, **info, "createdById": user, "createdDate": stamp, "systemModstamp": stamp,
                "concurrencyMode": "Parallel", "apiVersion": float(version),
                "jobType": "V2Ingest" if kind == "ingest" else "V2Query"}
        if kind == "ingest":
            info["contentUrl"] = f"services/data/v{version}/jobs/ingest/{job_id}/batches"
        self.conn.execute("INSERT INTO _bulk_jobs VALUES (?, ?, ?, ?)", (job_id, kind, utc_day(), json.dumps(info)))
        return info

    # ---- routing ----------------------------------------------------------------------------------------
    async def route(self, request: Request, parts: list[str], user: str) -> Response:
        if not parts or parts[0] not in ("ingest", "query") or len(parts) > 3:
            raise no_resource()
        kind, rest = parts[0], parts[1:]
        if not rest:
            if allow(request.method, ["GET", "POST"]) == "POST":
                body = await _json(request)
                info = self.create_ingest(body, user) if kind == "ingest" else self.create_query(body, user)
                return JSONResponse(info)
            rows = self.conn.execute("SELECT info FROM _bulk_jobs WHERE kind = ? ORDER BY id", (kind,)).fetchall()
            return JSONResponse({"done": True, "records": [json.loads(r[0]) for r in rows], "nextRecordsUrl": None})
        sub = rest[1].lower() if len(rest) == 2 else ""
        if len(rest) == 1:
            method = allow(request.method, ["GET", "PATCH", "DELETE"])
        elif kind == "ingest" and sub == "batches":
            method = allow(request.method, ["PUT"])
        elif (kind, sub) in (("ingest", "successfulresults"), ("ingest", "failedresults"),
                             ("ingest", "unprocessedrecords"), ("query", "results")):
            method = allow(request.method, ["GET"])
        else:
            raise no_resource()
        job_id = rest[0]
        info = self._load(kind, job_id)
        if len(rest) == 1:
            if method == "GET":
                return JSONResponse(info)
            if method == "PATCH":
                state = (await _json(request)).get("state")
                if not isinstance(state, str):
                    raise not_deserializable("JobState", state, ["state"])
                return JSONResponse(await self.change_state(kind, info, state))
            if info["state"] not in ("JobComplete", "Failed", "Aborted", "Open"):
                raise SfError("INVALIDJOBSTATE", "Job is still being processed and cannot be deleted")
            self.conn.execute("DELETE FROM _bulk_jobs WHERE id = ?", (job_id,))
            self.conn.execute("DELETE FROM _bulk_data WHERE job_id = ?", (job_id,))
            self.conn.execute("DELETE FROM _bulk_results WHERE job_id = ?", (job_id,))
            self.query_cursors.pop(job_id, None)
            return Response(status_code=204)
        if sub == "batches":
            if info["state"] != "Open":
                raise SfError("INVALIDJOBSTATE", f"Job's state is {info['state']}: data can only be uploaded to an "
                              "Open job", status=409)
            try:
                body = (await request.body()).decode("utf-8")
            except UnicodeDecodeError:
                raise SfError("INVALIDBATCH", "The uploaded data is not valid UTF-8") from None
            seq = self.conn.execute("SELECT COUNT(*) FROM _bulk_data WHERE job_id = ?", (job_id,)).fetchone()[0]
            self.conn.execute("INSERT INTO _bulk_data VALUES (?, ?, ?)", (job_id, seq, body))
            return Response(status_code=201)
        if kind == "ingest":
            row = self.conn.execute("SELECT body FROM _bulk_results WHERE job_id = ? AND kind = ?",
                                    (job_id, sub)).fetchone()
            return Response(row[0] if row else "", media_type="text/csv")
        return self.query_results(info, request)

    # ---- ingest -----------------------------------------------------------------------------------------
    def create_ingest(self, body: dict, user: str) -> dict:
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise SfError("INVALIDJOB", f"Invalid operation: {operation}")
        sobject = schema.get_sobject(str(body.get("object", "")))
        if sobject is None:
            raise SfError("INVALIDJOB", f"Invalid object: {body.get('object')}")
        ext = body.get("externalIdFieldName") or "Id"
        field = sobject.field(ext)
        if operation == "upsert" and (field is None or not (field.external_id or field.name == "Id")):
            raise SfError("INVALIDJOB", f"Invalid externalIdFieldName: {ext}")
        delimiter = body.get("columnDelimiter", "COMMA")
        if delimiter not in DELIMITERS or body.get("lineEnding", "LF") not in ("LF", "CRLF"):
            raise SfError("INVALIDJOB", "Invalid columnDelimiter or lineEnding")
        return self._new_job("ingest", {
            "operation": operation, "object": sobject.name, "state": "Open", "contentType": "CSV",
            "columnDelimiter": delimiter, "lineEnding": body.get("lineEnding", "LF"),
            "externalIdFieldName": field.name if operation == "upsert" else None,
            "numberRecordsProcessed": 0, "numberRecordsFailed": 0, "retries": 0, "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0, "apexProcessingTime": 0}, user)

    async def change_state(self, kind: str, info: dict, state: str | None) -> dict:
        current = info["state"]
        if state == "Aborted" and current not in ("JobComplete", "Failed", "Aborted"):
            info["state"] = "Aborted"
            self._save(info["id"], info)
            self.query_cursors.pop(info["id"], None)
            return info
        if kind == "ingest" and state == "UploadComplete" and current == "Open":
            info["state"] = "UploadComplete"
            self._save(info["id"], info)
            self._spawn(self.process_ingest(info["id"]))
            return info
        raise SfError("INVALIDJOBSTATE", f"Cannot change job state from {current} to {state}", status=400)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _rows(self, job_id: str, delimiter: str) -> tuple[list[str], list[list[str]]]:
        header: list[str] | None = None
        rows: list[list[str]] = []
        for (body,) in self.conn.execute("SELECT body FROM _bulk_data WHERE job_id = ? ORDER BY seq", (job_id,)):
            reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
            chunk_header = next(reader, None)
            if chunk_header is None:
                continue
            if header is None:
                header = chunk_header
            elif chunk_header != header:
                raise SfError("InvalidBatch", "All uploaded data must have the same header")
            rows.extend(r for r in reader if r)
        return header or [], rows

    async def process_ingest(self, job_id: str) -> None:
        info = self._load("ingest", job_id)
        info["state"] = "InProgress"
        self._save(job_id, info)
        await asyncio.sleep(0)
        sobject = schema.SCHEMA[info["object"]]
        user = info["createdById"]
        try:
            header, rows = self._rows(job_id, DELIMITERS[info["columnDelimiter"]])
        except (SfError, csv.Error) as exc:
            info.update(state="Failed", errorMessage=str(exc))
            self._save(job_id, info)
            return
        unknown = [h for h in header if sobject.field(h) is None]
        if unknown or not header:
            missing = unknown[0] if unknown else ""
            info.update(state="Failed", errorMessage=f"InvalidBatch : Field name not found : {missing}")
            self._save(job_id, info)
            return
        ok, bad = io.StringIO(), io.StringIO()
        ok_w, bad_w = csv.writer(ok, lineterminator="\n"), csv.writer(bad, lineterminator="\n")
        ok_w.writerow(["sf__Id", "sf__Created", *header])
        bad_w.writerow(["sf__Id", "sf__Error", *header])
        processed = failed = 0
        op = info["operation"]
        for start in range(0, len(rows), CHUNK):
            if self._load("ingest", job_id)["state"] == "Aborted":
                return self._finish_aborted(job_id, header, rows[start:], ok, bad, processed, failed)
            self.conn.execute("BEGIN")
            for cells in rows[start:start + CHUNK]:
                data = {h: ("#N/A" if v == "#N/A" else v) for h, v in zip(header, cells, strict=False) if v != ""}
                data = {h: (None if v == "#N/A" else v) for h, v in data.items()}
                try:
                    rid, created = self._apply(sobject, op, info.get("externalIdFieldName"), data, user)
                    ok_w.writerow([rid, "true" if created else "false", *cells])
                except (SfError, SfErrors) as exc:
                    errs = exc.errors if isinstance(exc, SfErrors) else [exc]
                    bad_w.writerow([data.get("Id", ""), errs[0].bulk(), *cells])
                    failed += 1
                processed += 1
            self.conn.execute("COMMIT")
            info = self._load("ingest", job_id)
            info.update(numberRecordsProcessed=processed, numberRecordsFailed=failed)
            self._save(job_id, info)
            await asyncio.sleep(0)
        self._store_results(job_id, ok.getvalue(), bad.getvalue(), ",".join(header) + "\n")
        info.update(state="JobComplete", numberRecordsProcessed=processed, numberRecordsFailed=failed)
        self._save(job_id, info)

    def _finish_aborted(self, job_id, header, remaining, ok, bad, processed, failed) -> None:
        unprocessed = io.StringIO()
        w = csv.writer(unprocessed, lineterminator="\n")
        w.writerow(header)
        w.writerows(remaining)
        self._store_results(job_id, ok.getvalue(), bad.getvalue(), unprocessed.getvalue())
        info = self._load("ingest", job_id)
        info.update(numberRecordsProcessed=processed, numberRecordsFailed=failed)
        self._save(job_id, info)

    def _store_results(self, job_id: str, ok: str, bad: str, unprocessed: str) -> None:
        self.conn.executemany("INSERT INTO _bulk_results VALUES (?, ?, ?)",
                              [(job_id, "successfulresults", ok), (job_id, "failedresults", bad),
                               (job_id, "unprocessedrecords", unprocessed)])

    def _apply(self, sobject, op: str, ext: str | None, data: dict, user: str) -> tuple[str, bool]:
        store = self.store
        if op == "insert":
            return store.create(sobject, data, user), True
        if op == "upsert":
            value = next((v for k, v in data.items() if k.lower() == ext.lower()), None)
            if value in (None, ""):
                raise SfError("MISSING_ARGUMENT", f"{ext} not specified", [ext])
            return store.upsert(sobject, ext, str(value), data, user)
        rid = next((v for k, v in data.items() if k.lower() == "id"), None)
        if not rid or normalize_id(rid) is None:
            raise SfError("MISSING_ARGUMENT", "Id not specified in an update call" if op == "update"
                          else "Id not specified", ["Id"])
        if op == "update":
            store.update(sobject, rid, {k: v for k, v in data.items() if k.lower() != "id"}, user)
        else:
            store.delete(sobject, rid, user)
        return normalize_id(rid), False

    # ---- query ------------------------------------------------------------------------------------------
    def create_query(self, body: dict, user: str) -> dict:
        operation = body.get("operation", "query")
        if operation not in ("query", "queryAll"):
            raise SfError("INVALIDJOB", f"Invalid operation: {operation}")
        delimiter = body.get("columnDelimiter", "COMMA")
        if delimiter not in DELIMITERS:
            raise SfError("INVALIDJOB", "Invalid columnDelimiter")
        query = compile_or_error(str(body.get("query", "")), include_deleted=operation == "queryAll")
        if query.count_only or query.offset:
            raise SfError("FeatureNotEnabled" if query.count_only else "INVALIDJOB",
                          "Aggregate queries and OFFSET are not supported by Bulk API 2.0 query jobs")
        info = self._new_job("query", {
            "operation": operation, "object": query.sobject.name, "query": body.get("query"),
            "state": "UploadComplete", "contentType": "CSV", "columnDelimiter": delimiter,
            "lineEnding": body.get("lineEnding", "LF"), "numberRecordsProcessed": 0, "retries": 0,
            "totalProcessingTime": 0}, user)
        self._spawn(self.process_query(info["id"]))
        return info

    async def process_query(self, job_id: str) -> None:
        await asyncio.sleep(0)
        info = self._load("query", job_id)
        if info["state"] == "Aborted":
            return
        info["state"] = "InProgress"
        self._save(job_id, info)
        query = compile_or_error(info["query"], include_deleted=info["operation"] == "queryAll")
        cursor = self.service.cursors.open(query)
        self.query_cursors[job_id] = (cursor, 0)
        info.update(state="JobComplete", numberRecordsProcessed=cursor.total)
        self._save(job_id, info)

    def query_results(self, info: dict, request: Request) -> Response:
        if info["state"] != "JobComplete":
            raise SfError("INVALIDJOBSTATE", f"Job is in state {info['state']}", status=400)
        job_id = info["id"]
        try:
            max_records = int(request.query_params.get("maxRecords", DEFAULT_MAX_RECORDS))
            offset = int(request.query_params.get("locator") or "0", 36)
        except ValueError:
            raise SfError("INVALIDLOCATOR", "invalid locator or maxRecords") from None
        cursor, position = self.query_cursors.get(job_id, (None, 0))
        if cursor is None or offset != position:
            # A page asked for again (or after a restart) is read anew from a fresh snapshot.
            if cursor:
                cursor.close()
            cursor = self.service.cursors.open(compile_or_error(info["query"], info["operation"] == "queryAll"))
            if offset:
                cursor.rows.fetchmany(offset)
            position = offset
        rows = cursor.rows.fetchmany(max(1, max_records))
        position += len(rows)
        delimiter = DELIMITERS[info["columnDelimiter"]]
        terminator = "\r\n" if info.get("lineEnding") == "CRLF" else "\n"
        lines = [_csv_line(csv_header(cursor.query), delimiter)]
        lines.extend(_csv_line(csv_values(cursor.query, row), delimiter) for row in rows)
        more = position < cursor.total and rows
        if more:
            self.query_cursors[job_id] = (cursor, position)
        else:
            cursor.close()
            self.query_cursors.pop(job_id, None)
        headers = {"Sforce-NumberOfRecords": str(len(rows)),
                   "Sforce-Locator": _to36(position) if more else "null"}
        return Response(terminator.join(lines) + terminator, media_type="text/csv", headers=headers)


def _csv_line(values: list[str], delimiter: str) -> str:
    # Salesforce quotes every value and writes nulls as empty, unquoted cells.
    return delimiter.join('"' + v.replace('"', '""') + '"' if v != "" else "" for v in values)


def _to36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


async def _json(request: Request) -> dict:
    """A job request body: an object whose JobInfo fields are strings (or null)."""
    body = await json_object(request, "JobInfo")
    for key in _STRING_KEYS & body.keys():  # each a string (or null) in a job request, as the JobInfo type has them
        if body[key] is not None and not isinstance(body[key], str):
            raise not_deserializable("java.lang.String", body[key], [key])
    return body


_STRING_KEYS = {"operation", "object", "externalIdFieldName", "contentType", "columnDelimiter", "lineEnding", "query",
                "state", "assignmentRuleId"}


class _JobType:
    key_prefix = "750"


_JOB = _JobType()
