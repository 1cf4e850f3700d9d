"""`crm-sync plan`: the next cycle's writes without sending any, and then the next run does exactly those."""

from __future__ import annotations

import collections
import json

from dagster import DagsterEventType, DagsterInstance
from hubspot.crm.contacts import SimplePublicObjectInput, SimplePublicObjectInputForCreate

from crm_sync.cli import main
from crm_sync.runner import execute_cycle
from crm_sync_tests.sync_harness import converged_env


def test_plan_lists_the_next_runs_writes_without_sending_and_the_run_then_does_them(tmp_path, capsys,
                                                                                      monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")
    with converged_env(tmp_path) as env:
        with env.state() as con:
            hs_id, sf_id = con.execute("""SELECT hubspot_id, salesforce_id FROM sync.links WHERE pair = 'people'
                AND salesforce_object = 'Contact' ORDER BY hubspot_id LIMIT 1""").fetchone()
        client, sf = env.hs(), env.sf()
        title = sf.Contact.get(sf_id)["Title"]
        client.crm.contacts.basic_api.update(hs_id, SimplePublicObjectInput(properties={"jobtitle": "Chief Planner"}))
        sf.Contact.update(sf_id, {"Phone": "+1 555 0177"})
        created = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={
            "email": "planned.person@example.org", "firstname": "Planned", "lastname": "Person"}))
        # explain reads the state: the edits are not read yet; --fresh plans them first (nothing sent)
        assert main(["explain", "--config", str(env.config_path), hs_id]) == 0
        assert "Chief Planner" not in capsys.readouterr().out
        assert main(["explain", "--config", str(env.config_path), "--fresh", hs_id]) == 0
        explained = capsys.readouterr().out
        assert f'Next: update salesforce Contact {sf_id} {{"Title":"Chief Planner"}} (next run)' in explained
        report = tmp_path / "plan.json"
        assert main(["plan", "--config", str(env.config_path), "--json", str(report)]) == 0
        printed = capsys.readouterr().out
        assert "The next run's writes" in printed and "Chief Planner" in printed and "two_way" in printed
        plan = json.loads(report.read_text())
        planned = collections.Counter((w["target"], w["action"], w["record"]) for w in plan["writes"])
        assert planned[("salesforce", "update", sf_id)] == 1 and planned[("hubspot", "update", hs_id)] == 1
        assert planned[("salesforce", "create", created.id)] == 1  # and its cross-id goes back to HubSpot:
        assert planned[("hubspot", "update", created.id)] == 1
        title_diff = [d for d in plan["field_diffs"] if d["record"] == sf_id and d["field"] == "Title"]
        assert [(d["old"], d["new"], d["mapping"], d["rule"]) for d in title_diff] == [
            (title, "Chief Planner", "title", "two_way")]
        # Nothing was sent
        assert sf.Contact.get(sf_id)["Title"] == title
        assert not sf.query("SELECT Id FROM Lead WHERE Email = 'planned.person@example.org'")["records"]
        outcome = env.cycle()
        with env.state() as con:
            done = collections.Counter(con.execute("""SELECT a.target, a.action,
                    CASE WHEN a.action = 'create' THEN o.record_key ELSE a.target_id END
                FROM sync.audit a JOIN sync.outbox o USING (op_id)
                WHERE a.run_id = ? AND o.parent_op_id IS NULL""", [outcome.run_id]).fetchall())
        assert done == planned  # write for write
        assert sf.Contact.get(sf_id)["Title"] == "Chief Planner"


def test_check_reads_live_metadata_and_a_mapping_that_cannot_work_refuses_the_run(tmp_path, capsys):
    import yaml

    with converged_env(tmp_path) as env:
        assert main(["check", "--config", str(env.config_path)]) == 0
        last = capsys.readouterr().out.splitlines()[-1]  # the shipped mappings fit the sandbox (warnings aside)
        assert last == "Every mapping fits both CRMs." or last.endswith(" 0 error(s)"), last
        raw = yaml.safe_load(env.config_path.read_text())
        raw["pairs"]["people"]["fields"] = [
            {"name": "last_name", "hubspot": "lastname", "salesforce": "LastName"},
            {"name": "email", "hubspot": "email", "salesforce": "Email", "type": "email"},
            {"name": "title", "hubspot": "jobtitle", "salesforce": "Job_Title__c"}]
        env.config_path.write_text(yaml.safe_dump(raw))
        assert main(["check", "--config", str(env.config_path)]) == 1
        out = capsys.readouterr().out
        assert "error: pairs.people field 'title' -> salesforce Lead.Job_Title__c: no such field" in out
        # A field that exists but cannot be written: the run reads, then its plan refuses, naming it
        raw["pairs"]["people"]["fields"][2]["salesforce"] = "CreatedDate"
        env.config_path.write_text(yaml.safe_dump(raw))
        outcome = execute_cycle(env.config_path)
        assert not outcome.success
        with env.state() as con:
            assert con.execute("SELECT count(*) FROM sync.audit WHERE run_id = ?",
                               [outcome.run_id]).fetchone()[0] == 0
        assert main(["check", "--config", str(env.config_path)]) == 1
        assert "Lead.CreatedDate: cannot be written" in capsys.readouterr().out
        # Job titles into HubSpot's lead status (a restricted enumeration): no title read is an option, so the
        # first plan under this mapping refuses the run, naming the field with sample values from the data
        raw["pairs"]["people"]["fields"][2] = {"name": "title", "hubspot": "hs_lead_status", "salesforce": "Title",
                                               "rule": "always_salesforce"}
        env.config_path.write_text(yaml.safe_dump(raw))
        instance = DagsterInstance.ephemeral()
        outcome = execute_cycle(env.config_path, instance=instance)
        assert not outcome.success
        [failure] = [str(e.dagster_event.step_failure_data.user_failure_data.description)
                     for e in instance.all_logs(outcome.run_id, of_type=DagsterEventType.STEP_FAILURE)]
        with env.state() as con:
            titles = con.execute("""SELECT "Title", count(*) FROM raw_salesforce."Contact_current"
                WHERE NOT deleted AND "Title" IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1""").fetchone()
            assert con.execute("SELECT count(*) FROM sync.audit WHERE run_id = ?",
                               [outcome.run_id]).fetchone()[0] == 0
        assert "field 'title' -> hubspot contacts.hs_lead_status: every value read" in failure
        assert f"{titles[0]!r} ({titles[1]:,})" in failure
