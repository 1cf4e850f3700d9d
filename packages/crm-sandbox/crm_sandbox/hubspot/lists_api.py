"""/crm/v3/lists: enough of the lists API for static (MANUAL) lists and their memberships."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sandbox.hubspot.errors import HsError, bad_request, conflict, not_found
from crm_sandbox.hubspot.store import LIVE, HubSpotStore, q
from crm_sandbox.hubspot.values import multi_values, now_iso
from crm_sandbox.hubspot.wire import api, hs_json, json_body

_COLS = "id, name, object_type_id, processing_type, created_at, updated_at, deleted_at, version"
MEMBERSHIP_LIMIT = 100_000


class ListsApi:
    def __init__(self, service):
        self.service = service
        self.store: HubSpotStore = service.store
        self.conn = service.store.conn

    def routes(self) -> list[Route]:
        base = "/crm/v3/lists"
        return [
            Route(base, api(self.collection), methods=["GET", "POST"]),
            Route(base + "/", api(self.collection), methods=["GET", "POST"]),
            Route(base + "/object-type-id/{type}/name/{name}", api(self.by_name), methods=["GET"]),
            Route(base + "/records/{type}/{record}/memberships", api(self.record_lists), methods=["GET"]),
            Route(base + "/{id}", api(self.item), methods=["GET", "DELETE"]),
            Route(base + "/{id}/memberships", api(self.memberships), methods=["GET", "DELETE"]),
            Route(base + "/{id}/memberships/{op}", api(self.change), methods=["PUT"]),
        ]

    def _json(self, row, with_size: bool = True) -> dict:
        list_id, name, type_id, processing, created, updated, deleted, version = row
        out = {"listId": str(list_id), "name": name, "objectTypeId": type_id, "processingType": processing,
               "processingStatus": "COMPLETE", "listVersion": version, "createdAt": created, "updatedAt": updated,
               "filtersUpdatedAt": created, "createdById": "0", "updatedById": "0"}
        if deleted:
            out["deletedAt"] = deleted
        if with_size:
            out["size"] = self.conn.execute("SELECT COUNT(*) FROM _list_members WHERE list_id = ?",
                                            (list_id,)).fetchone()[0]
        return out

    def _row(self, key: str, deleted: bool = False):
        try:
            list_id = int(key)
        except ValueError:
            raise not_found(f"List {key} does not exist") from None
        row = self.conn.execute(f"SELECT {_COLS} FROM _lists WHERE id = ?", (list_id,)).fetchone()
        if row is None or (row[6] is not None) != deleted:
            raise not_found(f"List {key} does not exist")
        return row

    async def collection(self, request: Request) -> Response:
        if request.method == "GET":
            ids = multi_values(request.query_params, "listIds")
            rows = [self.conn.execute(f"SELECT {_COLS} FROM _lists WHERE id = ? AND deleted_at IS NULL",
                                      (int(i),)).fetchone() for i in ids if i.isdigit()]
            return hs_json({"lists": [self._json(r) for r in rows if r]})
        body = await json_body(request)
        name = str(body.get("name") or "").strip()
        otype = self.store.object_type(str(body.get("objectTypeId") or ""))
        processing = str(body.get("processingType") or "MANUAL").upper()
        if not name:
            raise bad_request("name is required")
        if processing not in ("MANUAL", "SNAPSHOT"):
            raise bad_request(f"Only MANUAL and SNAPSHOT lists are supported by the sandbox, not {processing}")
        if self.conn.execute("SELECT 1 FROM _lists WHERE name = ? COLLATE NOCASE AND deleted_at IS NULL",
                             (name,)).fetchone():
            raise conflict(f"A list named '{name}' already exists")
        stamp = now_iso()
        with self.store.transaction():
            list_id = self.store.allocate("list", 1, first=1)[0]
            self.conn.execute("INSERT INTO _lists (id, name, object_type_id, processing_type, created_at, updated_at) "
                              "VALUES (?, ?, ?, ?, ?, ?)", (list_id, name, otype.type_id, processing, stamp, stamp))
        return hs_json({"list": self._json(self._row(str(list_id)))})

    async def item(self, request: Request) -> Response:
        row = self._row(request.path_params["id"])
        if request.method == "DELETE":
            with self.store.transaction():
                self.conn.execute("UPDATE _lists SET deleted_at = ? WHERE id = ?", (now_iso(), row[0]))
            return Response(status_code=204)
        return hs_json({"list": self._json(row)})

    async def by_name(self, request: Request) -> Response:
        otype = self.store.object_type(request.path_params["type"])
        row = self.conn.execute(f"SELECT {_COLS} FROM _lists WHERE name = ? COLLATE NOCASE AND object_type_id = ? "
                                "AND deleted_at IS NULL", (request.path_params["name"], otype.type_id)).fetchone()
        if row is None:
            raise not_found(f"List {request.path_params['name']} does not exist")
        return hs_json({"list": self._json(row)})

    async def memberships(self, request: Request) -> Response:
        row = self._row(request.path_params["id"])
        if request.method == "DELETE":
            with self.store.transaction():
                self.conn.execute("DELETE FROM _list_members WHERE list_id = ?", (row[0],))
            return Response(status_code=204)
        params = request.query_params
        try:
            limit = min(int(params.get("limit") or 100), 250)
            after = int(params.get("after") or 0)
        except ValueError:
            raise bad_request("limit and after must be integers") from None
        members = self.conn.execute("SELECT record_id, added_at FROM _list_members WHERE list_id = ? AND "
                                    "record_id >= ? ORDER BY record_id LIMIT ?", (row[0], after, limit + 1)).fetchall()
        total = self.conn.execute("SELECT COUNT(*) FROM _list_members WHERE list_id = ?", (row[0],)).fetchone()[0]
        body: dict = {"results": [{"recordId": str(r), "membershipTimestamp": t} for r, t in members[:limit]],
                      "total": total}
        if len(members) > limit:
            body["paging"] = {"next": {"after": str(members[limit][0])}}
        return hs_json(body)

    async def change(self, request: Request) -> Response:
        row = self._row(request.path_params["id"])
        op = request.path_params["op"]
        if op == "add-and-remove":
            body = await json_body(request)
            add, remove = body.get("recordIdsToAdd") or [], body.get("recordIdsToRemove") or []
        elif op in ("add", "remove"):
            ids = await json_body(request, list)
            add, remove = (ids, []) if op == "add" else ([], ids)
        else:
            raise not_found()
        if len(add) + len(remove) > MEMBERSHIP_LIMIT:
            raise bad_request(f"At most {MEMBERSHIP_LIMIT} record ids per request")
        otype = self.store.type_by_id(row[2])
        added, removed, missing = [], [], []
        stamp = now_iso()
        with self.store.transaction():
            for key in add:
                try:
                    record_id = self.store.resolve(otype, str(key))["id"]
                except HsError:
                    missing.append(str(key))
                    continue
                cur = self.conn.execute("INSERT OR IGNORE INTO _list_members VALUES (?, ?, ?)",
                                        (row[0], record_id, stamp))
                if cur.rowcount:
                    added.append(str(record_id))
            for key in remove:
                cur = self.conn.execute("DELETE FROM _list_members WHERE list_id = ? AND record_id = ?",
                                        (row[0], int(key) if str(key).isdigit() else -1))
                (removed if cur.rowcount else missing).append(str(key))
            if added or removed:
                self.conn.execute("UPDATE _lists SET updated_at = ?, version = version + 1 WHERE id = ?",
                                  (stamp, row[0]))
        return hs_json({"recordsIdsAdded": added, "recordIdsRemoved": removed, "recordIdsMissing": missing})

    async def record_lists(self, request: Request) -> Response:
        otype = self.store.object_type(request.path_params["type"])
        record = self.store.resolve(otype, request.path_params["record"])
        rows = self.conn.execute(
            f"SELECT l.id, l.version, m.added_at FROM _list_members m JOIN _lists l ON l.id = m.list_id "
            f"JOIN {q(otype.table)} t ON t.id = m.record_id WHERE m.record_id = ? AND l.object_type_id = ? "
            f"AND l.deleted_at IS NULL AND t._state = {LIVE} ORDER BY l.id", (record["id"], otype.type_id)).fetchall()
        return hs_json({"results": [{"listId": str(i), "listVersion": v, "firstAddedTimestamp": t,
                                     "lastAddedTimestamp": t} for i, v, t in rows], "total": len(rows)})
