"""Portal metadata endpoints: properties, custom object schemas with their association definitions, and owners
(pipelines: pipelines_api)."""

from __future__ import annotations

import json
import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sandbox.hubspot.catalog import AssociationType, ObjectType
from crm_sandbox.hubspot.errors import HsError, bad_request, conflict, not_found
from crm_sandbox.hubspot.properties import DEAL_STAGES, TICKET_STAGES, Prop, custom_prop, updated_prop
from crm_sandbox.hubspot.rules import DEAL_STAGE_INFO
from crm_sandbox.hubspot.store import HubSpotStore, q
from crm_sandbox.hubspot.values import db_id, now_iso, parse_flag, query_int
from crm_sandbox.hubspot.wire import absolute_url, api, hs_json, json_body

_EPOCH = "2019-01-01T00:00:00.000Z"
_ASSOC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
# when each association definition made through a schema's associations route was created (its createdAt)
_DDL = "CREATE TABLE IF NOT EXISTS _schema_associations (type_id INTEGER PRIMARY KEY, created_at TEXT NOT NULL)"


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


class MetaApi:
    def __init__(self, service):
        self.service = service
        self.store: HubSpotStore = service.store
        self.store.conn.execute(_DDL)

    def routes(self) -> list[Route]:
        out = [
            Route("/crm/v3/properties/{type}", api(self.properties), methods=["GET", "POST"]),
            Route("/crm/v3/properties/{type}/{name}", api(self.property), methods=["GET", "PATCH", "DELETE"]),
            Route("/crm/v3/owners", api(self.owners), methods=["GET"]),
            Route("/crm/v3/owners/", api(self.owners), methods=["GET"]),
            Route("/crm/v3/owners/{id}", api(self.owner), methods=["GET"]),
        ]
        for prefix in ("/crm/v3/schemas", "/crm-object-schemas/v3/schemas"):
            out += [Route(prefix, api(self.schemas), methods=["GET", "POST"]),
                    Route(prefix + "/{type}", api(self.schema), methods=["GET", "PATCH", "DELETE"]),
                    Route(prefix + "/{type}/associations", api(self.create_association), methods=["POST"]),
                    Route(prefix + "/{type}/associations/{association_id}", api(self.archive_association),
                          methods=["DELETE"])]
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

    def save_property(self, otype: ObjectType, prop: Prop) -> None:
        """Store a changed custom property definition (archiving is a change of its archived flag)."""
        self.store.conn.execute("UPDATE _properties SET body = ? WHERE type_id = ? AND name = ?",
                                (json.dumps(prop.to_json()), otype.type_id, prop.name))
        self.store.props[otype.name][prop.name] = prop

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
            self.save_property(otype, changed)
        return Response(status_code=204) if request.method == "DELETE" else hs_json(changed.definition())

    # ---- custom objects -------------------------------------------------------------------------------------
    def association_json(self, atype: AssociationType, schema: dict) -> dict:
        """An AssociationDefinition: one made through the associations route keeps its name and creation time;
        the ones made with the schema carry the schema's."""
        row = self.store.conn.execute("SELECT created_at FROM _schema_associations WHERE type_id = ?",
                                      (atype.type_id,)).fetchone()
        name, created, updated = ((atype.name, row[0], row[0]) if row else
                                  (atype.name.upper(), schema["createdAt"], schema["updatedAt"]))
        return {"id": str(atype.type_id), "fromObjectTypeId": atype.from_type, "toObjectTypeId": atype.to_type,
                "name": name, "createdAt": created, "updatedAt": updated}

    def schema_json(self, otype: ObjectType) -> dict:
        row = self.store.conn.execute("SELECT body FROM _schemas WHERE type_id = ?", (otype.type_id,)).fetchone()
        data = json.loads(row[0])
        assoc = [self.association_json(a, data) for a in self.store.assoc_types.values()
                 if otype.type_id in (a.from_type, a.to_type)]
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
        """Read, update (ObjectTypeDefinitionPatch; answers the ObjectTypeDefinition, without properties and
        associations) or delete a custom object schema; deleting one that still has records is a 400."""
        otype = self._custom_type(request)
        if request.method == "GET":
            return hs_json(self.schema_json(otype))
        if request.method == "DELETE":
            count = self.store.conn.execute(f"SELECT COUNT(*) FROM {q(otype.table)} WHERE _state = 0").fetchone()[0]
            if count:
                raise bad_request(f"Object type {otype.fully_qualified_name} still has {count} records; archive "
                                  "them before deleting its schema")
            with self.store.transaction():
                for atype in [a for a in self.store.assoc_types.values() if otype.type_id in (a.from_type, a.to_type)]:
                    self.service.associations.drop_type(atype)
                self.store.conn.execute("DELETE FROM _schemas WHERE type_id = ?", (otype.type_id,))
                self.store.reload()
            return Response(status_code=204)
        body = await json_body(request)
        row = self.store.conn.execute("SELECT body FROM _schemas WHERE type_id = ?", (otype.type_id,)).fetchone()
        data = json.loads(row[0])
        names = set(self.store.props[otype.name])
        if body.get("labels") is not None:
            labels = body["labels"]
            if not isinstance(labels, dict) or not all(isinstance(labels.get(k, ""), str) for k in labels):
                raise bad_request("labels must be an object with singular and plural")
            data["labels"] = {**data["labels"], **{k: v for k, v in labels.items() if k in ("singular", "plural")}}
        if body.get("primaryDisplayProperty") is not None:
            if body["primaryDisplayProperty"] not in names:
                raise bad_request(f"primaryDisplayProperty {body['primaryDisplayProperty']} is not one of the "
                                  "object's properties")
            data["primaryDisplayProperty"] = body["primaryDisplayProperty"]
        for listed in ("requiredProperties", "searchableProperties", "secondaryDisplayProperties"):
            if body.get(listed) is None:
                continue
            if not isinstance(body[listed], list) or not all(isinstance(p, str) for p in body[listed]):
                raise bad_request(f"{listed} must be a list of property names")
            unknown = [p for p in body[listed] if p not in names]
            if unknown:
                raise bad_request(f"{listed} names unknown properties: {unknown}")
            data[listed] = body[listed]
        if body.get("description") is not None:
            data["description"] = str(body["description"])
        data["updatedAt"] = now_iso()
        with self.store.transaction():
            self.store.conn.execute("UPDATE _schemas SET body = ? WHERE type_id = ?",
                                    (json.dumps(data), otype.type_id))
            self.store.reload()
        full = self.schema_json(self.store.types[otype.name])
        return hs_json({k: v for k, v in full.items() if k not in ("properties", "associations")})

    def _custom_type(self, request: Request) -> ObjectType:
        otype = self._type(request)
        if not otype.custom:
            raise not_found()
        return otype

    async def create_association(self, request: Request) -> Response:
        """AssociationDefinitionEgg: a USER_DEFINED association type from the schema's object to another type (and
        its inverse), usable in v4 writes; the pair's default type when it has none yet. Answers 201."""
        otype = self._custom_type(request)
        body = await json_body(request)
        ends = []
        for key in ("fromObjectTypeId", "toObjectTypeId"):
            value = body.get(key)
            if not isinstance(value, str) or not value.strip():
                raise bad_request(f"{key} is required")
            ends.append(self.store.object_type(value.strip()))
        from_t, to_t = ends
        if from_t.type_id != otype.type_id:
            raise bad_request(f"fromObjectTypeId must be the schema's object type {otype.type_id}, not "
                              f"{from_t.type_id}")
        name = body.get("name")
        if name is None:
            name = f"{from_t.singular}_to_{to_t.singular}"
        if not isinstance(name, str) or not _ASSOC_NAME.match(name):
            raise bad_request(f"name {name!r} is invalid: letters, digits and underscores, starting with a letter")
        inverse_name = f"{to_t.singular}_to_{from_t.singular}" if body.get("name") is None else f"{name}_inverse"
        taken = {a.name.lower() for a in self.store.assoc_types.values()
                 if {a.from_type, a.to_type} == {from_t.type_id, to_t.type_id}}
        if name.lower() in taken or (from_t.type_id != to_t.type_id and inverse_name.lower() in taken):
            raise conflict(f"An association named {name} already exists between {from_t.name} and {to_t.name}")
        assoc = self.service.associations
        default = not any(a.is_default for a in assoc.types_between(from_t, to_t))
        stamp = now_iso()
        with self.store.transaction():
            if from_t.type_id == to_t.type_id:
                fwd = inv = self.store.allocate("association_type", 1, first=1_000)[0]
            else:
                fwd, inv = self.store.allocate("association_type", 2, first=1_000)
            made = [AssociationType(fwd, from_t.type_id, to_t.type_id, name, None, inv, "USER_DEFINED",
                                    is_default=default)]
            if inv != fwd:
                made.append(AssociationType(inv, to_t.type_id, from_t.type_id, inverse_name, None, fwd,
                                            "USER_DEFINED", is_default=default))
            for atype in made:
                assoc.save_type(atype)
                self.store.conn.execute("INSERT OR REPLACE INTO _schema_associations VALUES (?, ?)",
                                        (atype.type_id, stamp))
        return hs_json(self.association_json(made[0], {}), 201)

    async def archive_association(self, request: Request) -> Response:
        """Remove an association definition of the schema (with its inverse and every association of them)."""
        otype = self._custom_type(request)
        raw = request.path_params["association_id"]
        type_id = db_id(raw)
        atype = self.store.assoc_types.get(type_id) if type_id is not None else None
        if atype is None or otype.type_id not in (atype.from_type, atype.to_type) or atype.category != "USER_DEFINED":
            raise not_found(f"Association {raw} does not exist on schema {otype.fully_qualified_name}")
        with self.store.transaction():
            self.service.associations.drop_type(atype)
            self.store.conn.execute("DELETE FROM _schema_associations WHERE type_id IN (?, ?)",
                                    (atype.type_id, atype.inverse_id))
        return Response(status_code=204)

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
        limit, after = query_int(params, "limit", 100), query_int(params, "after", 0)
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
        key = db_id(request.path_params["id"])
        if key is None:
            raise not_found()
        row = self.store.conn.execute(f"SELECT {self._OWNER_COLS} FROM _owners WHERE {q(column)} = ? AND archived = ?",
                                      (key, int(parse_flag(request.query_params.get("archived"))))).fetchone()
        if row is None:
            raise not_found()
        return hs_json(self.owner_json(row))
