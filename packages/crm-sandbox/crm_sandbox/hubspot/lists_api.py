"""/crm/v3/lists: MANUAL, SNAPSHOT and DYNAMIC lists, their memberships, search, folders, renames, restores, the
filter updates of DYNAMIC lists and the legacy id mapping (the sandbox has no legacy lists: a list's legacy id is
its list id). A DYNAMIC list keeps its filterBranch, checked for HubSpot's shape (a root OR branch of AND branches)
but never evaluated: its memberships are what was written."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sandbox.hubspot.errors import HsError, bad_request, conflict, not_found
from crm_sandbox.hubspot.store import LIVE, HubSpotStore, q
from crm_sandbox.hubspot.values import db_id, multi_values, now_iso, parse_flag, query_int
from crm_sandbox.hubspot.wire import api, hs_json, json_body

_COLS = "id, name, object_type_id, processing_type, created_at, updated_at, deleted_at, version"
MEMBERSHIP_LIMIT = 100_000
_DDL = """
CREATE TABLE IF NOT EXISTS _list_folders (id INTEGER PRIMARY KEY, name TEXT NOT NULL, parent_id INTEGER NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _list_folder_members (list_id INTEGER PRIMARY KEY, folder_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _list_filters (list_id INTEGER PRIMARY KEY, filter_branch TEXT NOT NULL,
    updated_at TEXT NOT NULL);
"""
ROOT_FOLDER = 0
BRANCH_TYPES = {"OR", "AND", "NOT_ALL", "NOT_ANY", "RESTRICTED", "UNIFIED_EVENTS", "ASSOCIATION",
                "PROPERTY_ASSOCIATION"}


def check_filter_branch(branch) -> str:
    """A list filter definition as HubSpot requires it: a root OR branch whose filterBranches are AND branches;
    every branch an object with a known filterBranchType, filterBranches and filters lists, every filter an object
    with a filterType. Answers the branch as stored JSON; anything else is a 400."""
    if not isinstance(branch, dict):
        raise bad_request("filterBranch is required and must be a filter branch object")
    if branch.get("filterBranchType") != "OR":
        raise bad_request("The root filterBranch must have filterBranchType OR")
    pending: list[tuple[object, str, str | None]] = [(branch, "filterBranch", None)]
    while pending:
        node, where, required = pending.pop()
        if not isinstance(node, dict):
            raise bad_request(f"{where} must be a filter branch object")
        kind = node.get("filterBranchType")
        if not isinstance(kind, str) or kind not in BRANCH_TYPES:
            raise bad_request(f"{where}.filterBranchType must be one of {sorted(BRANCH_TYPES)}; got {kind!r}")
        if required and kind != required:
            raise bad_request(f"{where} must be an {required} branch: the root OR branch holds AND branches")
        children, filters = node.get("filterBranches", []), node.get("filters", [])
        if not isinstance(children, list) or not isinstance(filters, list):
            raise bad_request(f"{where}.filterBranches and {where}.filters must be lists")
        for i, item in enumerate(filters):
            if not isinstance(item, dict) or not isinstance(item.get("filterType"), str) or not item["filterType"]:
                raise bad_request(f"{where}.filters[{i}] must be a filter object with a filterType")
        pending += [(child, f"{where}.filterBranches[{i}]", "AND" if node is branch else None)
                    for i, child in enumerate(children)]
    try:
        return json.dumps(branch, allow_nan=False)
    except ValueError:
        raise bad_request("filterBranch holds a number JSON cannot carry (NaN or Infinity)") from None


class ListsApi:
    def __init__(self, service):
        self.service = service
        self.store: HubSpotStore = service.store
        self.conn = service.store.conn
        self.conn.executescript(_DDL)

    def routes(self) -> list[Route]:
        base = "/crm/v3/lists"
        return [
            Route(base, api(self.collection), methods=["GET", "POST"]),
            Route(base + "/", api(self.collection), methods=["GET", "POST"]),
            Route(base + "/search", api(self.search), methods=["POST"]),
            Route(base + "/idmapping", api(self.idmapping), methods=["GET", "POST"]),
            Route(base + "/folders", api(self.folders), methods=["GET", "POST"]),
            Route(base + "/folders/move-list", api(self.move_list), methods=["PUT"]),
            Route(base + "/folders/{folder}", api(self.remove_folder), methods=["DELETE"]),
            Route(base + "/folders/{folder}/rename", api(self.rename_folder), methods=["PUT"]),
            Route(base + "/folders/{folder}/move/{parent}", api(self.move_folder), methods=["PUT"]),
            Route(base + "/object-type-id/{type}/name/{name}", api(self.by_name), methods=["GET"]),
            Route(base + "/records/{type}/{record}/memberships", api(self.record_lists), methods=["GET"]),
            Route(base + "/{id}", api(self.item), methods=["GET", "DELETE"]),
            Route(base + "/{id}/restore", api(self.restore), methods=["PUT"]),
            Route(base + "/{id}/update-list-name", api(self.rename), methods=["PUT"]),
            Route(base + "/{id}/update-list-filters", api(self.update_filters), methods=["PUT"]),
            Route(base + "/{id}/memberships", api(self.memberships), methods=["GET", "DELETE"]),
            Route(base + "/{id}/memberships/join-order", api(self.memberships), methods=["GET"]),
            Route(base + "/{id}/memberships/add-from/{source}", api(self.add_from), methods=["PUT"]),
            Route(base + "/{id}/memberships/{op}", api(self.change), methods=["PUT"]),
        ]

    def _json(self, row, with_size: bool = True, with_filters: bool = False) -> dict:
        list_id, name, type_id, processing, created, updated, deleted, version = row
        stored = self.conn.execute("SELECT filter_branch, updated_at FROM _list_filters WHERE list_id = ?",
                                   (list_id,)).fetchone()
        out = {"listId": str(list_id), "name": name, "objectTypeId": type_id, "processingType": processing,
               "processingStatus": "COMPLETE", "listVersion": version, "createdAt": created, "updatedAt": updated,
               "filtersUpdatedAt": stored[1] if stored else created, "createdById": "0", "updatedById": "0"}
        if with_filters and stored:
            out["filterBranch"] = json.loads(stored[0])
        if deleted:
            out["deletedAt"] = deleted
        if with_size:
            out["size"] = self.conn.execute("SELECT COUNT(*) FROM _list_members WHERE list_id = ?",
                                            (list_id,)).fetchone()[0]
        return out

    def _row(self, key: str, deleted: bool = False):
        list_id = db_id(key)
        if list_id is None:
            raise not_found(f"List {key} does not exist")
        row = self.conn.execute(f"SELECT {_COLS} FROM _lists WHERE id = ?", (list_id,)).fetchone()
        if row is None or (row[6] is not None) != deleted:
            raise not_found(f"List {key} does not exist")
        return row

    @staticmethod
    def _include_filters(request: Request) -> bool:
        return parse_flag(request.query_params.get("includeFilters"), name="includeFilters")

    async def collection(self, request: Request) -> Response:
        if request.method == "GET":
            ids = multi_values(request.query_params, "listIds")
            with_filters = self._include_filters(request)
            rows = [self.conn.execute(f"SELECT {_COLS} FROM _lists WHERE id = ? AND deleted_at IS NULL",
                                      (db_id(i),)).fetchone() for i in ids if db_id(i) is not None]
            return hs_json({"lists": [self._json(r, with_filters=with_filters) for r in rows if r]})
        body = await json_body(request)
        name = str(body.get("name") or "").strip()
        otype = self.store.object_type(str(body.get("objectTypeId") or ""))
        processing = str(body.get("processingType") or "MANUAL").upper()
        if not name:
            raise bad_request("name is required")
        if processing not in ("MANUAL", "SNAPSHOT", "DYNAMIC"):
            raise bad_request(f"processingType must be MANUAL, SNAPSHOT or DYNAMIC, not {processing}")
        branch = check_filter_branch(body.get("filterBranch")) if processing == "DYNAMIC" else None
        if self.conn.execute("SELECT 1 FROM _lists WHERE name = ? COLLATE NOCASE AND deleted_at IS NULL",
                             (name,)).fetchone():
            raise conflict(f"A list named '{name}' already exists")
        stamp = now_iso()
        with self.store.transaction():
            list_id = self.store.allocate("list", 1, first=1)[0]
            self.conn.execute("INSERT INTO _lists (id, name, object_type_id, processing_type, created_at, updated_at) "
                              "VALUES (?, ?, ?, ?, ?, ?)", (list_id, name, otype.type_id, processing, stamp, stamp))
            if branch is not None:
                self.conn.execute("INSERT OR REPLACE INTO _list_filters VALUES (?, ?, ?)",
                                  (list_id, branch, stamp))
        return hs_json({"list": self._json(self._row(str(list_id)), with_filters=True)})

    async def item(self, request: Request) -> Response:
        row = self._row(request.path_params["id"])
        if request.method == "DELETE":
            with self.store.transaction():
                self.conn.execute("UPDATE _lists SET deleted_at = ? WHERE id = ?", (now_iso(), row[0]))
            return Response(status_code=204)
        return hs_json({"list": self._json(row, with_filters=self._include_filters(request))})

    async def update_filters(self, request: Request) -> Response:
        """ListFilterUpdateRequest on a DYNAMIC list: stores the new filterBranch (not evaluated into memberships)
        and answers the ListUpdateResponse; enrollObjectsInWorkflows is checked as a flag and otherwise ignored."""
        row = self._row(request.path_params["id"])
        parse_flag(request.query_params.get("enrollObjectsInWorkflows"), name="enrollObjectsInWorkflows")
        body = await json_body(request)
        if row[3] != "DYNAMIC":
            raise bad_request(f"List {row[0]} has processingType {row[3]}: only DYNAMIC lists have filters to "
                              "update")
        branch = check_filter_branch(body.get("filterBranch"))
        stamp = now_iso()
        with self.store.transaction():
            self.conn.execute("INSERT OR REPLACE INTO _list_filters VALUES (?, ?, ?)",
                              (row[0], branch, stamp))
            self.conn.execute("UPDATE _lists SET updated_at = ?, version = version + 1 WHERE id = ?",
                              (stamp, row[0]))
        return hs_json({"updatedList": self._json(self._row(str(row[0])), with_filters=True)})

    async def by_name(self, request: Request) -> Response:
        otype = self.store.object_type(request.path_params["type"])
        row = self.conn.execute(f"SELECT {_COLS} FROM _lists WHERE name = ? COLLATE NOCASE AND object_type_id = ? "
                                "AND deleted_at IS NULL", (request.path_params["name"], otype.type_id)).fetchone()
        if row is None:
            raise not_found(f"List {request.path_params['name']} does not exist")
        return hs_json({"list": self._json(row, with_filters=self._include_filters(request))})

    async def memberships(self, request: Request) -> Response:
        row = self._row(request.path_params["id"])
        if request.method == "DELETE":
            with self.store.transaction():
                self.conn.execute("DELETE FROM _list_members WHERE list_id = ?", (row[0],))
            return Response(status_code=204)
        params = request.query_params
        limit, after = min(query_int(params, "limit", 100), 250), query_int(params, "after", 0)
        order = "added_at, record_id" if request.url.path.endswith("/join-order") else "record_id"
        # A record deleted or merged away is no member any more (HubSpot takes it out of its lists).
        live = f"JOIN {q(self.store.type_by_id(row[2]).table)} t ON t.id = m.record_id AND t._state = {LIVE}"
        members = self.conn.execute(f"SELECT m.record_id, m.added_at FROM _list_members m {live} WHERE m.list_id = ? "
                                    f"AND m.record_id >= ? ORDER BY {order.replace('added_at', 'm.added_at')} "
                                    "LIMIT ?", (row[0], after, limit + 1)).fetchall()
        total = self.conn.execute(f"SELECT COUNT(*) FROM _list_members m {live} WHERE m.list_id = ?",
                                  (row[0],)).fetchone()[0]
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
        return hs_json(self.change_members(row, add, remove))

    def change_members(self, row, add: list, remove: list) -> dict:
        """Add and remove records (the API's memberships writes, and the admin interface's as a user in the UI)."""
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
                                        (row[0], db_id(key) or -1))
                (removed if cur.rowcount else missing).append(str(key))
            if added or removed:
                self.conn.execute("UPDATE _lists SET updated_at = ?, version = version + 1 WHERE id = ?",
                                  (stamp, row[0]))
        return {"recordsIdsAdded": added, "recordIdsRemoved": removed, "recordIdsMissing": missing}

    async def record_lists(self, request: Request) -> Response:
        otype = self.store.object_type(request.path_params["type"])
        record = self.store.resolve(otype, request.path_params["record"])
        rows = self.conn.execute(
            f"SELECT l.id, l.version, m.added_at FROM _list_members m JOIN _lists l ON l.id = m.list_id "
            f"JOIN {q(otype.table)} t ON t.id = m.record_id WHERE m.record_id = ? AND l.object_type_id = ? "
            f"AND l.deleted_at IS NULL AND t._state = {LIVE} ORDER BY l.id", (record["id"], otype.type_id)).fetchall()
        return hs_json({"results": [{"listId": str(i), "listVersion": v, "firstAddedTimestamp": t,
                                     "lastAddedTimestamp": t} for i, v, t in rows], "total": len(rows)})

    # ---- names, restores, search --------------------------------------------------------------------------
    def _name_taken(self, name: str, own: int = -1) -> bool:
        return bool(self.conn.execute("SELECT 1 FROM _lists WHERE name = ? COLLATE NOCASE AND deleted_at IS NULL "
                                      "AND id != ?", (name, own)).fetchone())

    async def rename(self, request: Request) -> Response:
        row = self._row(request.path_params["id"])
        name = (request.query_params.get("listName") or "").strip()
        with_filters = self._include_filters(request)
        if not name:
            raise bad_request("listName is required")
        if self._name_taken(name, row[0]):
            raise conflict(f"A list named '{name}' already exists")
        with self.store.transaction():
            self.conn.execute("UPDATE _lists SET name = ?, updated_at = ?, version = version + 1 WHERE id = ?",
                              (name, now_iso(), row[0]))
        return hs_json({"updatedList": self._json(self._row(str(row[0])), with_filters=with_filters)})

    async def restore(self, request: Request) -> Response:
        row = self._row(request.path_params["id"], deleted=True)
        if self._name_taken(row[1]):
            raise conflict(f"A list named '{row[1]}' already exists")
        with self.store.transaction():
            self.conn.execute("UPDATE _lists SET deleted_at = NULL WHERE id = ?", (row[0],))
        return Response(status_code=204)

    async def search(self, request: Request) -> Response:
        """ListSearchRequest: query (a name substring), listIds, processingTypes, offset and count; sizes as
        additionalProperties.hs_list_size, the same count the memberships read gives."""
        body = await json_body(request)
        query = body.get("query") or ""
        offset, count = body.get("offset", 0), body.get("count", 20)
        for name, value in (("offset", offset), ("count", count)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise bad_request(f"{name} must be a non-negative integer")
        filters = {"listIds": body.get("listIds") or [], "processingTypes": body.get("processingTypes") or []}
        if not isinstance(query, str) or not all(isinstance(v, list) for v in filters.values()):
            raise bad_request("query must be a string; listIds and processingTypes lists")
        sql = f"SELECT {_COLS} FROM _lists WHERE deleted_at IS NULL AND instr(lower(name), ?) > 0"
        args: list = [query.lower()]
        if filters["listIds"]:
            wanted = [db_id(i) for i in filters["listIds"]]
            sql += f" AND id IN ({', '.join('?' for _ in wanted)})"
            args += [i if i is not None else -1 for i in wanted]
        if filters["processingTypes"]:
            sql += f" AND processing_type IN ({', '.join('?' for _ in filters['processingTypes'])})"
            args += [str(t).upper() for t in filters["processingTypes"]]
        rows = self.conn.execute(sql + " ORDER BY id", args).fetchall()
        page = rows[offset:offset + min(count, 500)]
        lists = []
        for r in page:
            entry = self._json(r)
            entry["additionalProperties"] = {"hs_list_size": str(entry.pop("size"))}
            lists.append(entry)
        return hs_json({"lists": lists, "offset": offset + len(page), "hasMore": offset + len(page) < len(rows),
                        "total": len(rows)})

    async def idmapping(self, request: Request) -> Response:
        if request.method == "GET":
            legacy = request.query_params.get("legacyListId") or ""
            if db_id(legacy) is None or not self.conn.execute("SELECT 1 FROM _lists WHERE id = ?",
                                                              (db_id(legacy),)).fetchone():
                raise not_found(f"No list found for legacy list id {legacy}")
            return hs_json({"legacyListId": legacy, "listId": str(db_id(legacy))})
        ids = await json_body(request, list)
        found, missing = [], []
        for legacy in ids:
            key = db_id(legacy)
            exists = key is not None and self.conn.execute("SELECT 1 FROM _lists WHERE id = ?", (key,)).fetchone()
            (found if exists else missing).append(str(legacy))
        return hs_json({"legacyListIdsToIdsMapping": [{"legacyListId": i, "listId": str(db_id(i))} for i in found],
                        "missingLegacyListIds": missing})

    async def add_from(self, request: Request) -> Response:
        row = self._row(request.path_params["id"])
        source = self._row(request.path_params["source"])
        if source[2] != row[2]:
            raise bad_request("Both lists must be of the same object type")
        with self.store.transaction():
            cur = self.conn.execute("INSERT OR IGNORE INTO _list_members SELECT ?, record_id, ? FROM _list_members "
                                    "WHERE list_id = ?", (row[0], now_iso(), source[0]))
            if cur.rowcount:
                self.conn.execute("UPDATE _lists SET version = version + 1 WHERE id = ?", (row[0],))
        return Response(status_code=204)

    # ---- folders ------------------------------------------------------------------------------------------
    def _folder_row(self, key) -> tuple:
        folder_id = db_id(key)
        if folder_id == ROOT_FOLDER:
            return (ROOT_FOLDER, "Root", None, None, None)
        row = self.conn.execute("SELECT id, name, parent_id, created_at, updated_at FROM _list_folders WHERE id = ?",
                                (folder_id if folder_id is not None else -1,)).fetchone()
        if row is None:
            raise not_found(f"Folder {key} does not exist")
        return row

    def _folder_json(self, row: tuple, depth: int = 3) -> dict:
        folder_id, name, parent, created, updated = row
        children = self.conn.execute("SELECT id, name, parent_id, created_at, updated_at FROM _list_folders "
                                     "WHERE parent_id = ? ORDER BY id", (folder_id,)).fetchall()
        lists = [r[0] for r in self.conn.execute(
            "SELECT l.id FROM _lists l LEFT JOIN _list_folder_members m ON m.list_id = l.id WHERE l.deleted_at IS NULL "
            "AND COALESCE(m.folder_id, 0) = ? ORDER BY l.id", (folder_id,))]
        out = {"id": str(folder_id), "name": name, "childNodes": [self._folder_json(c, depth - 1) for c in children]
               if depth else [], "childLists": lists, "userId": 0}
        if parent is not None:
            out.update(parentFolderId=str(parent), createdAt=created, updatedAt=updated, updatedContentsAt=updated)
        return out

    async def folders(self, request: Request) -> Response:
        if request.method == "GET":
            return hs_json({"folder": self._folder_json(self._folder_row(request.query_params.get("folderId")
                                                                         or ROOT_FOLDER))})
        body = await json_body(request)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad_request("name is required")
        parent = self._folder_row(body.get("parentFolderId") or ROOT_FOLDER)[0]
        stamp = now_iso()
        with self.store.transaction():
            folder_id = self.store.allocate("list_folder", 1, first=1)[0]
            self.conn.execute("INSERT INTO _list_folders VALUES (?, ?, ?, ?, ?)",
                              (folder_id, name, parent, stamp, stamp))
        return hs_json({"folder": self._folder_json(self._folder_row(folder_id))})

    async def rename_folder(self, request: Request) -> Response:
        row = self._folder_row(request.path_params["folder"])
        name = (request.query_params.get("newFolderName") or "").strip()
        if row[0] == ROOT_FOLDER or not name:
            raise bad_request("newFolderName is required, and the root folder cannot be renamed")
        with self.store.transaction():
            self.conn.execute("UPDATE _list_folders SET name = ?, updated_at = ? WHERE id = ?",
                              (name, now_iso(), row[0]))
        return hs_json({"folder": self._folder_json(self._folder_row(row[0]))})

    async def move_folder(self, request: Request) -> Response:
        row = self._folder_row(request.path_params["folder"])
        parent = self._folder_row(request.path_params["parent"])[0]
        ancestor = parent
        while ancestor not in (None, ROOT_FOLDER):
            if ancestor == row[0]:
                raise bad_request("A folder cannot be moved into itself or one of its subfolders")
            ancestor = self._folder_row(ancestor)[2]
        if row[0] == ROOT_FOLDER:
            raise bad_request("The root folder cannot be moved")
        with self.store.transaction():
            self.conn.execute("UPDATE _list_folders SET parent_id = ?, updated_at = ? WHERE id = ?",
                              (parent, now_iso(), row[0]))
        return hs_json({"folder": self._folder_json(self._folder_row(row[0]))})

    async def move_list(self, request: Request) -> Response:
        body = await json_body(request)
        row = self._row(str(body.get("listId")))
        folder = self._folder_row(body.get("newFolderId") if body.get("newFolderId") is not None else "")[0]
        with self.store.transaction():
            self.conn.execute("INSERT OR REPLACE INTO _list_folder_members VALUES (?, ?)", (row[0], folder))
        return Response(status_code=204)

    async def remove_folder(self, request: Request) -> Response:
        row = self._folder_row(request.path_params["folder"])
        folder = self._folder_json(row, depth=1)
        if row[0] == ROOT_FOLDER or folder["childNodes"] or folder["childLists"]:
            raise bad_request("Only an empty folder other than the root can be deleted")
        with self.store.transaction():
            self.conn.execute("DELETE FROM _list_folders WHERE id = ?", (row[0],))
        return Response(status_code=204)
