"""Plan: the three-way diff of each linked pair against the shadow, creates for unlinked records, deletes.

Everything is SQL over whole tables. The result is rows in sync.outbox (nothing is sent here) plus shadow
rows for fields that already agree. A field changed on one side since the shadow propagates; changed on
both sides it is resolved by the field's rule (two_way: the later modification wins, a tie goes to the
pair's tie_winner). Our own writes come back equal to the shadow, so they plan nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import duckdb

from crm_sync.engine import cursors, mapping
from crm_sync.engine import reconcile as drift
from crm_sync.engine.db import NEXT_POSITION, Binds, quote, transaction
from crm_sync.engine.link import ambiguous_keys, build_sides, free_records
from crm_sync.engine.mapping import NORMALISE, PairSpec, canonical, child_value, translations, values_sql
from crm_sync.engine.staging import ensure_tables
from crm_sync.engine.validate import in_options

# Fields Salesforce requires: a sync never clears them. Native-connector defaults fill them on create.
REQUIRED_FIELDS = {"Lead": ("LastName", "Company"), "Contact": ("LastName",), "Account": ("Name",),
                   "Opportunity": ("Name", "StageName", "CloseDate")}
REQUIRED_DEFAULTS = {"Lead": {"LastName": "[not provided]", "Company": "[not provided]"},
                     "Contact": {"LastName": "[not provided]"}, "Account": {"Name": "[not provided]"}}
REQUIRED_PAIRS = ", ".join(f"('{o}', '{f}')" for o, fields in REQUIRED_FIELDS.items() for f in fields)


@dataclass
class PlanResult:
    updates_salesforce: int = 0
    updates_hubspot: int = 0
    creates_salesforce: int = 0
    creates_hubspot: int = 0
    deletes: int = 0
    unlinked: int = 0
    conflicts: int = 0
    superseded: int = 0
    drift: dict = field(default_factory=dict)  # reconcile: disagreements by cause (engine/reconcile.py)
    drift_healed: int = 0
    creates_waiting: int = 0  # records to create once every backfill partition is read
    skipped: int = 0  # values decided but not written, each with a sync.errors row (kind 'skipped')
    excluded: int = 0  # records outside the pair's inclusion rule among those this plan looked at
    by_field: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def ensure_lookup_tables(con: duckdb.DuckDBPyConnection) -> None:
    ensure_tables(con, "hubspot", "owners", ["email"])
    ensure_tables(con, "salesforce", "User", ["Email", "IsActive"])


def plan_pair(con: duckdb.DuckDBPyConnection, spec: PairSpec, run_id: str, full: bool = False,
              sides_built: bool = False, reconcile: bool = False, creates: bool = True) -> PlanResult:
    """Write this pair's planned operations to sync.outbox (and agreeing values to sync.shadow).

    full: compare every link, not only those with changes since the last plan.
    reconcile (implies full): first record every disagreement in sync.drift with its cause (engine/reconcile.py).
    sides_built: link_pair just built this pair's _hs/_sf on this connection (they do not depend on links).
    creates: False while a backfill has partitions unread (engine/backfill.py); the creates wait.
    """
    full = full or reconcile or _config_changed(con, spec)
    result = PlanResult()
    ensure_lookup_tables(con)
    if not sides_built:
        build_sides(con, spec)
    p = spec.name
    cfg = spec.config
    # The hand-off from extract: every version staged (and link made) after the last completed plan of this pair,
    # whichever run staged it, so a run killed before it planned loses nothing. Committed with the outbox rows.
    since = cursors.planned_position(con, p)
    upto = con.execute(f"SELECT {NEXT_POSITION}").fetchone()[0]
    # children: the Salesforce keys written apart from the record (contact roles, a product's standard price)
    b = Binds(pair=p, run_id=run_id, children=[*spec.salesforce_children, *spec.child_values], since=since)
    h2s, s2h, to_sf, to_hs = translations(spec, b)
    with transaction(con):
        _candidates(con, spec, b, full)
        result.unlinked, result.deletes = _deletes(con, spec, b)
        result.excluded = _exclude(con, spec, b)
        values = values_sql(spec, linked=True, b=b)
        # Compiling the diff costs more than running it on a few records: none to compare, none compiled.
        if values and con.execute("SELECT count(*) FROM _cand").fetchone()[0]:
            b.execute(con, f"CREATE OR REPLACE TEMP TABLE _vals AS SELECT *, {h2s} AS hs_as_sf, {s2h} AS sf_as_hs FROM "
                        f"(SELECT v.*, sh.hubspot_id IS NULL AS no_shadow, sh.hubspot_value AS sh_hs, "
                        f"sh.salesforce_value AS sh_sf FROM ({values}) v LEFT JOIN sync.shadow sh ON sh.pair = $pair "
                        f"AND sh.hubspot_id = v.hubspot_id AND sh.field = v.field)")
            if reconcile:
                result.drift = drift.record_drift(con, spec, b, REQUIRED_PAIRS)
            _hold_in_flight(con, b)
            _decide(con, cfg.tie_winner)
            _derive_from_written(con, b, s2h, cfg.tie_winner)
            _give_way(con, spec, b)
            if reconcile:
                result.drift_healed = drift.mark_healed(con, b)
            result.skipped = _record_skips(con, spec, b, to_sf, to_hs)
            result.conflicts = b.execute(con, "SELECT count(*) FROM _decisions WHERE conflict").fetchone()[0]
            # Fields that agree already: remember them, so a later change on one side is seen as one.
            b.execute(con, """INSERT INTO sync.shadow (pair, hubspot_id, field, hubspot_value, salesforce_value)
                SELECT $pair, hubspot_id, field, hs_val, sf_val FROM _decisions
                WHERE NOT write_sf AND NOT write_hs AND hs_as_sf IS NOT DISTINCT FROM sf_val AND taken_by IS NULL
                  AND (no_shadow OR sh_hs IS DISTINCT FROM hs_val OR sh_sf IS DISTINCT FROM sf_val)
                ON CONFLICT (pair, hubspot_id, field) DO UPDATE SET hubspot_value = excluded.hubspot_value,
                   salesforce_value = excluded.salesforce_value, synced_at = now()""")
            result.by_field = dict(b.execute(con,
                "SELECT field, count(*) FROM _decisions WHERE write_sf OR write_hs GROUP BY field").fetchall())
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE _stale_apart (op_id VARCHAR)")
            b.execute(con, "CREATE OR REPLACE TEMP TABLE _decisions (hubspot_id VARCHAR, sf_object VARCHAR, "
                        "salesforce_id VARCHAR, field VARCHAR, hs_field VARCHAR, sf_field VARCHAR, kind VARCHAR, "
                        "hs_val VARCHAR, sf_val VARCHAR, hs_new VARCHAR, sf_new VARCHAR, write_sf BOOLEAN, "
                        "write_hs BOOLEAN, taken_by VARCHAR)")
        _update_ops(con, spec, b, to_sf, to_hs)
        result.creates_waiting = _create_ops(con, spec, b, h2s, s2h, to_sf, to_hs, allowed=creates)
        counts = dict(b.execute(con, "SELECT target || ':' || action, count(*) FROM _plan_ops GROUP BY 1").fetchall())
        result.updates_salesforce = counts.get("salesforce:update", 0)
        result.updates_hubspot = counts.get("hubspot:update", 0)
        result.creates_salesforce = counts.get("salesforce:create", 0)
        result.creates_hubspot = counts.get("hubspot:create", 0)
        result.superseded = _store_ops(con, b)
        cursors.consume(con, p, upto, run_id)
        con.execute("""INSERT INTO sync.pair_configs VALUES (?, ?, ?, now()) ON CONFLICT (pair) DO UPDATE SET
            fingerprint = excluded.fingerprint, run_id = excluded.run_id, planned_at = now()""",
                    [p, _fingerprint(spec), run_id])
    return result


def outside_sql(spec: PairSpec, side: str, b: Binds) -> str | None:
    """SELECT of the ids of `side`'s records outside the pair's inclusion rule, or None without a rule."""
    condition = spec.config.include.condition(side)
    if condition is None:
        return None
    if side == "hubspot":
        return (f"SELECT h.id FROM raw_hubspot.{quote(spec.hubspot_object + '_current')} h "
                f"{_company_join(spec, 'hubspot', 'h', condition)} "
                f"WHERE NOT COALESCE(CAST({condition.sql('h', b, 'c')} AS BOOLEAN), false)")
    return " UNION ALL ".join(
        f"SELECT s.id FROM raw_salesforce.{quote(o + '_current')} s {_company_join(spec, o, 's', condition)} "
        f"WHERE NOT COALESCE(CAST({condition.sql('s', b, 'c')} AS BOOLEAN), false)" for o in spec.salesforce_objects)


def _company_join(spec: PairSpec, side: str, alias: str, condition=None) -> str:
    """The join giving a record of `side` ('hubspot' or a Salesforce object) its company as `c` (none needed for
    a condition that reads no company.<field>): HubSpot's primary company, the Account of a Contact or
    Opportunity; a record with no company field (a Lead) joins none, so its company's fields are null."""
    if condition is not None and not condition.related_fields:
        return ""
    company = spec.config.company_mapping()
    if side == "hubspot":
        return (f'LEFT JOIN raw_hubspot."companies_current" c ON c.id = '
                f"{_primary_company(alias + '.' + quote(company.hubspot))}")
    field = company.salesforce_field(side)
    on = f"c.id = {alias}.{quote(field)}" if field else "false"
    return f'LEFT JOIN raw_salesforce."Account_current" c ON {on}'


