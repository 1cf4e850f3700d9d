"""/crm/v3/pipelines for deals and tickets: reads, pipeline and stage writes, and their audit logs.

The portal starts with HubSpot's default pipelines (meta_api.PIPELINES); writes are kept in _pipelines. The pipeline
and stage properties (deals `pipeline` / `dealstage`, tickets `hs_pipeline` / `hs_pipeline_stage`) take their
options from the live pipelines, so a created stage is writable on a deal or ticket and an archived one is refused
as INVALID_OPTION, as in HubSpot.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sandbox.hubspot.catalog import ObjectType
from crm_sandbox.hubspot.errors import bad_request, not_found
from crm_sandbox.hubspot.meta_api import PIPELINES
from crm_sandbox.hubspot.store import HubSpotStore
from crm_sandbox.hubspot.values import now_iso
from crm_sandbox.hubspot.wire import api, hs_json, json_body

_DDL = """
CREATE TABLE IF NOT EXISTS _pipelines (object_type TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _pipeline_audit (object_type TEXT NOT NULL, pipeline_id TEXT NOT NULL, stage_id TEXT,
    action TEXT NOT NULL, body TEXT NOT NULL, timestamp TEXT NOT NULL);
"""
PROPS = {"deals": ("pipeline", "dealstage"), "tickets": ("hs_pipeline", "hs_pipeline_stage")}


def _option(item: dict) -> dict:
    return {"label": item["label"], "value": item["id"], "displayOrder": item["displayOrder"], "hidden": False,
            "description": ""}


class PipelinesApi:
    def __init__(self, service):
        self.store: HubSpotStore = service.store
        self.store.conn.executescript(_DDL)
        self.store.reload_hooks.append(self.apply_options)
        self.apply_options()

    def routes(self) -> list[Route]:
        base = "/crm/v3/pipelines/{type}"
        return [
            Route(base, api(self.collection), methods=["GET", "POST"]),
            Route(base + "/{pipeline}", api(self.pipeline), methods=["GET", "PUT", "PATCH", "DELETE"]),
            Route(base + "/{pipeline}/audit", api(self.audit), methods=["GET"]),
            Route(base + "/{pipeline}/stages", api(self.stages), methods=["GET", "POST"]),
            Route(base + "/{pipeline}/stages/{stage}", api(self.stage), methods=["GET", "PUT", "PATCH", "DELETE"]),
            Route(base + "/{pipeline}/stages/{stage}/audit", api(self.audit), methods=["GET"]),
        ]

    # ---- storage ------------------------------------------------------------------------------------------
    def _all(self, otype: ObjectType) -> list[dict]:
        """Every pipeline of the type, archived ones included."""
        row = self.store.conn.execute("SELECT body FROM _pipelines WHERE object_type = ?", (otype.name,)).fetchone()
        return json.loads(row[0]) if row else copy.deepcopy(PIPELINES[otype.name])

    def _save(self, otype: ObjectType, pipelines: list[dict], pipeline_id: str, stage_id: str | None, action: str,
              item: dict) -> None:
        self.store.conn.execute("INSERT OR REPLACE INTO _pipelines VALUES (?, ?)", (otype.name, json.dumps(pipelines)))
        self.store.conn.execute("INSERT INTO _pipeline_audit VALUES (?, ?, ?, ?, ?, ?)",
                                (otype.name, pipeline_id, stage_id, action, json.dumps(item), now_iso()))
        self.apply_options()

    def apply_options(self) -> None:
        """Point the pipeline and stage properties' options at the live pipelines and stages."""
        for name, (pipeline_prop, stage_prop) in PROPS.items():
            otype = self.store.types[name]
            live = [p for p in self._all(otype) if not p["archived"]]
            stages = [s for p in live for s in p["stages"] if not s["archived"]]
            props = self.store.props[name]
            props[pipeline_prop] = replace(props[pipeline_prop], options=tuple(_option(p) for p in live))
            props[stage_prop] = replace(props[stage_prop], options=tuple(_option(s) for s in stages))

    def _type(self, request: Request) -> ObjectType:
        otype = self.store.object_type(request.path_params["type"])
        if otype.name not in PROPS:
            raise bad_request(f"Pipelines are not supported for {otype.name}")
        return otype

    def _find(self, items: list[dict], key: str, what: str) -> dict:
        found = next((x for x in items if x["id"] == key and not x["archived"]), None)
        if found is None:
            raise not_found(f"Unable to find {what} {key}")
        return found

    # ---- validation ---------------------------------------------------------------------------------------
    @staticmethod
    def _fields(body: dict, full: bool, stage: bool) -> dict:
        """label, displayOrder (and a stage's metadata; a pipeline's archived flag) checked; all required if full."""
        out = {}
        if full or body.get("label") is not None:
            if not isinstance(body.get("label"), str) or not body["label"].strip():
                raise bad_request("label is required and must be a non-empty string")
            out["label"] = body["label"]
        if full or body.get("displayOrder") is not None:
            order = body.get("displayOrder")
            if isinstance(order, bool) or not isinstance(order, int):
                raise bad_request("displayOrder is required and must be an integer")
            out["displayOrder"] = order
        if stage and (full or body.get("metadata") is not None):
            metadata = body.get("metadata")
            if not isinstance(metadata, dict):
                raise bad_request("metadata is required and must be an object")
            out["metadata"] = {str(k): str(v) for k, v in metadata.items()}
        if not stage and body.get("archived") is not None:
            if not isinstance(body["archived"], bool):
                raise bad_request("archived must be a boolean")
            out["archived"] = body["archived"]
        return out

    def _new_stage(self, otype: ObjectType, body, stamp: str) -> dict:
        if not isinstance(body, dict):
            raise bad_request("Each stage must be an object")
        fields = self._fields(body, True, True)
        if otype.name == "deals" and "probability" not in fields["metadata"]:
            raise bad_request("Deal stages need metadata.probability")
        if otype.name == "tickets" and fields["metadata"].get("ticketState") not in ("OPEN", "CLOSED"):
            raise bad_request("Ticket stages need metadata.ticketState OPEN or CLOSED")
        stage_id = str(self.store.allocate("pipeline_stage", 1, first=1_000_000)[0])
        return {"id": stage_id, **fields, "archived": False, "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                "createdAt": stamp, "updatedAt": stamp}

    def _new_pipeline(self, otype: ObjectType, body: dict, stamp: str, pipeline_id: str | None = None) -> dict:
        fields = self._fields(body, True, False)
        stages = body.get("stages")
        if not isinstance(stages, list) or not stages:
            raise bad_request("stages must be a list of at least one stage")
        pipeline_id = pipeline_id or str(self.store.allocate("pipeline", 1, first=10_000_000)[0])
        return {"id": pipeline_id, "label": fields["label"], "displayOrder": fields["displayOrder"],
                "archived": False, "createdAt": stamp, "updatedAt": stamp,
                "stages": [self._new_stage(otype, s, stamp) for s in stages]}

    # ---- handlers -----------------------------------------------------------------------------------------
    async def collection(self, request: Request) -> Response:
        otype = self._type(request)
        pipelines = self._all(otype)
        if request.method == "GET":
            return hs_json({"results": [p for p in pipelines if not p["archived"]]})
        body = await json_body(request)
        with self.store.transaction():
            created = self._new_pipeline(otype, body, now_iso())
            if any(p["label"] == created["label"] and not p["archived"] for p in pipelines):
                raise bad_request(f"A pipeline with label {created['label']} already exists")
            self._save(otype, [*pipelines, created], created["id"], None, "CREATE", created)
        return hs_json(created, 201)

    async def pipeline(self, request: Request) -> Response:
        otype = self._type(request)
        pipelines = self._all(otype)
        found = self._find(pipelines, request.path_params["pipeline"], "pipeline")
        if request.method == "GET":
            return hs_json(found)
        stamp = now_iso()
        if request.method == "DELETE":
            if len([p for p in pipelines if not p["archived"]]) == 1:
                raise bad_request("A portal must keep at least one pipeline")
            found.update(archived=True, archivedAt=stamp, updatedAt=stamp)
            action = "DELETE"
        elif request.method == "PUT":
            replaced = self._new_pipeline(otype, await json_body(request), stamp, found["id"])
            found.update({**replaced, "createdAt": found["createdAt"]})
            action = "UPDATE"
        else:
            found.update(self._fields(await json_body(request), False, False), updatedAt=stamp)
            action = "UPDATE"
        with self.store.transaction():
            self._save(otype, pipelines, found["id"], None, action, found)
        return Response(status_code=204) if request.method == "DELETE" else hs_json(found)

    async def stages(self, request: Request) -> Response:
        otype = self._type(request)
        pipelines = self._all(otype)
        found = self._find(pipelines, request.path_params["pipeline"], "pipeline")
        if request.method == "GET":
            return hs_json({"results": [s for s in found["stages"] if not s["archived"]]})
        body = await json_body(request)
        with self.store.transaction():
            stage = self._new_stage(otype, body, now_iso())
            found["stages"].append(stage)
            self._save(otype, pipelines, found["id"], stage["id"], "CREATE", stage)
        return hs_json(stage, 201)

    async def stage(self, request: Request) -> Response:
        otype = self._type(request)
        pipelines = self._all(otype)
        pipeline = self._find(pipelines, request.path_params["pipeline"], "pipeline")
        found = self._find(pipeline["stages"], request.path_params["stage"], "stage")
        if request.method == "GET":
            return hs_json(found)
        stamp = now_iso()
        if request.method == "DELETE":
            if len([s for s in pipeline["stages"] if not s["archived"]]) == 1:
                raise bad_request("A pipeline must keep at least one stage")
            found.update(archived=True, archivedAt=stamp, updatedAt=stamp)
        else:
            body = await json_body(request)
            found.update(self._fields(body, request.method == "PUT", True), updatedAt=stamp)
        with self.store.transaction():
            self._save(otype, pipelines, pipeline["id"], found["id"],
                       "DELETE" if request.method == "DELETE" else "UPDATE", found)
        return Response(status_code=204) if request.method == "DELETE" else hs_json(found)

    async def audit(self, request: Request) -> Response:
        """The pipeline's (or stage's) changes, newest first, as PublicAuditInfo."""
        otype = self._type(request)
        p = request.path_params
        pipelines = self._all(otype)
        if "stage" in p and p["pipeline"] == "{pipelineId}":
            # hubspot-api-client 12's stage audit call takes no pipeline id and sends the placeholder unfilled.
            pipelines = [x for x in pipelines if any(s["id"] == p["stage"] for s in x["stages"])]
            p = {**p, "pipeline": pipelines[0]["id"] if pipelines else p["pipeline"]}
        pipeline = next((x for x in pipelines if x["id"] == p["pipeline"]), None)
        if pipeline is None or ("stage" in p and not any(s["id"] == p["stage"] for s in pipeline["stages"])):
            raise not_found(f"Unable to find {'stage ' + p['stage'] if 'stage' in p else 'pipeline ' + p['pipeline']}")
        sql = "SELECT pipeline_id, stage_id, action, body, timestamp FROM _pipeline_audit WHERE object_type = ? " \
              "AND pipeline_id = ?"
        args = [otype.name, pipeline["id"]]
        if "stage" in p:
            sql += " AND stage_id = ?"
            args.append(p["stage"])
        rows = self.store.conn.execute(sql + " ORDER BY rowid DESC", args).fetchall()
        portal = int(self.store.settings["portal_id"])
        return hs_json({"results": [{"identifier": stage_id or pipeline_id, "rawObject": json.loads(body),
                                     "fromUserId": 0, "portalId": portal, "action": action,
                                     "message": f"{action} {'stage' if stage_id else 'pipeline'}",
                                     "timestamp": stamp} for pipeline_id, stage_id, action, body, stamp in rows]})
