"""Reconcile: every linked pair compared with the shadow, each disagreement recorded in sync.drift with its cause,
then healed by the pair's rules; disagreements already explained (held values) are not drift."""

from __future__ import annotations

import pandas as pd

from crm_sync.engine import cursors
from crm_sync.engine.db import NEXT_POSITION
from crm_sync_tests.engine.test_diff import linked_ann


def drift(w) -> list[tuple]:
    return w.con.execute("SELECT pair, hubspot_id, field, cause, hubspot_value, salesforce_value, healed "
                         "FROM sync.drift ORDER BY ALL").fetchall()


def same_version(w, system: str, obj: str, record_id: str, **values) -> None:
    """A change the CRM made without stamping the record (as a formula field's does): same version stamps."""
    record = w.record(system, obj, record_id)
    w._stage(system, obj, [{"id": record_id, **values, "cursor_at": record["cursor_at"],
                            "modified_at": record["modified_at"]}])


def test_agreeing_pairs_have_no_drift_and_reconcile_writes_nothing(tmp_path):
    w = linked_ann(tmp_path)
    figures = w.cycle(reconcile=True)
    assert figures["people"]["plan"]["drift"] == {}
    assert drift(w) == [] and w.ops() == []


def test_a_change_without_a_new_stamp_is_found_and_healed(tmp_path):
    """Salesforce changed Title without moving SystemModstamp: no incremental read can see it; reconcile reads
    the same version with another value, records it as unstamped_change and writes it to HubSpot."""
    w = linked_ann(tmp_path)
    same_version(w, "salesforce", "Contact", "0031", Title="Chief Executive")
    figures = w.cycle(reconcile=True)
    assert figures["people"]["plan"]["drift"] == {"unstamped_change": 1}
    assert figures["people"]["plan"]["drift_healed"] == 1
    assert drift(w) == [("people", "11", "title", "unstamped_change", "CTO", "Chief Executive", True)]
    assert [(o.target, o.payload) for o in w.ops()] == [("hubspot", {"jobtitle": "Chief Executive"})]


def test_a_stamped_change_the_incremental_cycle_missed_is_found_and_healed(tmp_path):
    """A change stamped after the last sync that the incremental plan never considered (as if its read had
    missed it) is a missed_change; reconcile writes it."""
    w = linked_ann(tmp_path)
    w.stage_hubspot("contacts", [{"id": "11", "city": "Bergen",
                                  "modified_at": pd.Timestamp.now(tz="UTC") + pd.Timedelta(minutes=5)}])
    upto = w.con.execute(f"SELECT {NEXT_POSITION}").fetchone()[0]
    cursors.consume(w.con, "people", upto, "lost-run")  # the plan believes it saw everything
    w.cycle()
    assert w.ops() == []
    w.cycle(reconcile=True)
    assert drift(w) == [("people", "11", "city", "missed_change", "Bergen", "Oslo", True)]
    assert [(o.target, o.payload) for o in w.ops()] == [("salesforce", {"MailingCity": "Bergen"})]


def test_a_write_put_back_in_the_crm_is_a_reverted_write(tmp_path):
    """The sync wrote Title to Salesforce; something there put the old value back without a new stamp."""
    w = linked_ann(tmp_path)
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "CEO"}])
    w.cycle()
    w.answer_all()
    w.echo()
    w.cycle()
    assert w.ops() == []
    same_version(w, "salesforce", "Contact", "0031", Title="CTO")
    w.cycle(reconcile=True)
    assert [(f, cause) for _, _, f, cause, *_ in drift(w)] == [("title", "reverted_write")]


def test_a_value_held_with_its_reason_is_not_drift(tmp_path):
    """A Title Salesforce refused stays held with its error row; reconcile counts it as held, not as drift."""
    w = linked_ann(tmp_path)
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "Chief Everything Officer", "city": "Bergen"}])
    w.cycle()
    w.answer_all(success=False, error_code="STRING_TOO_LONG", error_message="Title: data value too large",
                 error_fields=["Title"])
    w.answer_all()  # the rest of the record goes out without Title
    w.echo()
    figures = w.cycle(reconcile=True)
    assert figures["people"]["plan"]["drift"] == {"held": 1}
    assert drift(w) == []
    assert [e["fields"] for e in w.errors()] == ["Title"]
