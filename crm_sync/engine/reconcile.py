"""Drift: what a reconcile run finds when it compares every linked pair, read whole from both CRMs, with the shadow.

The incremental cycle sees a change only when the CRM stamps the record. A reconcile run (the `reconcile` job,
`crm-sync reconcile`) reads both sides whole and plans every link (plan_pair(full=True)); before deciding, each
linked field whose two sides disagree is written to sync.drift with its cause, and the plan then heals it by the
pair's usual rules (drift rows it wrote an op for are marked healed):

  unstamped_change  one side's value moved away from the shadow while its record kept its version stamp (the
                    whole read found the version it had staged before, with other values: a formula or
                    roll-up field, a silent platform update)
  reverted_write    one side no longer holds the value the sync last wrote there (a user, a trigger or a
                    workflow put it back)
  missed_change     one side changed after the last sync, stamped, and the incremental cycle did not carry it
  both_changed      both sides moved away from the shadow (a conflict the incremental cycle did not see)
  no_shadow         the sides disagree and were never recorded as agreeing
  mapping_changed   neither side moved, yet they disagree: the mapping or a value map changed since the shadow;
                    the shadow is set aside so the pair's rule decides afresh
Disagreements already explained are counted but are not drift: held (an open write or error row names the
field) and waiting_for_link (an association to a record that has no counterpart yet).
"""

from __future__ import annotations

import duckdb

from crm_sync.engine.db import Binds, quote
from crm_sync.engine.mapping import PairSpec

CAUSES = ("unstamped_change", "reverted_write", "missed_change", "both_changed", "no_shadow", "mapping_changed")
EXPLAINED = ("held", "waiting_for_link")


def record_drift(con: duckdb.DuckDBPyConnection, spec: PairSpec, b: Binds, required_pairs: str) -> dict[str, int]:
    """Classify the disagreeing rows of the plan's _vals (every link of the pair) into sync.drift; returns counts
    by cause (explained ones included). required_pairs: (object, field) pairs the sync never clears (a blank
    source leaves the placeholder they were created with)."""
    # Records whose current version replaced one staged earlier with the same stamp (staging.stage does that only
    # when the values differ): their change moved no stamp.
    tables = [("hubspot", spec.hubspot_object), *(("salesforce", o) for o in spec.salesforce_objects)]
    restamped = " UNION ALL ".join(
        f"SELECT {b(system)} AS system, c.id FROM raw_{system}.{quote(obj + '_current')} c "
        f"WHERE EXISTS (SELECT 1 FROM raw_{system}.{quote(obj)} r WHERE r.id = c.id AND r.cursor_at = c.cursor_at "
        f"AND r._position < c._position)" for system, obj in tables)
    b.execute(con, f"CREATE OR REPLACE TEMP TABLE _restamped AS {restamped}")
    agree = f"""(hs_as_sf IS NOT DISTINCT FROM sf_val OR sf_as_hs IS NOT DISTINCT FROM hs_val
        OR (hs_as_sf IS NULL AND (sf_object, sf_field) IN ({required_pairs})))"""
    b.execute(con, f"""CREATE OR REPLACE TEMP TABLE _drift AS
        WITH v AS (SELECT v.*, hs_val IS DISTINCT FROM sh_hs AS hs_moved, sf_val IS DISTINCT FROM sh_sf AS sf_moved
            FROM _vals v WHERE NOT {agree}),
        written AS (  -- fields the sync last wrote, per target record (payload keys are the target's names)
            SELECT a.target, a.target_id, k.key AS field, max(a.sent_at) AS sent_at
            FROM sync.audit a JOIN sync.outbox o USING (op_id), unnest(json_keys(a.payload)) AS k(key)
            WHERE o.pair = $pair AND a.success AND a.action IN ('create', 'update')
            GROUP BY ALL)
        SELECT v.*, CASE
            WHEN EXISTS (SELECT 1 FROM sync.outbox o WHERE o.pair = $pair AND o.status IN ('pending', 'failed',
                         'invalid') AND o.record_key IN (v.hubspot_id, v.salesforce_id)
                         AND (o.field IN (v.hs_field, v.sf_field) OR json_exists(o.payload, '$."' || v.hs_field
                              || '"') OR json_exists(o.payload, '$."' || v.sf_field || '"')))
              OR EXISTS (SELECT 1 FROM sync.errors e WHERE e.pair = $pair AND e.resolved_at IS NULL
                         AND e.record_id IN (v.hubspot_id, v.salesforce_id)
                         AND list_has_any(string_split(COALESCE(e.fields, ''), ','), [v.hs_field, v.sf_field]))
                THEN 'held'
            WHEN contains(COALESCE(hs_val, ''), 'unlinked:') OR contains(COALESCE(sf_val, ''), 'unlinked:')
                THEN 'waiting_for_link'
            WHEN no_shadow THEN 'no_shadow'
            WHEN hs_moved AND sf_moved THEN 'both_changed'
            WHEN NOT hs_moved AND NOT sf_moved THEN 'mapping_changed'
            WHEN EXISTS (SELECT 1 FROM written w WHERE w.field = CASE WHEN hs_moved THEN v.hs_field ELSE v.sf_field END
                         AND w.target = CASE WHEN hs_moved THEN 'hubspot' ELSE 'salesforce' END
                         AND w.target_id = CASE WHEN hs_moved THEN v.hubspot_id ELSE v.salesforce_id END)
                THEN 'reverted_write'
            WHEN (CASE WHEN hs_moved THEN 'hubspot' ELSE 'salesforce' END,
                  CASE WHEN hs_moved THEN v.hubspot_id ELSE v.salesforce_id END) IN (SELECT * FROM _restamped)
                THEN 'unstamped_change'
            ELSE 'missed_change' END AS cause
        FROM v""")
    b.execute(con, """INSERT INTO sync.drift (run_id, pair, hubspot_id, salesforce_object, salesforce_id, field,
            cause, hubspot_value, salesforce_value, shadow_hubspot, shadow_salesforce)
        SELECT $run_id, $pair, hubspot_id, sf_object, salesforce_id, field, cause, hs_val, sf_val, sh_hs, sh_sf
        FROM _drift WHERE cause NOT IN ('held', 'waiting_for_link')""")
    # A mapping that changed under an agreeing shadow: neither side "moved", so let the rule decide afresh.
    con.execute("""UPDATE _vals v SET no_shadow = true FROM _drift d WHERE d.cause = 'mapping_changed'
        AND d.hubspot_id = v.hubspot_id AND d.field = v.field""")
    return dict(con.execute("SELECT cause, count(*) FROM _drift GROUP BY cause ORDER BY cause").fetchall())


def mark_healed(con: duckdb.DuckDBPyConnection, b: Binds) -> int:
    """Drift rows of this run the plan decided to write (the ops carry the fix)."""
    return b.execute(con, """UPDATE sync.drift d SET healed = true FROM _decisions x
        WHERE d.run_id = $run_id AND d.pair = $pair AND d.hubspot_id = x.hubspot_id AND d.field = x.field
          AND (x.write_sf OR x.write_hs)""").fetchone()[0]
