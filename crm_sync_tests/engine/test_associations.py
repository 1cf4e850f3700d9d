"""Associations translate ids through the links of the associated pair: contact -> company (Contact.AccountId),
deal -> company (Opportunity.AccountId), and a deal's contacts <-> its OpportunityContactRole rows."""

from __future__ import annotations

from crm_sync_tests.engine.world import World

COMPANIES_HS = [{"id": "51", "name": "Acme", "salesforce_id": "0011"},
                {"id": "52", "name": "Globex", "salesforce_id": "0012"}]
ACCOUNTS = [{"id": "0011", "Name": "Acme", "HubSpot_Id__c": "51"},
            {"id": "0012", "Name": "Globex", "HubSpot_Id__c": "52"}]
CONTACTS_HS = [{"id": "11", "salesforce_id": "0031", "email": "ann@example.org", "lastname": "Lee",
                "associations.companies": "51"},
               {"id": "12", "salesforce_id": "0032", "email": "ben@example.org", "lastname": "Berg",
                "associations.companies": "51"}]
CONTACTS_SF = [{"id": "0031", "HubSpot_Id__c": "11", "Email": "ann@example.org", "LastName": "Lee",
                "AccountId": "0011"},
               {"id": "0032", "HubSpot_Id__c": "12", "Email": "ben@example.org", "LastName": "Berg",
                "AccountId": "0011"}]
DEAL_HS = {"id": "71", "salesforce_id": "0061", "dealname": "Big", "associations.companies": "51",
           "associations.contacts": "11"}
OPPORTUNITY = {"id": "0061", "HubSpot_Id__c": "71", "Name": "Big", "AccountId": "0011"}
ROLE = {"id": "00K1", "OpportunityId": "0061", "ContactId": "0031", "Role": "Decision Maker"}


def linked_world(tmp_path, *pairs: str) -> World:
    """Two companies, two contacts at Acme, a deal at Acme with Ann as its contact: all linked and agreeing
    (only the pairs named, so only the associations between them)."""
    w = World(tmp_path, only=pairs)
    if "companies" in pairs:
        w.stage_hubspot("companies", COMPANIES_HS)
        w.stage_salesforce("Account", ACCOUNTS)
    if "people" in pairs:
        w.stage_hubspot("contacts", CONTACTS_HS)
        w.stage_salesforce("Contact", CONTACTS_SF)
    if "deals" in pairs:
        w.stage_hubspot("deals", [DEAL_HS])
        w.stage_salesforce("Opportunity", [OPPORTUNITY])
        w.stage_salesforce("OpportunityContactRole", [ROLE])
    w.cycle()
    assert w.ops() == []
    return w


def planned(w: World) -> list[tuple[str, str, str, dict]]:
    """(pair, target, target_id, values) of the pending record ops."""
    return [(o.pair, o.target, o.target_id, o.values) for o in w.ops() if o.parent_op_id is None]


def test_contact_moved_to_another_account_moves_its_hubspot_company(tmp_path):
    """Contact.AccountId 0012 becomes the HubSpot contact's company 52; once written, the echo is quiet."""
    w = linked_world(tmp_path, "companies", "people")
    w.stage_salesforce("Contact", [{"id": "0031", "AccountId": "0012"}])
    w.cycle()
    assert planned(w) == [("people", "hubspot", "11", {"associations.companies": "52"})]
    w.answer_all()
    assert w.record("hubspot", "contacts", "11")["associations.companies"] == "52"
    assert w.shadow("people", "11")["company"] == ("52", "52")
    w.echo()
    w.cycle()
    assert w.ops() == []


def test_hubspot_company_change_sets_contact_account_id(tmp_path):
    """A HubSpot contact's company 52 becomes Contact.AccountId 0012."""
    w = linked_world(tmp_path, "companies", "people")
    w.stage_hubspot("contacts", [{"id": "11", "associations.companies": "52"}])
    w.cycle()
    assert planned(w) == [("people", "salesforce", "0031", {"AccountId": "0012"})]


def test_opportunity_account_change_moves_the_deal_company(tmp_path):
    """Opportunity.AccountId 0012 becomes the deal's company 52."""
    w = linked_world(tmp_path, "companies", "deals")
    w.stage_salesforce("Opportunity", [{"id": "0061", "AccountId": "0012"}])
    w.cycle()
    assert planned(w) == [("deals", "hubspot", "71", {"associations.companies": "52"})]
    w.answer_all()
    assert w.record("hubspot", "deals", "71")["associations.companies"] == "52"
    w.echo()
    w.cycle()
    assert w.ops() == []


def test_contact_added_to_a_deal_becomes_an_opportunity_contact_role(tmp_path):
    """Deal contacts 11;12 become the roles 0031;0032: a role is created for Ben; then quiet."""
    w = linked_world(tmp_path, "people", "deals")
    w.stage_hubspot("deals", [{"id": "71", "associations.contacts": "11;12"}])
    w.cycle()
    assert planned(w) == [("deals", "salesforce", "0061", {"OpportunityContactRole": "0031;0032"})]
    w.answer_all()
    roles = w.crm["salesforce"]["OpportunityContactRole"].values()
    assert sorted(r["ContactId"] for r in roles if r["OpportunityId"] == "0061" and not r["deleted"]) == [
        "0031", "0032"]
    w.echo()
    w.cycle()
    assert w.ops() == []


