"""SalesforceConnector against the Salesforce sandbox through simple-salesforce: extract, writes, retries, limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from crm_sandbox.salesforce.loader import load_records
from crm_sandbox.server import running_sandbox
from crm_sync.connectors.common import AllocationReserved, ApiUsage, BudgetExceeded, DailyLimitReached, UnknownObject
from crm_sync.connectors.salesforce import SalesforceConnector, http_session, sandbox_credentials


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """A sandbox of our own, so record counts and usage are ours alone."""
    directory = tmp_path_factory.mktemp("sf_connector")
    with running_sandbox(directory) as info:
        yield info, directory


class Admin:
    def __init__(self, info: dict):
        self.url = info["salesforce"]["admin_url"]
        self.session = http_session(info["salesforce"]["ca_file"])

    def post(self, path: str, body: dict | None = None) -> dict:
        resp = self.session.post(f"{self.url}/{path}", json=body or {}, timeout=30)
        assert resp.status_code < 300, resp.text
        return resp.json()

    def usage(self) -> dict[str, int]:
        return self.session.get(f"{self.url}/usage", timeout=30).json()["by_endpoint"]


@pytest.fixture()
def admin(box):
    admin = Admin(box[0])
    yield admin
    admin.post("faults", {"profile": "none"})


def connector(box, **kwargs) -> SalesforceConnector:
    return SalesforceConnector(sandbox_credentials(box[0]), backoff_base=0.02, bulk_wait=0.1, **kwargs)


def leads(n: int, tag: str) -> list[dict]:
    return [{"LastName": f"{tag}{i}", "Company": f"{tag} Inc", "LeadSource": "Web"} for i in range(n)]


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def test_extract_pages_keyset_over_shared_stamp(box):
    """4,500 leads written in one transaction share one SystemModstamp: pages of 2,000 skip and repeat none."""
    start = datetime.now(UTC) - timedelta(seconds=1)
    ids = load_records(box[1], "Lead", leads(4500, "Page"))
    sf = connector(box)
    pages = list(sf.extract("Lead", ["LastName", "Company"], start, timedelta(0)))
    got = [r["Id"] for page in pages for r in page]
    assert [len(p) for p in pages][:2] == [2000, 2000]
    assert len(got) == len(set(got))
    assert set(ids) <= set(got)
    ours = [r for page in pages for r in page if r["Id"] in set(ids)]
    assert len({r["SystemModstamp"] for r in ours}) == 1
    assert set(ours[0]) == {"Id", "LastName", "Company", "SystemModstamp", "LastModifiedDate", "IsDeleted"}
    # One query per page, no locators; and one count after the first full page (under bulk_threshold: REST on)
    assert sf.usage.snapshot()["GET queryAll"] == len(got) // 2000 + 1 + 1


def test_incremental_returns_newer_records_and_the_overlap(box):
    batches = []
    for tag in ("Old", "Mid", "New"):
        batches.append(set(load_records(box[1], "Lead", leads(30, tag))))
        time.sleep(0.3)  # distinct stamps per batch, 0.3 s apart
    ours = set().union(*batches)
    sf = connector(box)
    stamps = {r["Id"]: parse_stamp(r["SystemModstamp"]) for r in sf.query(
        "SELECT Id, SystemModstamp FROM Lead WHERE LastName LIKE 'New%' OR LastName LIKE 'Mid%'")}
    mid_cursor = max(stamps[i] for i in batches[1])
    new_cursor = max(stamps[i] for i in batches[2])

    def extracted(since: datetime, overlap: timedelta) -> set[str]:
        return {r["Id"] for page in sf.extract("Lead", ["LastName"], since, overlap) for r in page} & ours

    assert extracted(mid_cursor, timedelta(0)) == batches[1] | batches[2]  # >= the cursor: ties are kept
    assert extracted(new_cursor + timedelta(milliseconds=1), timedelta(0)) == set()
    overlap = new_cursor - mid_cursor + timedelta(milliseconds=100)  # reaches back past Mid, not to Old
    assert extracted(new_cursor, overlap) == batches[1] | batches[2]


def test_a_cycle_within_the_overlap_skips_the_window_the_last_one_read(box):
    """Windows [since - overlap, settled_until] and [since, now] ORed in one SOQL, keyset-paged across both."""
    batches = []
    for tag in ("WinOld", "WinMid", "WinNew"):
        batches.append(set(load_records(box[1], "Lead", leads(30, tag))))
        time.sleep(0.3)
    ours = set().union(*batches)
    sf = connector(box)
    stamps = {r["Id"]: parse_stamp(r["SystemModstamp"]) for r in sf.query(
        "SELECT Id, SystemModstamp FROM Lead WHERE LastName LIKE 'Win%'")}
    old_min, old_max = min(stamps[i] for i in batches[0]), max(stamps[i] for i in batches[0])
    new_min = min(stamps[i] for i in batches[2])
    pages = list(sf.extract("Lead", ["LastName"], new_min, new_min - old_min, page_size=7, settled_until=old_max))
    got = [r["Id"] for page in pages for r in page]
    assert len(got) == len(set(got)) and set(got) & ours == batches[0] | batches[2]
    spread = {r["Id"] for page in sf.extract("Lead", ["LastName"], new_min, new_min - old_min,
                                             settled_until=new_min) for r in page}
    assert spread & ours == ours  # further apart than the overlap: one window


def test_deletes_come_back_with_is_deleted(box):
    ids = load_records(box[1], "Lead", leads(5, "Gone"))
    sf = connector(box)
    start = datetime.now(UTC) - timedelta(seconds=1)
    results = sf.delete([(f"op{i}", rid) for i, rid in enumerate(ids[:3])])
    assert [r.success for r in results] == [True] * 3
    again = sf.delete([("op-again", ids[0])])  # already in the recycle bin: the goal holds
    assert again[0].success and again[0].target_id == ids[0]
    rows = {r["Id"]: r for page in sf.extract("Lead", ["LastName"], start, timedelta(0)) for r in page}
    assert {i for i in ids[:3] if rows[i]["IsDeleted"]} == set(ids[:3])
    live = {r["Id"] for page in sf.extract("Lead", ["LastName"], start, timedelta(0), include_deleted=False)
            for r in page}
    assert not live & set(ids[:3])


def test_initial_sync_above_threshold_uses_bulk_api(box):
    load_records(box[1], "Contact", [{"LastName": f"Bulk{i}"} for i in range(1500)])
    sf = connector(box, bulk_threshold=1000)
    pages = list(sf.extract("Contact", ["LastName", "Email"], None, timedelta(0)))
    rows = [r for page in pages for r in page]
    total = sf.query("SELECT COUNT(Id) FROM Contact")[0]["expr0"]
    assert len(rows) == len({r["Id"] for r in rows}) == total >= 1500
    assert all(r["IsDeleted"] is False and r["Email"] is None for r in rows)
    assert rows[0]["SystemModstamp"].endswith("+0000")  # typed like REST records
    usage = sf.usage.snapshot()
    assert usage["POST jobs/query"] == 1 and usage["GET jobs/query/{id}/results"] == 1


def test_a_large_incremental_read_goes_on_by_bulk_after_its_first_page(box):
    """Reading back a backfill's writes: the first REST page comes full, a count finds more than bulk_threshold
    left, and the rest is one Bulk API 2.0 query (not a REST page per 2,000). A read that ends within its first
    page costs no count."""
    since = datetime.now(UTC) - timedelta(seconds=1)
    ids = load_records(box[1], "Case", [{"Subject": f"Readback {i}"} for i in range(3600)])
    sf = connector(box, bulk_threshold=1000)
    rows = [r for page in sf.extract("Case", ["Subject"], since, timedelta(0)) for r in page]
    assert len(rows) == len({r["Id"] for r in rows}) and set(ids) <= {r["Id"] for r in rows}
    usage = sf.usage.snapshot()
    assert usage["GET queryAll"] == 2  # the first page and the count
    assert usage["POST jobs/query"] == 1
    small = connector(box, bulk_threshold=1000)
    time.sleep(0.05)
    later = datetime.now(UTC)
    load_records(box[1], "Case", [{"Subject": f"Small {i}"} for i in range(20)])
    assert len([r for page in small.extract("Case", ["Subject"], later, timedelta(0)) for r in page]) >= 20
    assert small.usage.snapshot().get("GET queryAll") == 1 and "POST jobs/query" not in small.usage.snapshot()


def test_an_incremental_read_expected_to_be_large_is_one_bulk_query_from_the_start(box):
    """The engine says how many records the sync wrote since the window began: past bulk_threshold the read is
    one Bulk API 2.0 query, with no REST page and no count before it; what it returns is the same."""
    since = datetime.now(UTC) - timedelta(seconds=1)
    ids = load_records(box[1], "Case", [{"Subject": f"Expected {i}"} for i in range(1200)])
    sf = connector(box, bulk_threshold=1000)
    rows = [r for page in sf.extract("Case", ["Subject"], since, timedelta(0), expected=1200) for r in page]
    assert len(rows) == len({r["Id"] for r in rows}) and set(ids) <= {r["Id"] for r in rows}
    usage = sf.usage.snapshot()
    assert "GET queryAll" not in usage and "GET query" not in usage
    assert usage["POST jobs/query"] == 1 and usage["GET jobs/query/{id}/results"] == 1


def test_upsert_450_uses_three_collection_calls_and_replay_creates_nothing(box, admin):
    records = [(f"op{i}", {"HubSpot_Id__c": f"hs-acct-{i}", "Name": f"Acme {i}"}) for i in range(450)]
    label = "PATCH composite/sobjects/Account/HubSpot_Id__c"
    before = admin.usage().get(label, 0)
    sf = connector(box, max_workers=3)
    first = sf.upsert("Account", "HubSpot_Id__c", records)
    assert admin.usage()[label] - before == 3
    assert [r.key for r in first] == [k for k, _ in records]
    assert all(r.success and r.created for r in first)
    replay = sf.upsert("Account", "HubSpot_Id__c", records)
    assert all(r.success and r.created is False for r in replay)
    assert [r.target_id for r in replay] == [r.target_id for r in first]
    assert sf.query("SELECT COUNT(Id) FROM Account WHERE HubSpot_Id__c LIKE 'hs-acct-%'")[0]["expr0"] == 450


def test_bad_picklist_value_fails_only_its_record(box):
    ids = load_records(box[1], "Lead", leads(5, "Pick"))
    sf = connector(box)
    updates = [(f"u{i}", rid, {"LeadSource": "Nonsense" if i == 2 else "Other"}) for i, rid in enumerate(ids)]
    results = sf.update("Lead", updates)
    assert [r.success for r in results] == [True, True, False, True, True]
    bad = results[2]
    assert bad.error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" and bad.error_fields == ["LeadSource"]
    assert "Nonsense" in bad.error_message
    rows = sf.query(f"SELECT Id, LeadSource FROM Lead WHERE LastName LIKE 'Pick%' AND Id != '{ids[2]}'")
    assert {r["LeadSource"] for r in rows} == {"Other"}


def test_server_errors_and_dropped_connections_are_retried(box, admin):
    sf = connector(box)
    sf.describe("Lead")  # log in first
    before = admin.usage().get("GET sobjects/Lead/describe", 0)
    admin.post("faults", {"rules": {"error_503": 1.0}, "max_faults": 2})
    assert sf.describe("Lead")["name"] == "Lead"
    assert admin.usage()["GET sobjects/Lead/describe"] - before == 3
    assert sf.usage.snapshot()["GET sobjects/Lead/describe"] == 4
    admin.post("faults", {"rules": {"drop": 1.0}, "max_faults": 1})
    assert len(sf.query("SELECT Id FROM User")) >= 1
    assert sf.usage.snapshot()["GET query"] == 2
    admin.post("faults", {"rules": {"lock_row": 1.0}, "max_faults": 1})
    result = sf.upsert("Account", "HubSpot_Id__c", [("lock", {"HubSpot_Id__c": "hs-lock", "Name": "Locked"})])
    assert result[0].success and sf.usage.snapshot()["PATCH composite/sobjects/Account/HubSpot_Id__c"] == 2
    quick = connector(box, timeout=0.5)
    quick.query("SELECT Id FROM User")
    admin.post("faults", {"rules": {"slow": 1.0}, "max_faults": 1, "slow_seconds": 2})
    assert quick.query("SELECT Id FROM User")  # the first try times out; the resend answers
    assert quick.usage.snapshot()["GET query"] == 3


def test_expired_session_is_renewed_transparently(box, admin):
    sf = connector(box)
    assert sf.query("SELECT Id FROM User")
    admin.post("sessions/expire")
    assert sf.query("SELECT Id FROM User")
    usage = sf.usage.snapshot()
    assert usage["POST oauth2/token"] == 2 and usage["GET query"] == 3  # the refused call, then its resend


def test_budget_stops_before_the_call_that_would_pass_it(box):
    usage = ApiUsage()
    sf = connector(box, usage=usage, budget=3)
    sf.query("SELECT Id FROM User")  # login + query
    sf.query("SELECT Id FROM User")
    with pytest.raises(BudgetExceeded, match="budget of 3 calls"):
        sf.query("SELECT Id FROM User")
    assert usage.total() == 3
    writer = connector(box, budget=2, max_workers=1)  # login + one collection call
    records = [(f"b{i}", {"HubSpot_Id__c": f"hs-budget-{i}", "Name": f"Budget {i}"}) for i in range(300)]
    with pytest.raises(BudgetExceeded) as stopped:
        writer.upsert("Account", "HubSpot_Id__c", records)
    assert [r.key for r in stopped.value.results] == [f"b{i}" for i in range(200)]  # what did land


def test_spent_daily_allocation_raises_daily_limit_reached(box, admin):
    info = admin.session.get(f"{admin.url}/usage", timeout=30).json()
    sf = connector(box)
    sf.query("SELECT Id FROM User")
    admin.post("allocation", {"daily": info["today"] + 3})
    try:
        with pytest.raises(DailyLimitReached, match="TotalRequests Limit exceeded"):
            for _ in range(5):
                sf.query("SELECT Id FROM User")
        assert sf.usage.snapshot()["GET query"] == 4  # refused once, never retried
    finally:
        admin.post("allocation", {"daily": info["allocation"]})


def test_repr_hides_secrets(box):
    sf = connector(box)
    sf.query("SELECT Id FROM User")
    creds = sandbox_credentials(box[0])
    assert creds.client_secret not in repr(sf) and sf._session.token not in repr(sf)


def test_the_reserve_and_the_day_budget_stop_before_the_call_that_would_pass_them(box, admin):
    """The reserve is read from Sforce-Limit-Info: with 95% of the org's allocation kept for others, the
    connector stops once the org (not this connector) has used 5%. A per-day budget counts earlier runs too."""
    info = admin.session.get(f"{admin.url}/usage", timeout=30).json()
    admin.post("allocation", {"daily": info["today"] * 20 + 200})  # the org has used just under 5% so far
    try:
        sf = connector(box, reserve=0.95)
        with pytest.raises(AllocationReserved, match="reserve kept for other integrations") as stopped:
            for _ in range(50):
                sf.query("SELECT Id FROM User")
        assert sf.meter.daily_limit == info["today"] * 20 + 200
        assert sf.meter.daily_used >= sf.meter.daily_limit * 0.05 - 1
        assert "resume once the allocation resets" in str(stopped.value)
    finally:
        admin.post("allocation", {"daily": info["allocation"]})
    day = connector(box, per_day=5)
    day.meter.spent_today = 3  # earlier runs today
    day.query("SELECT Id FROM User")  # login + query: the 4th and 5th calls of the day
    with pytest.raises(BudgetExceeded, match="budget of 5 calls per day"):
        day.query("SELECT Id FROM User")


def test_large_writes_go_by_bulk_ingest_and_failures_come_back_per_record_and_field(box):
    """From bulk_write_threshold records on, an upsert is one Bulk API 2.0 job: the good records land, each bad
    one comes back with its own error code and the field Salesforce named (from the job's failedResults)."""
    sf = connector(box, bulk_write_threshold=1000)
    records = [(f"k{i}", {"HubSpot_Id__c": f"hs-bulk-{i}", "LastName": f"Bulk {i}", "Company": "Bulk Inc"})
               for i in range(1200)]
    records[7] = ("k7", {"HubSpot_Id__c": "hs-bulk-7", "LastName": "Bulk 7"})  # no Company
    records[9] = ("k9", {"HubSpot_Id__c": "hs-bulk-9", "LastName": "Bulk 9", "Company": "Bulk Inc",
                         "Title": "T" * 200})  # Title is 128 at most
    results = sf.upsert("Lead", "HubSpot_Id__c", records)
    assert [r.key for r in results] == [k for k, _ in records]
    failed = {r.key: (r.error_code, r.error_fields) for r in results if not r.success}
    assert failed == {"k7": ("REQUIRED_FIELD_MISSING", ["Company"]), "k9": ("STRING_TOO_LONG", ["Title"])}
    assert all(r.target_id and r.target_id.startswith("00Q") and r.created for r in results if r.success)
    usage = sf.usage.snapshot()
    assert not any(k.startswith("PATCH composite") for k in usage)  # no collection call
    assert usage.get("POST jobs/ingest", 0) == 1
    again = sf.update("Lead", [(f"u{i}", r.target_id, {"Title": "Bulk Updated", "Phone": None})
                               for i, r in enumerate(results) if r.success])
    assert len(again) == 1198 and all(r.success for r in again)
    usage = sf.usage.snapshot()
    # The update job failed nothing: its counts say so, and its failed and unprocessed results are not fetched
    assert usage.get("GET jobs/ingest/{id}/successfulResults") == 2
    assert usage.get("GET jobs/ingest/{id}/failedResults") == 1  # the upsert's, with its two failures
    assert "GET jobs/ingest/{id}/unprocessedrecords" not in usage  # both jobs processed every record
    titles = sf.sf.query("SELECT COUNT() FROM Lead WHERE Title = 'Bulk Updated'")["totalSize"]
    assert titles == 1198


def test_large_plain_creates_go_by_one_bulk_insert_matched_back_by_the_values_sent(box):
    """Contact roles have no external id: from bulk_write_threshold on they are one Bulk API 2.0 insert job,
    each result matched back to its op by the cells it echoes; a refused one keeps its own error and field.
    Records that send the same values cannot be told apart in a job's results: they go by collections."""
    [opp] = load_records(box[1], "Opportunity", [{"Name": "Roles", "StageName": "Prospecting",
                                                  "CloseDate": "2026-12-31"}])
    contacts = load_records(box[1], "Contact", [{"LastName": f"Role {i}"} for i in range(1100)])
    sf = connector(box, bulk_write_threshold=1000)
    records = [(f"r{i}", {"OpportunityId": opp, "ContactId": cid, "Role": "Decision Maker"})
               for i, cid in enumerate(contacts)]
    records[5] = ("r5", {"OpportunityId": opp, "ContactId": contacts[5], "Role": "Not A Role"})
    results = sf.create("OpportunityContactRole", records)
    assert [r.key for r in results] == [k for k, _ in records]
    failed = {r.key: (r.error_code, r.error_fields) for r in results if not r.success}
    assert failed == {"r5": ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Role"])}
    made = {r.key: r.target_id for r in results if r.success}
    rows = sf.query(f"SELECT Id, ContactId FROM OpportunityContactRole WHERE OpportunityId = '{opp}'")
    assert {r["Id"]: r["ContactId"] for r in rows} == {made[k]: f["ContactId"] for k, f in records if k in made}
    usage = sf.usage.snapshot()
    assert usage.get("POST jobs/ingest") == 1 and "POST composite/sobjects" not in usage
    twins = [(f"t{i}", {"OpportunityId": opp, "ContactId": contacts[0], "Role": "Evaluator"}) for i in range(1000)]
    again = connector(box, bulk_write_threshold=1000)
    assert len(again.create("OpportunityContactRole", twins)) == 1000
    assert "POST jobs/ingest" not in again.usage.snapshot() and again.usage.snapshot()["POST composite/sobjects"] == 5


def test_field_metadata_names_what_salesforce_gives_a_record_created_without_a_value(box):
    """The Lead Status picklist's default, and for OwnerId the API user (whose id the token answer names): the
    plan sends the first with a create and writes both back to HubSpot with the cross-id (engine/plan.py)."""
    c = connector(box)
    defaults = {row["field"]: row["default_value"] for row in c.field_metadata("Lead")}
    assert defaults["Status"] == "Open - Not Contacted"
    assert defaults["LeadSource"] is None and defaults["LastName"] is None
    [made] = c.create("Lead", [("k1", {"LastName": "Defaults", "Company": "D Inc"})])
    record = c.sf.Lead.get(made.target_id)
    assert defaults["OwnerId"] == record["OwnerId"] and record["Status"] == "Open - Not Contacted"


def test_field_metadata_names_the_objects_each_lookup_takes(box):
    """describe's referenceTo, kept for the plan: Case.ContactId takes a Contact only, Task.WhoId a Contact or a
    Lead (a ticket whose person is a Lead leaves ContactId alone, engine/plan.py); other fields none."""
    c = connector(box)
    case = {row["field"]: row["reference_to"] for row in c.field_metadata("Case")}
    task = {row["field"]: row["reference_to"] for row in c.field_metadata("Task")}
    assert (case["ContactId"], case["AccountId"], case["Subject"]) == (["Contact"], ["Account"], [])
    assert sorted(task["WhoId"]) == ["Contact", "Lead"]


def test_an_object_the_org_lacks_is_named_in_a_clear_error(box):
    """A pair on a custom object not defined in the org (or a misspelt one) fails its read with the name and what
    to do, not a bare 404."""
    with pytest.raises(UnknownObject) as missing:
        connector(box).field_metadata("Projekt__c")
    assert "Salesforce has no object 'Projekt__c'" in str(missing.value) and "__c" in str(missing.value)
