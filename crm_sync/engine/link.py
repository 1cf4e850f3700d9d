"""Identity: keep sync.links one-to-one through conversions and merges, and match new records deterministically.

Order for unlinked records: stored cross-ids, then the normalised natural key (email for people, domain for
companies). A key shared by more than one unlinked record on either side is never auto-linked; it is
reported in sync.link_candidates with the candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from crm_sync.engine.db import NEXT_POSITION, Binds, quote, transaction
from crm_sync.engine.mapping import HS_MERGED, NORMALISE, PairSpec
from crm_sync.engine.staging import ensure_tables


@dataclass
class LinkResult:
    by_stored_id: int = 0
    by_key: int = 0
    moved_conversion: int = 0
    moved_merge: int = 0
    ambiguous: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _col(con, system: str, obj: str, column: str, alias: str) -> str:
    have = con.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
                       "AND column_name = ?", [f"raw_{system}", obj + "_current", column]).fetchone()[0]
    return f"{quote(column)} AS {alias}" if have else f"NULL::VARCHAR AS {alias}"


def build_sides(con: duckdb.DuckDBPyConnection, spec: PairSpec) -> None:
    """Temp tables _hs and _sf: each side's records with match key, cross id, merge and conversion facts."""
    # Objects and fields not extracted yet (or configured since) get empty tables and columns.
    ensure_tables(con, "hubspot", spec.hubspot_object, list(spec.hubspot_properties))
    for obj in spec.salesforce_objects:
        ensure_tables(con, "salesforce", obj, list(spec.salesforce_fields[obj]))
    for child, fields in spec.salesforce_children.items():
        ensure_tables(con, "salesforce", child, list(fields))
    norm = NORMALISE.get(spec.match_kind or "", "NULL::VARCHAR")
    hs_obj = spec.hubspot_object
    hs_key = norm.format(x=quote(spec.hs_match_field)) if spec.hs_match_field else "NULL::VARCHAR"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _hs AS SELECT id, deleted, {hs_key} AS mkey,
                    {_col(con, 'hubspot', hs_obj, spec.hs_salesforce_id, 'xid')},
                    {_col(con, 'hubspot', hs_obj, HS_MERGED, 'merged')}
                    FROM raw_hubspot.{quote(hs_obj + '_current')}""")
    # A merged-away HubSpot record is never returned again by search, so its last version still looks live;
    # the survivor's hs_merged_object_ids says it is gone (also once the survivor itself is deleted: a merged-away
    # id never comes back).
    con.execute("""UPDATE _hs SET deleted = true WHERE NOT deleted AND id IN (
        SELECT trim(u.loser) FROM _hs h, unnest(string_split(h.merged, ';')) AS u(loser)
        WHERE h.merged IS NOT NULL AND trim(u.loser) <> h.id)""")
    parts, b = [], Binds()
    for obj in spec.salesforce_objects:
        key = spec.sf_match_fields.get(obj)
        sf_key = norm.format(x=quote(key)) if key else "NULL::VARCHAR"
        parts.append(f"""SELECT {b(obj)} AS object, id, deleted, {sf_key} AS mkey,
            {_col(con, 'salesforce', obj, spec.sf_external_id, 'xid')},
            {_col(con, 'salesforce', obj, 'MasterRecordId', 'master')},
            {_col(con, 'salesforce', obj, 'ConvertedContactId', 'converted')}
            FROM raw_salesforce.{quote(obj + '_current')}""")
    b.execute(con, "CREATE OR REPLACE TEMP TABLE _sf AS " + " UNION ALL ".join(parts))


def link_pair(con: duckdb.DuckDBPyConnection, spec: PairSpec, run_id: str, by_key: bool = True) -> LinkResult:
    """Update sync.links for one pair from the current tables; all in one transaction.

    by_key False (a backfill with partitions unread): no match by natural key yet, since a record not read
    yet could make the key ambiguous; stored cross-ids link at once."""
    result = LinkResult()
    build_sides(con, spec)
    p = spec.name
    with transaction(con):
        _settle_observed_merges(con, p)
        result.moved_conversion = _move_conversions(con, p, run_id)
        result.moved_merge = _move_salesforce_merges(con, spec, run_id) + _move_hubspot_merges(con, spec, run_id)
        result.by_stored_id = _link_stored_ids(con, p, run_id)
        result.by_key, result.ambiguous = _link_by_key(con, p, run_id) if spec.match_kind and by_key else (0, 0)
    return result


def _move(con, p: str, run_id: str, moves_sql: str, how: str) -> int:
    """Apply (hubspot_id, new_hubspot_id, new_object, new_salesforce_id) moves whose targets are free."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _moves AS {moves_sql}", {"pair": p})
    # A target already linked elsewhere keeps its link; the moving link stays and is reported (once).
    con.execute("""INSERT INTO sync.link_candidates (run_id, pair, system, record_id, match_key, candidates, reason)
        SELECT ?, ?, 'both', m.hubspot_id, m.new_salesforce_id, [l.hubspot_id], ? || ': target already linked'
        FROM _moves m JOIN sync.links l ON l.pair = ? AND l.hubspot_id <> m.hubspot_id
          AND (l.salesforce_id = m.new_salesforce_id OR l.hubspot_id = m.new_hubspot_id)
        WHERE NOT EXISTS (SELECT 1 FROM sync.link_candidates c WHERE c.pair = ? AND c.record_id = m.hubspot_id
                          AND c.match_key = m.new_salesforce_id AND c.reason = ? || ': target already linked')""",
                [run_id, p, how, p, p, how])
    con.execute("""CREATE OR REPLACE TEMP TABLE _moves_ok AS SELECT m.* FROM _moves m WHERE NOT EXISTS (
        SELECT 1 FROM sync.links l WHERE l.pair = ? AND l.hubspot_id <> m.hubspot_id
          AND (l.salesforce_id = m.new_salesforce_id OR l.hubspot_id = m.new_hubspot_id))
        QUALIFY row_number() OVER (PARTITION BY new_salesforce_id ORDER BY hubspot_id) = 1
            AND row_number() OVER (PARTITION BY new_hubspot_id ORDER BY hubspot_id) = 1""", [p])
    return _apply_moves(con, p, run_id, how)


