"""HubSpot list membership <-> Salesforce CampaignMembers (sync.yaml `lists:`), as DuckDB SQL over whole lists.

A list's members are read whole, but only when its listVersion moved (`needs_members`; a quiet cycle costs one
call a list). The Campaign's members come from the incremental CampaignMember extract. sync.list_members holds
the memberships both sides agreed on or the sync wrote (the shadow of a set): against it the plan tells an add
from a remove on either side.

- In the list, not in the campaign: a CampaignMember is created (LeadId or ContactId, whichever the contact is
  linked to; Status as configured), unless `from_salesforce` and the membership was known (removed in Salesforce:
  the contact leaves the list).
- In the campaign, not in the list, known: removed from the list, so the CampaignMember is deleted.
- `from_salesforce`: a campaign member not known joins the list (a MANUAL or SNAPSHOT list).
- A list member with no Salesforce counterpart yet waits, with a skipped row (WAITING_FOR_LINK) that says so.

Every write goes through sync.outbox (pair `list:<name>`), validation and the audit, as record writes do;
`after_load` keeps sync.list_members in the same transaction as the answers.
"""

from __future__ import annotations

import duckdb

from crm_sync.config.models import ListMembership
from crm_sync.connectors.common import MissingInCrm
from crm_sync.engine.db import Binds, transaction
from crm_sync.engine.outbox import writes_due
from crm_sync.engine.plan import SKIP_KEY, _store_skips
from crm_sync.engine.staging import ensure_tables

PAIR_PREFIX = "list:"
MEMBER = 'raw_salesforce."CampaignMember_current"'
CAMPAIGN = 'raw_salesforce."Campaign_current"'
# The Salesforce fields list membership reads (the Campaigns by name, and their members)
READS = {"Campaign": ["Name"], "CampaignMember": ["CampaignId", "ContactId", "LeadId", "Status"]}


def _ensure_reads(con: duckdb.DuckDBPyConnection) -> None:
    """The staged Campaigns and members, empty while a read found none (staging makes them with its first rows)."""
    for obj, fields in READS.items():
        ensure_tables(con, "salesforce", obj, fields)


def pair_of(name: str) -> str:
    return PAIR_PREFIX + name


def needs_members(con: duckdb.DuckDBPyConnection, name: str, state: dict) -> bool:
    """Whether the list changed since its members were last read (HubSpot moves listVersion on every change)."""
    row = con.execute("SELECT list_id, version FROM sync.list_reads WHERE list = ?", [name]).fetchone()
    return row is None or row != (str(state["listId"]), str(state.get("listVersion")))


def record_read(con: duckdb.DuckDBPyConnection, name: str, state: dict, members: list[str] | None,
                run_id: str) -> None:
    """Keep the list's state; members (None: not read, unchanged) replace the ones kept."""
    with transaction(con):
        if members is not None:
            con.execute("DELETE FROM sync.list_members_read WHERE list = ?", [name])
            con.execute("INSERT INTO sync.list_members_read SELECT DISTINCT ?, unnest(?::VARCHAR[])", [name, members])
        con.execute("""INSERT INTO sync.list_reads VALUES (?, ?, ?, ?, (SELECT count(*) FROM sync.list_members_read
                WHERE list = ?), ?, now())
            ON CONFLICT (list) DO UPDATE SET list_id = excluded.list_id, processing_type = excluded.processing_type,
                version = excluded.version, members = excluded.members, run_id = excluded.run_id, read_at = now()""",
                    [name, str(state["listId"]), state.get("processingType"), str(state.get("listVersion")), name,
                     run_id])


def campaign_of(con: duckdb.DuckDBPyConnection, name: str, cfg: ListMembership) -> str:
    """The Campaign's id, by id or by name, from the Campaigns as read; a clear error when there is none, or two."""
    _ensure_reads(con)
    rows = Binds(c=cfg.campaign).execute(con, f"""SELECT id FROM {CAMPAIGN} WHERE NOT deleted
        AND (id = $c OR left(id, 15) = left($c, 15) OR lower(trim("Name")) = lower(trim($c))) ORDER BY id""")
    found = [r[0] for r in rows.fetchall()]
    if len(found) != 1:
        what = "no Campaign" if not found else f"{len(found)} Campaigns ({', '.join(found)})"
        raise MissingInCrm(f"Salesforce has {what} named {cfg.campaign!r} (lists.{name}.campaign): name one "
                           "Campaign by its name or its id; the sync adds members to a Campaign, it makes none")
    return found[0]