def _primary_company(column: str) -> str:
    """The primary company's id in a record's companies association (the first of its ';'-separated ids)."""
    return f"NULLIF(split_part({column}, ';', 1), '')"


def _exclude(con, spec: PairSpec, b: Binds) -> int:
    """Links whose records are outside the pair's inclusion rule (engine/expressions.py conditions) leave this
    plan: nothing is decided or written for them (their open writes are superseded), the link stays. Every
    record this plan looked at has its standing in sync.exclusions: a row while it is outside, none once in."""
    hs_out, sf_out = outside_sql(spec, "hubspot", b), outside_sql(spec, "salesforce", b)
    con.execute("CREATE OR REPLACE TEMP TABLE _outside (system VARCHAR, id VARCHAR)")
    for side, sql in (("hubspot", hs_out), ("salesforce", sf_out)):
        if sql:
            b.execute(con, f"INSERT INTO _outside SELECT {b(side)}, id FROM ({sql})")
    _record_standing(con, spec, b, """SELECT 'hubspot' AS system, hubspot_id AS id FROM _cand UNION ALL
        SELECT 'salesforce', salesforce_id FROM _cand""")
    return b.execute(con, """DELETE FROM _cand WHERE hubspot_id IN (SELECT id FROM _outside WHERE system = 'hubspot')
        OR salesforce_id IN (SELECT id FROM _outside WHERE system = 'salesforce')""").fetchone()[0]


def _record_standing(con, spec: PairSpec, b: Binds, looked_at: str) -> None:
    """sync.exclusions for the records of `looked_at` (system, id): a row while outside the rule, none once in."""
    include = spec.config.include
    if not include.hubspot and not include.salesforce and not con.execute(
            "SELECT count(*) FROM sync.exclusions WHERE pair = ?", [spec.name]).fetchone()[0]:
        return  # no rule, and none left over from one: nothing to record
    b.execute(con, f"""DELETE FROM sync.exclusions WHERE pair = $pair AND (system, record_id) IN ({looked_at})
        AND (system, record_id) NOT IN (SELECT system, id FROM _outside)""")
    b.execute(con, f"""INSERT INTO sync.exclusions (pair, system, record_id, reason, run_id)
        SELECT $pair, o.system, o.id, 'outside include.' || o.system || ': ' ||
               CASE o.system WHEN 'hubspot' THEN {b(spec.config.include.hubspot or '')}
                             ELSE {b(spec.config.include.salesforce or '')} END, $run_id
        FROM _outside o WHERE (o.system, o.id) IN ({looked_at}) ON CONFLICT DO NOTHING""")


def _fingerprint(spec: PairSpec) -> str:
    return hashlib.sha256(spec.config.model_dump_json().encode()).hexdigest()


def _config_changed(con, spec: PairSpec) -> bool:
    """The pair's configuration (mappings, rules, transforms, value maps) differs from the one its last plan ran
    with: every link is decided again, so a mapping fixed or added applies to every record at once, and the
    values it held back (with their errors) go out under it, with no command."""
    stored = _stored_fingerprint(con, spec)
    return stored is not None and stored != _fingerprint(spec)


def config_is_new(con, spec: PairSpec) -> bool:
    """No plan ran yet with this pair's configuration as it is (first plan, or the configuration changed): the
    plan asset checks the mappings against the data too then, once per configuration."""
    return _stored_fingerprint(con, spec) != _fingerprint(spec)


def _stored_fingerprint(con, spec: PairSpec) -> str | None:
    row = con.execute("SELECT fingerprint FROM sync.pair_configs WHERE pair = ?", [spec.name]).fetchone()
    return row[0] if row else None


def _candidates(con, spec: PairSpec, b: Binds, full: bool) -> None:
    """Links whose records changed this run, were linked this run, or have writes still open."""
    hs_table = f"raw_hubspot.{quote(spec.hubspot_object + '_current')}"
    sf_changed = " UNION ".join(
        f"SELECT id FROM raw_salesforce.{quote(o + '_current')} WHERE _position > $since"
        for o in spec.salesforce_objects)
    # A record pointing at an associated record that got linked this run can now have its association synced.
    assoc = []
    for m in spec.config.fields:
        if not m.holds_ids:
            continue
        assoc.append(f"""l.hubspot_id IN (SELECT h.id FROM {hs_table} h, unnest(string_split(h.{quote(m.hubspot)}, ';'))
            AS u(v) JOIN sync.links a ON a.pair = {b(m.links_to)} AND a.hubspot_id = u.v AND a.position > $since)""")
        if m.type == "association_set":
            for child, (parent_field, member_field, *_) in spec.salesforce_children.items():
                if child not in mapping.SF_CHILD_SETS:
                    continue
                table = f"raw_salesforce.{quote(child + '_current')}"
                assoc.append(f"""l.salesforce_id IN (SELECT c.{quote(parent_field)} FROM {table} c
                    WHERE c._position > $since OR c.{quote(member_field)} IN (SELECT salesforce_id FROM sync.links
                    WHERE pair = {b(m.links_to)} AND position > $since))""")
            continue
        for obj in spec.salesforce_objects:
            sf_field = m.salesforce_field(obj)
            if sf_field:
                assoc.append(f"""l.salesforce_id IN (SELECT s.id FROM raw_salesforce.{quote(obj + '_current')} s
                    JOIN sync.links a ON a.pair = {b(m.links_to)} AND a.salesforce_id = s.{quote(sf_field)}
                    AND a.position > $since)""")
    for obj in spec.salesforce_objects:  # a value kept on a child record changed with the child (a price)
        for value in {child_value(obj, m.salesforce_field(obj)) for m in spec.config.fields} - {None}:
            assoc.append(f"""l.salesforce_id IN (SELECT c.{quote(value.parent_field)} FROM
                raw_salesforce.{quote(value.child + '_current')} c WHERE c._position > $since)""")
    assoc.extend(_company_changed(spec))
    assoc_sql = "".join(f"\n        OR {a}" for a in assoc)
    where = "true" if full else f"""(l.position > $since
        OR l.hubspot_id IN (SELECT id FROM {hs_table} WHERE _position > $since)
        OR l.salesforce_id IN ({sf_changed})
        OR l.hubspot_id IN (SELECT record_key FROM sync.outbox WHERE pair = $pair AND target = 'salesforce'
                            AND status IN ('pending', 'failed', 'invalid'))
        OR l.salesforce_id IN (SELECT record_key FROM sync.outbox WHERE pair = $pair AND target = 'hubspot'
                               AND status IN ('pending', 'failed', 'invalid'))
        -- a value skipped for a cause outside the record (an owner with no counterpart, say) is decided again
        OR l.hubspot_id IN (SELECT record_id FROM sync.errors WHERE pair = $pair AND kind = 'skipped'
                            AND system = 'salesforce' AND resolved_at IS NULL)
        OR l.salesforce_id IN (SELECT record_id FROM sync.errors WHERE pair = $pair AND kind = 'skipped'
                               AND system = 'hubspot' AND resolved_at IS NULL){assoc_sql})"""
    b.execute(con, f"""CREATE OR REPLACE TEMP TABLE _cand AS SELECT l.* FROM sync.links l
        JOIN _hs h ON h.id = l.hubspot_id AND NOT h.deleted
        JOIN _sf s ON s.id = l.salesforce_id AND NOT s.deleted AND s.converted IS NULL
        WHERE l.pair = $pair AND {where}""")