def _apply_moves(con, p: str, run_id: str, how: str) -> int:
    """Move the links in _moves_ok (hubspot_id -> new_hubspot_id, new_object, new_salesforce_id)."""
    moved = con.execute("SELECT count(*) FROM _moves_ok").fetchone()[0]
    if moved:
        con.execute("""UPDATE sync.shadow s SET hubspot_id = m.new_hubspot_id FROM _moves_ok m
                       WHERE s.pair = ? AND s.hubspot_id = m.hubspot_id AND m.new_hubspot_id <> m.hubspot_id""", [p])
        con.execute("DELETE FROM sync.links WHERE pair = ? AND hubspot_id IN (SELECT hubspot_id FROM _moves_ok)", [p])
        con.execute(f"""INSERT INTO sync.links (pair, hubspot_id, salesforce_object, salesforce_id, linked_by, run_id,
                       position) SELECT ?, new_hubspot_id, new_object, new_salesforce_id, ?, ?, {NEXT_POSITION}
                       FROM _moves_ok""",
                    [p, how, run_id])
    return moved


def _move_conversions(con, p: str, run_id: str) -> int:
    return _move(con, p, run_id, """SELECT l.hubspot_id, l.hubspot_id AS new_hubspot_id, 'Contact' AS new_object,
        s.converted AS new_salesforce_id FROM sync.links l JOIN _sf s ON s.object = 'Lead' AND s.id = l.salesforce_id
        WHERE l.pair = $pair AND l.salesforce_object = 'Lead' AND s.converted IS NOT NULL""", "lead_conversion")


