"""The Salesforce sandbox's store directly: what keeps its write paths fast as its tables grow."""

from crm_sandbox.salesforce.loader import load_records
from crm_sandbox.salesforce.schema import SCHEMA
from crm_sandbox.salesforce.store import SalesforceStore


def test_external_id_lookups_use_the_index_when_no_record_has_one_yet(tmp_path):
    # An org before its first sync: thousands of Leads, none with a HubSpot id. The loader's ANALYZE then counts
    # HubSpot_Id__c as one value held by every row, and SQLite would scan the table on every upsert's lookup
    # (14 ms a record at 50,000 rows: the sync's Bulk upserts ran at 700 records/s instead of 15,000).
    load_records(tmp_path, "Lead", ({"LastName": f"L{i}", "Company": "C", "Email": f"l{i}@example.com"}
                                    for i in range(3000)))
    store = SalesforceStore(tmp_path)
    try:
        lead = SCHEMA["Lead"]
        for field in ("HubSpot_Id__c", "Email"):
            plan = " ".join(row[-1] for row in store.conn.execute(f"EXPLAIN QUERY PLAN {store.lookup_sql(lead, field)}",
                                                                  ("x",)).fetchall())
            assert f"USING INDEX Lead_{field}" in plan, (field, plan)
        rid = store.conn.execute('SELECT "Id" FROM "Lead" WHERE "LastName" = \'L7\'').fetchone()[0]
        store.conn.execute('UPDATE "Lead" SET "HubSpot_Id__c" = \'hs-7\' WHERE "Id" = ?', (rid,))
        assert store.find_ids(lead, "HubSpot_Id__c", "HS-7") == [rid]  # case-insensitive, as Salesforce's
        assert store.find_ids(lead, "Email", "L8@EXAMPLE.COM") != []
    finally:
        store.conn.close()
