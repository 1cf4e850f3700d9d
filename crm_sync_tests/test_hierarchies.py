"""Account hierarchies (issue 14's parent company row) end to end: Account.ParentId <-> the company's Parent Company
association (HubSpot's child_to_parent_company label), both ways, a move, a new child, and a clear; HubSpot-side
changes seen by the association sweep (association changes do not stamp a HubSpot record)."""

from __future__ import annotations

import yaml
from hubspot.crm.associations.v4 import BatchInputPublicAssociationMultiPost

from crm_sync_tests.sync_harness import ROOT, converged_env

CHILD_TO_PARENT = 14  # HubSpot-defined company -> company type: the association's "Parent Company" label


def parents_in_hubspot(env, company_id: str) -> list[str]:
    """The companies labelled as this company's parent, read by the v4 API."""
    page = env.hs().crm.associations.v4.basic_api.get_page("companies", company_id, "companies")
    return sorted(str(r.to_object_id) for r in page.results
                  if any(t.type_id == CHILD_TO_PARENT for t in r.association_types))


def companies(env) -> dict[str, str]:
    with env.state() as con:
        return dict(con.execute("SELECT hubspot_id, salesforce_id FROM sync.links WHERE pair = 'companies' "
                                "ORDER BY hubspot_id").fetchall())


def test_account_parents_and_hubspot_parent_companies_follow_each_other(tmp_path):
    settings = yaml.safe_load((ROOT / "sync.yaml").read_text())["sync"]
    with converged_env(tmp_path, extra={"sync": {**settings, "association_sweep_minutes": 0}}) as env:
        sf, hs = env.sf(), env.hs()
        linked = companies(env)
        (a_hs, a_sf), (b_hs, b_sf), (c_hs, c_sf), (d_hs, d_sf) = list(linked.items())[:4]

        # Salesforce: B under A. HubSpot: C under D (a labelled association, no record stamp).
        sf.Account.update(b_sf, {"ParentId": a_sf})
        hs.crm.associations.v4.batch_api.create("companies", "companies", BatchInputPublicAssociationMultiPost(
            inputs=[{"from": {"id": c_hs}, "to": {"id": d_hs}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": CHILD_TO_PARENT}]}]))
        env.cycle()
        assert parents_in_hubspot(env, b_hs) == [a_hs]
        assert sf.Account.get(c_sf)["ParentId"] == d_sf

        # B moves to D in Salesforce (A is no longer its parent in HubSpot); a new Account under A becomes a
        # company under A's company; C's parent is cleared in HubSpot.
        sf.Account.update(b_sf, {"ParentId": d_sf})
        made_sf = sf.Account.create({"Name": "Acme Child GmbH", "ParentId": a_sf})["id"]
        hs.crm.associations.v4.basic_api.archive("companies", c_hs, "companies", d_hs)
        env.converge()
        assert parents_in_hubspot(env, b_hs) == [d_hs]
        made_hs = {v: k for k, v in companies(env).items()}[made_sf]
        assert parents_in_hubspot(env, made_hs) == [a_hs]
        assert sf.Account.get(c_sf)["ParentId"] is None
        # A parent is one company: B is no child of A any more, anywhere.
        assert sf.Account.get(b_sf)["ParentId"] == d_sf
        assert sorted(r["Id"] for r in sf.query_all(f"SELECT Id FROM Account WHERE ParentId = '{a_sf}'")["records"]) \
            == [made_sf]
        assert env.cycle().planned_writes == 0