def _move_salesforce_merges(con, spec: PairSpec, run_id: str) -> int:
    # A loser is deleted with MasterRecordId; the link of a loser whose HubSpot record has the master's key is
    # the one to keep (else the lowest HubSpot id).
    return _merge(con, spec, run_id, """SELECT l.hubspot_id, l.hubspot_id AS new_hubspot_id, l.salesforce_object AS
        new_object, s.master AS new_salesforce_id, 'hubspot' AS redundant_system, l.hubspot_id AS redundant_id,
        l.salesforce_id AS loser_id, (h.mkey IS NOT DISTINCT FROM m.mkey AND h.mkey IS NOT NULL) AS primary_match,
        s.master AS survivor
        FROM sync.links l JOIN _sf s ON s.id = l.salesforce_id LEFT JOIN _sf m ON m.id = s.master
        LEFT JOIN _hs h ON h.id = l.hubspot_id
        WHERE l.pair = $pair AND s.deleted AND s.master IS NOT NULL""", "salesforce_merge")


def _move_hubspot_merges(con, spec: PairSpec, run_id: str) -> int:
    # The survivor lists the merged ids in hs_merged_object_ids ("123;456"); with a new survivor id both old ids are
    # listed, and the merge's primary is the one whose key (email, domain) the survivor kept.
    return _merge(con, spec, run_id, """SELECT l.hubspot_id, h.id AS new_hubspot_id, l.salesforce_object AS new_object,
        l.salesforce_id AS new_salesforce_id, 'salesforce' AS redundant_system, l.salesforce_id AS redundant_id,
        l.hubspot_id AS loser_id, (o.mkey IS NOT DISTINCT FROM h.mkey AND h.mkey IS NOT NULL) AS primary_match,
        h.id AS survivor
        FROM _hs h, unnest(string_split(h.merged, ';')) AS u(loser)
        JOIN sync.links l ON l.pair = $pair AND l.hubspot_id = trim(u.loser) LEFT JOIN _hs o ON o.id = l.hubspot_id
        WHERE NOT h.deleted AND h.merged IS NOT NULL AND trim(u.loser) <> h.id""", "hubspot_merge")


def _settle_observed_merges(con, p: str) -> None:
    """A merge op (merges: propagate) whose merge the CRM shows done is done, whether or not its answer was
    recorded (a run killed between the CRM's answer and its recording): sending it again would only fail (the
    loser is gone). HubSpot shows it in a survivor's hs_merged_object_ids, Salesforce as a deleted loser whose
    MasterRecordId is the kept record."""
    con.execute("""CREATE OR REPLACE TEMP TABLE _merged_seen AS SELECT o.op_id, o.target_id FROM sync.outbox o
        WHERE o.pair = ? AND o.action = 'merge' AND o.status IN ('pending', 'failed') AND (
            (o.target = 'hubspot' AND EXISTS (SELECT 1 FROM _hs h WHERE h.merged IS NOT NULL
                AND list_contains(string_split(h.merged, ';'), o.payload ->> 'merge_id')
                AND (h.id = o.target_id OR list_contains(string_split(h.merged, ';'), o.target_id))))
            OR (o.target = 'salesforce' AND EXISTS (SELECT 1 FROM _sf s WHERE s.id = o.payload ->> 'merge_id'
                AND s.deleted AND s.master = o.target_id)))""", [p])
    con.execute("""UPDATE sync.outbox o SET status = 'sent', last_error = NULL, updated_at = now()
        FROM _merged_seen m WHERE o.op_id = m.op_id""")
    con.execute("""UPDATE sync.duplicates d SET resolution = 'merged into ' || m.target_id FROM _merged_seen m
        WHERE d.op_id = m.op_id""")
    con.execute("""UPDATE sync.errors e SET resolved_at = now() WHERE e.resolved_at IS NULL
        AND e.op_id IN (SELECT op_id FROM _merged_seen)""")


