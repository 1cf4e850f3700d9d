"""`crm-sync explain <email | HubSpot id | Salesforce id>`: which record it is on each side, linked to what and
how, and if not in sync, why; the last synced values per field; what the next load sends to it.

Everything comes from the state file (the records as last read, links, shadow, outbox, errors, exclusions,
tombstones, ambiguous matches): no API call.
"""

from __future__ import annotations

import duckdb

from crm_sync.engine.db import quote, tables
from crm_sync.engine.mapping import PairSpec
from crm_sync.engine.outbox import DUE

LINKED_BY = {"stored_id": "the cross-ids the records hold", "match_key": "their matching key (normalised email or "
             "domain)", "created": "the sync created one from the other", "converted": "a lead conversion moved the "
             "link", "merged": "a merge moved the link"}


def _rows(con, sql: str, params: list) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def find(con, specs: list[PairSpec], key: str) -> list[dict]:
    """The records `key` names: (pair, system, object, id, email) for a record id, or every person with the
    email."""
    present, found = tables(con), []
    for spec in specs:
        sides = [("hubspot", spec.hubspot_object, spec.hs_match_field if spec.match_kind == "email" else None)]
        sides += [("salesforce", o, spec.sf_match_fields.get(o) if spec.match_kind == "email" else None)
                  for o in spec.salesforce_objects]
        for system, obj, email in sides:
            if (f"raw_{system}", f"{obj}_current") not in present:
                continue
            by_email = f" OR lower(trim({quote(email)})) = lower(trim(?))" if email else ""
            params = [key, key] if email else [key]
            email_col = quote(email) if email else "NULL"
            for r in con.execute(f"""SELECT id, {email_col}, deleted FROM raw_{system}.{quote(obj + '_current')}
                    WHERE id = ?{by_email}""", params).fetchall():
                found.append({"pair": spec.name, "system": system, "object": obj, "id": r[0], "email": r[1],
                              "deleted": bool(r[2])})
    return found


def explain(con: duckdb.DuckDBPyConnection, specs: list[PairSpec], key: str, max_attempts: int) -> list[dict]:
    """One entry per record `key` names (an id on either side, or an email): its counterpart, how they are linked,
    the reasons it is not in sync, the last synced values and the writes due to it or its counterpart."""
    by_name = {s.name: s for s in specs}
    out = []
    seen = set()
    for rec in find(con, specs, key):
        spec = by_name[rec["pair"]]
        col = "hubspot_id" if rec["system"] == "hubspot" else "salesforce_id"
        link = _rows(con, f"SELECT * FROM sync.links WHERE pair = ? AND {col} = ?", [spec.name, rec["id"]])
        link = link[0] if link else None
        if link and (spec.name, link["hubspot_id"]) in seen:
            continue  # the other side of a link already explained
        if link:
            seen.add((spec.name, link["hubspot_id"]))
        ids = [link["hubspot_id"], link["salesforce_id"]] if link else [rec["id"]]
        reasons = []
        if rec["deleted"]:
            reasons.append(f"deleted in {rec['system']}")
        for t in _rows(con, "SELECT system, record_id, reason FROM sync.tombstones WHERE pair = ? AND "
                            "list_contains(?, record_id)", [spec.name, ids]):
            reasons.append(f"tombstone: {t['system']} {t['record_id']} is not synced again ({t['reason']})")
        for x in _rows(con, "SELECT system, record_id, reason FROM sync.exclusions WHERE pair = ? AND "
                            "list_contains(?, record_id)", [spec.name, ids]):
            reasons.append(f"{x['system']} {x['record_id']} is {x['reason']}")
        keyed = f"{rec['object']}:{rec['id']}"
        for c in _rows(con, """SELECT match_key, candidates, reason FROM sync.link_candidates WHERE pair = ?
                AND (record_id IN (?, ?) OR list_contains(candidates, ?) OR list_contains(candidates, ?))
                ORDER BY reported_at DESC LIMIT 1""", [spec.name, rec["id"], keyed, rec["id"], keyed]):
            if not link:
                reasons.append(f"ambiguous match on {c['match_key']}: candidates {', '.join(c['candidates'])} "
                               f"({c['reason']}); not linked, nothing created")
        for e in _rows(con, """SELECT kind, system, code, fields, message FROM sync.errors WHERE pair = ?
                AND resolved_at IS NULL AND list_contains(?, record_id) ORDER BY last_seen""", [spec.name, ids]):
            reasons.append(f"{e['kind']} error on {e['system']} field {e['fields'] or '(record)'}: "
                           f"{e['code']} - {e['message']}")
        for d in _rows(con, "SELECT system, record_id, duplicate_of, reason FROM sync.duplicates WHERE pair = ? "
                            "AND list_contains(?, record_id)", [spec.name, ids]):
            reasons.append(f"duplicate: {d['system']} {d['record_id']} of {d['duplicate_of']} ({d['reason']})")
        # What the next load sends to it or its counterpart (due: now; else waiting for its backoff or its cause)
        pending = _rows(con, f"""SELECT target, object, action, target_id, CAST(payload AS VARCHAR) AS payload,
                reason, status, attempts, last_error, {DUE} AS due FROM sync.outbox
            WHERE pair = $pair AND (list_contains($ids, target_id) OR list_contains($ids, record_key))
              AND status IN ('pending', 'failed', 'invalid') ORDER BY created_at""",
                        {"pair": spec.name, "ids": ids, "max_attempts": max_attempts})
        if pending:
            reasons.append(f"waiting in the outbox: {len(pending)} write(s)")
        if not link and not reasons:
            reasons.append("not linked yet: the next plan links or creates it")
        shadow = {r["field"]: (r["hubspot_value"], r["salesforce_value"]) for r in _rows(
            con, "SELECT field, hubspot_value, salesforce_value FROM sync.shadow WHERE pair = ? AND hubspot_id = ? "
                 "ORDER BY field", [spec.name, link["hubspot_id"]])} if link else {}
        out.append({
            "pair": spec.name, "record": rec,
            "link": ({"hubspot_id": link["hubspot_id"], "salesforce_object": link["salesforce_object"],
                      "salesforce_id": link["salesforce_id"], "linked_by": link["linked_by"],
                      "how": LINKED_BY.get(link["linked_by"], link["linked_by"]), "linked_at": str(link["linked_at"])}
                     if link else None),
            "in_sync": bool(link) and not reasons,
            "reasons": reasons, "last_synced": shadow, "next_writes": pending})
    return out
