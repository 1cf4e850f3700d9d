"""/crm/v3/properties batch calls and property groups, over the same property store as the v3 properties API and
the legacy v1/v2 endpoints (a group created here is listed there, a property batch-created here is readable there).

Groups a portal's properties name exist implicitly (HubSpot's standard groups); groups created through the API are
kept in _property_groups with their label and display order. A group that still holds live properties cannot be
archived (400), as in HubSpot's UI.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sandbox.hubspot.catalog import ObjectType
from crm_sandbox.hubspot.errors import HsError, bad_request, not_found, standard_error
from crm_sandbox.hubspot.properties import NAME_PATTERN, Prop, custom_prop
from crm_sandbox.hubspot.store import HubSpotStore
from crm_sandbox.hubspot.values import now_iso
from crm_sandbox.hubspot.wire import api, batch_response, hs_json, inputs, json_body

BATCH_LIMIT = 100
_DDL = "CREATE TABLE IF NOT EXISTS _property_groups (type_id TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, " \
       "PRIMARY KEY (type_id, name))"


def property_groups(store: HubSpotStore, otype: ObjectType) -> list[dict]:
    """The type's live groups (name, label, displayOrder): created ones and those its properties name."""
    store.conn.execute(_DDL)
    stored = {name: json.loads(body) for name, body in store.conn.execute(
        "SELECT name, body FROM _property_groups WHERE type_id = ?", (otype.type_id,))}
    implicit = sorted({p.group for p in store.props[otype.name].values()} - set(stored))
    out = [{"name": n, "label": n.replace("_", " ").title(), "displayOrder": i} for i, n in enumerate(implicit)]
    out += [g for g in stored.values() if not g.get("archived")]
    return sorted(out, key=lambda g: g["name"])


def _group_json(group: dict) -> dict:
    return {"name": group["name"], "label": group["label"], "displayOrder": group["displayOrder"], "archived": False}


