"""List membership plans on DuckDB alone (engine/lists.py): a list member not linked yet waits with a row that says
so; a DYNAMIC list cannot take Salesforce's members, so the list decides even with from_salesforce; a campaign
named twice is an error naming both."""

from __future__ import annotations

import pytest

from crm_sync.config.models import ListMembership
from crm_sync.connectors.common import MissingInCrm
from crm_sync.engine import db, lists


def state(tmp_path, processing: str = "MANUAL"):
    con = db.connect(tmp_path / "state" / "crm_sync.duckdb")
    con.execute("""CREATE TABLE raw_salesforce."Campaign_current" AS
        SELECT * FROM (VALUES ('7011', 'Webinar', false), ('7012', 'Twice', false), ('7013', 'Twice', false))
        t(id, "Name", deleted)""")
    con.execute("""CREATE TABLE raw_salesforce."CampaignMember_current" AS
        SELECT * FROM (VALUES ('00v1', '7011', '0032', NULL, false))
        t(id, "CampaignId", "ContactId", "LeadId", deleted)""")
    con.execute("""INSERT INTO sync.links (pair, hubspot_id, salesforce_object, salesforce_id, linked_by)
        VALUES ('people', '11', 'Contact', '0031', 'key'), ('people', '12', 'Contact', '0032', 'key')""")
    lists.record_read(con, "w", {"listId": "9", "listVersion": 1, "processingType": processing}, ["11", "13"], "r1")
    return con


def ops(con) -> list[tuple]:
    return con.execute("""SELECT target, action, record_key, target_id FROM sync.outbox WHERE status = 'pending'
        ORDER BY 1, 2, 3""").fetchall()


def test_a_member_not_linked_waits_and_a_dynamic_list_decides(tmp_path):
    con = state(tmp_path, processing="DYNAMIC")
    cfg = ListMembership(list="Webinar list", campaign="Webinar", from_salesforce=True)
    lists.plan_list(con, "w", cfg, "r1")
    # 11 joins the campaign; 12 (only in the campaign) cannot join a DYNAMIC list: it is left alone; 13 waits.
    assert ops(con) == [("salesforce", "create", "11", None)]
    [(record, code, message)] = con.execute("""SELECT record_id, code, message FROM sync.errors
        WHERE pair = 'list:w' AND resolved_at IS NULL""").fetchall()
    assert (record, code) == ("13", "WAITING_FOR_LINK") and "Webinar list" in message
    con.execute("""INSERT INTO sync.links (pair, hubspot_id, salesforce_object, salesforce_id, linked_by)
        VALUES ('people', '13', 'Lead', '00Q3', 'created')""")
    lists.plan_list(con, "w", cfg, "r2")
    assert ops(con) == [("salesforce", "create", "11", None), ("salesforce", "create", "13", None)]
    assert con.execute("SELECT count(*) FROM sync.errors WHERE pair = 'list:w' AND resolved_at IS NULL"
                       ).fetchone()[0] == 0
    payload = con.execute("SELECT payload ->> 'LeadId' FROM sync.outbox WHERE record_key = '13'").fetchone()[0]
    assert payload == "00Q3"


def test_a_campaign_name_that_names_two_is_refused(tmp_path):
    con = state(tmp_path)
    with pytest.raises(MissingInCrm) as err:
        lists.plan_list(con, "w", ListMembership(list="x", campaign="Twice"), "r1")
    assert "2 Campaigns (7012, 7013)" in str(err.value) and "lists.w.campaign" in str(err.value)