def _merge(con, spec: PairSpec, run_id: str, moves_sql: str, how: str) -> int:
    """Links of merged records: the survivor keeps one link (the survivor's own, else the merge primary's);
    every other link of the merge would point at a deleted record, so it is removed and its counterpart, now
    redundant, is reported in sync.duplicates with both ids (and tombstoned, so it is not created again).
    With `merges: propagate` the redundant counterpart is also merged into the kept one on its side, by an
    outbox op (action 'merge', target_id the kept record, payload {"merge_id": the redundant one})."""
    p = spec.name
    con.execute(f"CREATE OR REPLACE TEMP TABLE _merges AS {moves_sql}", {"pair": p})
    if not con.execute("SELECT count(*) FROM _merges").fetchone()[0]:
        return 0  # no merge seen: the statements below would each find nothing (and cost some 20 ms together)
    # Per survivor, the link to keep: one already on the survivor wins, then the primary's, then the lowest id.
    con.execute("""CREATE OR REPLACE TEMP TABLE _merges_ranked AS SELECT m.*,
            EXISTS (SELECT 1 FROM sync.links k WHERE k.pair = ? AND k.hubspot_id <> m.hubspot_id
                    AND (k.salesforce_id = m.new_salesforce_id OR k.hubspot_id = m.new_hubspot_id)) AS taken,
            row_number() OVER (PARTITION BY m.survivor ORDER BY m.primary_match DESC, m.hubspot_id) AS rank
        FROM _merges m""", [p])
    con.execute("""CREATE OR REPLACE TEMP TABLE _moves_ok AS SELECT hubspot_id, new_hubspot_id, new_object,
        new_salesforce_id FROM _merges_ranked WHERE NOT taken AND rank = 1""")
    con.execute("""CREATE OR REPLACE TEMP TABLE _redundant AS SELECT r.*, COALESCE(
            (SELECT CASE r.redundant_system WHEN 'hubspot' THEN k.hubspot_id ELSE k.salesforce_id END
             FROM sync.links k WHERE k.pair = ? AND k.hubspot_id <> r.hubspot_id
               AND (k.salesforce_id = r.new_salesforce_id OR k.hubspot_id = r.new_hubspot_id) LIMIT 1),
            (SELECT CASE r.redundant_system WHEN 'hubspot' THEN w.hubspot_id ELSE w.new_salesforce_id END
             FROM _moves_ok w WHERE w.new_salesforce_id = r.new_salesforce_id OR w.new_hubspot_id = r.new_hubspot_id
             LIMIT 1)) AS kept_id,
            COALESCE(
            (SELECT k.salesforce_object FROM sync.links k WHERE k.pair = ? AND k.hubspot_id <> r.hubspot_id
               AND (k.salesforce_id = r.new_salesforce_id OR k.hubspot_id = r.new_hubspot_id) LIMIT 1),
            (SELECT w.new_object FROM _moves_ok w
             WHERE w.new_salesforce_id = r.new_salesforce_id OR w.new_hubspot_id = r.new_hubspot_id LIMIT 1))
            AS kept_object,
            md5('merge|' || ? || '|' || r.redundant_system || '|' || r.redundant_id) AS merge_op_id
        FROM _merges_ranked r WHERE r.taken OR r.rank > 1""", [p, p, p])
    propagate = spec.config.merges == "propagate"
    # Salesforce merges records of one object only: a Lead is not merged into a Contact (convert it instead).
    con.execute("""CREATE OR REPLACE TEMP TABLE _to_merge AS SELECT * FROM _redundant WHERE ? AND kept_id IS NOT NULL
        AND (redundant_system = 'hubspot' OR COALESCE(kept_object, new_object) = new_object)""", [propagate])
    con.execute("""INSERT INTO sync.duplicates (pair, system, record_id, duplicate_of, merged_record, reason, run_id,
            resolution, op_id)
        SELECT ?, redundant_system, redundant_id, kept_id, loser_id, ? || ': its counterpart was merged into the '
               || 'record linked to ' || kept_id, ?,
               CASE WHEN merge_op_id IN (SELECT merge_op_id FROM _to_merge) THEN 'merge pending'
                    WHEN ? AND kept_id IS NOT NULL
                    THEN 'reported: a ' || new_object || ' cannot be merged into a ' || kept_object
                    ELSE 'reported' END,
               CASE WHEN merge_op_id IN (SELECT merge_op_id FROM _to_merge) THEN merge_op_id END
        FROM _redundant
        ON CONFLICT (pair, system, record_id) DO UPDATE SET duplicate_of = excluded.duplicate_of,
            reason = excluded.reason, run_id = excluded.run_id, reported_at = now(),
            resolution = excluded.resolution, op_id = excluded.op_id""", [p, how, run_id, propagate])
    con.execute("""INSERT INTO sync.tombstones (pair, system, record_id, reason, run_id)
        SELECT ?, redundant_system, redundant_id, 'duplicate after ' || ?, ? FROM _redundant
        ON CONFLICT DO NOTHING""", [p, how, run_id])
    # Open writes to or from the redundant record would land on a record about to go (or already gone).
    con.execute("""UPDATE sync.outbox o SET status = 'superseded', updated_at = now() FROM _redundant r
        WHERE o.pair = ? AND o.status IN ('pending', 'failed', 'invalid') AND o.action <> 'merge'
          AND ((o.target = r.redundant_system AND o.target_id = r.redundant_id)
            OR (o.target <> r.redundant_system AND o.record_key = r.redundant_id))""", [p])
    con.execute("""INSERT INTO sync.outbox (op_id, run_id, pair, target, object, action, sf_object, record_key,
            target_id, payload, reason, status)
        SELECT merge_op_id, ?, ?, redundant_system,
               CASE redundant_system WHEN 'hubspot' THEN ? ELSE new_object END, 'merge', new_object,
               redundant_id, kept_id, json_object('merge_id', redundant_id),
               ? || ' on the other side: merge the counterparts too (merges: propagate)', 'pending'
        FROM _to_merge ON CONFLICT (op_id) DO NOTHING""", [run_id, p, spec.hubspot_object, how])
    con.execute("DELETE FROM sync.shadow WHERE pair = ? AND hubspot_id IN (SELECT hubspot_id FROM _redundant)", [p])
    con.execute("DELETE FROM sync.links WHERE pair = ? AND hubspot_id IN (SELECT hubspot_id FROM _redundant)", [p])
    return _apply_moves(con, p, run_id, how)


