"""Which reads an extract makes (engine/reads.py): a field the last read did not read makes the next read whole,
so every record gets its value, not only those that change later."""

from __future__ import annotations

import datetime as dt

from crm_sync.config.models import SyncSettings
from crm_sync.engine import db
from crm_sync.engine.reads import finish_reads, plan_reads

T0 = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


def test_a_read_that_reads_a_new_field_is_whole_and_the_next_one_incremental_again(tmp_path):
    con = db.connect(tmp_path / "state.duckdb")
    settings = SyncSettings()
    first = plan_reads(con, "salesforce", "Account", ["Name", "Website"], settings, T0, with_metadata=False)
    assert first.full
    finish_reads(con, first, "run-1")
    same = plan_reads(con, "salesforce", "Account", ["Website", "Name"], settings, T0 + dt.timedelta(minutes=15),
                      with_metadata=False)
    assert not same.full and same.since == T0 and same.fields_added == ()
    finish_reads(con, same, "run-2")
    # an inclusion rule now reads company.Type: every Account is read again, once
    wider = plan_reads(con, "salesforce", "Account", ["Name", "Type", "Website"], settings,
                       T0 + dt.timedelta(minutes=30), with_metadata=False)
    assert wider.full and wider.fields_added == ("Type",)
    finish_reads(con, wider, "run-3")
    after = plan_reads(con, "salesforce", "Account", ["Name", "Type", "Website"], settings,
                       T0 + dt.timedelta(minutes=45), with_metadata=False)
    assert not after.full and after.since == T0 + dt.timedelta(minutes=30)
    # a field no longer read needs no re-read
    fewer = plan_reads(con, "salesforce", "Account", ["Name"], settings, T0 + dt.timedelta(hours=1),
                       with_metadata=False)
    assert not fewer.full
    # other objects and read kinds are untouched
    assert plan_reads(con, "salesforce", "Contact", ["Email"], settings, T0, with_metadata=False).full


def test_a_read_expects_the_records_the_sync_wrote_since_its_window_began(tmp_path):
    """The hint the connector chooses its read by: distinct records created or updated with success on that
    object and side from the window's start (the cursor less the overlap), nothing else."""
    con = db.connect(tmp_path / "state.duckdb")
    settings = SyncSettings(overlap_seconds=60)
    first = plan_reads(con, "salesforce", "Lead", ["Email"], settings, T0, with_metadata=False)
    assert first.expected == 0
    finish_reads(con, first, "run-1")
    rows = [("Lead", "create", "00Q1", True, T0 + dt.timedelta(minutes=1)),
            ("Lead", "update", "00Q1", True, T0 + dt.timedelta(minutes=2)),  # the same record: counted once
            ("Lead", "update", "00Q2", True, T0 - dt.timedelta(seconds=30)),  # inside the overlap
            ("Lead", "update", "00Q3", True, T0 - dt.timedelta(minutes=5)),  # before the window
            ("Lead", "update", "00Q4", False, T0 + dt.timedelta(minutes=1)),  # refused
            ("Lead", "delete", "00Q5", True, T0 + dt.timedelta(minutes=1)),
            ("Contact", "update", "0031", True, T0 + dt.timedelta(minutes=1))]
    con.executemany("""INSERT INTO sync.audit (run_id, op_id, target, object, action, target_id, success, sent_at)
        VALUES ('run-1', ?, 'salesforce', ?, ?, ?, ?, ?)""", [(str(i), *r) for i, r in enumerate(rows)])
    con.execute("""INSERT INTO sync.audit (run_id, op_id, target, object, action, target_id, success, sent_at)
        VALUES ('run-1', 'hs', 'hubspot', 'Lead', 'update', '9', true, ?)""", [T0 + dt.timedelta(minutes=1)])
    again = plan_reads(con, "salesforce", "Lead", ["Email"], settings, T0 + dt.timedelta(minutes=15),
                       with_metadata=False)
    assert again.expected == 2