def _company_changed(spec: PairSpec) -> list[str]:
    """Where an inclusion rule reads company.<field>: links whose record's company changed since the last plan,
    so a record that enters or leaves the rule through its company is looked at again."""
    include, out = spec.config.include, []
    if include.company_fields("hubspot"):
        out.append(f"""l.hubspot_id IN (SELECT h.id FROM raw_hubspot.{quote(spec.hubspot_object + '_current')} h
            {_company_join(spec, 'hubspot', 'h')} WHERE c._position > $since)""")
    if include.company_fields("salesforce"):
        out += [f"""l.salesforce_id IN (SELECT s.id FROM raw_salesforce.{quote(obj + '_current')} s
                    {_company_join(spec, obj, 's')} WHERE c._position > $since)"""
                for obj in spec.salesforce_objects if spec.config.company_mapping().salesforce_field(obj)]
    return out


def _deletes(con, spec: PairSpec, b: Binds) -> tuple[int, int]:
    """Links whose record is gone on one side: unlink, or (deletes: propagate) delete the other record too."""
    b.execute(con, """CREATE OR REPLACE TEMP TABLE _gone AS SELECT l.*, h.deleted AS hs_gone, s.deleted AS sf_gone
        FROM sync.links l LEFT JOIN _hs h ON h.id = l.hubspot_id LEFT JOIN _sf s ON s.id = l.salesforce_id
        WHERE l.pair = $pair AND (h.deleted OR (s.deleted AND s.master IS NULL))""")
    deletes = 0
    b.execute(con, "CREATE OR REPLACE TEMP TABLE _delete_ops (target VARCHAR, object VARCHAR, sf_object VARCHAR, "
                "record_key VARCHAR, target_id VARCHAR)")
    if spec.config.deletes == "propagate":
        b.execute(con, """INSERT INTO _delete_ops SELECT 'salesforce', salesforce_object, salesforce_object,
                        hubspot_id, salesforce_id FROM _gone WHERE hs_gone AND NOT COALESCE(sf_gone, false)""")
        b.execute(con, f"""INSERT INTO _delete_ops SELECT 'hubspot', {b(spec.hubspot_object)}, salesforce_object,
                        salesforce_id, hubspot_id FROM _gone WHERE sf_gone AND NOT COALESCE(hs_gone, false)""")
        deletes = b.execute(con, "SELECT count(*) FROM _delete_ops").fetchone()[0]
    # The record left on the other side must not come back as a create: a user deleted its counterpart.
    b.execute(con, """INSERT INTO sync.tombstones (pair, system, record_id, reason, run_id)
        SELECT $pair, 'salesforce', salesforce_id, 'counterpart deleted in hubspot', $run_id FROM _gone
        WHERE hs_gone AND NOT COALESCE(sf_gone, false)
        UNION ALL
        SELECT $pair, 'hubspot', hubspot_id, 'counterpart deleted in salesforce', $run_id FROM _gone
        WHERE sf_gone AND NOT COALESCE(hs_gone, false)
        ON CONFLICT DO NOTHING""")
    # Writes still open on a gone link (a value held back or refused, kept until its cause changes) have no record
    # to land on any more: they go, and their error rows are resolved with them (_store_ops).
    b.execute(con, """UPDATE sync.outbox SET status = 'superseded', updated_at = now()
        WHERE pair = $pair AND status IN ('pending', 'failed', 'invalid') AND action NOT IN ('delete', 'merge')
          AND ((target = 'salesforce' AND record_key IN (SELECT hubspot_id FROM _gone))
            OR (target = 'hubspot' AND record_key IN (SELECT salesforce_id FROM _gone)))""")
    unlinked = b.execute(con, """DELETE FROM sync.links WHERE pair = $pair AND hubspot_id IN (SELECT hubspot_id FROM
        _gone)""").fetchone()[0]
    b.execute(con, "DELETE FROM sync.shadow WHERE pair = $pair AND hubspot_id IN (SELECT hubspot_id FROM _gone)")
    return unlinked, deletes


def _decide(con, tie: str) -> None:
    tie_side = "hs" if tie == "hubspot" else "sf"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _decisions AS
        WITH d AS (SELECT *,
            no_shadow OR hs_val IS DISTINCT FROM sh_hs AS hs_changed,
            no_shadow OR sf_val IS DISTINCT FROM sh_sf AS sf_changed FROM _vals),
        w AS (SELECT *, CASE WHEN contains(hs_val, 'unlinked:') OR contains(sf_val, 'unlinked:') THEN NULL
            ELSE CASE rule
            WHEN 'always_salesforce' THEN 'sf'
            WHEN 'always_hubspot' THEN 'hs'
            WHEN 'prefer_salesforce_unless_blank' THEN CASE WHEN sf_val IS NOT NULL THEN 'sf'
                                                           WHEN hs_val IS NOT NULL THEN 'hs' END
            WHEN 'prefer_hubspot_unless_blank' THEN CASE WHEN hs_val IS NOT NULL THEN 'hs'
                                                        WHEN sf_val IS NOT NULL THEN 'sf' END
            -- A first comparison (no shadow) takes a value over a blank, whichever side is newer: a blank
            -- there is a value never set, not one cleared.
            ELSE CASE WHEN no_shadow AND hs_val IS NULL AND sf_val IS NOT NULL THEN 'sf'
                      WHEN no_shadow AND sf_val IS NULL AND hs_val IS NOT NULL THEN 'hs'
                      WHEN hs_changed AND NOT sf_changed THEN 'hs'
                      WHEN sf_changed AND NOT hs_changed THEN 'sf'
                      WHEN hs_changed AND sf_changed THEN CASE
                          WHEN hs_mod > sf_mod THEN 'hs' WHEN sf_mod > hs_mod THEN 'sf' ELSE '{tie_side}' END
                 END END END AS winner,
            rule = 'two_way' AND hs_changed AND sf_changed AND NOT no_shadow
                AND hs_as_sf IS DISTINCT FROM sf_val AS conflict FROM d)
        SELECT *,
            winner = 'hs' AND hs_as_sf IS DISTINCT FROM sf_val
                AND NOT (hs_as_sf IS NULL AND (sf_object, sf_field) IN ({REQUIRED_PAIRS})) AS write_sf,
            winner = 'sf' AND sf_as_hs IS DISTINCT FROM hs_val AS write_hs,
            CASE WHEN winner = 'hs' THEN hs_as_sf ELSE sf_val END AS sf_new,
            CASE WHEN winner = 'sf' THEN sf_as_hs ELSE hs_val END AS hs_new,
            NULL::VARCHAR AS taken_by  -- the association that its lookup holds instead (_give_way)
        FROM w""")


def _yields(spec: PairSpec, b: Binds) -> str | None:
    """(field, the field it yields to) of the pair's associations that share a lookup (yields_to), as SQL rows."""
    rows = [f"({b(m.name)}, {b(m.yields_to)})" for m in spec.config.fields if m.yields_to]
    return f"VALUES {', '.join(rows)}" if rows else None