def plan_list(con: duckdb.DuckDBPyConnection, name: str, cfg: ListMembership, run_id: str) -> dict[str, int]:
    """The list's membership ops into sync.outbox (open ones no longer wanted superseded), its skipped rows, and
    the memberships both sides hold now into sync.list_members. Returns counts by op."""
    read = con.execute("SELECT list_id, processing_type FROM sync.list_reads WHERE list = ?", [name]).fetchone()
    if read is None:
        return {}
    campaign = campaign_of(con, name, cfg)
    b = Binds(list=name, pair=pair_of(name), people=cfg.people, campaign=campaign, status=cfg.status,
              run_id=run_id, list_id=read[0], to_hs=cfg.from_salesforce and read[1] != "DYNAMIC",
              list_name=cfg.list)
    with transaction(con):
        b.execute(con, f"""CREATE OR REPLACE TEMP TABLE _lm AS
            WITH people AS (SELECT hubspot_id, salesforce_object, salesforce_id FROM sync.links WHERE pair = $people),
            known AS (SELECT hubspot_id, person_id, member_id FROM sync.list_members WHERE list = $list),
            members AS (SELECT m.id AS member_id, COALESCE(m."ContactId", m."LeadId") AS person_id, m.deleted
                        FROM {MEMBER} m WHERE m."CampaignId" = $campaign),
            ids AS (SELECT hubspot_id FROM sync.list_members_read WHERE list = $list
                    UNION SELECT p.hubspot_id FROM members m JOIN people p ON p.salesforce_id = m.person_id
                    WHERE NOT m.deleted
                    UNION SELECT hubspot_id FROM known)
            SELECT i.hubspot_id, p.salesforce_object, p.salesforce_id,
                   i.hubspot_id IN (SELECT hubspot_id FROM sync.list_members_read WHERE list = $list) AS in_hs,
                   k.hubspot_id IS NOT NULL AS known,
                   -- held in the campaign: read so, or written by the sync and not read deleted since
                   COALESCE((SELECT min(m.member_id) FROM members m WHERE NOT m.deleted
                             AND m.person_id IN (p.salesforce_id, k.person_id)),
                            CASE WHEN k.member_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM members m
                                 WHERE m.member_id = k.member_id AND m.deleted) THEN k.member_id END) AS member_id
            FROM ids i LEFT JOIN people p USING (hubspot_id) LEFT JOIN known k USING (hubspot_id)""")
        b.execute(con, """CREATE OR REPLACE TEMP TABLE _lm_ops AS
            SELECT md5($pair || '|create|' || hubspot_id || '|' || salesforce_id) AS op_id, 'salesforce' AS target,
                   'CampaignMember' AS object, 'create' AS action, hubspot_id AS record_key, NULL AS target_id,
                   json_object('CampaignId', $campaign, CASE salesforce_object WHEN 'Lead' THEN 'LeadId'
                               ELSE 'ContactId' END, salesforce_id, 'Status', $status) AS payload,
                   'in the HubSpot list' AS reason
            FROM _lm WHERE in_hs AND salesforce_id IS NOT NULL AND member_id IS NULL AND (NOT $to_hs OR NOT known)
            UNION ALL
            SELECT md5($pair || '|delete|' || member_id), 'salesforce', 'CampaignMember', 'delete', hubspot_id,
                   member_id, '{}'::JSON, 'removed from the HubSpot list'
            FROM _lm WHERE NOT in_hs AND known AND member_id IS NOT NULL
            UNION ALL
            SELECT md5($pair || '|add|' || hubspot_id || '|' || member_id), 'hubspot', 'lists', 'list_add',
                   hubspot_id, $list_id, json_object('record_id', hubspot_id, 'person_id', salesforce_id,
                   'member_id', member_id), 'a member of the Salesforce campaign'
            FROM _lm WHERE $to_hs AND NOT in_hs AND NOT known AND member_id IS NOT NULL
            UNION ALL
            SELECT md5($pair || '|remove|' || hubspot_id), 'hubspot', 'lists', 'list_remove', hubspot_id, $list_id,
                   json_object('record_id', hubspot_id), 'removed from the Salesforce campaign'
            FROM _lm WHERE $to_hs AND in_hs AND known AND member_id IS NULL AND salesforce_id IS NOT NULL""")
        # What both sides hold now is agreed; what neither holds is forgotten.
        b.execute(con, """INSERT INTO sync.list_members (list, hubspot_id, person_id, member_id)
            SELECT $list, hubspot_id, salesforce_id, member_id FROM _lm WHERE in_hs AND member_id IS NOT NULL
            ON CONFLICT (list, hubspot_id) DO UPDATE SET person_id = excluded.person_id,
                member_id = excluded.member_id, agreed_at = now()""")
        b.execute(con, """DELETE FROM sync.list_members WHERE list = $list
            AND hubspot_id IN (SELECT hubspot_id FROM _lm WHERE NOT in_hs AND member_id IS NULL)""")
        b.execute(con, """UPDATE sync.outbox SET status = 'superseded', updated_at = now() WHERE pair = $pair
            AND status IN ('pending', 'failed', 'invalid') AND op_id NOT IN (SELECT op_id FROM _lm_ops)""")
        # The same change wanted again (a member removed in Salesforce, added back by the list) opens its op again.
        b.execute(con, """INSERT INTO sync.outbox (op_id, run_id, pair, target, object, action, sf_object,
                record_key, target_id, payload, reason, status)
            SELECT op_id, $run_id, $pair, target, object, action, 'CampaignMember', record_key, target_id, payload,
                   reason, 'pending' FROM _lm_ops
            ON CONFLICT (op_id) DO UPDATE SET status = 'pending', attempts = 0, run_id = excluded.run_id,
                updated_at = now() WHERE sync.outbox.status IN ('sent', 'superseded')""")
        _skips(con, b)
        return dict(con.execute("SELECT target || ':' || action, count(*) FROM _lm_ops GROUP BY 1").fetchall())


