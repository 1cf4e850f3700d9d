"""`crm-sync errors` groups what the sync could not write by cause; `crm-sync retry` re-queues refused writes now;
`crm-sync schema` prints the JSON schema of sync.yaml that the repository ships."""

from __future__ import annotations

import json

from crm_sync.cli import main
from crm_sync.engine import errors
from crm_sync_tests.engine.world import ROOT, World


def refused_people(tmp_path, n: int = 3) -> World:
    """n new HubSpot contacts whose Salesforce creates are refused; one more refused on another field."""
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("contacts", [{"id": str(10 + i), "email": f"p{i}@example.org", "lastname": f"P{i}",
                                  "company": "Co"} for i in range(n)])
    w.cycle()
    for op in w.ops(target="salesforce", action="create"):
        bad_phone = op.record_key == "10"
        w.answer(op, success=False, error_code="INVALID_FIELD" if bad_phone else "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                 error_message="Phone: bad" if bad_phone else "Title: required by a rule",
                 error_fields=["Phone"] if bad_phone else ["Title"])
    return w


def test_open_errors_are_grouped_by_cause_with_counts_and_samples(tmp_path):
    w = refused_people(tmp_path, n=4)
    found = errors.groups(w.con)
    got = {(r.kind, r.system, r.object, r.code, r.field): (r.errors, sorted(r.records))
           for r in found.itertuples()}
    assert got == {("write", "salesforce", "Lead", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Title"): (3, ["11", "12",
                                                                                                        "13"]),
                   ("write", "salesforce", "Lead", "INVALID_FIELD", "Phone"): (1, ["10"])}
    assert list(found["errors"]) == [3, 1]  # the largest group first
    assert list(errors.groups(w.con, field="phone")["errors"]) == [1]


def test_retry_requeues_one_group_now_and_the_next_run_sends_it(tmp_path):
    w = refused_people(tmp_path, n=3)
    assert w.sendable() == []  # refused writes wait for their backoff
    done = errors.retry(w.con, code="FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert done.requeued == 2
    assert sorted(o.record_key for o in w.sendable()) == ["11", "12"]
    made = w.answer_all(ids={"11": "00Q11", "12": "00Q12"})
    assert sorted(made) == ["11", "12"]
    assert [(e["code"], e["record_id"]) for e in w.errors()] == [("INVALID_FIELD", "10")]


def test_the_commands_print_the_groups_and_requeue(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")  # a wide terminal: rich folds nothing
    w = refused_people(tmp_path, n=2)
    w.con.close()
    assert main(["errors", "--config", str(w.config_path), "--json"]) == 0
    groups = json.loads(capsys.readouterr().out)
    assert sorted((g["code"], g["errors"]) for g in groups) == [("FIELD_CUSTOM_VALIDATION_EXCEPTION", 1),
                                                                ("INVALID_FIELD", 1)]
    assert main(["errors", "--config", str(w.config_path)]) == 0
    table = capsys.readouterr().out
    assert "INVALID_FIELD" in table and "Open errors by cause (2 in 2 groups)" in table
    assert main(["retry", "--config", str(w.config_path), "--field", "Phone"]) == 0
    assert "Re-queued 1 refused write(s)" in capsys.readouterr().out


def test_the_shipped_json_schema_is_the_models(capsys):
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((ROOT / "sync.schema.json").read_text()), "regenerate: crm-sync schema > " \
                                                                           "sync.schema.json"
    mapping = printed["$defs"]["FieldMapping"]["properties"]
    assert {"to_salesforce", "to_hubspot", "rule"} <= set(mapping)
    assert printed["$defs"]["FieldMapping"]["additionalProperties"] is False
