"""/crm/v3/objects: list, read, create, update, archive, the batch endpoints, search and merge."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sandbox.hubspot.catalog import ObjectType
from crm_sandbox.hubspot.errors import HsError, bad_request, standard_error
from crm_sandbox.hubspot.records import Records
from crm_sandbox.hubspot.search import compile_search
from crm_sandbox.hubspot.store import ARCHIVED, LIVE, HubSpotStore
from crm_sandbox.hubspot.values import multi_values, now_iso, parse_flag, query_int
from crm_sandbox.hubspot.wire import (
    absolute_url,
    api,
    batch_response,
    history_for,
    hs_json,
    inputs,
    json_body,
    record_json,
    wanted_properties,
)

BATCH_LIMIT = 100
# Matches past which a search ordered by id pages by walking the table in id order (see search())
DENSE_SEARCH = 10_000


def written_props(store: HubSpotStore, otype: ObjectType, row: dict) -> list[str]:
    """What a write answers with: the defaults plus every property that has a value."""
    names = list(otype.default_props)
    names += [c for c in store.columns[otype.name] if row.get(c) is not None and c not in names]
    return names


class ObjectsApi:
    def __init__(self, service):
        self.service = service
        self.store: HubSpotStore = service.store
        self.records: Records = service.records
        self.assoc = service.associations

    def routes(self) -> list[Route]:
        base = "/crm/v3/objects/{type}"
        return [
            Route(f"{base}/search", api(self.search), methods=["POST"]),
            Route(f"{base}/merge", api(self.merge), methods=["POST"]),
            Route(f"{base}/gdpr-delete", api(self.gdpr_delete), methods=["POST"]),
            Route(f"{base}/batch/{{op}}", api(self.batch), methods=["POST"]),
            Route(base, api(self.collection), methods=["GET", "POST"]),
            Route(f"{base}/{{id}}", api(self.item), methods=["GET", "PATCH", "DELETE"]),
        ]

    def _type(self, request: Request) -> ObjectType:
        return self.store.object_type(request.path_params["type"])

    def _render(self, otype: ObjectType, rows: list[dict], props: list[str], history_names: list[str],
                association_names: list[str]) -> list[dict]:
        history = history_for(self.store, otype, rows, history_names) if history_names else {}
        linked = self._associations(otype, rows, association_names)
        return [record_json(otype, row, props, history.get(row["id"]) if history_names else None,
                            linked.get(row["id"])) for row in rows]

    def _associations(self, otype: ObjectType, rows: list[dict], names: list[str]) -> dict[int, dict]:
        out: dict[int, dict] = {}
        for name in names:
            to_t = self.store.find_type(name)
            if to_t is None:
                continue
            for from_id, targets in self.assoc.read(otype, [r["id"] for r in rows], to_t).items():
                results = [{"id": str(to_id), "type": self.store.assoc_types[t].name}
                           for to_id, type_ids in targets for t in type_ids]
                out.setdefault(from_id, {})[to_t.name] = {"results": results}
        return out

    def _read_params(self, request: Request, otype: ObjectType) -> tuple[list[str], list[str], list[str]]:
        params = request.query_params
        history = multi_values(params, "propertiesWithHistory")
        requested = multi_values(params, "properties")
        props = wanted_properties(self.store, otype, requested + history if (requested or history) else None)
        return props, history, multi_values(params, "associations")

    # ---- basic ----------------------------------------------------------------------------------------------
    async def collection(self, request: Request) -> Response:
        otype = self._type(request)
        if request.method == "POST":
            body = await json_body(request)
            with self.store.transaction():
                row = self.records.create(otype, body.get("properties"), body.get("associations"))
            return hs_json(record_json(otype, row, written_props(self.store, otype, row)), 201)
        params = request.query_params
        props, history, associations = self._read_params(request, otype)
        maximum = 50 if history else 100
        limit, after = query_int(params, "limit", 10), query_int(params, "after", 0)
        if not 1 <= limit <= maximum:
            raise bad_request(f"limit must be between 1 and {maximum}; got {limit}")
        state = ARCHIVED if parse_flag(params.get("archived")) else LIVE
        # "+_state" keeps SQLite on the primary key: the (_state, date) indexes would need a sort here.
        rows = self.store.select(otype, "WHERE id >= ? AND +_state = ? ORDER BY id LIMIT ?",
                                 [after, state, limit + 1], props + history)
        body: dict = {"results": self._render(otype, rows[:limit], props, history, associations)}
        if len(rows) > limit:  # the last page carries no paging at all (get_all stops on that)
            nxt = str(rows[limit]["id"])
            body["paging"] = {"next": {"after": nxt, "link": absolute_url(request, f"/crm/v3/objects/"
                                                                                   f"{otype.name}?after={nxt}")}}
        return hs_json(body)

    async def item(self, request: Request) -> Response:
        otype = self._type(request)
        key = request.path_params["id"]
        id_property = request.query_params.get("idProperty")
        if request.method == "DELETE":
            with self.store.transaction():
                self.records.archive(otype, key)
            return Response(status_code=204)
        if request.method == "PATCH":
            body = await json_body(request)
            with self.store.transaction():
                row = self.records.update(otype, key, body.get("properties"), id_property)
            return hs_json(record_json(otype, row, written_props(self.store, otype, row)))
        props, history, associations = self._read_params(request, otype)
        row = self.records.lookup(otype, key, id_property, parse_flag(request.query_params.get("archived")))
        return hs_json(self._render(otype, [row], props, history, associations)[0])

    # ---- batch ----------------------------------------------------------------------------------------------
    async def batch(self, request: Request) -> Response:
        otype = self._type(request)
        op = request.path_params["op"]
        started = now_iso()
        body = await json_body(request)
        items = inputs(body, BATCH_LIMIT)
        if op == "read":
            return self._batch_read(otype, body, items, parse_flag(request.query_params.get("archived")), started)
        if op == "archive":
            with self.store.transaction():
                for item in items:
                    try:
                        self.records.archive(otype, str((item or {}).get("id")))
                    except HsError:
                        pass  # archiving what does not exist is not an error
            return Response(status_code=204)
        handlers = {"create": self._create_one, "update": self._update_one, "upsert": self._upsert_one}
        if op not in handlers:
            raise HsError(404, "OBJECT_NOT_FOUND", "resource not found")
        if op == "update":
            keys = [str((i or {}).get("id")) for i in items]
            if len(set(keys)) != len(keys):
                raise bad_request("Duplicate IDs found in batch input: " + ", ".join(
                    sorted({k for k in keys if keys.count(k) > 1})))
        whole = self.store.settings["batch_errors"] == "whole"
        results, errors = [], []
        with self.store.transaction():
            for item in items:
                item = item if isinstance(item, dict) else {}
                try:
                    with self.store.transaction():
                        results.append(handlers[op](otype, item))
                except HsError as exc:
                    if whole:
                        raise
                    context = dict(exc.context or {})
                    if item.get("id") is not None:
                        context["ids"] = [str(item["id"])]
                    if item.get("objectWriteTraceId"):
                        context["objectWriteTraceId"] = [str(item["objectWriteTraceId"])]
                    errors.append(exc.standard_error(context))
        return batch_response(results, errors, started, 201 if op == "create" else 200)

    def _written(self, otype: ObjectType, row: dict, item: dict) -> dict:
        out = record_json(otype, row, written_props(self.store, otype, row))
        if item.get("objectWriteTraceId"):
            out["objectWriteTraceId"] = str(item["objectWriteTraceId"])
        return out

    def _create_one(self, otype: ObjectType, item: dict) -> dict:
        return self._written(otype, self.records.create(otype, item.get("properties"), item.get("associations")), item)

    def _update_one(self, otype: ObjectType, item: dict) -> dict:
        if item.get("id") in (None, ""):
            raise bad_request("id is required")
        row = self.records.update(otype, str(item["id"]), item.get("properties"), item.get("idProperty"))
        return self._written(otype, row, item)

    def _upsert_one(self, otype: ObjectType, item: dict) -> dict:
        row, created = self.records.upsert(otype, item.get("idProperty"), item.get("id"), item.get("properties"))
        return {**self._written(otype, row, item), "new": created}

    def _batch_read(self, otype: ObjectType, body: dict, items: list, archived: bool, started: str) -> Response:
        history = [str(p) for p in body.get("propertiesWithHistory") or []]
        requested = [str(p) for p in body.get("properties") or []]
        props = wanted_properties(self.store, otype, requested + history if (requested or history) else None)
        rows, missing, seen = [], [], set()
        for item in items:
            key = str((item or {}).get("id"))
            try:
                row = self.records.lookup(otype, key, body.get("idProperty"), archived)
            except HsError:
                missing.append(key)
                continue
            if row["id"] not in seen:
                seen.add(row["id"])
                rows.append(row)
        errors = []
        if missing:
            errors.append(standard_error("OBJECT_NOT_FOUND", f"Could not get some {otype.object_label} objects, they "
                                         "may be deleted or not exist. Check that ids are valid.", {"ids": missing}))
        return batch_response(self._render(otype, rows, props, history, []), errors, started)

    # ---- search and merge -----------------------------------------------------------------------------------
    async def search(self, request: Request) -> Response:
        otype = self._type(request)
        compiled = compile_search(self.store, otype, await json_body(request))
        props = wanted_properties(self.store, otype, compiled.properties)
        count_sql, count_params = compiled.count_sql(otype)
        total = self.store.conn.execute(count_sql, count_params).fetchone()[0]
        rows = []
        if compiled.limit:
            tail, params = compiled.page_sql()
            # A page in id order of a query that matches many rows: SQLite would take a filter's index (a date
            # window) and sort every match to return 200; walking the table by id stops at the page's end.
            dense = compiled.order.startswith("id ") and total > DENSE_SEARCH
            rows = self.store.select(otype, tail, params, props, in_id_order=dense)
        body: dict = {"total": total, "results": self._render(otype, rows, props, [], [])}
        served = compiled.offset + len(rows)
        if rows and served < total:
            body["paging"] = {"next": {"after": str(served)}}
        return hs_json(body)

    async def merge(self, request: Request) -> Response:
        otype = self._type(request)
        body = await json_body(request)
        with self.store.transaction():
            row = self.records.merge(otype, str(body.get("primaryObjectId")), str(body.get("objectIdToMerge")))
        return hs_json(record_json(otype, row, written_props(self.store, otype, row)))

    async def gdpr_delete(self, request: Request) -> Response:
        otype = self._type(request)
        if otype.name != "contacts":
            raise HsError(404, "OBJECT_NOT_FOUND", "resource not found")
        body = await json_body(request)
        with self.store.transaction():
            self.records.gdpr_delete(otype, str(body.get("objectId")), body.get("idProperty"))
        return Response(status_code=204)