def _give_way(con, spec: PairSpec, b: Binds) -> None:
    """An association that gives way to another on their shared lookup (yields_to: an engagement's company to its
    deal on Task.WhatId) is not written to Salesforce while the other will be in the lookup after this plan: a
    lookup holds one record. Nor does a lookup holding the other say that the record has none: no HubSpot
    association is removed for it (HubSpot holds both). Its shadow goes, so that once the lookup is free the value
    is compared as a first one and goes out. _record_skips says why it waits (LOOKUP_TAKEN)."""
    yields = _yields(spec, b)
    if yields is None:
        return
    b.execute(con, f"""UPDATE _decisions c SET taken_by = d.field, write_sf = false,
            write_hs = c.write_hs AND c.sf_val IS NOT NULL
        FROM _decisions d, ({yields}) y(field, first)
        WHERE c.field = y.field AND d.field = y.first AND d.hubspot_id = c.hubspot_id AND d.sf_object = c.sf_object
          AND CASE WHEN d.winner = 'sf' THEN d.sf_val WHEN d.winner = 'hs' THEN d.hs_as_sf
                   ELSE COALESCE(d.hs_as_sf, d.sf_val) END IS NOT NULL""")
    # The first one leaving the lookup while the other goes in: one write, of the other (not a clear, then it).
    b.execute(con, f"""UPDATE _decisions d SET write_sf = false FROM _decisions c, ({yields}) y(field, first)
        WHERE c.field = y.field AND d.field = y.first AND d.hubspot_id = c.hubspot_id AND d.sf_object = c.sf_object
          AND c.write_sf AND d.write_sf AND d.sf_new IS NULL""")
    b.execute(con, """DELETE FROM sync.shadow WHERE pair = $pair AND (hubspot_id, field) IN
        (SELECT hubspot_id, field FROM _decisions WHERE taken_by IS NOT NULL)""")


def _taken(table: str) -> str:
    """Skip rows (as _waiting_for_link's) of the associations in table (aliased d) not written to their Salesforce
    lookup because it holds the association they give way to (d.taken_by)."""
    return f"""SELECT 'salesforce' AS system, d.sf_object AS object, d.hubspot_id AS record_id, d.sf_field AS field,
               'LOOKUP_TAKEN' AS code, d.hs_field || ' names HubSpot ' || replace(d.hs_val, 'unlinked:', '')
               || ', but ' || d.sf_object || '.' || d.sf_field || ' holds one record and the ' || d.taken_by
               || ' goes there first: written once the record has no ' || d.taken_by AS message, NULL AS value
        FROM {table} d WHERE d.taken_by IS NOT NULL AND d.hubspot_id IS NOT NULL AND d.hs_val IS NOT NULL
          AND d.hs_as_sf IS DISTINCT FROM d.sf_val"""


def _record_skips(con, spec: PairSpec, b: Binds, to_sf: str, to_hs: str) -> int:
    """A value the plan decided to write but will not (no counterpart to translate an owner or a linked record to,
    a required field it will not clear, an association waiting for its record to be linked) gets a sync.errors
    row (kind 'skipped') naming the field and the reason. Records with such rows are decided again by every plan
    (the cause is outside the record: an owner added, a record linked), and the row is resolved once a plan
    writes the value or no longer needs it."""
    b.execute(con, f"""CREATE OR REPLACE TEMP TABLE _skips AS
        SELECT 'salesforce' AS system, sf_object AS object, hubspot_id AS record_id, sf_field AS field,
               'NO_COUNTERPART' AS code, kind || ' ' || hs_val || ' (from HubSpot ' || hs_field
               || ') has no counterpart in Salesforce' AS message, sf_new AS value
        FROM _decisions WHERE write_sf AND sf_new IS NOT NULL AND CAST({to_sf} AS VARCHAR) = 'null'
        UNION ALL
        SELECT 'hubspot', {b(spec.hubspot_object)}, salesforce_id, hs_field, 'NO_COUNTERPART',
               kind || ' ' || sf_val || ' (from Salesforce ' || sf_object || '.' || sf_field
               || ') has no counterpart in HubSpot', hs_new
        FROM _decisions WHERE write_hs AND hs_new IS NOT NULL AND {to_hs} IS NULL
        UNION ALL
        SELECT 'salesforce', sf_object, hubspot_id, sf_field, 'REQUIRED_FIELD_NOT_CLEARED',
               sf_object || '.' || sf_field || ' is required in Salesforce: cleared in HubSpot (' || hs_field
               || '), kept as ' || sf_val, NULL
        FROM _decisions WHERE winner = 'hs' AND hs_as_sf IS NULL AND sf_val IS NOT NULL
          AND (sf_object, sf_field) IN ({REQUIRED_PAIRS})
        UNION ALL  -- an association to a record with no counterpart yet: written once that record is linked
        {_waiting_for_link(spec, b, "_decisions",
                           "d.hs_changed AND d.hs_as_sf IS DISTINCT FROM d.sf_val AND d.taken_by IS NULL",
                           "d.sf_changed AND d.sf_as_hs IS DISTINCT FROM d.hs_val")}
        UNION ALL  -- an association whose lookup holds another one first
        {_taken("_decisions")}""")
    skipped = _store_skips(con, b, "_skips")
    b.execute(con, f"""UPDATE sync.errors e SET resolved_at = now() WHERE e.kind = 'skipped' AND e.pair = $pair
        AND e.resolved_at IS NULL AND e.error_key NOT IN (SELECT {SKIP_KEY} FROM _skips)
        AND (e.record_id IN (SELECT hubspot_id FROM _cand) OR e.record_id IN (SELECT salesforce_id FROM _cand))""")
    return skipped


SKIP_KEY = "md5($pair || '|' || system || '|' || object || '|' || record_id || '|' || code || '|' || field)"


def _store_skips(con, b: Binds, table: str) -> int:
    """The rows of table (system, object, record_id, field, code, message) as open sync.errors rows of kind
    'skipped': one per record, field and cause, seen again on every plan that still skips it."""
    return b.execute(con, f"""INSERT INTO sync.errors (error_key, kind, pair, system, object, record_id, code,
            message, fields, first_seen, last_seen, occurrences, run_id)
        SELECT {SKIP_KEY}, 'skipped', $pair, system, object, record_id, code, message, field, now(), now(), 1, $run_id
        FROM {table} ON CONFLICT (error_key) DO UPDATE SET message = excluded.message, last_seen = now(),
            occurrences = sync.errors.occurrences + 1, resolved_at = NULL, run_id = excluded.run_id""").fetchone()[0]