def _skips(con: duckdb.DuckDBPyConnection, b: Binds) -> None:
    """Skipped rows (plan._store_skips): a list member not linked to a Salesforce record yet (it joins the
    campaign once it is); with from_salesforce, a campaign member whose Lead or Contact has no HubSpot contact yet.
    The rows of the list no longer waiting are resolved."""
    b.execute(con, f"""CREATE OR REPLACE TEMP TABLE _lm_skips AS
        SELECT 'salesforce' AS system, 'CampaignMember' AS object, hubspot_id AS record_id, 'list' AS field,
               'WAITING_FOR_LINK' AS code,
               'HubSpot contact ' || hubspot_id || ' is in list ' || $list_name || ' but has no Salesforce '
               || 'counterpart yet: it joins Campaign ' || $campaign || ' once it is linked' AS message
        FROM _lm WHERE in_hs AND salesforce_id IS NULL
        UNION ALL
        SELECT 'hubspot', 'lists', COALESCE(m."ContactId", m."LeadId"), 'list', 'WAITING_FOR_LINK',
               'Salesforce ' || COALESCE(m."ContactId", m."LeadId") || ' is a member of Campaign ' || $campaign
               || ' but has no HubSpot contact yet: it joins list ' || $list_name || ' once it is linked'
        FROM {MEMBER} m WHERE $to_hs AND NOT m.deleted AND m."CampaignId" = $campaign
          AND COALESCE(m."ContactId", m."LeadId") NOT IN (SELECT salesforce_id FROM sync.links WHERE pair = $people)""")
    _store_skips(con, b, "_lm_skips")
    b.execute(con, f"""UPDATE sync.errors SET resolved_at = now() WHERE pair = $pair AND kind = 'skipped'
        AND resolved_at IS NULL AND error_key NOT IN (SELECT {SKIP_KEY} FROM _lm_skips)""")


def ops_to_send(con: duckdb.DuckDBPyConnection, name: str, target: str, max_attempts: int):
    """The list's membership writes due toward target (outbox.writes_due: CampaignMembers are plain creates)."""
    return writes_due(con, pair_of(name), target, max_attempts)


def after_load(con: duckdb.DuckDBPyConnection) -> None:
    """In record_results' transaction (its _res): the memberships the answers made or ended. A CampaignMember is
    no record pair: the link record_results makes for a create is not kept."""
    con.execute(f"""INSERT INTO sync.list_members (list, hubspot_id, person_id, member_id)
        SELECT substr(pair, {len(PAIR_PREFIX) + 1}), record_key,
               COALESCE(payload ->> 'ContactId', payload ->> 'LeadId', payload ->> 'person_id'),
               CASE action WHEN 'create' THEN new_id ELSE payload ->> 'member_id' END
        FROM _res WHERE success AND starts_with(pair, '{PAIR_PREFIX}') AND action IN ('create', 'list_add')
        ON CONFLICT (list, hubspot_id) DO UPDATE SET person_id = excluded.person_id, member_id = excluded.member_id,
            agreed_at = now()""")
    con.execute(f"""DELETE FROM sync.list_members WHERE (list, hubspot_id) IN (
        SELECT substr(pair, {len(PAIR_PREFIX) + 1}), record_key FROM _res
        WHERE success AND starts_with(pair, '{PAIR_PREFIX}') AND action IN ('delete', 'list_remove'))""")
    con.execute(f"DELETE FROM sync.links WHERE starts_with(pair, '{PAIR_PREFIX}')")