def free_records(con, p: str) -> None:
    """Temp tables _hs_free / _sf_free: live records on each side that no link holds (tombstoned ones aside)."""
    con.execute("""CREATE OR REPLACE TEMP TABLE _hs_free AS SELECT * FROM _hs h WHERE NOT h.deleted
        AND NOT EXISTS (SELECT 1 FROM sync.links l WHERE l.pair = ? AND l.hubspot_id = h.id)""", [p])
    con.execute("""CREATE OR REPLACE TEMP TABLE _sf_free AS SELECT * FROM _sf s WHERE NOT s.deleted
        AND s.converted IS NULL AND NOT EXISTS (SELECT 1 FROM sync.links l WHERE l.pair = ? AND l.salesforce_id = s.id)
        """, [p])
    con.execute("""CREATE OR REPLACE TEMP TABLE _tombstoned AS SELECT system, record_id FROM sync.tombstones
        WHERE pair = ?""", [p])


def _link_stored_ids(con, p: str, run_id: str) -> int:
    free_records(con, p)
    # Either side may carry the other's id (we write both after linking); both must still be free.
    con.execute("""CREATE OR REPLACE TEMP TABLE _id_matches AS
        WITH pairs AS (  -- two equality joins, not one OR join (which DuckDB runs as a nested loop)
            SELECT h.id AS hubspot_id, s.object, s.id AS salesforce_id FROM _hs_free h JOIN _sf_free s ON s.xid = h.id
            UNION
            SELECT h.id, s.object, s.id FROM _hs_free h JOIN _sf_free s ON h.xid = s.id)
        SELECT * FROM pairs
        QUALIFY count(*) OVER (PARTITION BY hubspot_id) = 1 AND count(*) OVER (PARTITION BY salesforce_id) = 1""")
    con.execute(f"""INSERT INTO sync.links (pair, hubspot_id, salesforce_object, salesforce_id, linked_by, run_id,
                   position) SELECT ?, hubspot_id, object, salesforce_id, 'stored_id', ?, {NEXT_POSITION}
                   FROM _id_matches""", [p, run_id])
    return con.execute("SELECT count(*) FROM _id_matches").fetchone()[0]


