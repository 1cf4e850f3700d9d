"""The seed generator: what the summary claims is what the sandboxes serve through the real clients, reproducibly."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import numpy as np
import pytest
from hubspot import HubSpot
from simple_salesforce.exceptions import SalesforceMalformedRequest

from crm_sandbox import population, words
from crm_sandbox.hubspot.values import valid_email
from crm_sandbox.population import Layout, World
from crm_sandbox.salesforce import schema
from crm_sandbox.salesforce.errors import SfError
from crm_sandbox.salesforce.rules import coerce_value
from crm_sandbox.seed import format_summary, seed_sandbox
from crm_sandbox.server import running_sandbox
from crm_sandbox.words import INDUSTRY_PAIRS, LEAD_STATUS_MAP, PRODUCT_PRICES, PRODUCT_SKUS, PRODUCTS
from tests.clients import connect, sandbox_credentials

SIZE, SEED = 300, 11
SF_OBJECTS = ("User", "Account", "Contact", "Lead", "Opportunity", "OpportunityContactRole", "Case", "Task",
              "Product2", "PricebookEntry", "OpportunityLineItem", "Event")
HS_OBJECTS = ("companies", "contacts", "deals", "tickets", "tasks", "notes", "products", "line_items", "calls",
              "emails", "meetings")
HS_PROPS = {
    "contacts": ["email", "firstname", "lastname", "jobtitle", "company", "city", "lifecyclestage", "hs_lead_status",
                 "hubspot_owner_id"],
    "companies": ["name", "domain", "industry", "numberofemployees", "annualrevenue", "city"],
    "deals": ["dealname", "amount", "dealstage", "closedate", "pipeline"],
    "tickets": ["subject", "hs_pipeline_stage", "hs_ticket_priority"],
    "tasks": ["hs_task_subject", "hs_task_status", "hs_timestamp"],
    "notes": ["hs_note_body", "hs_timestamp"],
    "products": ["name", "hs_sku", "price"],
    "line_items": ["name", "hs_product_id", "hs_sku", "price", "quantity", "amount"],
    "calls": ["hs_call_title", "hs_call_direction", "hs_call_duration", "hs_timestamp"],
    "emails": ["hs_email_subject", "hs_timestamp"],
    "meetings": ["hs_meeting_title", "hs_meeting_start_time", "hs_meeting_end_time", "hs_timestamp"],
}


def norm(email: str | None) -> str | None:
    return email.strip().lower() if email else None


def website_host(url: str) -> str:
    host = re.sub(r"^[a-z]+://", "", url.strip().lower()).split("/")[0]
    return host.removeprefix("www.")


def sf_rejects(type_name: str, field: str, value) -> bool:
    try:
        coerce_value(schema.SCHEMA[type_name].field(field), value)
    except SfError:
        return True
    return False


def read_all(info: dict) -> dict:
    """Everything the seed wrote, read back through simple-salesforce and hubspot-api-client."""
    sf = connect(sandbox_credentials(info))
    hs = HubSpot(access_token=info["hubspot"]["access_token"], host=info["hubspot"]["base_url"])
    out = {
        "Lead": sf.query_all("SELECT FirstName, LastName, Email, Company, Title, Status, Industry, City, IsConverted, "
                             "ConvertedContactId, ConvertedAccountId, ConvertedContact.Email, Owner.Email "
                             "FROM Lead")["records"],
        "Contact": sf.query_all("SELECT Id, FirstName, LastName, Email, Title, MailingCity, AccountId, Account.Name, "
                                "Owner.Email FROM Contact")["records"],
        "Account": sf.query_all("SELECT Id, Name, Website, Industry, NumberOfEmployees, Owner.Email, CreatedDate, "
                                "LastModifiedDate, SystemModstamp FROM Account")["records"],
        "Opportunity": sf.query_all("SELECT Name, StageName, Amount, CloseDate, AccountId FROM Opportunity")["records"],
        "Case": sf.query_all("SELECT Subject, Status, Priority, ContactId FROM Case")["records"],
        "Task": sf.query_all("SELECT Subject, ActivityDate, Status, Priority, TaskSubtype, WhoId, CallType, "
                             "CallDurationInSeconds FROM Task")["records"],
        "Event": sf.query_all("SELECT Subject, StartDateTime, EndDateTime, DurationInMinutes, WhoId FROM Event")[
            "records"],
        "User": sf.query_all("SELECT Email FROM User")["records"],
        "sf_counts": {name: sf.query(f"SELECT COUNT() FROM {name}")["totalSize"] for name in SF_OBJECTS},
        "owners": hs.crm.owners.get_all(),
    }
    out["OpportunityLineItem"] = sf.query_all("SELECT Opportunity.Name, Product2.Name, ProductCode, PricebookEntry."
                                              "Pricebook2.IsStandard, UnitPrice, ListPrice, Quantity, Discount, "
                                              "TotalPrice FROM OpportunityLineItem")["records"]
    for object_type in HS_OBJECTS:
        associations = {"contacts": ["companies"], "line_items": ["deals"]}.get(object_type)
        found = hs.crm.objects.get_all(object_type, properties=HS_PROPS[object_type], associations=associations)
        out[object_type] = [o.to_dict() for o in found]
    return out


def business_fields(data: dict) -> dict[str, list[tuple]]:
    """Sorted business values per object: what must be equal for equal seeds (ids and stamps left out)."""
    sf_keys = {"Lead": ("FirstName", "LastName", "Email", "Company", "Title", "Status", "Industry", "City",
                        "IsConverted"),
               "Contact": ("FirstName", "LastName", "Email", "Title", "MailingCity"),
               "Account": ("Name", "Website", "Industry", "NumberOfEmployees"),
               "Opportunity": ("Name", "StageName", "Amount", "CloseDate"),
               "Case": ("Subject", "Status", "Priority"), "Task": ("Subject", "ActivityDate", "Status", "Priority")}
    out = {name: sorted(tuple(str(r[k]) for k in keys) for r in data[name]) for name, keys in sf_keys.items()}
    for object_type, props in HS_PROPS.items():
        props = [p for p in props if p != "hubspot_owner_id"]
        out[object_type] = sorted(tuple(str(o["properties"].get(p)) for p in props) for o in data[object_type])
    return out


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    directory = tmp_path_factory.mktemp("seeded")
    summary = seed_sandbox(directory, SIZE, SEED)
    with running_sandbox(directory) as info:
        yield summary, info, read_all(info)


def test_counts_match_the_summary(seeded):
    summary, _, data = seeded
    assert data["sf_counts"] == {**summary.salesforce, "User": summary.salesforce["User"] + 1}  # + the org's admin
    assert len(data["owners"]) == summary.hubspot["owners"]  # the portal's admin owner listed and counted
    assert {t: len(data[t]) for t in HS_OBJECTS} == {t: summary.hubspot[t] for t in HS_OBJECTS}
    assert summary.hubspot["contacts"] == SIZE
    assert summary.salesforce["Lead"] + summary.salesforce["Contact"] == SIZE
    assert SIZE / 6 <= summary.salesforce["Account"] <= SIZE / 4 and summary.hubspot["companies"] == SIZE // 5
    assert summary.salesforce["Opportunity"] == summary.hubspot["deals"] == SIZE // 4
    results = [(c.get("associations") or {}).get("companies", {}).get("results", []) for c in data["contacts"]]
    linked = sum(len({r["id"] for r in found}) for found in results)
    assert linked == summary.hubspot_associations["contacts-companies"] > SIZE * 0.8
    # Each seeded contact's one company is its primary company, listed under both association types.
    assert all(sorted(r["type"] for r in found) == ["contact_to_company", "contact_to_company_unlabeled"]
               for found in results if found)
    text = format_summary(summary)
    assert "OpportunityContactRole" in text and f"{summary.people_on_both_sides:,} people" in text


def test_converted_leads_point_at_real_records(seeded):
    summary, _, data = seeded
    converted = [r for r in data["Lead"] if r["IsConverted"]]
    assert len(converted) == summary.converted_leads == round(0.15 * summary.salesforce["Lead"])
    contact_ids = {c["Id"] for c in data["Contact"]}
    account_ids = {a["Id"] for a in data["Account"]}
    for lead in converted:
        assert lead["Status"] == "Closed - Converted"
        assert lead["ConvertedContactId"] in contact_ids
        assert norm(lead["ConvertedContact"]["Email"]) == norm(lead["Email"])
        assert lead["ConvertedAccountId"] is None or lead["ConvertedAccountId"] in account_ids


def test_people_and_companies_overlap_by_normalised_email_and_domain(seeded):
    summary, _, data = seeded
    sf_emails = {norm(r["Email"]) for r in data["Lead"] + data["Contact"] if r["Email"]}
    hs_raw = [c["properties"]["email"] for c in data["contacts"] if c["properties"]["email"]]
    assert len({norm(e) for e in hs_raw} & sf_emails) == summary.people_on_both_sides == round(0.6 * (SIZE - 6 - 18))
    raw_sf = [r["Email"] for r in data["Lead"] + data["Contact"] if r["Email"]]
    assert sum(e != e.strip() for e in raw_sf + hs_raw) > 0  # surrounding whitespace
    assert sum(e.strip() != e.strip().lower() for e in raw_sf) > SIZE / 10  # case differences
    domains = {c["properties"]["domain"] for c in data["companies"] if c["properties"]["domain"]}
    hosts = {website_host(a["Website"]) for a in data["Account"] if a["Website"]}
    assert len(domains & hosts) == summary.companies_on_both_sides == round(0.5 * SIZE / 5)
    assert any(a["Website"].startswith("https://www.") for a in data["Account"] if a["Website"])


def duplicate_counts(people: list[tuple[str, str, str | None, str | None]]) -> dict[str, int]:
    """Second records of one person: same normalised email, or same name and company with another email."""
    by_email = Counter(norm(e) for *_, e in people if e)
    by_name: dict[tuple, set] = defaultdict(set)
    for first, last, company, email in people:
        by_name[((first or "").lower(), last.lower(), company)].add(norm(email))
    return {"same_email": sum(n - 1 for n in by_email.values()),
            "same_name_company": sum(len(s) - 1 for s in by_name.values())}


def test_duplicates_on_each_side(seeded):
    summary, _, data = seeded
    sf_people = ([(r["FirstName"], r["LastName"], r["Company"], r["Email"]) for r in data["Lead"]
                  if not r["IsConverted"]]
                 + [(r["FirstName"], r["LastName"], (r["Account"] or {}).get("Name"), r["Email"])
                    for r in data["Contact"]])
    hs_people = [(p["firstname"], p["lastname"], p["company"], p["email"]) for p in
                 (c["properties"] for c in data["contacts"])]
    assert duplicate_counts(sf_people) == summary.duplicates["salesforce"]
    assert duplicate_counts(hs_people) == summary.duplicates["hubspot"]
    assert sum(summary.duplicates["salesforce"].values()) == sum(summary.duplicates["hubspot"].values()) == 6


def test_bad_values_are_what_the_other_side_rejects(seeded):
    summary, _, data = seeded
    contacts = [c["properties"] for c in data["contacts"]]
    hs_bad = Counter({
        "too_long": sum(sf_rejects("Contact", "FirstName", c["firstname"]) or sf_rejects("Contact", "LastName",
                        c["lastname"]) or sf_rejects("Contact", "Title", c["jobtitle"]) for c in contacts),
        "picklist": sum(c["hs_lead_status"] not in (*LEAD_STATUS_MAP, None) for c in contacts)
        + sum(c["properties"]["industry"] not in {hs for _, hs in INDUSTRY_PAIRS} for c in data["companies"]),
        "malformed_email": sum(sf_rejects("Contact", "Email", norm(c["email"])) for c in contacts if c["email"]),
    })
    sf_bad = Counter({
        "malformed_email": sum(not valid_email(norm(r["Email"])) for r in data["Lead"] + data["Contact"]
                               if r["Email"]),
        "picklist": sum(sf_rejects("Lead", "Status", r["Status"]) for r in data["Lead"])
        + sum(sf_rejects("Account", "Industry", a["Industry"]) for a in data["Account"]),
    })
    assert hs_bad == Counter(summary.bad_values["hubspot"])
    assert sf_bad == Counter(summary.bad_values["salesforce"])
    assert sum(hs_bad.values()) > 0 and sum(sf_bad.values()) > 0


def test_owners_exist_on_both_sides_by_email_and_own_records(seeded):
    summary, _, data = seeded
    users = {norm(u["Email"]) for u in data["User"]}
    owners = {o.email: o.id for o in data["owners"]}
    both = users & set(owners) - {"admin@sandbox.crm-sync.local"}
    assert len(both) == summary.owners_on_both_sides >= 3
    assert {norm(c["Owner"]["Email"]) for c in data["Contact"]} & both
    assert {o for o, i in owners.items() if any(c["properties"]["hubspot_owner_id"] == i
                                                for c in data["contacts"])} & both


def test_salesforce_records_have_years_of_history_that_clients_cannot_write(seeded):
    """Created over five years before the anchor day, modified between creation and then; the API refuses a
    client's CreatedDate as Salesforce does (the loader alone sets them)."""
    _, info, data = seeded
    created = sorted(r["CreatedDate"][:10] for r in data["Account"])
    assert created[0] >= "2021-01-01" and created[-1] < "2026-01-02"
    assert len({c[:4] for c in created}) >= 4  # spread over the years, not one seed instant
    assert all(r["CreatedDate"] <= r["LastModifiedDate"] == r["SystemModstamp"] for r in data["Account"])
    sf = connect(sandbox_credentials(info))
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Account.create({"Name": "Backdated", "CreatedDate": "2020-01-01T00:00:00.000+0000"})
    assert refused.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_same_seed_same_data_and_another_seed_differs(seeded, tmp_path):
    _, _, data = seeded
    # Seed while the sandbox runs this time, and with the HubSpot half in a second process (as large seeds do):
    # neither may change the data.
    with running_sandbox(tmp_path / "same") as info:
        seed_sandbox(tmp_path / "same", SIZE, SEED, parallel=True)
        again = read_all(info)
    assert business_fields(again) == business_fields(data)
    seed_sandbox(tmp_path / "other", SIZE, SEED + 1)
    with running_sandbox(tmp_path / "other") as info:
        other = business_fields(read_all(info))
    first = business_fields(data)
    assert all(other[name] != first[name] for name in first if name != "products")  # one catalogue for all seeds
    assert other["products"] == first["products"]


