"""The three-way diff of linked records against the shadow: one-sided changes, value maps, conflicts, rules."""

from __future__ import annotations

import pytest

from crm_sync_tests.engine.world import World, at

# A linked person, agreeing on every field, as both CRMs hold it.
ANN_HS = {"id": "11", "salesforce_id": "0031", "email": "ann@example.org", "firstname": "Ann", "lastname": "Lee",
          "jobtitle": "CTO", "phone": "+1 555 0100", "mobilephone": "+1 555 0101", "city": "Oslo", "state": "OS",
          "zip": "0150"}
ANN_SF = {"id": "0031", "HubSpot_Id__c": "11", "Email": "ann@example.org", "FirstName": "Ann", "LastName": "Lee",
          "Title": "CTO", "Phone": "+1 555 0100", "MobilePhone": "+1 555 0101", "MailingCity": "Oslo",
          "MailingState": "OS", "MailingPostalCode": "0150"}


def linked_ann(tmp_path, **world) -> World:
    w = World(tmp_path, only=("people",), **world)
    w.stage_hubspot("contacts", [ANN_HS])
    w.stage_salesforce("Contact", [ANN_SF])
    w.cycle()
    assert w.ops() == [] and w.links("people") == {"11": ("Contact", "0031", "stored_id")}
    return w


def edit_both(w: World, hs: dict, sf: dict, hs_at: float, sf_at: float) -> None:
    w.stage_hubspot("contacts", [{"id": "11", **hs, "modified_at": at(hs_at)}])
    w.stage_salesforce("Contact", [{"id": "0031", **sf, "modified_at": at(sf_at)}])
    w.cycle()


def writes(w: World) -> dict[str, dict]:
    """target -> payload of the pending update for Ann."""
    return {o.target: o.payload for o in w.ops(action="update")}


def test_hubspot_only_change_propagates_to_salesforce(tmp_path):
    """A field changed in HubSpot only is written to the linked Salesforce record, nothing back."""
    w = linked_ann(tmp_path)
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "CEO"}])
    w.cycle()
    op = w.op()
    assert (op.target, op.object, op.action, op.target_id, op.payload) == (
        "salesforce", "Contact", "update", "0031", {"Title": "CEO"})
    w.answer_all()
    assert w.shadow("people", "11")["title"] == ("CEO", "CEO")
    w.echo()
    w.cycle()
    assert w.ops() == []


def test_salesforce_only_change_propagates_to_hubspot(tmp_path):
    """A field changed in Salesforce only is written to the linked HubSpot record."""
    w = linked_ann(tmp_path)
    w.stage_salesforce("Contact", [{"id": "0031", "Phone": "+47 22 00 00 00"}])
    w.cycle()
    assert writes(w) == {"hubspot": {"phone": "+47 22 00 00 00"}}


def test_a_value_cleared_on_one_side_is_cleared_on_the_other(tmp_path):
    """Clearing an optional field is a change like any other (null to Salesforce)."""
    w = linked_ann(tmp_path)
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": None}])
    w.cycle()
    assert writes(w) == {"salesforce": {"Title": None}}


def test_a_required_salesforce_field_is_never_cleared(tmp_path):
    """LastName cleared in HubSpot is not written: Salesforce requires it."""
    w = linked_ann(tmp_path)
    w.stage_hubspot("contacts", [{"id": "11", "lastname": None}])
    w.cycle()
    assert w.ops() == []


def test_lead_status_maps_hubspot_to_salesforce_and_the_echo_does_not_flip_it(tmp_path):
    """hs_lead_status CONNECTED becomes Lead.Status 'Working - Contacted'; the lifecycle stage that status implies
    (always_salesforce) goes to HubSpot in the same cycle, derived from the status written, not the one it
    replaces; the echo keeps HubSpot's value and plans nothing more."""
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("contacts", [{"id": "11", "salesforce_id": "00Q1", "email": "bo@example.org", "lastname": "Bo",
                                  "company": "Bo Inc", "hs_lead_status": "NEW", "lifecyclestage": "lead"}])
    w.stage_salesforce("Lead", [{"id": "00Q1", "HubSpot_Id__c": "11", "Email": "bo@example.org", "LastName": "Bo",
                                 "Company": "Bo Inc", "Status": "Open - Not Contacted"}])
    w.cycle()
    assert w.ops() == []
    w.stage_hubspot("contacts", [{"id": "11", "hs_lead_status": "CONNECTED"}])
    w.cycle()
    assert writes(w) == {"salesforce": {"Status": "Working - Contacted"},
                         "hubspot": {"lifecyclestage": "marketingqualifiedlead"}}
    w.answer_all()
    w.echo()
    w.cycle()
    assert w.ops() == []


