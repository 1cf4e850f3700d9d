"""Bulk API 1.0 (`/services/async/{version}/job`), beside Bulk 2.0: jobs, batches and results, in XML or JSON.

What older extractors and loaders send: a job (`jobInfo`, XML or JSON by Content-Type) for an object and an
operation (query, queryAll, insert, update, upsert, delete); batches added to it (a SOQL statement for a query
job; CSV, XML or JSON records for an ingest job, by the job's contentType); `batchInfo` polled until Completed;
results: per record for ingest (CSV `"Id","Success","Created","Error"`, XML `results`, JSON list), a result id
list then the rows for a query. `Sforce-Enable-PKChunking: chunkSize=N` on the job makes a query batch
NotProcessed and its rows come in chunk batches of N records (by Id), as Salesforce does it. The session is the
`X-SFDC-Session` header (or a bearer token). Errors are Bulk 1.0's `<error>` (or JSON) with exceptionCode and
exceptionMessage. Batches are processed when added; their first info says Queued, as Salesforce's does.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import TYPE_CHECKING
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sandbox.salesforce import schema
from crm_sandbox.salesforce.errors import SfError, SfErrors
from crm_sandbox.salesforce.query import compile_or_error
from crm_sandbox.salesforce.rules import now_stamp
from crm_sandbox.salesforce.soql import SoqlError, csv_header, csv_values, record_json

if TYPE_CHECKING:
    from crm_sandbox.salesforce.app import SalesforceService

NS = "http://www.force.com/2009/06/asyncapi/dataload"
OPERATIONS = ("query", "queryAll", "insert", "update", "upsert", "delete")
CONTENT_TYPES = ("CSV", "XML", "JSON")
_JOB, _BATCH, _RESULT = "750", "751", "752"


class BulkError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class Bulk1:
    def __init__(self, service: SalesforceService):
        self.service = service
        self.store = service.store
        self.conn = service.store.conn
        self.conn.executescript("""
            CREATE TABLE IF NOT EXISTS _bulk1_jobs (id TEXT PRIMARY KEY, info TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS _bulk1_batches (id TEXT PRIMARY KEY, job_id TEXT NOT NULL, seq INTEGER,
                info TEXT NOT NULL, request TEXT, results TEXT);
            """)

    def routes(self) -> list[Route]:
        base = "/services/async/{version}/job"
        return [Route(base, self.handle, methods=["POST"]),
                Route(base + "/{job}", self.handle, methods=["GET", "POST"]),
                Route(base + "/{job}/batch", self.handle, methods=["GET", "POST"]),
                Route(base + "/{job}/batch/{batch}", self.handle, methods=["GET"]),
                Route(base + "/{job}/batch/{batch}/request", self.handle, methods=["GET"]),
                Route(base + "/{job}/batch/{batch}/result", self.handle, methods=["GET"]),
                Route(base + "/{job}/batch/{batch}/result/{result}", self.handle, methods=["GET"])]

    # ---- one entry point: session, format, errors ---------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        from crm_sandbox.salesforce.app import bearer

        json_wire = "json" in request.headers.get("content-type", "").lower()
        p = request.path_params
        try:
            user = self.store.session_user(bearer(request.scope) or "")
            if user is None:
                raise BulkError("InvalidSessionId", "Invalid session id", 400)
            if "job" not in p:
                info = self._create_job(await request.body(), json_wire, request.headers, user)
                return self._info(info, json_wire, status=201)
            job = self._job(p["job"])
            json_wire = json_wire or job["contentType"] == "JSON"
            if "batch" not in p and not request.url.path.endswith("/batch"):
                if request.method == "POST":
                    state = _fields(await request.body(), json_wire).get("state")
                    return self._info(self._set_state(job, state), json_wire)
                return self._info(self._counted(job), json_wire)
            if "batch" not in p:
                if request.method == "POST":
                    try:
                        text = (await request.body()).decode("utf-8")
                    except UnicodeDecodeError:
                        raise BulkError("InvalidBatch", "The batch is not valid UTF-8") from None
                    return self._info(self._add_batch(job, text, user), json_wire, status=201)
                batches = [json.loads(r[0]) for r in self.conn.execute(
                    "SELECT info FROM _bulk1_batches WHERE job_id = ? ORDER BY seq", (job["id"],))]
                return self._batch_list(batches, json_wire)
            batch, request_body, results = self._batch(job["id"], p["batch"])
            tail = request.url.path.rsplit("/", 2)
            if request.url.path.endswith("/request"):
                return Response(request_body or "", media_type=_media(job["contentType"]))
            if "result" not in p and not request.url.path.endswith("/result"):
                return self._info(batch, json_wire, tag="batchInfo")
            if batch["state"] != "Completed":
                raise BulkError("InvalidBatch", f"Batch not completed: {batch['state']}")
            if job["operation"] in ("query", "queryAll"):
                if "result" not in p:
                    ids = [f"{_RESULT}{batch['id'][3:]}"]
                    if json_wire:
                        return _json(ids)
                    return _xml("result-list", "".join(f"<result>{i}</result>" for i in ids))
                return self._query_rows(job, batch, results, p["result"])
            return self._ingest_results(job, results, tail)
        except BulkError as exc:
            return _error(exc.code, exc.message, exc.status, json_wire)

    # ---- jobs ---------------------------------------------------------------------------------------------
    def _create_job(self, raw: bytes, json_wire: bool, headers, user: str) -> dict:
        body = _fields(raw, json_wire)
        operation, obj = body.get("operation"), body.get("object")
        if operation not in OPERATIONS:
            raise BulkError("InvalidJob", f"Invalid operation: {operation}")
        sobject = schema.get_sobject(obj or "")
        if sobject is None:
            raise BulkError("InvalidJob", f"Unable to find object: {obj}")
        content = body.get("contentType", "CSV" if not json_wire else "JSON")
        if content not in CONTENT_TYPES:
            raise BulkError("InvalidJob", f"Invalid content type: {content} (CSV, XML or JSON)")
        if operation == "upsert" and not body.get("externalIdFieldName"):
            raise BulkError("InvalidJob", "External ID was blank for upsert")
        chunking = headers.get("sforce-enable-pkchunking")
        chunk_size = None
        if chunking and chunking.lower() not in ("false",):
            m = re.search(r"chunkSize=(\d+)", chunking)
            chunk_size = int(m.group(1)) if m else 100_000
            if not 1 <= chunk_size <= 250_000:
                raise BulkError("InvalidJob", "chunkSize must be between 1 and 250000")
        job_id = self.store.allocate_ids(_JobIds, 1)[0]
        stamp = now_stamp()
        info = {"id": job_id, "operation": operation, "object": sobject.name, "createdById": user,
                "createdDate": stamp, "systemModstamp": stamp, "state": "Open", "concurrencyMode": "Parallel",
                "contentType": content, "apiVersion": self.service.settings["api_version"],
                "externalIdFieldName": body.get("externalIdFieldName"), "pkChunkSize": chunk_size}
        self.conn.execute("INSERT INTO _bulk1_jobs VALUES (?, ?)", (job_id, json.dumps(info)))
        return info

    def _job(self, job_id: str) -> dict:
        row = self.conn.execute("SELECT info FROM _bulk1_jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise BulkError("InvalidJob", f"Unable to find job: {job_id}")
        return json.loads(row[0])

    def _set_state(self, job: dict, state: str | None) -> dict:
        if state not in ("Closed", "Aborted"):
            raise BulkError("InvalidJobState", f"Invalid state: {state} (Closed or Aborted)")
        if job["state"] != "Open":
            raise BulkError("InvalidJobState", f"Job is {job['state']}, not Open")
        job.update(state=state, systemModstamp=now_stamp())
        self.conn.execute("UPDATE _bulk1_jobs SET info = ? WHERE id = ?", (json.dumps(job), job["id"]))
        return self._counted(job)

    def _counted(self, job: dict) -> dict:
        batches = [json.loads(r[0]) for r in self.conn.execute("SELECT info FROM _bulk1_batches WHERE job_id = ?",
                                                               (job["id"],))]
        states = [b["state"] for b in batches]
        return {**job, "numberBatchesQueued": states.count("Queued"), "numberBatchesInProgress": 0,
                "numberBatchesCompleted": states.count("Completed"), "numberBatchesFailed": states.count("Failed"),
                "numberBatchesTotal": len(batches),
                "numberRecordsProcessed": sum(b["numberRecordsProcessed"] for b in batches),
                "numberRetries": 0, "numberRecordsFailed": sum(b["numberRecordsFailed"] for b in batches),
                "totalProcessingTime": 0, "apiActiveProcessingTime": 0, "apexProcessingTime": 0}

    # ---- batches ------------------------------------------------------------------------------------------
    def _add_batch(self, job: dict, text: str, user: str) -> dict:
        if job["state"] != "Open":
            raise BulkError("InvalidJobState", f"Job is {job['state']}: batches can be added to Open jobs only")
        if job["operation"] in ("query", "queryAll"):
            return self._query_batch(job, text.strip())
        batch = self._new_batch(job, text)
        try:
            rows = _records(text, job["contentType"])
        except ValueError as exc:
            return self._finish(batch, "Failed", 0, 0, None, f"InvalidBatch : {exc}")
        results, failed = [], 0
        sobject = schema.SCHEMA[job["object"]]
        self.conn.execute("BEGIN")
        for data in rows:
            try:
                rid, created = self.service.bulk._apply(sobject, job["operation"], job.get("externalIdFieldName"),
                                                        data, user)
                results.append({"id": rid, "success": True, "created": created, "errors": []})
            except (SfError, SfErrors) as exc:
                errs = exc.errors if isinstance(exc, SfErrors) else [exc]
                results.append({"id": None, "success": False, "created": False,
                                "errors": [{"statusCode": e.code, "message": e.message, "fields": e.fields or []}
                                           for e in errs]})
                failed += 1
        self.conn.execute("COMMIT")
        return self._finish(batch, "Completed", len(rows), failed, json.dumps(results))

    def _query_batch(self, job: dict, soql: str) -> dict:
        try:
            query = compile_or_error(soql, include_deleted=job["operation"] == "queryAll")
        except (SfError, SoqlError) as exc:
            batch = self._new_batch(job, soql)
            return self._finish(batch, "Failed", 0, 0, None, f"InvalidBatch : {getattr(exc, 'message', exc)}")
        cursor = self.service.cursors.open(query)
        try:
            rows = cursor.rows.fetchall()
        finally:
            cursor.close()
        batch = self._new_batch(job, soql)
        size = job.get("pkChunkSize")
        if not size:
            return self._finish(batch, "Completed", len(rows), 0, json.dumps([list(r) for r in rows]))
        # PK chunking: the original batch is NotProcessed; chunks of `size` rows in Id order are the results.
        first = self._finish(batch, "NotProcessed", 0, 0, None)
        ordered = sorted(rows, key=lambda r: r[1])
        for start in range(0, max(len(ordered), 1), size):
            chunk = ordered[start:start + size]
            self._finish(self._new_batch(job, soql), "Completed", len(chunk), 0, json.dumps([list(r) for r in chunk]))
        return first

    def _new_batch(self, job: dict, request_body: str) -> dict:
        batch_id = self.store.allocate_ids(_BatchIds, 1)[0]
        seq = self.conn.execute("SELECT count(*) FROM _bulk1_batches WHERE job_id = ?", (job["id"],)).fetchone()[0]
        stamp = now_stamp()
        info = {"id": batch_id, "jobId": job["id"], "state": "Queued", "createdDate": stamp,
                "systemModstamp": stamp, "numberRecordsProcessed": 0, "numberRecordsFailed": 0,
                "totalProcessingTime": 0, "apiActiveProcessingTime": 0, "apexProcessingTime": 0}
        self.conn.execute("INSERT INTO _bulk1_batches VALUES (?, ?, ?, ?, ?, NULL)",
                          (batch_id, job["id"], seq, json.dumps(info), request_body))
        return info

    def _finish(self, batch: dict, state: str, processed: int, failed: int, results: str | None,
                message: str | None = None) -> dict:
        """Store the outcome; the info returned is the one of the moment it was added (Queued)."""
        done = {**batch, "state": state, "numberRecordsProcessed": processed, "numberRecordsFailed": failed,
                "systemModstamp": now_stamp(), **({"stateMessage": message} if message else {})}
        self.conn.execute("UPDATE _bulk1_batches SET info = ?, results = ? WHERE id = ?",
                          (json.dumps(done), results, batch["id"]))
        return batch

    def _batch(self, job_id: str, batch_id: str) -> tuple[dict, str | None, str | None]:
        row = self.conn.execute("SELECT info, request, results FROM _bulk1_batches WHERE id = ? AND job_id = ?",
                                (batch_id, job_id)).fetchone()
        if row is None:
            raise BulkError("InvalidBatch", f"Unable to find batch: {batch_id}")
        return json.loads(row[0]), row[1], row[2]

    # ---- results ------------------------------------------------------------------------------------------
    def _query_rows(self, job: dict, batch: dict, results: str | None, result_id: str) -> Response:
        if result_id != f"{_RESULT}{batch['id'][3:]}":
            raise BulkError("InvalidBatch", f"Unable to find result: {result_id}")
        query = compile_or_error(self._batch(job["id"], batch["id"])[1],
                                 include_deleted=job["operation"] == "queryAll")
        rows = json.loads(results or "[]")
        kind = job["contentType"]
        if kind == "JSON":
            return _json([record_json(query, r, job["apiVersion"]) for r in rows])
        if kind == "XML":
            records = "".join(f'<records xsi:type="sObject"><type>{query.sobject.name}</type>'
                              + "".join(_xml_field(k, v) for k, v in record_json(query, r).items()
                                        if k != "attributes")
                              + "</records>" for r in rows)
            return Response(f'<?xml version="1.0" encoding="UTF-8"?><queryResult xmlns="{NS}" '
                            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{records}</queryResult>',
                            media_type="application/xml")
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(csv_header(query))
        for r in rows:
            writer.writerow(csv_values(query, r))
        return Response(out.getvalue(), media_type="text/csv")

    def _ingest_results(self, job: dict, results: str | None, tail) -> Response:
        rows = json.loads(results or "[]")
        kind = job["contentType"]
        if kind == "JSON":
            return _json(rows)
        if kind == "XML":
            body = "".join("<result>" + (f"<id>{r['id']}</id>" if r["id"] else "")
                           + "".join(f"<errors><message>{escape(e['message'])}</message>"
                                     f"<statusCode>{e['statusCode']}</statusCode></errors>" for e in r["errors"])
                           + f"<success>{str(r['success']).lower()}</success>"
                           f"<created>{str(r['created']).lower()}</created></result>" for r in rows)
            return _xml("results", body)
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(["Id", "Success", "Created", "Error"])
        for r in rows:
            error = "; ".join(f"{e['statusCode']}:{e['message']}:{'--'.join(e['fields'])}" for e in r["errors"])
            writer.writerow([r["id"] or "", str(r["success"]).lower(), str(r["created"]).lower(), error])
        return Response(out.getvalue(), media_type="text/csv")

    # ---- rendering ----------------------------------------------------------------------------------------
    def _info(self, info: dict, json_wire: bool, status: int = 200, tag: str | None = None) -> Response:
        tag = tag or ("batchInfo" if "jobId" in info else "jobInfo")
        shown = {k: v for k, v in info.items() if v is not None and k != "pkChunkSize"}
        if json_wire:
            return _json(shown, status)
        return _xml(tag, "".join(_xml_field(k, v) for k, v in shown.items()), status)

    def _batch_list(self, batches: list[dict], json_wire: bool) -> Response:
        if json_wire:
            return _json({"batchInfo": batches})
        return _xml("batchInfoList", "".join(
            "<batchInfo>" + "".join(_xml_field(k, v) for k, v in b.items()) + "</batchInfo>" for b in batches))


class _JobIds:
    key_prefix = _JOB


class _BatchIds:
    key_prefix = _BATCH


def _fields(raw: bytes, json_wire: bool) -> dict:
    """A jobInfo / state request body, XML or JSON."""
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BulkError("InvalidJson" if json_wire else "InvalidXML", "The request body is not valid UTF-8") from None
    if not text:
        raise BulkError("InvalidJob", "Empty request body")
    try:
        if json_wire or text.startswith("{"):
            body = json.loads(text)
            if not isinstance(body, dict):
                raise ValueError("not an object")
            wrong = sorted(k for k, v in body.items() if v is not None and not isinstance(v, (str, int, float)))
            if wrong:
                raise BulkError("InvalidJob", f"Field {wrong[0]} takes a single value")
            return {k: v if v is None or isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        root = ElementTree.fromstring(text)
    except (ValueError, ElementTree.ParseError) as exc:
        raise BulkError("InvalidXML" if not json_wire else "InvalidJson", f"Unable to parse the request: {exc}") \
            from None
    return {child.tag.rpartition("}")[2]: (child.text or "").strip() for child in root}


def _records(text: str, kind: str) -> list[dict]:
    """An ingest batch's records: CSV (a header row), XML (sObjects/sObject) or JSON (a list of objects).
    '#N/A' (CSV) and xsi:nil / null set a field to null."""
    if kind == "JSON":
        rows = json.loads(text)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError("a JSON batch is a list of records")
        return [{k: (None if v is None else str(v).lower() if isinstance(v, bool) else str(v))
                 for k, v in r.items() if k != "attributes"} for r in rows]
    if kind == "XML":
        root = ElementTree.fromstring(text)
        nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
        return [{f.tag.rpartition("}")[2]: (None if f.get(nil) == "true" else (f.text or "")) for f in record}
                for record in root]
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise ValueError("a CSV batch needs a header row")
    return [{h: (None if v == "#N/A" else v) for h, v in zip(header, row, strict=False) if v != ""}
            for row in reader if row]


def _media(kind: str) -> str:
    return {"CSV": "text/csv", "XML": "application/xml", "JSON": "application/json"}[kind]


def _xml_field(name: str, value) -> str:
    if value is None:
        return f'<{name} xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"<{name}>{escape(text)}</{name}>"


def _xml(tag: str, inner: str, status: int = 200) -> Response:
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><{tag} xmlns="{NS}">{inner}</{tag}>',
                    status_code=status, media_type="application/xml")


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def bulk_error(request: Request, code: str, message: str, status: int) -> Response:
    """An error in the wire format the request used (JSON when its Content-Type says so, else XML)."""
    return _error(code, message, status, "json" in request.headers.get("content-type", "").lower())


def _error(code: str, message: str, status: int, json_wire: bool) -> Response:
    if json_wire:
        return _json({"exceptionCode": code, "exceptionMessage": message}, status)
    return _xml("error", f"<exceptionCode>{code}</exceptionCode><exceptionMessage>{escape(message)}"
                         "</exceptionMessage>", status)
