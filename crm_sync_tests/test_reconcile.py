"""Reconcile end to end: a change Salesforce makes without stamping the record (as a formula or roll-up field's
value does) is invisible to the incremental cycle; `crm-sync reconcile` reads both CRMs whole, records the drift
with its cause and heals it through the outbox."""

from __future__ import annotations

import yaml

from crm_sync.cli import main
from crm_sync_tests.sync_harness import ROOT, converged_env


def test_reconcile_finds_and_heals_an_unstamped_change(tmp_path, capsys):
    settings = yaml.safe_load((ROOT / "sync.yaml").read_text())["sync"]
    # No overlap: once the echoes of the last writes are read, a change that moves no stamp is behind every read.
    with converged_env(tmp_path, extra={"sync": {**settings, "overlap_seconds": 0}}) as env:
        env.cycle()
        with env.state() as con:
            hs_id, sf_id = con.execute("SELECT hubspot_id, salesforce_id FROM sync.links WHERE pair = 'people' "
                                       "AND salesforce_object = 'Contact' ORDER BY hubspot_id LIMIT 1").fetchone()
        sf = env.sf()
        stamp = sf.Contact.get(sf_id)["SystemModstamp"]
        env.sf_admin(f"records/Contact/{sf_id}?unstamped=true", {"Title": "Head of Formulas"}, method="PATCH")
        assert sf.Contact.get(sf_id)["SystemModstamp"] == stamp  # the sandbox did not stamp it

        env.cycle()  # the incremental cycle cannot see it
        jobtitle = lambda: env.hs().crm.contacts.basic_api.get_by_id(hs_id, properties=["jobtitle"]).properties[  # noqa: E731
            "jobtitle"]
        assert jobtitle() != "Head of Formulas"

        assert main(["reconcile", "--config", str(env.config_path)]) == 0

        assert "people: unstamped change 1 (1 healed" in capsys.readouterr().out
        assert jobtitle() == "Head of Formulas"
        with env.state() as con:
            rows = con.execute("SELECT hubspot_id, field, cause, salesforce_value, healed FROM sync.drift").fetchall()
            audit = con.execute("""SELECT count(*) FROM sync.audit WHERE target = 'hubspot' AND target_id = ?
                AND success AND response IS NOT NULL AND payload ->> 'jobtitle' = 'Head of Formulas'""",
                                [hs_id]).fetchone()[0]
        assert rows == [(hs_id, "title", "unstamped_change", "Head of Formulas", True)]
        assert audit == 1  # the fix went through the outbox and the audit, with HubSpot's answer
        assert env.cycle().planned_writes == 0