def _waiting_for_link(spec: PairSpec, b: Binds, table: str, to_sf_if: str, to_hs_if: str) -> str:
    """Skip rows (system, object, record_id, field, code, message, value) of the associations in table (rows of
    values_sql, aliased d) that name a record with no counterpart on the other side yet, or (to Salesforce) one
    whose counterpart is of an object the lookup cannot hold, a Lead for Case.ContactId. Written once that
    record is linked (to a record the lookup takes: a converted Lead hands its link to its Contact)."""
    arms = " ".join(f"WHEN {b(m.name)} THEN {b(m.links_to)}" for m in spec.config.fields
                    if m.type in ("association", "reference") and m.links_to)
    links_of = f"CASE d.field {arms} END" if arms else "NULL"  # the pair whose links an association goes by
    return f"""SELECT 'salesforce' AS system, d.sf_object AS object, d.hubspot_id AS record_id, d.sf_field AS field,
               CASE WHEN x.salesforce_id IS NULL THEN 'WAITING_FOR_LINK' ELSE 'LOOKUP_CANNOT_HOLD' END AS code,
               d.hs_field || ' names HubSpot ' || replace(d.hs_val, 'unlinked:', '') || CASE
                   WHEN x.salesforce_id IS NULL THEN ', which has no Salesforce counterpart yet: ' || d.sf_object
                       || '.' || d.sf_field || ' is written once it is linked'
                   ELSE ', linked to Salesforce ' || x.salesforce_object || ' ' || x.salesforce_id || ', which '
                       || d.sf_object || '.' || d.sf_field || ' cannot hold (it takes '
                       || array_to_string(m.reference_to, ', ') || '): written once it is linked to one, as a '
                       || 'converted Lead is to its Contact' END AS message, NULL AS value
        FROM {table} d
        LEFT JOIN sync.links x ON x.pair = {links_of} AND x.hubspot_id = replace(d.hs_val, 'unlinked:', '')
        LEFT JOIN sync.metadata m ON m.system = 'salesforce' AND m.object = d.sf_object AND m.field = d.sf_field
        WHERE d.hubspot_id IS NOT NULL AND contains(COALESCE(d.hs_val, ''), 'unlinked:') AND {to_sf_if}
        UNION ALL
        SELECT 'hubspot', {b(spec.hubspot_object)}, d.salesforce_id, d.hs_field, 'WAITING_FOR_LINK',
               d.sf_object || '.' || d.sf_field || ' names Salesforce ' || replace(d.sf_val, 'unlinked:', '')
               || ', which has no HubSpot counterpart yet: ' || d.hs_field || ' is written once it is linked', NULL
        FROM {table} d WHERE d.salesforce_id IS NOT NULL AND contains(COALESCE(d.sf_val, ''), 'unlinked:')
          AND {to_hs_if}"""


def _derive_from_written(con, b: Binds, s2h: str, tie: str) -> None:
    """A value that always follows a Salesforce field this plan writes (the lifecycle stage derived from the Lead
    Status while the lead status, two-way, changes that Status) is derived from the value written, not from the
    one it replaces: else the next cycle derives it again, a second write for every such record."""
    # Only from a value Salesforce will take: a picklist value it lacks is held back by validation, the Status
    # stays what it is, and so does what it implies.
    changed = b.execute(con, f"""UPDATE _vals v SET sf_val = w.sf_new
        FROM (SELECT d.hubspot_id, d.sf_object, d.sf_field, first(d.sf_new) AS sf_new FROM _decisions d
              LEFT JOIN sync.metadata m ON m.system = 'salesforce' AND m.object = d.sf_object AND m.field = d.sf_field
              WHERE d.write_sf AND d.kind NOT LIKE 'association%'
                AND (d.sf_new IS NULL OR NOT COALESCE(m.restricted, false) OR {in_options("m", "d.sf_new")})
              GROUP BY ALL) w
        WHERE v.rule = 'always_salesforce' AND v.hubspot_id = w.hubspot_id AND v.sf_object = w.sf_object
          AND v.sf_field = w.sf_field AND v.sf_val IS DISTINCT FROM w.sf_new""").fetchone()[0]
    if changed:
        b.execute(con, f"UPDATE _vals SET sf_as_hs = {s2h} WHERE rule = 'always_salesforce'")
        _decide(con, tie)


def _update_ops(con, spec: PairSpec, b: Binds, to_sf: str, to_hs: str) -> None:
    """One update op per record and target, carrying every changed field and the cross-id when missing."""
    xid_sf, xid_hs = b(spec.sf_external_id), b(spec.hs_salesforce_id)
    sf_xids = " UNION ALL ".join(
        f"SELECT id, CAST({quote(spec.sf_external_id)} AS VARCHAR) AS xid FROM raw_salesforce.{quote(o + '_current')}"
        for o in spec.salesforce_objects)
    hs_table = f"raw_hubspot.{quote(spec.hubspot_object + '_current')}"
    b.execute(con, f"""CREATE OR REPLACE TEMP TABLE _plan_ops AS
        WITH sf_fields AS (
            SELECT hubspot_id, sf_object, salesforce_id, sf_field AS k, {to_sf} AS v,
                   json_object('f', field, 'h', hs_val, 's', sf_new, 'k', sf_field) AS sh
            FROM _decisions WHERE write_sf
              AND NOT (sf_new IS NOT NULL AND CAST({to_sf} AS VARCHAR) = 'null')  -- no counterpart to write
            UNION ALL
            SELECT c.hubspot_id, c.salesforce_object, c.salesforce_id, {xid_sf}, to_json(c.hubspot_id), NULL
            FROM _cand c JOIN ({sf_xids}) x ON x.id = c.salesforce_id WHERE x.xid IS DISTINCT FROM c.hubspot_id),
        hs_fields AS (
            SELECT hubspot_id, sf_object, salesforce_id, hs_field AS k, {to_hs} AS v,
                   json_object('f', field, 'h', hs_new, 's', sf_val, 'k', hs_field) AS sh
            FROM _decisions WHERE write_hs AND NOT (hs_new IS NOT NULL AND {to_hs} IS NULL)
            UNION ALL
            SELECT c.hubspot_id, c.salesforce_object, c.salesforce_id, {xid_hs}, c.salesforce_id, NULL
            FROM _cand c JOIN {hs_table} h ON h.id = c.hubspot_id
            WHERE h.{quote(spec.hs_salesforce_id)} IS DISTINCT FROM c.salesforce_id)
        SELECT 'salesforce' AS target, sf_object AS object, 'update' AS action, sf_object, hubspot_id AS record_key,
               salesforce_id AS target_id, {_record_part('v')} AS payload, {_shadow_part()} AS shadow,
               'changed in hubspot' AS reason, {_association_part('v')} AS associations
        FROM (SELECT *, k IN (SELECT unnest($children)) AS a FROM sf_fields) GROUP BY ALL
        UNION ALL
        SELECT 'hubspot', {b(spec.hubspot_object)}, 'update', sf_object, salesforce_id, hubspot_id,
               {_record_part("to_json(COALESCE(v, ''))")}, {_shadow_part()}, 'changed in salesforce',
               {_association_part("to_json(COALESCE(v, ''))")}
        FROM (SELECT *, starts_with(k, 'associations.') AS a FROM hs_fields) GROUP BY ALL
        UNION ALL
        SELECT target, object, 'delete', sf_object, record_key, target_id, '{{}}'::JSON, NULL,
               'deleted on the other side', NULL FROM _delete_ops""")


