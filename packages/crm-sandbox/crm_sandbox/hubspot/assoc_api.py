"""/crm/v4 (and the v3 batch) association endpoints over the association store."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sandbox.hubspot.associations import Associations
from crm_sandbox.hubspot.catalog import AssociationType, ObjectType
from crm_sandbox.hubspot.errors import HsError, bad_request, not_found, standard_error
from crm_sandbox.hubspot.store import HubSpotStore
from crm_sandbox.hubspot.values import now_iso, query_int
from crm_sandbox.hubspot.wire import api, batch_response, hs_json, inputs, json_body

READ_LIMIT = 1_000  # ids per association batch read, v3 and v4 (HubSpot changelog, February 2025)
WRITE_LIMIT = 2_000
PAGE = 500  # associated ids per from-object before paging


def spec(atype: AssociationType) -> dict:
    return {"category": atype.category, "typeId": atype.type_id, "label": atype.label}


class AssociationsApi:
    def __init__(self, service):
        self.service = service
        self.store: HubSpotStore = service.store
        self.assoc: Associations = service.associations

    def routes(self) -> list[Route]:
        v4 = "/crm/v4/associations/{from_type}/{to_type}"
        obj = "/crm/v4/objects/{type}/{id}/associations"
        return [
            Route(f"{v4}/batch/read", api(self.batch_read), methods=["POST"]),
            Route(f"{v4}/batch/create", api(self.batch_create), methods=["POST"]),
            Route(f"{v4}/batch/associate/default", api(self.batch_default), methods=["POST"]),
            Route(f"{v4}/batch/archive", api(self.batch_archive), methods=["POST"]),
            Route(f"{v4}/batch/labels/archive", api(self.batch_archive_labels), methods=["POST"]),
            Route(f"{v4}/labels", api(self.labels), methods=["GET"]),
            Route(obj + "/default/{to_type}/{to_id}", api(self.put_default), methods=["PUT"]),
            Route(obj + "/{to_type}/{to_id}", api(self.put_or_delete), methods=["PUT", "DELETE"]),
            Route(obj + "/{to_type}", api(self.object_page), methods=["GET"]),
            Route("/crm/v3/associations/{from_type}/{to_type}/batch/{op}", api(self.v3_batch), methods=["POST"]),
            Route("/crm/v3/associations/{from_type}/{to_type}/types", api(self.v3_types), methods=["GET"]),
        ]

    def _pair(self, request: Request) -> tuple[ObjectType, ObjectType]:
        p = request.path_params
        return self.store.object_type(p["from_type"]), self.store.object_type(p["to_type"])

    def _live(self, otype: ObjectType, key) -> int:
        return self.store.resolve(otype, str(key))["id"]

    @staticmethod
    def _id_of(value) -> str:
        return str((value or {}).get("id") if isinstance(value, dict) else value)

    # ---- v4 batch -------------------------------------------------------------------------------------------
    async def batch_read(self, request: Request) -> Response:
        from_t, to_t = self._pair(request)
        started = now_iso()
        items = inputs(await json_body(request), READ_LIMIT)
        results, missing = [], []
        for item in items:
            key = self._id_of(item)
            after = query_int({"after": str(item.get("after") or "")}, "after", 0)
            try:
                from_id = self._live(from_t, key)
            except HsError:
                missing.append(key)
                continue
            targets = self.assoc.read(from_t, [from_id], to_t, after, PAGE).get(from_id, [])
            if not targets:
                missing.append(key)
                continue
            entry: dict = {"from": {"id": key},
                           "to": [{"toObjectId": to_id, "associationTypes": [spec(self.store.assoc_types[t])
                                                                            for t in types]}
                                  for to_id, types in targets[:PAGE]]}
            if len(targets) > PAGE:
                entry["paging"] = {"next": {"after": str(targets[PAGE][0])}}
            results.append(entry)
        errors = [standard_error("OBJECT_NOT_FOUND", f"No {to_t.singular} is associated with {from_t.singular} {key}.",
                                 {"fromObjectId": [key]}) for key in missing]
        return batch_response(results, errors, started)

    def _labels_between(self, from_t: ObjectType, from_id: int, to_t: ObjectType, to_id: int) -> dict:
        types = self.assoc.read(from_t, [from_id], to_t, to_id, None).get(from_id, [])
        type_ids = next((t for i, t in types if i == to_id), [])
        labels = [self.store.assoc_types[t].label for t in type_ids if self.store.assoc_types[t].label]
        return {"fromObjectTypeId": from_t.type_id, "fromObjectId": from_id, "toObjectTypeId": to_t.type_id,
                "toObjectId": to_id, "labels": labels}

    async def batch_create(self, request: Request) -> Response:
        from_t, to_t = self._pair(request)
        started = now_iso()
        items = inputs(await json_body(request), WRITE_LIMIT)
        results, errors = [], []
        with self.store.transaction():
            for item in items:
                item = item if isinstance(item, dict) else {}
                try:
                    with self.store.transaction():
                        from_id = self._live(from_t, self._id_of(item.get("from")))
                        to_id = self._live(to_t, self._id_of(item.get("to")))
                        types = [self.assoc.spec_type(from_t, to_t, s) for s in item.get("types") or []]
                        if not types:
                            raise bad_request("types must name at least one association type")
                        for atype in types:
                            self.assoc.add(from_t, from_id, to_t, to_id, atype)
                        results.append(self._labels_between(from_t, from_id, to_t, to_id))
                except HsError as exc:
                    errors.append(exc.standard_error({"fromObjectId": [self._id_of(item.get("from"))],
                                                      "toObjectId": [self._id_of(item.get("to"))]}))
        return batch_response(results, errors, started, 201)

    def _default(self, from_t: ObjectType, from_key, to_t: ObjectType, to_key) -> dict:
        from_id, to_id = self._live(from_t, from_key), self._live(to_t, to_key)
        atype = self.assoc.default_type(from_t, to_t)
        self.assoc.add(from_t, from_id, to_t, to_id, atype)
        return {"from": {"id": str(from_id)}, "to": {"id": str(to_id)},
                "associationSpec": {"associationCategory": atype.category, "associationTypeId": atype.type_id}}

    async def batch_default(self, request: Request) -> Response:
        from_t, to_t = self._pair(request)
        started = now_iso()
        items = inputs(await json_body(request), WRITE_LIMIT)
        results, errors = [], []
        with self.store.transaction():
            for item in items:
                item = item if isinstance(item, dict) else {}
                try:
                    results.append(self._default(from_t, self._id_of(item.get("from")), to_t,
                                                 self._id_of(item.get("to"))))
                except HsError as exc:
                    errors.append(exc.standard_error({"fromObjectId": [self._id_of(item.get("from"))]}))
        return batch_response(results, errors, started)

    def _archive(self, from_t: ObjectType, from_key, to_t: ObjectType, to_key, type_ids: set[int] | None) -> None:
        try:
            from_id, to_id = self._live(from_t, from_key), self._live(to_t, to_key)
        except HsError:
            return  # nothing to remove
        self.assoc.remove(from_t, from_id, to_t, to_id, type_ids)

    async def batch_archive(self, request: Request) -> Response:
        from_t, to_t = self._pair(request)
        items = inputs(await json_body(request), WRITE_LIMIT)
        with self.store.transaction():
            for item in items:
                item = item if isinstance(item, dict) else {}
                targets = item.get("to") or []
                for target in targets if isinstance(targets, list) else [targets]:
                    self._archive(from_t, self._id_of(item.get("from")), to_t, self._id_of(target), None)
        return Response(status_code=204)

    async def batch_archive_labels(self, request: Request) -> Response:
        from_t, to_t = self._pair(request)
        items = inputs(await json_body(request), WRITE_LIMIT)
        with self.store.transaction():
            for item in items:
                item = item if isinstance(item, dict) else {}
                types = {self.assoc.spec_type(from_t, to_t, s).type_id for s in item.get("types") or []}
                self._archive(from_t, self._id_of(item.get("from")), to_t, self._id_of(item.get("to")), types)
        return Response(status_code=204)

    async def labels(self, request: Request) -> Response:
        from_t, to_t = self._pair(request)
        return hs_json({"results": [spec(a) for a in self.assoc.types_between(from_t, to_t)]})

    # ---- v4 per object --------------------------------------------------------------------------------------
    async def put_default(self, request: Request) -> Response:
        p = request.path_params
        from_t, to_t = self.store.object_type(p["type"]), self.store.object_type(p["to_type"])
        started = now_iso()
        with self.store.transaction():
            result = self._default(from_t, p["id"], to_t, p["to_id"])
        return batch_response([result], [], started)

    async def put_or_delete(self, request: Request) -> Response:
        p = request.path_params
        from_t, to_t = self.store.object_type(p["type"]), self.store.object_type(p["to_type"])
        if request.method == "DELETE":
            with self.store.transaction():
                self._archive(from_t, p["id"], to_t, p["to_id"], None)
            return Response(status_code=204)
        specs = await json_body(request, list)
        with self.store.transaction():
            from_id, to_id = self._live(from_t, p["id"]), self._live(to_t, p["to_id"])
            for s in specs:
                self.assoc.add(from_t, from_id, to_t, to_id, self.assoc.spec_type(from_t, to_t, s))
            result = self._labels_between(from_t, from_id, to_t, to_id)
        return hs_json(result, 201)

    async def object_page(self, request: Request) -> Response:
        p = request.path_params
        from_t, to_t = self.store.object_type(p["type"]), self.store.object_type(p["to_type"])
        limit = min(query_int(request.query_params, "limit", PAGE), PAGE)
        after = query_int(request.query_params, "after", 0)
        from_id = self._live(from_t, p["id"])
        targets = self.assoc.read(from_t, [from_id], to_t, after, limit).get(from_id, [])
        body: dict = {"results": [{"toObjectId": to_id, "associationTypes": [spec(self.store.assoc_types[t])
                                                                             for t in types]}
                                  for to_id, types in targets[:limit]]}
        if len(targets) > limit:
            body["paging"] = {"next": {"after": str(targets[limit][0])}}
        return hs_json(body)

    # ---- v3 -------------------------------------------------------------------------------------------------
    async def v3_types(self, request: Request) -> Response:
        from_t, to_t = self._pair(request)
        return hs_json({"results": [{"id": str(a.type_id), "name": a.name}
                                    for a in self.assoc.types_between(from_t, to_t)]})

    async def v3_batch(self, request: Request) -> Response:
        from_t, to_t = self._pair(request)
        op = request.path_params["op"]
        started = now_iso()
        items = inputs(await json_body(request), WRITE_LIMIT if op != "read" else READ_LIMIT)
        by_name = {a.name: a for a in self.assoc.types_between(from_t, to_t)}
        if op == "read":
            results, errors = [], []
            for item in items:
                key = self._id_of(item)
                try:
                    from_id = self._live(from_t, key)
                except HsError:
                    errors.append(not_found().standard_error({"ids": [key]}))
                    continue
                targets = self.assoc.read(from_t, [from_id], to_t).get(from_id, [])
                results.append({"from": {"id": key}, "to": [{"id": str(t), "type": self.store.assoc_types[x].name}
                                                            for t, types in targets for x in types]})
            return batch_response(results, errors, started)
        if op not in ("create", "archive"):
            raise not_found()
        results, errors = [], []
        with self.store.transaction():
            for item in items:
                item = item if isinstance(item, dict) else {}
                atype = by_name.get(str(item.get("type") or ""))
                try:
                    if atype is None:
                        raise bad_request(f"Invalid association type {item.get('type')}")
                    if op == "archive":
                        self._archive(from_t, self._id_of(item.get("from")), to_t, self._id_of(item.get("to")),
                                      {atype.type_id})
                        continue
                    from_id = self._live(from_t, self._id_of(item.get("from")))
                    to_id = self._live(to_t, self._id_of(item.get("to")))
                    self.assoc.add(from_t, from_id, to_t, to_id, atype)
                    results.append({"from": {"id": str(from_id)}, "to": {"id": str(to_id)}, "type": atype.name})
                except HsError as exc:
                    errors.append(exc.standard_error())
        if op == "archive":
            return Response(status_code=204)
        return batch_response(results, errors, started, 201)
