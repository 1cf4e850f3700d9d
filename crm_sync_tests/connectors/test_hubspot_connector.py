"""HubSpotConnector against the HubSpot sandbox through hubspot-api-client: extract, writes, retries, limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from crm_sandbox.hubspot.loader import load_objects
from crm_sandbox.server import running_sandbox
from crm_sync.connectors.common import AllocationReserved, ApiUsage, BudgetExceeded, DailyLimitReached, UnknownObject
from crm_sync.connectors.hubspot import HubSpotConnector

LIMITS = {"ten_second": 190, "daily": 625_000, "search_per_second": 5}


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """A sandbox of our own, so record counts and usage are ours alone."""
    directory = tmp_path_factory.mktemp("hs_connector")
    with running_sandbox(directory) as info:
        yield info, directory


class Admin:
    def __init__(self, info: dict):
        self.url = info["hubspot"]["admin_url"]
        self.session = requests.Session()

    def post(self, path: str, body: dict | None = None) -> dict:
        resp = self.session.post(f"{self.url}/{path}", json=body or {}, timeout=30)
        assert resp.status_code < 300, resp.text
        return resp.json()

    def usage(self) -> dict:
        return self.session.get(f"{self.url}/usage", timeout=30).json()


@pytest.fixture()
def admin(box):
    admin = Admin(box[0])
    admin.post("rate-limits", {**LIMITS, "reset": True})
    yield admin
    admin.post("faults", {"profile": "none"})
    admin.post("rate-limits", {**LIMITS, "reset": True})
    admin.post("options", {"batch_errors": "per_record"})


def connector(box, **kwargs) -> HubSpotConnector:
    hs = box[0]["hubspot"]
    return HubSpotConnector(hs["base_url"], hs["access_token"], backoff_base=0.02, **kwargs)


def contacts(n: int, tag: str) -> list[dict]:
    return [{"email": f"{tag.lower()}{i}@example.com", "firstname": tag, "lastname": f"N{i}"} for i in range(n)]


def ids_of(pages) -> list[str]:
    return [r["id"] for page in pages for r in page]


def test_extract_pages_over_a_shared_timestamp(box, admin):
    """450 contacts written at one instant: search pages of 200 skip and repeat none."""
    start = datetime.now(UTC) - timedelta(seconds=1)
    ids = load_objects(box[1], "contacts", contacts(450, "Tie"))
    hs = connector(box)
    pages = list(hs.extract("contacts", ["email", "firstname"], start, timedelta(0)))
    got = ids_of(pages)
    assert len(got) == len(set(got)) and set(ids) <= set(got)
    assert [len(p) for p in pages][:2] == [200, 200]
    assert set(pages[0][0]) == {"id", "email", "firstname", "createdAt", "updatedAt", "archived"}
    assert pages[0][0]["archived"] is False and pages[0][0]["firstname"] == "Tie"
    listed = ids_of(hs.extract("contacts", ["email"], None, timedelta(0)))  # initial sync: list pages of 100
    assert len(listed) == len(set(listed)) and set(ids) <= set(listed)
    assert hs.usage.snapshot()["GET /crm/v3/objects/contacts"] == -(-len(listed) // 100)


def test_records_stamped_a_hundred_to_an_instant_cost_one_search_per_200(box, admin):
    """A batch write stamps its hundred records with one instant: the walk keys its pages by id, so each search
    brings 200 records it has not seen (a walk keyed by the stamp re-read the last instant of every page: up to
    twice the searches)."""
    admin.post("rate-limits", {"search_per_second": 100})
    start = datetime.now(UTC) - timedelta(seconds=1)
    ids = [i for batch in range(10) for i in load_objects(box[1], "deals", [{"dealname": f"Batch {batch}-{n}"}
                                                                             for n in range(100)])]
    hs = connector(box, search_per_second=100)
    got = ids_of(hs.extract("deals", ["dealname"], start, timedelta(0)))
    assert len(got) == len(set(got)) and set(ids) <= set(got)
    assert hs.usage.snapshot()["POST /crm/v3/objects/deals/search"] <= -(-len(got) // 200) + 1


@pytest.mark.parametrize("n", [1000, 1234])
def test_a_large_walk_reads_from_both_ends_each_record_once_at_one_search_per_200(box, admin, n):
    """A read whose first page comes full goes on up and down by id at once (two searches in flight) and stops
    where the two meet: every record once, at the floor of one search per 200 (one more at most, the last
    look at the gap an open window needs), and a quiet read still costs its one search."""
    admin.post("rate-limits", {"search_per_second": 100})
    start = datetime.now(UTC) - timedelta(seconds=1)
    ids = load_objects(box[1], "tickets", [{"subject": f"Ends {n}-{i}", "hs_pipeline_stage": "1"} for i in range(n)])
    hs = connector(box, search_per_second=100)
    pages = list(hs.extract("tickets", ["subject"], start, timedelta(0)))
    got = [int(i) for i in ids_of(pages)]
    assert len(got) == len(set(got)) and {int(i) for i in ids} <= set(got)
    assert any(max(map(int, ids_of([a]))) > min(map(int, ids_of([b]))) for a, b in zip(pages, pages[1:], strict=False))
    assert hs.usage.snapshot()["POST /crm/v3/objects/tickets/search"] <= -(-len(got) // 200) + 1
    quiet = connector(box, search_per_second=100)
    assert ids_of(quiet.extract("tickets", ["subject"], datetime.now(UTC), timedelta(0))) == []
    assert quiet.usage.snapshot()["POST /crm/v3/objects/tickets/search"] == 1


def test_a_walk_over_a_closed_window_ends_on_the_first_search_total(box, admin):
    """A backfill window closed in the past (created last week) can gain no record while it is read: the first
    search's total ends the two-ended walk, with no search over an empty gap, one search more than the floor
    at most."""
    admin.post("rate-limits", {"search_per_second": 100})
    week_ago = datetime.now(UTC) - timedelta(days=7)
    stamp = week_ago.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ids = load_objects(box[1], "tickets", [{"subject": f"Closed {i}", "hs_pipeline_stage": "1", "createdate": stamp}
                                           for i in range(1000)])
    hs = connector(box, search_per_second=100)
    got = ids_of(hs.extract_created("tickets", ["subject"], week_ago - timedelta(hours=1),
                                    week_ago + timedelta(hours=1)))
    assert sorted(got) == sorted(ids)
    assert hs.usage.snapshot()["POST /crm/v3/objects/tickets/search"] <= 1000 // 200 + 1


def test_incremental_past_the_search_cap(box, admin):
    """10,100 changes in one window (two instants): no query pages past 10,000, none skipped or repeated."""
    admin.post("rate-limits", {"search_per_second": 100})
    start = datetime.now(UTC) - timedelta(seconds=1)
    first = load_objects(box[1], "companies", [{"name": f"Cap {i}"} for i in range(6000)])
    second = load_objects(box[1], "companies", [{"name": f"Cap B{i}"} for i in range(4100)])
    hs = connector(box, search_per_second=100)
    got = ids_of(hs.extract("companies", ["name"], start, timedelta(0)))
    assert len(got) == len(set(got)) and set(first) | set(second) <= set(got)
    assert hs.usage.snapshot()["POST /crm/v3/objects/companies/search"] < 10100 // 200 + 6


def test_incremental_returns_newer_records_and_the_overlap(box, admin):
    batches = []
    for tag in ("Old", "Mid", "New"):
        batches.append(set(load_objects(box[1], "deals", [{"dealname": f"{tag} {i}"} for i in range(30)])))
        time.sleep(0.3)  # distinct stamps per batch, 0.3 s apart
    ours = set().union(*batches)
    hs = connector(box)
    rows = {r["id"]: r for page in hs.extract("deals", ["dealname"], None, timedelta(0)) for r in page}
    stamp = {i: datetime.fromisoformat(rows[i]["updatedAt"].replace("Z", "+00:00")) for i in ours}
    mid_cursor, new_cursor = max(stamp[i] for i in batches[1]), max(stamp[i] for i in batches[2])

    def extracted(since: datetime, overlap: timedelta) -> set[str]:
        return set(ids_of(hs.extract("deals", ["dealname"], since, overlap))) & ours

    assert extracted(mid_cursor, timedelta(0)) == batches[1] | batches[2]
    assert extracted(new_cursor + timedelta(milliseconds=1), timedelta(0)) == set()
    overlap = new_cursor - mid_cursor + timedelta(milliseconds=100)  # reaches back past Mid, not to Old
    assert extracted(new_cursor, overlap) == batches[1] | batches[2]


def test_a_cycle_within_the_overlap_skips_the_window_the_last_one_read(box, admin):
    """Windows [since - overlap, settled_until] and [since, now] as two filter groups, paged across both."""
    batches = []
    for tag in ("Old", "Mid", "New"):
        batches.append(set(load_objects(box[1], "tickets", [{"subject": f"{tag} {i}", "hs_pipeline_stage": "1"}
                                                            for i in range(30)])))
        time.sleep(0.3)
    ours = set().union(*batches)
    hs = connector(box)
    rows = {r["id"]: r for page in hs.extract("tickets", ["subject"], None, timedelta(0)) for r in page}
    stamp = {i: datetime.fromisoformat(rows[i]["updatedAt"].replace("Z", "+00:00")) for i in ours}
    old_min, old_max = min(stamp[i] for i in batches[0]), max(stamp[i] for i in batches[0])
    new_min = min(stamp[i] for i in batches[2])
    pages = list(hs.extract("tickets", ["subject"], new_min, new_min - old_min, page_size=7,
                            settled_until=old_max))
    got = ids_of(pages)
    assert len(got) == len(set(got)) and set(got) & ours == batches[0] | batches[2]
    # A cycle further from the last than the overlap reads one window: Old, Mid and New.
    assert set(ids_of(hs.extract("tickets", ["subject"], new_min, new_min - old_min,
                                 settled_until=new_min))) & ours == ours


def test_archived_records_come_from_extract_archived(box, admin):
    ids = load_objects(box[1], "contacts", contacts(5, "Bye"))
    hs = connector(box)
    start = datetime.now(UTC) - timedelta(seconds=5)
    results = hs.archive("contacts", [(f"a{i}", rid) for i, rid in enumerate(ids[:3])])
    assert [r.success for r in results] == [True] * 3
    archived = {r["id"]: r for page in hs.extract_archived("contacts", ["email"]) for r in page}
    assert set(ids[:3]) <= set(archived)
    assert archived[ids[0]]["archived"] is True and archived[ids[0]]["archivedAt"]
    live = set(ids_of(hs.extract("contacts", ["email"], start, timedelta(0))))
    assert not live & set(ids[:3]) and set(ids[3:]) <= live


def test_upsert_450_in_batches_of_100_and_replay_creates_nothing(box, admin):
    hs = connector(box, max_workers=3)
    hs.ensure_property("contacts", "salesforce_id", "Salesforce Id")
    hs.ensure_property("contacts", "salesforce_id", "Salesforce Id")  # present: nothing to do
    assert next(p for p in hs.properties("contacts") if p["name"] == "salesforce_id")["hasUniqueValue"]
    records = [(f"op{i}", {"salesforce_id": f"003UP{i:05d}", "firstname": "Up", "lastname": f"S{i}"})
               for i in range(450)]
    label = "POST /crm/v3/objects/contacts/batch/upsert"
    before = admin.usage()["by_endpoint"].get(label, 0)
    first = hs.upsert("contacts", "salesforce_id", records)
    assert admin.usage()["by_endpoint"][label] - before == 5
    assert [r.key for r in first] == [k for k, _ in records] and all(r.success and r.created for r in first)
    replay = hs.upsert("contacts", "salesforce_id", records)
    assert all(r.success and r.created is False for r in replay)
    assert [r.target_id for r in replay] == [r.target_id for r in first]


@pytest.mark.parametrize("mode", ["per_record", "whole"])
def test_bad_option_fails_only_its_record(box, admin, mode):
    """207 per-record errors, or a batch refused whole (then split) -- either way the rest is written."""
    admin.post("options", {"batch_errors": mode})
    hs = connector(box)
    tag = f"opt{mode}"
    records = [(f"{tag}{i}", {"email": f"{tag}{i}@example.com", "lifecyclestage": "bogus" if i == 37 else "lead"})
               for i in range(100)]
    results = hs.create("contacts", records)
    assert [r.key for r in results] == [k for k, _ in records]
    assert [i for i, r in enumerate(results) if not r.success] == [37]
    assert results[37].error_code == "INVALID_OPTION" and results[37].error_fields == ["lifecyclestage"]
    assert "bogus" in results[37].error_message
    updates = [(f"u{i}", r.target_id, {"lifecyclestage": "nonsense" if i == 5 else "customer"})
               for i, r in enumerate(results[:10])]
    updated = hs.update("contacts", updates)
    assert [r.success for r in updated] == [i != 5 for i in range(10)]
    calls = hs.usage.snapshot()["POST /crm/v3/objects/contacts/batch/create"]
    assert calls == 1 if mode == "per_record" else 1 < calls <= 15  # a split costs about 2 * log2(100) calls


def test_duplicate_email_conflict_is_reported(box, admin):
    hs = connector(box)
    hs.create("contacts", [("first", {"email": "dup@example.com"})])
    results = hs.create("contacts", [("again", {"email": "dup@example.com"}), ("other", {"email": "x@example.com"})])
    assert results[0].error_code == "CONFLICT" and "already exists" in results[0].error_message
    assert results[1].success


def test_associations_read_write(box, admin):
    companies = load_objects(box[1], "companies", [{"name": f"Assoc {i}"} for i in range(3)])
    people = load_objects(box[1], "contacts", contacts(1250, "Assoc"))
    hs = connector(box)
    pairs = [(p, companies[i % 3]) for i, p in enumerate(people)]
    assert hs.associate("contacts", "companies", pairs) == []
    linked = hs.read_associations_of("contacts", "companies", people)
    assert all(linked[p] == [c] for p, c in pairs)
    # 1,000 ids a read (HubSpot's limit since February 2025): 1,250 people in 2 calls.
    assert hs.usage.snapshot()["POST /crm/v4/associations/contacts/companies/batch/read"] == 2
    back = hs.read_associations_of("companies", "contacts", companies[:1])
    assert sorted(back[companies[0]]) == sorted(p for p, c in pairs if c == companies[0])
    hs.dissociate("contacts", "companies", pairs[:10])
    assert all(v == [] for v in hs.read_associations_of("contacts", "companies", people[:10]).values())


def test_server_errors_and_dropped_connections_are_retried(box, admin):
    hs = connector(box)
    label = "GET /crm/v3/properties/contacts"
    before = admin.usage()["by_endpoint"].get(label, 0)
    admin.post("faults", {"rules": {"error_503": 1.0}, "max_faults": 2})
    assert hs.properties("contacts")
    assert admin.usage()["by_endpoint"][label] - before == 3 and hs.usage.snapshot()[label] == 3
    admin.post("faults", {"rules": {"drop": 1.0}, "max_faults": 1})
    assert hs.owners() is not None
    assert hs.usage.snapshot()["GET /crm/v3/owners/"] == 2
    quick = connector(box, timeout=0.5)
    admin.post("faults", {"rules": {"slow": 1.0}, "max_faults": 1, "slow_seconds": 2})
    assert quick.properties("deals")  # the first try times out; the resend answers
    assert quick.usage.snapshot()["GET /crm/v3/properties/deals"] == 2


def test_rate_limit_429_paces_the_run_without_errors(box, admin):
    """The portal allows 8 calls per 10 s while we were told 190: the 429 teaches the limiter; nothing fails."""
    admin.post("rate-limits", {"ten_second": 8, "reset": True})
    hs = connector(box)
    started = time.monotonic()
    for _ in range(12):
        assert hs.properties("deals")
    assert time.monotonic() - started >= 8  # it waited for the window instead of failing
    assert hs.usage.snapshot()["GET /crm/v3/properties/deals"] == 13  # one refused call, resent
    searcher = connector(box, search_per_second=20)  # the portal's 5 per second, unknown to us
    for _ in range(12):
        searcher._search_page("deals", [], "hs_object_id", ["dealname"], 1)
    assert searcher.usage.snapshot()["POST /crm/v3/objects/deals/search"] >= 12


def test_budget_and_daily_limit(box, admin):
    usage = ApiUsage()
    hs = connector(box, usage=usage, budget=2)
    hs.properties("contacts")
    hs.properties("contacts")
    with pytest.raises(BudgetExceeded, match="budget of 2 calls"):
        hs.properties("contacts")
    assert usage.total() == 2
    admin.post("rate-limits", {"daily": admin.usage()["today"] + 2})
    hs = connector(box)
    with pytest.raises(DailyLimitReached, match="daily limit"):
        for _ in range(5):
            hs.properties("contacts")
    assert hs.usage.snapshot()["GET /crm/v3/properties/contacts"] == 3  # refused once, never retried


def test_repr_hides_the_token(box):
    assert box[0]["hubspot"]["access_token"] not in repr(connector(box))


def test_the_reserve_is_read_from_hubspots_daily_headers(box, admin):
    today = admin.usage()["today"]
    admin.post("rate-limits", {"daily": today * 10 + 100})
    try:
        hs = connector(box, reserve=0.9)  # stop once the portal has used 10% of its day
        with pytest.raises(AllocationReserved):
            for _ in range(100):
                hs.properties("contacts")
        assert hs.meter.daily_limit == today * 10 + 100
        assert admin.usage()["today"] <= (today * 10 + 100) * 0.1 + 1
    finally:
        admin.post("rate-limits", LIMITS)


def test_a_record_that_enters_an_open_window_mid_walk_does_not_end_it_early():
    """The two-ended walk over a list standing in for HubSpot's index (no HTTP: the walk's own stopping rule).
    A record edited while the walk runs enters the open window with an id in the unread gap; had it counted
    toward the first search's total, the walk would have ended before an older record it had not reached."""
    from crm_sync.connectors.hubspot import _from_both_ends

    index = list(range(10, 10010, 10))  # the records in the window when the read began
    calls = 0

    def search(above, below, descending):
        nonlocal calls
        calls += 1
        if calls == 2 and 7005 not in index:  # an edit lands in the gap while the walk runs
            index.append(7005)
        ids = sorted((i for i in index if (above is None or i > above) and (below is None or i < below)),
                     reverse=descending)[:100]
        return [{"id": i} for i in ids], len(index)

    read = [r["id"] for page in _from_both_ends(search, 1000, 100, 900, closed=False) for r in page]
    assert set(range(1010, 10010, 10)) <= set(read) and len(read) == len(set(read))


def test_an_object_the_portal_lacks_is_named_in_a_clear_error(box):
    with pytest.raises(UnknownObject) as missing:
        connector(box).field_metadata("projekts")
    assert "HubSpot has no object 'projekts'" in str(missing.value) and "schema" in str(missing.value)