def test_contact_role_added_in_salesforce_adds_the_deal_contact(tmp_path):
    """A new OpportunityContactRole for Ben adds contact 12 to the HubSpot deal."""
    w = linked_world(tmp_path, "people", "deals")
    w.stage_salesforce("OpportunityContactRole", [{"id": "00K2", "OpportunityId": "0061", "ContactId": "0032"}])
    w.cycle()
    assert planned(w) == [("deals", "hubspot", "71", {"associations.contacts": "11;12"})]


def test_association_to_an_unlinked_company_is_left_alone(tmp_path):
    """A company nobody has linked yet is not written as an association (its id means nothing over there)."""
    w = linked_world(tmp_path, "companies", "people")
    w.stage_hubspot("companies", [{"id": "53", "name": "Initech"}])
    w.stage_hubspot("contacts", [{"id": "11", "associations.companies": "53"}])
    w.cycle()
    assert [(o.pair, o.action) for o in w.ops()] == [("companies", "create")]  # Initech only


def test_association_follows_a_company_created_earlier_in_the_same_run(tmp_path):
    """The companies load links Initech before the people plan, which then sets AccountId to the new Account."""
    w = linked_world(tmp_path, "companies", "people")
    w.stage_hubspot("companies", [{"id": "53", "name": "Initech"}])
    w.stage_hubspot("contacts", [{"id": "11", "associations.companies": "53"}])
    w.run(ids={"53": "0013"})
    assert w.links("companies")["53"] == ("Account", "0013", "created")
    assert w.record("salesforce", "Contact", "0031")["AccountId"] == "0013"


def test_new_salesforce_contact_is_created_in_hubspot_with_its_company(tmp_path):
    """A new Contact at Account 0012 is created in HubSpot associated to company 52."""
    w = linked_world(tmp_path, "companies", "people")
    w.stage_salesforce("Contact", [{"id": "0033", "Email": "cy@example.org", "LastName": "Ng", "AccountId": "0012"}])
    w.cycle()
    op = w.op(action="create")
    assert op.target == "hubspot" and op.values["associations.companies"] == "52"
    w.answer_all(ids={"0033": "13"})
    assert w.record("hubspot", "contacts", "13")["associations.companies"] == "52"


def test_new_opportunity_is_created_in_hubspot_without_unlinked_contacts(tmp_path):
    """An Opportunity whose roles name a Contact nobody has linked creates a deal with no made-up member id."""
    w = linked_world(tmp_path, "companies", "people", "deals")
    w.stage_salesforce("Opportunity", [{"id": "0062", "Name": "New", "AccountId": "0011"}])
    w.stage_salesforce("OpportunityContactRole", [{"id": "00K3", "OpportunityId": "0062", "ContactId": "0031"},
                                                  {"id": "00K4", "OpportunityId": "0062", "ContactId": "0039"}])
    w.cycle()
    op = w.op(pair="deals", action="create")
    assert not any("unlinked:" in str(v) for v in op.values.values()), op.values


def test_an_association_waiting_for_its_record_to_be_linked_says_so_until_it_is_written(tmp_path):
    """Ann moved to Initech, which no Account has yet (and may never, if it cannot be created): the AccountId
    that is not written has an error row naming the field; once Initech is linked, AccountId is written and the
    row resolved."""
    w = World(tmp_path, only=("companies", "people"), pairs={"companies": {"create_in_salesforce": False}})
    w.stage_hubspot("companies", [*COMPANIES_HS, {"id": "53", "name": "Initech"}])
    w.stage_salesforce("Account", ACCOUNTS)
    w.stage_hubspot("contacts", CONTACTS_HS)
    w.stage_salesforce("Contact", CONTACTS_SF)
    w.cycle()
    w.stage_hubspot("contacts", [{"id": "11", "associations.companies": "53"}])
    w.cycle()
    assert w.ops() == []
    waiting = [(e["system"], e["record_id"], e["code"], e["fields"]) for e in w.errors()]
    assert waiting == [("salesforce", "11", "WAITING_FOR_LINK", "AccountId")]
    assert "HubSpot 53" in w.errors()[0]["message"]
    w.stage_salesforce("Account", [{"id": "0013", "Name": "Initech", "HubSpot_Id__c": "53"}])
    w.cycle()
    assert [op for op in planned(w) if op[0] == "people"] == [("people", "salesforce", "0031", {"AccountId": "0013"})]
    w.answer_all()
    assert w.errors() == []


def test_a_deal_read_back_without_its_associations_keeps_the_company_the_sync_wrote(tmp_path):
    """The sync moves deal 71 to company 52 and changes its name; the next read finds the deal by search (its
    name changed), which brings no associations: the company it holds is still the one the sync wrote, so nothing
    is written back to Salesforce (before, the company as read before the write came back as a HubSpot edit)."""
    w = linked_world(tmp_path, "companies", "deals")
    w.stage_salesforce("Opportunity", [{"id": "0061", "AccountId": "0012", "Name": "Bigger"}])
    w.cycle()
    w.answer_all()
    assert w.record("hubspot", "deals", "71")["associations.companies"] == "52"
    w.stage_hubspot("deals", [{"id": "71", "dealname": "Bigger"}], associations=False)  # as search reads it
    w.cycle()
    assert w.ops() == []