def test_deal_stage_maps_salesforce_to_hubspot_and_stays_quiet(tmp_path):
    """StageName 'Needs Analysis' becomes dealstage qualifiedtobuy (a many-to-one map does not ping-pong)."""
    w = World(tmp_path, only=("deals",))
    w.stage_hubspot("deals", [{"id": "71", "salesforce_id": "0061", "dealname": "Big", "dealstage": "closedwon"}])
    w.stage_salesforce("Opportunity", [{"id": "0061", "HubSpot_Id__c": "71", "Name": "Big",
                                        "StageName": "Closed Won"}])
    w.cycle()
    assert w.ops() == []
    w.stage_salesforce("Opportunity", [{"id": "0061", "StageName": "Needs Analysis"}])
    w.cycle()
    assert writes(w) == {"hubspot": {"dealstage": "qualifiedtobuy"}}
    w.answer_all()
    w.echo()
    w.cycle()
    assert w.ops() == []


def test_industry_maps_both_ways(tmp_path):
    """HubSpot BANKING goes out as Banking; Salesforce Technology comes back as COMPUTER_SOFTWARE."""
    w = World(tmp_path, only=("companies",))
    w.stage_hubspot("companies", [{"id": "51", "name": "Acme", "industry": "BANKING"}])
    w.stage_salesforce("Account", [{"id": "0012", "Name": "Globex", "Industry": "Technology"}])
    w.cycle()
    assert w.op(target="salesforce", action="create").payload["Industry"] == "Banking"
    assert w.op(target="hubspot", action="create").payload["industry"] == "COMPUTER_SOFTWARE"


def test_conflict_goes_to_the_later_modification(tmp_path):
    """two_way, changed on both sides: the later modified_at wins, on each side of the clock."""
    w = linked_ann(tmp_path)
    edit_both(w, {"jobtitle": "HS title"}, {"Title": "SF title"}, hs_at=100, sf_at=200)
    assert writes(w) == {"hubspot": {"jobtitle": "SF title"}}
    edit_both(w, {"jobtitle": "HS again"}, {"Title": "SF again"}, hs_at=400, sf_at=300)
    assert writes(w) == {"salesforce": {"Title": "HS again"}}


def test_conflict_at_the_same_instant_goes_to_tie_winner_salesforce(tmp_path):
    """A tie goes to the pair's tie_winner (salesforce in the shipped sync.yaml)."""
    w = linked_ann(tmp_path)
    edit_both(w, {"jobtitle": "HS title"}, {"Title": "SF title"}, hs_at=100, sf_at=100)
    assert writes(w) == {"hubspot": {"jobtitle": "SF title"}}


def test_conflict_at_the_same_instant_goes_to_tie_winner_hubspot(tmp_path):
    """tie_winner: hubspot makes HubSpot win a tie."""
    w = linked_ann(tmp_path, pairs={"people": {"tie_winner": "hubspot"}})
    edit_both(w, {"jobtitle": "HS title"}, {"Title": "SF title"}, hs_at=100, sf_at=100)
    assert writes(w) == {"salesforce": {"Title": "HS title"}}


# Each rule on a field of its own: (rule, mapping, HubSpot property, Salesforce field, side expected to win).
RULE_CASES = [
    ("prefer_salesforce_unless_blank", "phone", "phone", "Phone", "sf"),  # HubSpot edited later, still loses
    ("prefer_hubspot_unless_blank", "mobile_phone", "mobilephone", "MobilePhone", "hs"),
    ("always_salesforce", "city", "city", "MailingCity", "sf"),
    ("always_hubspot", "state", "state", "MailingState", "hs"),
    ("dont_sync", "postal_code", "zip", "MailingPostalCode", None),
]


@pytest.mark.parametrize(("rule", "mapping", "hs_field", "sf_field", "winner"), RULE_CASES)
def test_conflict_resolves_by_the_field_rule(tmp_path, rule, mapping, hs_field, sf_field, winner):
    """Both sides edit the field, HubSpot later: the rule picks the side (dont_sync: neither is written)."""
    w = linked_ann(tmp_path, fields={"people": {mapping: {"rule": rule}}})
    edit_both(w, {hs_field: "hs value"}, {sf_field: "sf value"}, hs_at=200, sf_at=100)
    expected = {"sf": {"hubspot": {hs_field: "sf value"}}, "hs": {"salesforce": {sf_field: "hs value"}}}
    assert writes(w) == expected.get(winner, {})


def test_prefer_salesforce_unless_blank_fills_a_blank_salesforce_field(tmp_path):
    """With Salesforce blank, the HubSpot value is written to Salesforce."""
    w = linked_ann(tmp_path, fields={"people": {"phone": {"rule": "prefer_salesforce_unless_blank"}}})
    edit_both(w, {"phone": "+1 555 0199"}, {"Phone": None}, hs_at=100, sf_at=200)
    assert writes(w) == {"salesforce": {"Phone": "+1 555 0199"}}
