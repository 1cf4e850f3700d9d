"""The steps of one sync cycle, each joining a connector call to an engine call; the assets call these."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import pandas as pd

from crm_sync.config.models import ASSOCIATION_PREFIX, SyncConfig, SyncSettings
from crm_sync.connectors.common import WriteResult
from crm_sync.connectors.hubspot import PRIMARY_PROPERTIES, HubSpotConnector, modified_property
from crm_sync.connectors.salesforce import SalesforceConnector
from crm_sync.engine.db import quote
from crm_sync.engine.frames import hubspot_frame, salesforce_frame
from crm_sync.engine.outbox import ops_to_send, record_results
from crm_sync.engine.pairs import PairSpec, pair_specs
from crm_sync.engine.staging import advance_cursor, changed_ids, read_cursor, refresh_columns, set_column, stage
from crm_sync.engine.validate import store_hubspot_metadata, store_salesforce_metadata

METADATA_TTL = dt.timedelta(hours=1)
LOAD_CHUNK = 1000  # ops recorded per transaction, so a killed load loses at most one chunk of answers


def salesforce_objects(config: SyncConfig) -> dict[str, list[str]]:
    """Every Salesforce object the pairs read, with the union of their fields; User for owner mapping."""
    fields: dict[str, set[str]] = {"User": {"Email", "IsActive"}}
    for spec in pair_specs(config):
        for obj, names in {**spec.salesforce_fields, **spec.salesforce_children}.items():
            fields.setdefault(obj, set()).update(names)
    return {obj: sorted(names) for obj, names in fields.items()}


def hubspot_objects(config: SyncConfig) -> dict[str, list[str]]:
    fields: dict[str, set[str]] = {}
    for spec in pair_specs(config):
        fields.setdefault(spec.hubspot_object, set()).update(spec.hubspot_properties)
        fields[spec.hubspot_object].add(modified_property(spec.hubspot_object))
    return {obj: sorted(names) for obj, names in fields.items()}


def _metadata_fresh(con: duckdb.DuckDBPyConnection, system: str, obj: str) -> bool:
    row = con.execute("SELECT max(refreshed_at) FROM sync.metadata WHERE system = ? AND object = ?",
                      [system, obj]).fetchone()
    return bool(row and row[0] and row[0] > dt.datetime.now(dt.UTC) - METADATA_TTL)


def extract_salesforce(con, sf: SalesforceConnector, obj: str, fields: list[str], overlap: dt.timedelta,
                       run_id: str) -> dict:
    """Read changes (deletes included) since the cursor into raw_salesforce; refresh describe when stale."""
    if obj != "User" and not _metadata_fresh(con, "salesforce", obj):
        store_salesforce_metadata(con, sf.describe(obj))
    cursor = read_cursor(con, "salesforce", obj)
    started = dt.datetime.now(dt.UTC)
    rows = 0
    for page in sf.extract(obj, fields, since=cursor.cursor_at, overlap=overlap, settled_until=started - overlap):
        rows += stage(con, "salesforce", obj, salesforce_frame(page, fields), run_id)
    after = advance_cursor(con, "salesforce", obj, run_id, read_started=started)
    return {"rows_read": rows, "cursor": str(after.cursor_at), "full_read": cursor.cursor_at is None}


def _association_value(ids: list[str] | None) -> str | None:
    """An association as stored: the sorted set "id;id" (a single-valued association reads its first member)."""
    return ";".join(sorted(set(ids), key=int)) if ids else None


def extract_hubspot(con, hs: HubSpotConnector, obj: str, properties: list[str], settings: SyncSettings,
                    run_id: str, salesforce_id_property: str) -> dict:
    """Read changes since the cursor into raw_hubspot (archived records on the first read and every
    `hubspot_deletes_minutes` after: they can only be listed whole).

    Associations: a contact's primary company comes as a property. Others come with the first read (listed
    with the records), for the records an incremental read found (v4 batch read; `association_reads` "new":
    those seen for the first time, "changed": all), and from a sweep every `association_sweep_minutes` (None:
    never) that lists every record's associations and marks the records whose associations changed, since
    HubSpot does not move a record's last-modified time for an association change alone.
    """
    overlap = dt.timedelta(seconds=settings.overlap_seconds)
    deletes_every = dt.timedelta(minutes=settings.hubspot_deletes_minutes)
    sweep = None if settings.association_sweep_minutes is None else dt.timedelta(
        minutes=settings.association_sweep_minutes)
    if not _metadata_fresh(con, "hubspot", obj):
        hs.ensure_property(obj, salesforce_id_property, "Salesforce Id", unique=True)
        store_hubspot_metadata(con, obj, hs.properties(obj))
    modified = modified_property(obj)
    associations = [p for p in properties if p.startswith(ASSOCIATION_PREFIX)]
    # An association HubSpot also keeps as a property (a contact's primary company) comes with the records.
    by_property = {column: PRIMARY_PROPERTIES[key][0] for column in associations
                   if (key := (obj, column.removeprefix(ASSOCIATION_PREFIX))) in PRIMARY_PROPERTIES}
    associations = [c for c in associations if c not in by_property]
    targets = tuple(c.removeprefix(ASSOCIATION_PREFIX) for c in associations)
    properties = [p for p in properties if not p.startswith(ASSOCIATION_PREFIX)]
    wanted = list(dict.fromkeys([*properties, *by_property.values()]))

    def frame(page: list[dict]) -> pd.DataFrame:
        out = hubspot_frame(page, wanted, modified)
        for column, prop in by_property.items():
            out[column] = out[prop]
        if page and "associations" in page[0]:
            for column, to_type in zip(associations, targets, strict=True):
                out[column] = [_association_value(r["associations"].get(to_type)) for r in page]
        return out.drop(columns=[p for p in wanted if p not in properties])

    cursor = read_cursor(con, "hubspot", obj)
    full = cursor.cursor_at is None
    started = dt.datetime.now(dt.UTC)
    rows = 0
    for page in hs.extract(obj, wanted, since=cursor.cursor_at, overlap=overlap, settled_until=started - overlap,
                           associations=targets if full else ()):
        rows += stage(con, "hubspot", obj, frame(page), run_id)
    archived = read_cursor(con, "hubspot", obj + "#archived")
    now = dt.datetime.now(dt.UTC)
    if archived.cursor_at is None or now - archived.cursor_at >= deletes_every:
        for page in hs.extract_archived(obj, wanted):
            rows += stage(con, "hubspot", obj, frame(page), run_id)
        advance_cursor(con, "hubspot", obj + "#archived", run_id, read_started=now)
    after = advance_cursor(con, "hubspot", obj, run_id, read_started=started)
    stats = {"rows_read": rows, "cursor": str(after.cursor_at), "full_read": full}
    if not associations:
        return stats
    swept = read_cursor(con, "hubspot", obj + "#associations").cursor_at
    if full:  # the first read listed them all
        advance_cursor(con, "hubspot", obj + "#associations", run_id, read_started=started)
    elif sweep is not None and (swept is None or now - swept >= sweep):
        changed = 0
        for page in hs.list_associations(obj, targets):
            values = pd.DataFrame({"id": [r["id"] for r in page]} | {
                column: [_association_value(r["associations"].get(to_type)) for r in page]
                for column, to_type in zip(associations, targets, strict=True)})
            changed += refresh_columns(con, "hubspot", obj, values, run_id)
        advance_cursor(con, "hubspot", obj + "#associations", run_id, read_started=now)
        stats["association_sweep_changed"] = changed
    else:
        # Search returns no associations: read them for the records found (100 ids a call).
        ids = changed_ids(con, "hubspot", obj, run_id, new_only=settings.association_reads == "new")
        for column, to_type in zip(associations, targets, strict=True):
            found = hs.read_associations(obj, to_type, ids) if ids else {}
            set_column(con, "hubspot", obj, column,
                       pd.DataFrame({"id": ids, "value": [_association_value(found.get(i)) for i in ids]}), run_id)
        stats["association_reads"] = len(ids) * len(associations)
    return stats


def extract_owners(con, hs: HubSpotConnector, run_id: str) -> dict:
    owners = hs.owners()
    frame = pd.DataFrame({"id": [str(o["id"]) for o in owners], "email": [o.get("email") for o in owners]})
    frame["cursor_at"] = pd.Timestamp.now(tz="UTC")
    frame["modified_at"] = frame["cursor_at"]
    frame["deleted"] = False
    return {"rows_read": stage(con, "hubspot", "owners", frame, run_id)}


def _results_frame(results: list[WriteResult]) -> pd.DataFrame:
    return pd.DataFrame({"op_id": [r.key for r in results], "success": [r.success for r in results],
                         "target_id": [r.target_id for r in results], "error_code": [r.error_code for r in results],
                         "error_message": [r.error_message for r in results],
                         "error_fields": [r.error_fields for r in results]})


def _send(connector, target: str, spec: PairSpec, ops: pd.DataFrame) -> list[WriteResult]:
    results: list[WriteResult] = []
    for (obj, action), group in ops.groupby(["object", "action"], sort=False):
        keys, ids, payloads = list(group["op_id"]), list(group["target_id"]), list(group["payload"])
        if action == "create":
            key_field = spec.sf_external_id if target == "salesforce" else spec.hs_salesforce_id
            results += connector.upsert(obj, key_field, list(zip(keys, payloads, strict=True)))
        elif action == "update":
            results += connector.update(obj, list(zip(keys, ids, payloads, strict=True)))
        elif action == "delete":
            if target == "salesforce":
                results += connector.delete(list(zip(keys, ids, strict=True)))
            else:
                results += connector.archive(obj, list(zip(keys, ids, strict=True)))
    return results


def _split_associations(ops: pd.DataFrame) -> dict[str, dict]:
    """Take association pseudo-properties out of HubSpot payloads: {op_id: {to_type: to_id or None}}."""
    moves: dict[str, dict] = {}
    for op_id, payload in zip(ops["op_id"], ops["payload"], strict=True):
        for key in [k for k in payload if k.startswith(ASSOCIATION_PREFIX)]:
            moves.setdefault(op_id, {})[key.removeprefix(ASSOCIATION_PREFIX)] = payload.pop(key) or None
    return moves


def _move_associations(con, hs: HubSpotConnector, spec: PairSpec, moves: dict, results: list[WriteResult]) -> None:
    """After HubSpot accepted a write, point its association where the plan said (old one removed)."""
    ok = {r.key: r.target_id for r in results if r.success}
    adds: dict[str, list] = {}
    drops: dict[str, list] = {}
    obj = spec.hubspot_object
    sets = {m.association_target for m in spec.config.fields if m.type == "association_set"}
    current = f"raw_hubspot.{quote(obj + '_current')}"
    for to_type in {t for targets in moves.values() for t in targets}:
        column = quote(ASSOCIATION_PREFIX + to_type)
        records = [ok[op] for op in moves if op in ok]
        held = dict(con.execute(f"SELECT id, {column} FROM {current} WHERE id IN (SELECT unnest(?))",
                                [records]).fetchall()) if records else {}
        for op_id, targets in moves.items():
            if op_id not in ok or to_type not in targets:
                continue
            record = ok[op_id]
            old = set(filter(None, (held.get(record) or "").split(";")))
            new = set(filter(None, (targets[to_type] or "").split(";")))
            if to_type not in sets:
                old = set(sorted(old, key=int)[:1])  # a single-valued association replaces its first member
            if (obj, to_type) in PRIMARY_PROPERTIES and new:
                old = set()  # HubSpot moves the primary label; the former company stays associated, unlabeled
            drops.setdefault(to_type, []).extend((record, o) for o in sorted(old - new))
            adds.setdefault(to_type, []).extend((record, n) for n in sorted(new - old))
    for to_type, pairs in drops.items():
        if pairs:
            hs.dissociate(obj, to_type, pairs)
    for to_type, pairs in adds.items():
        if pairs:
            primary = PRIMARY_PROPERTIES.get((obj, to_type))
            hs.associate(obj, to_type, pairs, type_id=primary[1] if primary else None)


def _split_child_sets(ops: pd.DataFrame, spec: PairSpec) -> dict[str, dict]:
    """Take Salesforce child-set pseudo-fields (OpportunityContactRole) out of payloads: {op_id: {child: ids}}."""
    moves: dict[str, dict] = {}
    for op_id, payload in zip(ops["op_id"], ops["payload"], strict=True):
        for child in spec.salesforce_children:
            if child in payload:
                moves.setdefault(op_id, {})[child] = payload.pop(child)
    return moves


def _move_child_sets(con, sf: SalesforceConnector, spec: PairSpec, moves: dict,
                     results: list[WriteResult]) -> list[WriteResult]:
    """After the parent write, make its child rows (contact roles) the planned set: create and delete."""
    ok = {r.key: r.target_id for r in results if r.success}
    extra: list[WriteResult] = []
    for child, (parent_field, member_field, *_) in spec.salesforce_children.items():
        parents = [ok[op] for op in moves if op in ok and child in moves[op]]
        if not parents:
            continue
        rows = con.execute(f"""SELECT id, {quote(parent_field)}, {quote(member_field)} FROM
            raw_salesforce.{quote(child + '_current')} WHERE NOT deleted AND {quote(parent_field)} IN
            (SELECT unnest(?))""", [parents]).fetchall()
        held: dict[str, dict[str, str]] = {}
        for row_id, parent, member in rows:
            held.setdefault(parent, {})[member] = row_id
        creates, deletes = [], []
        for op_id, sets in moves.items():
            if op_id not in ok or child not in sets:
                continue
            parent = ok[op_id]
            wanted = set(filter(None, (sets[child] or "").split(";")))
            have = held.get(parent, {})
            creates += [(f"{op_id}:+{m}", {parent_field: parent, member_field: m}) for m in sorted(wanted - set(have))]
            deletes += [(f"{op_id}:-{m}", have[m]) for m in sorted(set(have) - wanted)]
        if creates:
            extra += sf.create(child, creates)
        if deletes:
            extra += sf.delete(deletes)
    return extra


def load_pair(con, connector, target: str, spec: PairSpec, max_attempts: int, run_id: str) -> dict:
    """Drain one pair's outbox toward one CRM, recording answers chunk by chunk."""
    ops = ops_to_send(con, spec.name, target, max_attempts)
    sent = failed = links = 0
    for start in range(0, len(ops), LOAD_CHUNK):
        chunk = ops.iloc[start:start + LOAD_CHUNK]
        moves = _split_associations(chunk) if target == "hubspot" else _split_child_sets(chunk, spec)
        results = _send(connector, target, spec, chunk)
        if moves and target == "hubspot":
            _move_associations(con, connector, spec, moves, results)
        elif moves:
            # A contact role the org refused fails its parent op, so the set is planned and tried again.
            refused = {r.key.split(":")[0]: r for r in _move_child_sets(con, connector, spec, moves, results)
                       if not r.success}
            results = [dataclasses.replace(refused[r.key], key=r.key, target_id=r.target_id) if r.key in refused
                       else r for r in results]
        outcome = record_results(con, _results_frame(results), run_id)
        sent, failed, links = sent + outcome.sent, failed + outcome.failed, links + outcome.links_made
    by_action = ops.groupby("action").size().to_dict() if not ops.empty else {}
    return {"ops": len(ops), "sent": sent, "rejected": failed, "links_made": links,
            **{f"{k}s": int(v) for k, v in by_action.items()}}