def _create_ops(con, spec: PairSpec, b: Binds, h2s: str, s2h: str, to_sf: str, to_hs: str,
                allowed: bool = True) -> int:
    """Unlinked records become creates on the other side (upserts keyed by the source id). Not allowed (a
    backfill with partitions still unread): none is planned; returns how many wait."""
    cfg = spec.config
    # What the Salesforce creates of this plan will echo back (_salesforce_echo); _store_ops reads it.
    con.execute("CREATE OR REPLACE TEMP TABLE _echo (record_key VARCHAR, object VARCHAR, echo JSON)")
    free_records(con, spec.name)
    _record_standing(con, spec, b, "SELECT 'hubspot' AS system, id FROM _hs_free UNION ALL "
                                   "SELECT 'salesforce', id FROM _sf_free")
    ambiguous_keys(con, spec)
    route = _route_sql(spec, b)
    b.execute(con, f"""CREATE OR REPLACE TEMP TABLE _creates_sf AS SELECT f.id, {route} AS object FROM _hs_free f
        JOIN raw_hubspot.{quote(spec.hubspot_object + '_current')} h ON h.id = f.id
        WHERE {str(cfg.create_in_salesforce).lower()} AND f.id NOT IN (SELECT id FROM _ambiguous
                                                                        WHERE system = 'hubspot')
          AND f.id NOT IN (SELECT id FROM _outside WHERE system = 'hubspot')
          AND f.id NOT IN (SELECT record_id FROM _tombstoned WHERE system = 'hubspot')""")
    b.execute(con, f"""CREATE OR REPLACE TEMP TABLE _creates_hs AS SELECT id, object FROM _sf_free
        WHERE {str(cfg.create_in_hubspot).lower()} AND id NOT IN (SELECT id FROM _ambiguous
                                                                     WHERE system = 'salesforce')
          AND id NOT IN (SELECT id FROM _outside WHERE system = 'salesforce')
          AND id NOT IN (SELECT record_id FROM _tombstoned WHERE system = 'salesforce')""")
    values = values_sql(spec, linked=False, b=b)
    waiting = con.execute("SELECT (SELECT count(*) FROM _creates_sf) + (SELECT count(*) FROM _creates_hs)"
                          ).fetchone()[0]
    if not allowed:
        return waiting
    if not values or not waiting:
        return 0
    b.execute(con, f"CREATE OR REPLACE TEMP TABLE _new_vals AS SELECT *, {h2s} AS hs_as_sf, {s2h} AS sf_as_hs, "
                   f"NULL::VARCHAR AS taken_by FROM ({values})")
    yields = _yields(spec, b)
    if yields:  # a new record's lookup gets what it holds first (_give_way)
        b.execute(con, f"""UPDATE _new_vals c SET taken_by = d.field FROM _new_vals d, ({yields}) y(field, first)
            WHERE c.field = y.field AND d.field = y.first AND d.hubspot_id = c.hubspot_id
              AND d.sf_object = c.sf_object AND d.hs_as_sf IS NOT NULL""")
    # A create leaves out an association to a record not linked yet: the row says so, keyed by the source record
    # (the same row the plans after the create keep up, and resolve once the value is written).
    unlinked = _waiting_for_link(spec, b, "_new_vals", "d.rule <> 'always_salesforce' AND d.taken_by IS NULL",
                                 "d.rule <> 'always_hubspot'")
    b.execute(con, f"CREATE OR REPLACE TEMP TABLE _create_skips AS {unlinked} UNION ALL {_taken('_new_vals')}")
    _store_skips(con, b, "_create_skips")
    b.execute(con, f"""INSERT INTO _plan_ops
        WITH v AS (SELECT * FROM _new_vals),
        sf_rows AS (SELECT hubspot_id, sf_object, sf_field, field, hs_val, hs_as_sf AS sf_new FROM v
                    WHERE hubspot_id IS NOT NULL AND hs_as_sf IS NOT NULL AND rule <> 'always_salesforce'
                      AND NOT contains(hs_as_sf, 'unlinked:') AND taken_by IS NULL),
        hs_rows AS (SELECT salesforce_id, sf_object, hs_field, field, sf_val, sf_as_hs AS hs_new FROM v
                    WHERE salesforce_id IS NOT NULL AND sf_as_hs IS NOT NULL AND rule <> 'always_hubspot'
                      AND NOT contains(sf_as_hs, 'unlinked:'))
        SELECT 'salesforce', sf_object, 'create', sf_object, hubspot_id, NULL, {_record_part('v')},
               {_shadow_part()}, 'new in hubspot', {_association_part('v')}
        FROM (SELECT hubspot_id, sf_object, sf_field AS k, {to_sf} AS v,
                     json_object('f', field, 'h', hs_val, 's', sf_new, 'k', sf_field) AS sh,
                     sf_field IN (SELECT unnest($children)) AS a FROM sf_rows)
        GROUP BY hubspot_id, sf_object
        UNION ALL
        SELECT 'hubspot', {b(spec.hubspot_object)}, 'create', sf_object, salesforce_id, NULL, {_record_part('v')},
               {_shadow_part()}, 'new in salesforce', {_association_part('v')}
        FROM (SELECT salesforce_id, sf_object, hs_field AS k, to_json({to_hs}) AS v,
                     json_object('f', field, 'h', hs_new, 's', sf_val, 'k', hs_field) AS sh,
                     starts_with(hs_field, 'associations.') AS a FROM hs_rows WHERE {to_hs} IS NOT NULL)
        GROUP BY salesforce_id, sf_object""")
    # The source id travels with the create: it is the upsert key, so a replay never duplicates.
    b.execute(con, f"""UPDATE _plan_ops SET payload = json_merge_patch(payload, json_object(
        CASE target WHEN 'salesforce' THEN {b(spec.sf_external_id)} ELSE {b(spec.hs_salesforce_id)} END,
        record_key)) WHERE action = 'create'""")
    # Every new record is created, even with all mapped fields empty; required values get defaults.
    b.execute(con, f"""INSERT INTO _plan_ops SELECT 'salesforce', c.object, 'create', c.object, c.id, NULL,
        json_object({b(spec.sf_external_id)}, c.id), '[]'::JSON, 'new in hubspot', NULL FROM _creates_sf c
        WHERE c.id NOT IN (SELECT record_key FROM _plan_ops WHERE target = 'salesforce' AND action = 'create')""")
    for target, sf_field, value in [(o, f, v) for o in spec.salesforce_objects
                                    for f, v in REQUIRED_DEFAULTS.get(o, {}).items()]:
        # A placeholder filled only because Salesforce requires the field goes into the shadow as what Salesforce
        # holds: its echo is then no change, and never comes back into the HubSpot record.
        for m in (m for m in cfg.fields if m.salesforce_field(target) == sf_field and m.rule != "dont_sync"):
            entry = f"json_object('f', {b(m.name)}, 'h', NULL, 's', {b(value)}, 'k', {b(sf_field)})"
            b.execute(con, f"""UPDATE _plan_ops SET shadow = to_json(list_append(COALESCE(CAST(shadow AS JSON[]), []),
                    {entry}))
                WHERE target = 'salesforce' AND action = 'create' AND object = {b(target)}
                  AND json_extract(payload, {b('$.' + json.dumps(sf_field))}) IS NULL""")
        b.execute(con, f"""UPDATE _plan_ops SET payload = json_merge_patch(json_object({b(sf_field)},
            {b(value)}), payload) WHERE target = 'salesforce' AND action = 'create' AND object = {b(target)}""")
    _salesforce_echo(con, spec, b, s2h, to_hs)
    return 0