def _link_by_key(con, p: str, run_id: str) -> tuple[int, int]:
    free_records(con, p)
    con.execute("""CREATE OR REPLACE TEMP TABLE _keys AS
        SELECT mkey, COALESCE(list(DISTINCT h_id) FILTER (WHERE h_id IS NOT NULL), []) AS hs_ids,
               COALESCE(list(DISTINCT s_key) FILTER (WHERE s_key IS NOT NULL), []) AS sf_keys
        FROM (SELECT mkey, id AS h_id, NULL AS s_key FROM _hs_free WHERE mkey IS NOT NULL
              UNION ALL SELECT mkey, NULL, object || ':' || id FROM _sf_free WHERE mkey IS NOT NULL)
        GROUP BY mkey HAVING len(hs_ids) + len(sf_keys) >= 2""")
    linked = con.execute(f"""INSERT INTO sync.links (pair, hubspot_id, salesforce_object, salesforce_id, linked_by,
        run_id, position) SELECT ?, hs_ids[1], split_part(sf_keys[1], ':', 1), split_part(sf_keys[1], ':', 2),
        'match_key', ?, {NEXT_POSITION} FROM _keys WHERE len(hs_ids) = 1 AND len(sf_keys) = 1""",
                         [p, run_id]).fetchone()[0]
    ambiguous = con.execute("""INSERT INTO sync.link_candidates (run_id, pair, system, record_id, match_key,
        candidates, reason) SELECT ?, ?, CASE WHEN len(hs_ids) > 1 THEN 'hubspot' ELSE 'salesforce' END,
        CASE WHEN len(hs_ids) > 1 THEN COALESCE(sf_keys[1], '') ELSE hs_ids[1] END, mkey,
        CASE WHEN len(hs_ids) > 1 THEN hs_ids ELSE sf_keys END, 'ambiguous: one key, several records'
        FROM _keys k WHERE (len(hs_ids) > 1 OR len(sf_keys) > 1) AND NOT EXISTS (
            -- reported once per key and set of candidates, not on every cycle
            SELECT 1 FROM sync.link_candidates c WHERE c.pair = ? AND c.match_key = k.mkey
              AND list_sort(c.candidates) = list_sort(CASE WHEN len(k.hs_ids) > 1 THEN k.hs_ids ELSE k.sf_keys END))
        """, [run_id, p, p]).fetchone()[0]
    return linked, ambiguous


def ambiguous_keys(con: duckdb.DuckDBPyConnection, spec: PairSpec) -> None:
    """Temp table _ambiguous(system, id): unlinked records whose key is shared, so they are not created either."""
    con.execute("""CREATE OR REPLACE TEMP TABLE _ambiguous AS
        SELECT 'hubspot' AS system, id FROM _hs_free WHERE mkey IN (
            SELECT mkey FROM (SELECT mkey FROM _hs_free UNION ALL SELECT mkey FROM _sf_free) WHERE mkey IS NOT NULL
            GROUP BY mkey HAVING count(*) > 1)
        UNION ALL
        SELECT 'salesforce', id FROM _sf_free WHERE mkey IN (
            SELECT mkey FROM (SELECT mkey FROM _hs_free UNION ALL SELECT mkey FROM _sf_free) WHERE mkey IS NOT NULL
            GROUP BY mkey HAVING count(*) > 1)""")
