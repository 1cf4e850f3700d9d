"""HubSpot list membership <-> Salesforce CampaignMembers (issue 14's list membership row): HubSpot -> Salesforce
as configured, with the member status, and Salesforce -> HubSpot as an option (from_salesforce)."""

from __future__ import annotations

import yaml
from dagster import DagsterEventType, DagsterInstance
from hubspot.crm.contacts import SimplePublicObjectInputForCreate
from simple_salesforce import format_soql

from crm_sync.runner import execute_cycle
from crm_sync_tests.sync_harness import converged_env


def make_list(hs, name: str, members: list[str]) -> str:
    made = hs.crm.lists.lists_api.create({"name": name, "objectTypeId": "0-1", "processingType": "MANUAL"})
    list_id = made.list.list_id
    if members:
        hs.crm.lists.memberships_api.add(list_id, members)
    return list_id


def list_members(hs, list_id: str) -> set[str]:
    return {r.record_id for r in hs.crm.lists.memberships_api.get_page(list_id, limit=250).results}


def campaign_members(sf, campaign: str) -> dict[str, dict]:
    """{Lead or Contact id: row} of the Campaign's live members."""
    rows = sf.query_all(format_soql("SELECT Id, LeadId, ContactId, Status FROM CampaignMember WHERE CampaignId = {}",
                                    campaign))["records"]
    return {r["ContactId"] or r["LeadId"]: r for r in rows}


def test_list_members_are_campaign_members_and_back_when_configured(tmp_path):
    with converged_env(tmp_path) as env:  # the shipped pairs, converged
        sf, hs = env.sf(), env.hs()
        people = env.links("people")
        contacts = [(h, s) for h, s in people.items() if s.startswith("003")]
        leads = [(h, s) for h, s in people.items() if s.startswith("00Q")]
        (c1h, c1s), (c2h, c2s), (c3h, c3s), (c4h, c4s) = contacts[:4]
        (l1h, l1s), = leads[:1]
        # A contact new in HubSpot this run: the people pair creates it in Salesforce before the lists plan.
        new_h = hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
            properties={"email": "new.member@example.org", "lastname": "Member", "firstname": "New"})).id
        webinar = make_list(hs, "Webinar attendees", [c1h, c2h, l1h, new_h])
        sf_webinar = sf.Campaign.create({"Name": "Webinar 2026", "IsActive": True})["id"]
        sf.CampaignMember.create({"CampaignId": sf_webinar, "ContactId": c4s, "Status": "Responded"})  # not the list's
        partners = make_list(hs, "Partners", [c3h])
        sf_partners = sf.Campaign.create({"Name": "Partner program"})["id"]
        lists = {"webinar": {"list": "Webinar attendees", "campaign": "Webinar 2026", "status": "Sent"},
                 "partners": {"list": partners, "campaign": sf_partners, "status": "Responded",
                              "from_salesforce": True}}
        env.config_path.write_text(yaml.safe_dump({**yaml.safe_load(env.config_path.read_text()), "lists": lists}))

        outcomes = env.converge()
        assert len(outcomes) == 2, [o.summary for o in outcomes]  # one run writes it all, the next is quiet
        new_s = env.links("people")[new_h]
        members = campaign_members(sf, sf_webinar)
        # Each list member is a campaign member, as a Contact or a Lead, with the configured status; the member
        # added in Salesforce stays (the list decides only what it holds).
        assert {k: (v["ContactId"], v["LeadId"], v["Status"]) for k, v in members.items()} == {
            c1s: (c1s, None, "Sent"), c2s: (c2s, None, "Sent"), l1s: (None, l1s, "Sent"),
            new_s: (None, new_s, "Sent") if new_s.startswith("00Q") else (new_s, None, "Sent"),
            c4s: (c4s, None, "Responded")}
        assert set(campaign_members(sf, sf_partners)) == {c3s}
        assert list_members(hs, webinar) == {c1h, c2h, l1h, new_h}

        # HubSpot -> Salesforce: a member leaves the list, another joins; a campaign member deleted in Salesforce
        # comes back (the list decides), and a member added only in Salesforce is left alone.
        hs.crm.lists.memberships_api.remove(webinar, [c2h])
        hs.crm.lists.memberships_api.add(webinar, [c3h])
        sf.CampaignMember.delete(members[c1s]["Id"])
        # Salesforce -> HubSpot on the partners list: a member added, and the first one removed.
        sf.CampaignMember.create({"CampaignId": sf_partners, "LeadId": l1s, "Status": "Responded"})
        sf.CampaignMember.delete(campaign_members(sf, sf_partners)[c3s]["Id"])
        assert env.converge()[-1].planned_writes == 0
        assert set(campaign_members(sf, sf_webinar)) == {c1s, c3s, l1s, new_s, c4s}
        assert list_members(hs, webinar) == {c1h, c3h, l1h, new_h}
        assert list_members(hs, partners) == {l1h}
        assert set(campaign_members(sf, sf_partners)) == {l1s}


def test_a_campaign_that_does_not_exist_fails_the_plan_naming_it(tmp_path):
    with converged_env(tmp_path) as env:
        make_list(env.hs(), "Trade show", [])
        lists = {"show": {"list": "Trade show", "campaign": "Trade Show 2027"}}
        env.config_path.write_text(yaml.safe_dump({**yaml.safe_load(env.config_path.read_text()), "lists": lists}))
        instance = DagsterInstance.ephemeral()
        outcome = execute_cycle(env.config_path, instance=instance)
        assert not outcome.success
        [failure] = [str(e.dagster_event.step_failure_data.user_failure_data.description)
                     for e in instance.all_logs(outcome.run_id, of_type=DagsterEventType.STEP_FAILURE)]
        assert failure.startswith("lists.show: Salesforce has no Campaign named 'Trade Show 2027'"), failure
        with env.state() as con:
            assert con.execute("SELECT count(*) FROM sync.outbox WHERE pair = 'list:show'").fetchone()[0] == 0