def _route_sql(spec: PairSpec, b: Binds) -> str:
    """The Salesforce object a record of the HubSpot table `h` is created as (create_as: lead, contact, or a
    rule per record: Contact when its primary company is linked to an Account or matches one by domain, or when
    a condition holds; Lead otherwise)."""
    route = spec.config.create_as
    if route is None or isinstance(route, str):
        return b({"lead": "Lead", "contact": "Contact"}.get(route or "", spec.salesforce_objects[0]))
    tests = []
    if route.contact_if:
        tests.append(f"COALESCE(CAST({route.condition().sql('h', b)} AS BOOLEAN), false)")
    company = spec.config.company_mapping()
    if route.contact_if_company_has_account and company is not None and company.salesforce_field("Contact"):
        first = _primary_company(f"h.{quote(company.hubspot)}")
        tests.append(f"EXISTS (SELECT 1 FROM sync.links a WHERE a.pair = {b(company.links_to)} "
                     f"AND a.hubspot_id = {first})")
        domain = NORMALISE["domain"]
        tests.append(f"""EXISTS (SELECT 1 FROM raw_hubspot."companies_current" c
            JOIN raw_salesforce."Account_current" acct ON NOT acct.deleted
             AND {domain.format(x='acct."Website"')} = {domain.format(x='c."domain"')}
            WHERE c.id = {first} AND NOT c.deleted)""")
    if not tests:
        return b("Lead")
    return f"CASE WHEN {' OR '.join(tests)} THEN 'Contact' ELSE 'Lead' END"


def _salesforce_echo(con, spec: PairSpec, b: Binds, s2h: str, to_hs: str) -> None:
    """What a Salesforce create will hold that its HubSpot source does not, written back to the source with its
    cross-id in the same run (outbox.stamp_created) instead of by a second write cycle:
    - picklist defaults (describe's defaultValue) for mapped picklists the create leaves empty: sent with the
      create, so its shadow says what Salesforce holds (and a blank HubSpot value never clears it later), and
      their HubSpot translation goes back to a HubSpot record that has none;
    - always_salesforce picklists derived from the record (a lifecycle stage from the Lead Status);
    - the owner Salesforce gives a record created without one (the API user; describe's OwnerId default as
      connectors/salesforce.py records it), where the rule lets Salesforce's owner win.
    Picklists and owners only: their values compare as text on both sides. Kept in _echo (record_key, echo)."""
    rows = [(obj, m.name, m.hubspot, m.salesforce_field(obj), m.rule, m.type) for obj in spec.salesforce_objects
            for m in spec.config.fields if m.salesforce_field(obj) is not None and m.type in ("enum", "owner")
            and m.rule not in ("dont_sync", "always_hubspot") and m.to_hubspot is None]
    if not rows or not con.execute("SELECT count(*) FROM _plan_ops WHERE target = 'salesforce' AND action = "
                                   "'create'").fetchone()[0]:
        return
    b.execute(con, "CREATE OR REPLACE TEMP TABLE _echo_fields (sf_object VARCHAR, field VARCHAR, hs_field VARCHAR, "
                   "sf_field VARCHAR, rule VARCHAR, kind VARCHAR)")
    values = ", ".join("(" + ", ".join(b(v) for v in row) + ")" for row in rows)
    b.execute(con, f"INSERT INTO _echo_fields VALUES {values}")
    con.execute("""CREATE OR REPLACE TEMP TABLE _defaulted AS
        SELECT p.record_key, p.object, f.field, f.sf_field, f.kind, m.default_value, nv.hs_val
        FROM _plan_ops p JOIN _echo_fields f ON f.sf_object = p.object
        JOIN sync.metadata m ON m.system = 'salesforce' AND m.object = p.object AND m.field = f.sf_field
        LEFT JOIN _new_vals nv ON nv.hubspot_id = p.record_key AND nv.sf_object = p.object AND nv.field = f.field
        WHERE p.target = 'salesforce' AND p.action = 'create' AND m.default_value IS NOT NULL
          AND json_extract_string(p.payload, '$.' || CAST(to_json(f.sf_field) AS VARCHAR)) IS NULL""")
    con.execute("""UPDATE _plan_ops p SET payload = json_merge_patch(p.payload, d.filled),
            shadow = to_json(list_concat(COALESCE(CAST(p.shadow AS JSON[]), []), d.entries))
        FROM (SELECT record_key, object, CAST(json_group_object(sf_field, default_value) AS JSON) AS filled,
                     list(json_object('f', field, 'h', hs_val, 's', default_value, 'k', sf_field)) AS entries
              FROM (SELECT record_key, object, sf_field, default_value, first(field) AS field, first(hs_val) AS hs_val
                    FROM _defaulted WHERE kind = 'enum' GROUP BY ALL) GROUP BY record_key, object) d
        WHERE p.target = 'salesforce' AND p.action = 'create' AND p.record_key = d.record_key
          AND p.object = d.object""")
    b.execute(con, f"""INSERT INTO _echo
        WITH r AS (SELECT p.record_key AS hubspot_id, p.object, f.field, f.hs_field, f.sf_field, f.rule, f.kind,
                nv.hs_val,
                CASE f.kind WHEN 'owner' THEN d.default_value
                    ELSE json_extract_string(p.payload, '$.' || CAST(to_json(f.sf_field) AS VARCHAR)) END AS raw,
                d.record_key IS NOT NULL AS defaulted, m.default_value AS sf_default,
                NULL::VARCHAR AS hs_xf, NULL::VARCHAR AS sf_xf  -- transforms do not echo (their fields are not here)
            FROM _plan_ops p JOIN _echo_fields f ON f.sf_object = p.object
            LEFT JOIN _new_vals nv ON nv.hubspot_id = p.record_key AND nv.sf_object = p.object AND nv.field = f.field
            LEFT JOIN _defaulted d ON d.record_key = p.record_key AND d.object = p.object AND d.field = f.field
            LEFT JOIN sync.metadata m ON m.system = 'salesforce' AND m.object = p.object AND m.field = f.sf_field
            WHERE p.target = 'salesforce' AND p.action = 'create'),
        e AS (SELECT *, 'sent' AS variant,
                  CASE kind WHEN 'owner' THEN {canonical('owner', 'raw', 'salesforce', b)} ELSE raw END AS sf_val
              FROM r
              UNION ALL BY NAME
              -- should validation hold the picklist's value back, the record gets the default instead
              SELECT *, 'held' AS variant, sf_default AS sf_val FROM r
              WHERE kind = 'enum' AND NOT defaulted AND raw IS NOT NULL AND sf_default IS NOT NULL
                AND raw <> sf_default AND rule IN ('always_salesforce', 'prefer_salesforce_unless_blank')),
        n AS (SELECT *, {s2h} AS hs_new FROM e WHERE sf_val IS NOT NULL),
        w AS (SELECT *, to_json(COALESCE({to_hs}, '')) AS v FROM n
              -- what the next cycle would write: Salesforce's value wins by rule, or fills a blank
              WHERE (rule IN ('always_salesforce', 'prefer_salesforce_unless_blank') AND hs_new IS DISTINCT FROM hs_val)
                 OR (defaulted AND hs_val IS NULL AND hs_new IS NOT NULL))
        -- One entry per HubSpot value: its shadow (f, h, s, k), the value to write (v), and the create's payload
        -- value it follows from (sk, sv; sv NULL for an owner Salesforce assigns). Validation may yet hold that
        -- back: outbox.stamp_created takes the 'sent' entries whose value went out, the 'held' ones (what the
        -- default implies) where it did not.
        SELECT hubspot_id, object, to_json(list(json_object('f', field, 'h', hs_new, 's', sf_val, 'k', hs_field,
            'v', v, 'sk', sf_field, 'sv', CASE kind WHEN 'owner' THEN NULL ELSE raw END, 'when', variant)
            ORDER BY field, variant))
        FROM w GROUP BY hubspot_id, object""")