class PropertiesBatchApi:
    def __init__(self, service):
        self.service = service
        self.store: HubSpotStore = service.store
        self.store.conn.execute(_DDL)

    def routes(self) -> list[Route]:
        base = "/crm/v3/properties/{type}"
        return [
            Route(f"{base}/batch/read", api(self.batch_read), methods=["POST"]),
            Route(f"{base}/batch/create", api(self.batch_create), methods=["POST"]),
            Route(f"{base}/batch/archive", api(self.batch_archive), methods=["POST"]),
            Route(f"{base}/groups", api(self.groups), methods=["GET", "POST"]),
            Route(f"{base}/groups/{{group}}", api(self.group), methods=["GET", "PATCH", "DELETE"]),
        ]

    def _type(self, request: Request) -> ObjectType:
        return self.store.object_type(request.path_params["type"])

    @staticmethod
    def _names(items: list) -> list[str]:
        names = [item.get("name") for item in items]
        if not all(isinstance(n, str) for n in names):
            raise bad_request("Each input must name a property: {\"name\": \"...\"}")
        return names

    # ---- batch --------------------------------------------------------------------------------------------
    async def batch_read(self, request: Request) -> Response:
        otype = self._type(request)
        started = now_iso()
        body = await json_body(request)
        names = self._names(inputs(body, BATCH_LIMIT))
        archived = body.get("archived", False)
        if not isinstance(archived, bool):
            raise bad_request("archived must be a boolean")
        known = self.store.props[otype.name]
        found = [known[n] for n in dict.fromkeys(names) if n in known and known[n].archived == archived]
        missing = [n for n in names if n not in {p.name for p in found}]
        errors = [standard_error("OBJECT_NOT_FOUND", f"Unable to find property {n} for object type {otype.name}",
                                 {"propertyName": [n]}) for n in missing]
        return batch_response([p.definition() for p in found], errors, started)

    async def batch_create(self, request: Request) -> Response:
        otype = self._type(request)
        started = now_iso()
        items = inputs(await json_body(request), BATCH_LIMIT)
        results, errors = [], []
        with self.store.transaction():
            for item in items:
                try:
                    try:
                        prop = custom_prop(item, now_iso())
                    except (ValueError, KeyError, TypeError) as exc:
                        raise bad_request(str(exc)) from None
                    with self.store.transaction():
                        self.service.meta.add_property(otype, prop)
                    results.append(prop.definition())
                except HsError as exc:
                    errors.append(exc.standard_error({"propertyName": [str(item.get("name"))]}))
        return batch_response(results, errors, started, 201)

    async def batch_archive(self, request: Request) -> Response:
        otype = self._type(request)
        names = self._names(inputs(await json_body(request), BATCH_LIMIT))
        with self.store.transaction():
            for name in names:
                prop = self.store.props[otype.name].get(name)
                if prop is None or prop.archived:
                    continue  # archiving what does not exist is not an error
                if prop.hubspot_defined:
                    raise bad_request(f"Property {name} is a HubSpot defined property and cannot be archived")
                self.service.meta.save_property(otype, Prop.from_json({**prop.to_json(), "archived": True,
                                                                       "updated_at": now_iso()}))
        return Response(status_code=204)

    # ---- groups -------------------------------------------------------------------------------------------
    def _find_group(self, otype: ObjectType, name: str) -> dict:
        group = next((g for g in property_groups(self.store, otype) if g["name"] == name), None)
        if group is None:
            raise not_found(f"Unable to find property group {name} for object type {otype.name}")
        return group

    def _save_group(self, otype: ObjectType, group: dict) -> None:
        self.store.conn.execute("INSERT OR REPLACE INTO _property_groups VALUES (?, ?, ?)",
                                (otype.type_id, group["name"], json.dumps(group)))

    async def groups(self, request: Request) -> Response:
        otype = self._type(request)
        if request.method == "GET":
            return hs_json({"results": [_group_json(g) for g in property_groups(self.store, otype)]})
        body = await json_body(request)
        name, label = body.get("name"), body.get("label")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise bad_request(f"Property group name {name!r} is invalid: use lower-case letters, digits and "
                              "underscores, starting with a letter")
        if not isinstance(label, str) or not label.strip():
            raise bad_request("label is required")
        order = body.get("displayOrder", -1)
        if isinstance(order, bool) or not isinstance(order, int):
            raise bad_request("displayOrder must be an integer")
        if any(g["name"] == name for g in property_groups(self.store, otype)):
            raise HsError(409, "OBJECT_ALREADY_EXISTS", f"A property group named '{name}' already exists.")
        group = {"name": name, "label": label, "displayOrder": order}
        with self.store.transaction():
            self._save_group(otype, group)
        return hs_json(_group_json(group), 201)

    async def group(self, request: Request) -> Response:
        otype = self._type(request)
        group = self._find_group(otype, request.path_params["group"])
        if request.method == "GET":
            return hs_json(_group_json(group))
        if request.method == "DELETE":
            if any(p.group == group["name"] and not p.archived for p in self.store.props[otype.name].values()):
                raise bad_request(f"Property group {group['name']} still has properties; move or archive them first")
            with self.store.transaction():
                self._save_group(otype, {**group, "archived": True})
            return Response(status_code=204)
        body = await json_body(request)
        changes = {k: body[k] for k in ("label", "displayOrder") if body.get(k) is not None}
        if "label" in changes and (not isinstance(changes["label"], str) or not changes["label"].strip()):
            raise bad_request("label must be a non-empty string")
        if "displayOrder" in changes and (isinstance(changes["displayOrder"], bool)
                                          or not isinstance(changes["displayOrder"], int)):
            raise bad_request("displayOrder must be an integer")
        group = {**group, **changes}
        with self.store.transaction():
            self._save_group(otype, group)
        return hs_json(_group_json(group))