def test_seeding_twice_is_refused(seeded, tmp_path):
    summary, _, _ = seeded
    with pytest.raises(ValueError, match=re.escape(summary.directory)):
        seed_sandbox(summary.directory, SIZE, SEED)
    with pytest.raises(ValueError, match="between 100"):
        seed_sandbox(tmp_path / "tiny", 99, SEED)


def test_generated_names_and_domains_are_unique_by_construction():
    # Every email local part and company domain the population can produce is distinct.
    lay = Layout(20_000, 3, 0.6, 0.5, 0.02, 0.01)
    world = World(lay)
    people = world.people(np.arange(lay.universe))
    assert len(set(people["local"])) == lay.universe
    companies = world.companies(np.arange(3 * lay.companies))
    assert len(set(companies["domain"])) == 3 * lay.companies
    shapes = {(p + a + s + b + x + "." + t) for a in map(population.fold, words.COMPANY_A)
              for b in map(population.fold, words.COMPANY_B) for p, s, x, t in words.DOMAIN_SHAPES}
    assert len(shapes) == len(words.COMPANY_A) * len(words.COMPANY_B) * len(words.DOMAIN_SHAPES)


def test_line_items_sell_the_catalogue_on_both_sides(seeded):
    """Both CRMs carry the catalogue under the same SKUs; about half the deals list the product they are named
    after, at its list price (Salesforce: on its standard price book entry), with their totals as each CRM
    computes them."""
    summary, _, data = seeded
    assert summary.salesforce["Product2"] == summary.hubspot["products"] == len(PRODUCTS)
    assert {p["properties"]["hs_sku"] for p in data["products"]} == set(PRODUCT_SKUS)
    price = dict(zip(PRODUCTS, PRODUCT_PRICES, strict=True))
    sold = data["OpportunityLineItem"]
    assert 0.3 * len(data["Opportunity"]) <= len(sold) <= 0.7 * len(data["Opportunity"])
    for r in sold:
        product = r["Product2"]["Name"]
        assert r["Opportunity"]["Name"].endswith(product) and r["PricebookEntry"]["Pricebook2"]["IsStandard"]
        assert r["UnitPrice"] == r["ListPrice"] == price[product]
        assert r["TotalPrice"] == round(r["Quantity"] * r["UnitPrice"] * (1 - (r["Discount"] or 0) / 100), 2)
    deal_names = {d["id"]: d["properties"]["dealname"] for d in data["deals"]}
    products = {p["id"]: p["properties"]["name"] for p in data["products"]}
    items = data["line_items"]
    assert 0.3 * len(deal_names) <= len(items) <= 0.7 * len(deal_names)
    for item in items:
        p = item["properties"]
        [deal] = item["associations"]["deals"]["results"]
        assert products[p["hs_product_id"]] == p["name"] and deal_names[deal["id"]].endswith(p["name"])
        assert float(p["price"]) == price[p["name"]] and float(p["amount"]) <= float(p["quantity"]) * price[p["name"]]


def test_calls_emails_and_meetings_are_logged_on_people_on_both_sides(seeded):
    """Logged calls and emails (Salesforce: completed Tasks of that TaskSubtype) and meetings (Events), each on a
    person, in both CRMs."""
    summary, _, data = seeded
    subtypes = Counter(t["TaskSubtype"] for t in data["Task"])
    assert subtypes["Call"] == summary.hubspot["calls"] > 0 and subtypes["Email"] == summary.hubspot["emails"] > 0
    assert len(data["Event"]) == summary.salesforce["Event"] == summary.hubspot["meetings"] > 0
    calls = [t for t in data["Task"] if t["TaskSubtype"] == "Call"]
    assert all(t["WhoId"] and t["CallType"] in ("Inbound", "Outbound") and t["CallDurationInSeconds"] for t in calls)
    assert all(e["WhoId"] and e["DurationInMinutes"] in (60, 120) for e in data["Event"])
    for kind in ("calls", "emails", "meetings"):
        assert summary.hubspot_associations[f"{kind}-contacts"] == summary.hubspot[kind]
    for m in data["meetings"]:
        p = m["properties"]
        assert p["hs_timestamp"] == p["hs_meeting_start_time"] < p["hs_meeting_end_time"]