def _record_part(value: str) -> str:
    """The record write of an op: its fields that are not associations held apart (a = association)."""
    return (f"to_json(map(COALESCE(list(k ORDER BY k) FILTER (WHERE NOT a), []), "
            f"COALESCE(list({value} ORDER BY k) FILTER (WHERE NOT a), [])))")


def _shadow_part() -> str:
    return "to_json(list(sh ORDER BY k) FILTER (WHERE sh IS NOT NULL AND NOT a))"


def _association_part(value: str) -> str:
    """Associations written apart from the record (HubSpot associations, Salesforce contact roles):
    {key: {"v": the planned set, "sh": its shadow entry}}; engine/associations.py turns them into ops of their own
    once the record write is done."""
    return (f"CASE WHEN bool_or(a) THEN to_json(map(list(k ORDER BY k) FILTER (WHERE a), "
            f"list(json_object('v', {value}, 'sh', sh) ORDER BY k) FILTER (WHERE a))) END")


def _hold_in_flight(con, b: Binds) -> None:
    """A value whose write is open apart from its record's (an association, retried on its schedule; a value held
    back by validation or refused by the CRM, kept with its reason) is not decided again while its source value
    is the one being written: the target does not hold it yet, and reading that as a change on the target would
    undo the source. A new source value is decided as usual and supersedes the open write (`_store_ops`)."""
    b.execute(con, """CREATE OR REPLACE TEMP TABLE _open_apart AS
        SELECT c.op_id, c.target, c.record_key, COALESCE(c.field, e ->> 'k') AS key, e ->> 'f' AS mapping,
               CASE c.target WHEN 'salesforce' THEN e ->> 'h' ELSE e ->> 's' END AS source_value,
               CASE c.target WHEN 'salesforce' THEN e ->> 's' ELSE e ->> 'h' END AS written_value,
               c.held_from IS NOT NULL AS held
        FROM sync.outbox c, unnest(CAST(c.shadow AS JSON[])) AS u(e)
        WHERE c.pair = $pair AND (c.parent_op_id IS NOT NULL OR c.held_from IS NOT NULL)
          AND c.status IN ('pending', 'failed', 'invalid')""")
    # Held values whose source changed since, or whose mapping now gives another value for it (a value map
    # fixed, a transform changed): a new op will carry the new value, with no command needed. Matched by mapping
    # as well as by target field: two mappings may write one field (lead status and lifecycle stage both map
    # Lead.Status).
    b.execute(con, """CREATE OR REPLACE TEMP TABLE _stale_apart AS SELECT DISTINCT a.op_id FROM _open_apart a
        JOIN _vals v ON (a.mapping IS NULL OR v.field = a.mapping)
             AND ((a.target = 'salesforce' AND v.hubspot_id = a.record_key AND v.sf_field = a.key
                   AND (v.hs_val IS DISTINCT FROM a.source_value
                        OR (a.held AND v.hs_as_sf IS DISTINCT FROM a.written_value)))
               OR (a.target = 'hubspot' AND v.salesforce_id = a.record_key AND v.hs_field = a.key
                   AND (v.sf_val IS DISTINCT FROM a.source_value
                        OR (a.held AND v.sf_as_hs IS DISTINCT FROM a.written_value))))""")
    # A held value was decided for its source side: with its mapping changed (source unchanged), it is decided
    # again as that side's change and the target's value as unchanged (the target never took it; its stamp may
    # be newer from the sync's own writes), so the new translation goes out.
    b.execute(con, """UPDATE _vals v SET no_shadow = false,
            sh_hs = CASE a.target WHEN 'salesforce' THEN NULL ELSE v.hs_val END,
            sh_sf = CASE a.target WHEN 'hubspot' THEN NULL ELSE v.sf_val END
        FROM _open_apart a WHERE a.held AND a.op_id IN (SELECT op_id FROM _stale_apart)
          AND (a.mapping IS NULL OR v.field = a.mapping)
          AND ((a.target = 'salesforce' AND v.hubspot_id = a.record_key AND v.sf_field = a.key)
            OR (a.target = 'hubspot' AND v.salesforce_id = a.record_key AND v.hs_field = a.key))""")
    b.execute(con, """DELETE FROM _vals v WHERE EXISTS (SELECT 1 FROM _open_apart a
        WHERE a.op_id NOT IN (SELECT op_id FROM _stale_apart) AND (a.mapping IS NULL OR v.field = a.mapping)
          AND ((a.target = 'salesforce' AND v.hubspot_id = a.record_key AND v.sf_field = a.key)
            OR (a.target = 'hubspot' AND v.salesforce_id = a.record_key AND v.hs_field = a.key)))""")


def _store_ops(con, b: Binds) -> int:
    """Insert new ops (ids are hashes of their content, so a re-plan of the same write is the same op)."""
    b.execute(con, """CREATE OR REPLACE TEMP TABLE _plan_ops_ids AS SELECT md5(target || '|' || object || '|' || action
        || '|' || record_key || '|' || COALESCE(target_id, '') || '|' || CAST(payload AS VARCHAR)
        || COALESCE('|' || CAST(associations AS VARCHAR), '')) AS op_id, * FROM _plan_ops""")
    b.execute(con, """INSERT INTO sync.outbox (op_id, run_id, pair, target, object, action, sf_object, record_key,
        target_id, payload, shadow, reason, status, associations, echo) SELECT op_id, $run_id, $pair, p.target,
        p.object, action, sf_object, p.record_key, target_id, payload, shadow, reason, 'pending', associations, e.echo
        FROM _plan_ops_ids p LEFT JOIN _echo e ON p.target = 'salesforce' AND p.action = 'create'
            AND e.record_key = p.record_key AND e.object = p.object
        ON CONFLICT (op_id) DO UPDATE SET status = 'pending', attempts = 0, last_error = NULL, run_id = excluded.run_id,
            echo = excluded.echo, updated_at = now() WHERE sync.outbox.status IN ('sent', 'superseded')""")
    # The same write planned again after it was sent means the target does not hold it now (a value changed
    # back to an earlier one, or a write undone in the CRM): it goes out again rather than colliding with the
    # old op. One still open is left as it is (same op, same attempts).
    # Values held apart from their record's op stay open until written, unless their source value changed.
    superseded = b.execute(con, """UPDATE sync.outbox SET status = 'superseded', updated_at = now()
        WHERE pair = $pair AND status IN ('pending', 'failed', 'invalid') AND parent_op_id IS NULL
          AND op_id NOT IN (SELECT op_id FROM _plan_ops_ids)
          AND (held_from IS NULL OR op_id IN (SELECT op_id FROM _stale_apart))
          -- planned once, when the link goes (or the merge is seen): kept until it lands (or runs out of tries)
          AND action NOT IN ('delete', 'merge')
        """).fetchone()[0]
    # Values held back from a create that was itself superseded (the source changed before it landed) go with it.
    superseded += b.execute(con, """UPDATE sync.outbox SET status = 'superseded', updated_at = now()
        WHERE pair = $pair AND status IN ('pending', 'failed', 'invalid') AND target_id IS NULL
          AND held_from IN (SELECT op_id FROM sync.outbox WHERE pair = $pair AND status = 'superseded')
        """).fetchone()[0]
    b.execute(con, """UPDATE sync.errors SET resolved_at = now() WHERE pair = $pair AND resolved_at IS NULL
        AND op_id IN (SELECT op_id FROM sync.outbox WHERE pair = $pair AND status = 'superseded')""")
    return superseded
