"""/crm/v4 association schema: label create, update and delete (the GET is assoc_api's) and the association
definition configurations (a per-type cap on how many records one record may be associated with).

Created labels are USER_DEFINED association types in the association store: v4 writes accept them (category
USER_DEFINED and their typeId), v4 reads return them with their label, and deleting one removes its associations.
"""

from __future__ import annotations

import re
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sandbox.hubspot.associations import Associations
from crm_sandbox.hubspot.catalog import AssociationType, ObjectType
from crm_sandbox.hubspot.errors import HsError, bad_request, not_found
from crm_sandbox.hubspot.store import HubSpotStore
from crm_sandbox.hubspot.values import db_id, now_iso
from crm_sandbox.hubspot.wire import api, batch_response, hs_json, inputs, json_body

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
LIMIT = 100


def spec(atype: AssociationType) -> dict:
    return {"category": atype.category, "typeId": atype.type_id, "label": atype.label}


class LabelsApi:
    def __init__(self, service):
        self.store: HubSpotStore = service.store
        self.assoc: Associations = service.associations

    def routes(self) -> list[Route]:
        conf = "/crm/v4/associations/definitions/configurations"
        labels = "/crm/v4/associations/{from_type}/{to_type}/labels"
        return [
            Route(conf + "/all", api(self.configurations), methods=["GET"]),
            Route(conf + "/{from_type}/{to_type}", api(self.configurations), methods=["GET"]),
            Route(conf + "/{from_type}/{to_type}/batch/{op}", api(self.configure), methods=["POST"]),
            Route(labels, api(self.write_label), methods=["POST", "PUT"]),
            Route(labels + "/{type_id}", api(self.delete_label), methods=["DELETE"]),
        ]

    def _pair(self, request: Request) -> tuple[ObjectType, ObjectType]:
        p = request.path_params
        return self.store.object_type(p["from_type"]), self.store.object_type(p["to_type"])

    def _user_type(self, from_t: ObjectType, to_t: ObjectType, raw) -> AssociationType:
        type_id = db_id(raw) if not isinstance(raw, bool) else None
        atype = self.store.assoc_types.get(type_id) if type_id is not None else None
        if atype is None or (atype.from_type, atype.to_type) != (from_t.type_id, to_t.type_id):
            raise not_found(f"No association definition {raw} between {from_t.name} and {to_t.name}")
        if atype.category != "USER_DEFINED":
            raise bad_request(f"Association type {type_id} is HUBSPOT_DEFINED and cannot be changed")
        return atype

    @staticmethod
    def _label(body: dict, key: str, required: bool) -> str | None:
        value = body.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise bad_request(f"{key} must be a non-empty string")
        return value

    # ---- labels -------------------------------------------------------------------------------------------
    async def write_label(self, request: Request) -> Response:
        """POST creates a label (answers 200 with the created types); PUT renames one (204)."""
        from_t, to_t = self._pair(request)
        body = await json_body(request)
        label = self._label(body, "label", True)
        inverse = self._label(body, "inverseLabel", False)
        if request.method == "PUT":
            atype = self._user_type(from_t, to_t, body.get("associationTypeId"))
            with self.store.transaction():
                self.assoc.save_type(_relabel(atype, label))
                if inverse is not None and atype.inverse_id != atype.type_id:
                    self.assoc.save_type(_relabel(self.store.assoc_types[atype.inverse_id], inverse))
            return Response(status_code=204)
        name = body.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise bad_request(f"name {name!r} is invalid: letters, digits and underscores, starting with a letter")
        if any(a.label == label for a in self.assoc.types_between(from_t, to_t)):
            raise HsError(409, "CONFLICT", f"An association label {label!r} already exists between {from_t.name} "
                                           f"and {to_t.name}")
        with self.store.transaction():
            made = self.assoc.define_label(from_t, to_t, name, label, inverse)
        return hs_json({"results": [spec(a) for a in made]})

    async def delete_label(self, request: Request) -> Response:
        from_t, to_t = self._pair(request)
        atype = self._user_type(from_t, to_t, request.path_params["type_id"])
        with self.store.transaction():
            self.assoc.drop_type(atype)
        return Response(status_code=204)

    # ---- configurations -----------------------------------------------------------------------------------
    def _config(self, atype: AssociationType) -> dict:
        return {"category": atype.category, "typeId": atype.type_id, "label": atype.label,
                "userEnforcedMaxToObjectIds": self.assoc.limit_of(atype.type_id)}

    async def configurations(self, request: Request) -> Response:
        if "from_type" in request.path_params:
            from_t, to_t = self._pair(request)
            types = self.assoc.types_between(from_t, to_t)
        else:
            types = sorted(self.store.assoc_types.values(), key=lambda a: a.type_id)
        return hs_json({"results": [self._config(a) for a in types if self.assoc.limit_of(a.type_id) is not None]})

    def _spec_type(self, from_t: ObjectType, to_t: ObjectType, item: dict) -> AssociationType:
        return self.assoc.spec_type(from_t, to_t, {"associationTypeId": item.get("typeId"),
                                                   "associationCategory": item.get("category")})

    async def configure(self, request: Request) -> Response:
        """batch/create and batch/update set maxToObjectIds per type; batch/purge removes the cap."""
        from_t, to_t = self._pair(request)
        op = request.path_params["op"]
        if op not in ("create", "update", "purge"):
            raise not_found()
        started = now_iso()
        items = inputs(await json_body(request), LIMIT)
        results, errors = [], []
        with self.store.transaction():
            for item in items:
                try:
                    atype = self._spec_type(from_t, to_t, item)
                    if op == "purge":
                        self.store.conn.execute("DELETE FROM _assoc_limits WHERE type_id = ?", (atype.type_id,))
                        continue
                    cap = item.get("maxToObjectIds")
                    if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= 10_000:
                        raise bad_request("maxToObjectIds must be an integer from 1 to 10000")
                    exists = self.assoc.limit_of(atype.type_id) is not None
                    if exists != (op == "update"):
                        raise bad_request(f"A configuration for type {atype.type_id} "
                                          f"{'does not exist' if op == 'update' else 'already exists'}")
                    self.store.conn.execute("INSERT OR REPLACE INTO _assoc_limits VALUES (?, ?)",
                                            (atype.type_id, cap))
                    entry = self._config(atype)
                    results.append(entry if op == "create" else {k: entry[k] for k in
                                                                 ("category", "typeId", "userEnforcedMaxToObjectIds")})
                except HsError as exc:
                    errors.append(exc.standard_error({"typeId": [str(item.get("typeId"))]}))
        if op == "purge":
            return Response(status_code=204)
        return batch_response(results, errors, started, 201 if op == "create" else 200)


def _relabel(atype: AssociationType, label: str) -> AssociationType:
    return replace(atype, label=label)
