"""Portal metadata endpoints: properties, custom object schemas, owners and pipelines."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sandbox.hubspot.catalog import ObjectType
from crm_sandbox.hubspot.errors import HsError, bad_request, conflict, not_found
from crm_sandbox.hubspot.properties import DEAL_STAGES, TICKET_STAGES, Prop, custom_prop, updated_prop
from crm_sandbox.hubspot.rules import DEAL_STAGE_INFO
from crm_sandbox.hubspot.store import HubSpotStore, q
from crm_sandbox.hubspot.values import now_iso, parse_flag
from crm_sandbox.hubspot.wire import absolute_url, api, hs_json, json_body

_EPOCH = "2019-01-01T00:00:00.000Z"


def _stage(stage_id: str, label: str, order: int, metadata: dict) -> dict:
    return {"id": stage_id, "label": label, "displayOrder": order, "metadata": metadata, "archived": False,
            "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT", "createdAt": _EPOCH, "updatedAt": _EPOCH}


PIPELINES = {
    "deals": [{"id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": False,
               "createdAt": _EPOCH, "updatedAt": _EPOCH,
               "stages": [_stage(o["value"], o["label"], i, {"probability": DEAL_STAGE_INFO[o["value"]][0],
                                                             "isClosed": str(DEAL_STAGE_INFO[o["value"]][1]).lower()})
                          for i, o in enumerate(DEAL_STAGES)]}],
    "tickets": [{"id": "0", "label": "Support Pipeline", "displayOrder": 0, "archived": False,
                 "createdAt": _EPOCH, "updatedAt": _EPOCH,
                 "stages": [_stage(o["value"], o["label"], i, {"ticketState": "CLOSED" if o["value"] == "4"
                                                               else "OPEN"}) for i, o in enumerate(TICKET_STAGES)]}],
}


def property_groups(store: HubSpotStore, otype: ObjectType) -> list[dict]:
    """The type's property groups (name, label, displayOrder): those its properties name, in name order. The v3
    groups endpoint and the legacy v1/v2 ones list these."""
    names = sorted({p.group for p in store.props[otype.name].values()})
    return [{"name": n, "label": n.replace("_", " ").title(), "displayOrder": i} for i, n in enumerate(names)]


class MetaApi:
    def __init__(self, service):
        self.service = service
        self.store: HubSpotStore = service.store

    def routes(self) -> list[Route]:
        out = [
            Route("/crm/v3/properties/{type}", api(self.properties), methods=["GET", "POST"]),
            Route("/crm/v3/properties/{type}/groups", api(self.groups), methods=["GET"]),
            Route("/crm/v3/properties/{type}/{name}", api(self.property), methods=["GET", "PATCH", "DELETE"]),
            Route("/crm/v3/owners", api(self.owners), methods=["GET"]),
            Route("/crm/v3/owners/", api(self.owners), methods=["GET"]),
            Route("/crm/v3/owners/{id}", api(self.owner), methods=["GET"]),
            Route("/crm/v3/pipelines/{type}", api(self.pipelines), methods=["GET"]),
            Route("/crm/v3/pipelines/{type}/{pipeline}", api(self.pipelines), methods=["GET"]),
            Route("/crm/v3/pipelines/{type}/{pipeline}/stages", api(self.pipelines), methods=["GET"]),
            Route("/crm/v3/pipelines/{type}/{pipeline}/stages/{stage}", api(self.pipelines), methods=["GET"]),
        ]
        for prefix in ("/crm/v3/schemas", "/crm-object-schemas/v3/schemas"):
            out += [Route(prefix, api(self.schemas), methods=["GET", "POST"]),
                    Route(prefix + "/{type}", api(self.schema), methods=["GET"])]
        return out

    # ---- properties -----------------------------------------------------------------------------------------
    def _type(self, request: Request) -> ObjectType:
        return self.store.object_type(request.path_params["type"])

    def add_property(self, otype: ObjectType, prop: Prop) -> None:
        existing = self.store.props[otype.name].get(prop.name)
        if existing is not None and not existing.archived:
            raise HsError(409, "OBJECT_ALREADY_EXISTS", f"Property named '{prop.name}' already exists.")
        self.store.conn.execute("INSERT OR REPLACE INTO _properties VALUES (?, ?, ?)",
                                (otype.type_id, prop.name, json.dumps(prop.to_json())))
        self.store.props[otype.name][prop.name] = prop
        self.store.ensure_table(otype)

    async def properties(self, request: Request) -> Response:
        otype = self._type(request)
        if request.method == "POST":
            body = await json_body(request)
            try:
                prop = custom_prop(body, now_iso())
            except (ValueError, KeyError, TypeError) as exc:
                raise bad_request(str(exc)) from None
            with self.store.transaction():
                self.add_property(otype, prop)
            return hs_json(prop.definition(), 201)
        archived = parse_flag(request.query_params.get("archived"))
        return hs_json({"results": [p.definition() for p in self.store.props[otype.name].values()
                                    if p.archived == archived]})

    async def groups(self, request: Request) -> Response:
        otype = self._type(request)
        return hs_json({"results": [{**g, "archived": False} for g in property_groups(self.store, otype)]})

    async def property(self, request: Request) -> Response:
        otype = self._type(request)
        name = request.path_params["name"]
        prop = self.store.props[otype.name].get(name)
        if prop is None:
            raise not_found(f"Unable to find property {name} for object type {otype.name}")
        if request.method == "GET":
            if prop.archived != parse_flag(request.query_params.get("archived")):
                raise not_found(f"Unable to find property {name} for object type {otype.name}")
            return hs_json(prop.definition())
        if prop.hubspot_defined:
            raise bad_request(f"Property {name} is a HubSpot defined property and cannot be modified")
        if request.method == "DELETE":
            changed = updated_prop(prop, {}, now_iso())
            changed = Prop.from_json({**changed.to_json(), "archived": True})
        else:
            body = await json_body(request)
            try:
                changed = updated_prop(prop, body, now_iso())
            except (ValueError, KeyError, TypeError) as exc:
                raise bad_request(str(exc)) from None
        with self.store.transaction():
            self.store.conn.execute("UPDATE _properties SET body = ? WHERE type_id = ? AND name = ?",
                                    (json.dumps(changed.to_json()), otype.type_id, name))
            self.store.props[otype.name][name] = changed
        return Response(status_code=204) if request.method == "DELETE" else hs_json(changed.definition())

    # ---- custom objects -------------------------------------------------------------------------------------
    def schema_json(self, otype: ObjectType) -> dict:
        row = self.store.conn.execute("SELECT body FROM _schemas WHERE type_id = ?", (otype.type_id,)).fetchone()
        data = json.loads(row[0])
        assoc = [{"id": str(a.type_id), "fromObjectTypeId": a.from_type, "toObjectTypeId": a.to_type,
                  "name": a.name.upper(), "createdAt": data["createdAt"], "updatedAt": data["updatedAt"]}
                 for a in self.store.assoc_types.values() if otype.type_id in (a.from_type, a.to_type)]
        return {"id": otype.type_id.split("-")[1], "objectTypeId": otype.type_id, "name": otype.name,
                "fullyQualifiedName": otype.fully_qualified_name, "labels": otype.labels,
                "primaryDisplayProperty": data.get("primaryDisplayProperty"),
                "requiredProperties": list(otype.required), "searchableProperties": list(otype.searchable),
                "secondaryDisplayProperties": data.get("secondaryDisplayProperties") or [],
                "description": data.get("description"),
                "properties": [p.definition() for p in self.store.props[otype.name].values()],
                "associations": assoc, "archived": False, "createdAt": data["createdAt"],
                "updatedAt": data["updatedAt"]}

    async def schemas(self, request: Request) -> Response:
        if request.method == "GET":
            return hs_json({"results": [self.schema_json(t) for t in self.store.types.values() if t.custom]})
        body = await json_body(request)
        name = str(body.get("name") or "").lower()
        if not name or not name.replace("_", "").isalnum() or not name[0].isalpha():
            raise bad_request(f"Invalid object name: {body.get('name')!r}")
        if self.store.find_type(name) is not None:
            raise conflict(f"An object type with name {name} already exists")
        labels = body.get("labels") or {}
        if not labels.get("singular") or not labels.get("plural"):
            raise bad_request("labels.singular and labels.plural are required")
        stamp = now_iso()
        try:
            props = [custom_prop(p, stamp) for p in body.get("properties") or []]
        except (ValueError, KeyError, TypeError) as exc:
            raise bad_request(str(exc)) from None
        names = {p.name for p in props}
        for key in ("primaryDisplayProperty",):
            if body.get(key) and body[key] not in names:
                raise bad_request(f"{key} {body[key]} is not one of the object's properties")
        for listed in ("requiredProperties", "searchableProperties", "secondaryDisplayProperties"):
            unknown = [p for p in body.get(listed) or [] if p not in names]
            if unknown:
                raise bad_request(f"{listed} names unknown properties: {unknown}")
        targets = [self.store.object_type(t) for t in body.get("associatedObjects") or []]
        with self.store.transaction():
            number = self.store.allocate("schema", 1, first=2_000_001)[0]
            type_id = f"2-{number}"
            data = {"objectTypeId": type_id, "name": name, "labels": labels, "description": body.get("description"),
                    "primaryDisplayProperty": body.get("primaryDisplayProperty"),
                    "requiredProperties": body.get("requiredProperties") or [],
                    "searchableProperties": body.get("searchableProperties") or [],
                    "secondaryDisplayProperties": body.get("secondaryDisplayProperties") or [],
                    "createdAt": stamp, "updatedAt": stamp}
            self.store.conn.execute("INSERT INTO _schemas VALUES (?, ?)", (type_id, json.dumps(data)))
            self.store.conn.executemany("INSERT INTO _properties VALUES (?, ?, ?)",
                                        [(type_id, p.name, json.dumps(p.to_json())) for p in props])
            self.store.reload()
            otype = self.store.types[name]
            for target in targets:
                self.service.associations.define_custom(otype, target)
        return hs_json(self.schema_json(otype), 201)

    async def schema(self, request: Request) -> Response:
        otype = self._type(request)
        if not otype.custom:
            raise not_found()
        return hs_json(self.schema_json(otype))

    # ---- owners and pipelines -------------------------------------------------------------------------------
    @staticmethod
    def owner_json(row) -> dict:
        owner_id, email, first, last, user_id, archived, created, updated = row
        return {"id": str(owner_id), "email": email, "firstName": first, "lastName": last, "userId": user_id,
                "userIdIncludingInactive": user_id, "type": "PERSON", "archived": bool(archived),
                "createdAt": created, "updatedAt": updated, "teams": []}

    _OWNER_COLS = "id, email, first_name, last_name, user_id, archived, created_at, updated_at"

    async def owners(self, request: Request) -> Response:
        params = request.query_params
        try:
            limit = int(params.get("limit") or 100)
            after = int(params.get("after") or 0)
        except ValueError:
            raise bad_request("limit and after must be integers") from None
        if not 1 <= limit <= 500:
            raise bad_request(f"limit must be between 1 and 500; got {limit}")
        sql = f"SELECT {self._OWNER_COLS} FROM _owners WHERE id >= ? AND archived = ?"
        args: list = [after, int(parse_flag(params.get("archived")))]
        if params.get("email"):
            sql += " AND email = ? COLLATE NOCASE"
            args.append(params["email"])
        rows = self.store.conn.execute(sql + " ORDER BY id LIMIT ?", [*args, limit + 1]).fetchall()
        body: dict = {"results": [self.owner_json(r) for r in rows[:limit]]}
        if len(rows) > limit:
            nxt = str(rows[limit][0])
            body["paging"] = {"next": {"after": nxt, "link": absolute_url(request, f"/crm/v3/owners/?after={nxt}")}}
        return hs_json(body)

    async def owner(self, request: Request) -> Response:
        column = "user_id" if request.query_params.get("idProperty") == "userId" else "id"
        try:
            key = int(request.path_params["id"])
        except ValueError:
            raise not_found() from None
        row = self.store.conn.execute(f"SELECT {self._OWNER_COLS} FROM _owners WHERE {q(column)} = ? AND archived = ?",
                                      (key, int(parse_flag(request.query_params.get("archived"))))).fetchone()
        if row is None:
            raise not_found()
        return hs_json(self.owner_json(row))

    async def pipelines(self, request: Request) -> Response:
        otype = self._type(request)
        p = request.path_params
        pipelines = PIPELINES.get(otype.name)
        if pipelines is None:
            raise bad_request(f"Pipelines are not supported for {otype.name}")
        if "pipeline" not in p:
            return hs_json({"results": pipelines})
        pipeline = next((x for x in pipelines if x["id"] == p["pipeline"]), None)
        if pipeline is None:
            raise not_found(f"Unable to find pipeline {p['pipeline']}")
        if request.url.path.rstrip("/").endswith("/stages"):
            return hs_json({"results": pipeline["stages"]})
        if "stage" in p:
            stage = next((s for s in pipeline["stages"] if s["id"] == p["stage"]), None)
            if stage is None:
                raise not_found(f"Unable to find stage {p['stage']}")
            return hs_json(stage)
        return hs_json(pipeline)
