"""The sandbox's write paths, records per second: Salesforce collections, Salesforce Bulk API 2.0 ingest, HubSpot
batch create and update; on empty tables and again with --prefill rows already in each table.

Issue 10 asks each path to sustain at least 5,000 records/s on this machine without injected latency, also with
1,000,000 records in the table, so that the sync's figures are bound by the simulated API limits and latency and
never by the sandbox's CPU. Prints each rate as a ratio to that target, and the busiest server process's CPU.
Run: `.venv/bin/python bench/bench_sandbox_writes.py --records 20000 --prefill 1000000`.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import requests

from crm_sandbox.hubspot.loader import load_objects
from crm_sandbox.salesforce.loader import load_records
from crm_sandbox.server import running_sandbox

TARGET = 5000.0
API = "v59.0"


def person(i: int, tag: str) -> dict:
    return {"FirstName": f"F{i % 5000}", "LastName": f"{tag}{i}", "Email": f"{tag.lower()}{i}@example{i % 997}.com",
            "Phone": f"+1 555 {i % 10_000:04d}", "Title": "Engineer" if i % 3 else "Manager"}


def lead(i: int, tag: str) -> dict:
    """A Lead as the sync writes one: upserted on its HubSpot id, with a dozen fields and two picklists."""
    return {**person(i, tag), "HubSpot_Id__c": f"{tag}{i}", "Company": f"Company {i % 3000}",
            "Status": "Working - Contacted" if i % 2 else "Open - Not Contacted", "LeadSource": "Web",
            "City": "Springfield", "Country": "US", "Website": f"https://example{i % 997}.com",
            "Description": f"imported lead {i} " * 4}


def hs_person(i: int, tag: str) -> dict:
    return {"firstname": f"F{i % 5000}", "lastname": f"{tag}{i}", "email": f"{tag.lower()}{i}@example{i % 997}.com",
            "phone": f"+1 555 {i % 10_000:04d}", "jobtitle": "Engineer" if i % 3 else "Manager"}


class Clients:
    def __init__(self, info: dict, threads: int):
        self.info = info
        sf = info["salesforce"]
        token = requests.post(sf["token_url"], data={
            "grant_type": "password", "client_id": sf["client_id"], "client_secret": sf["client_secret"],
            "username": sf["username"], "password": sf["password"] + sf["security_token"]},
            verify=sf["ca_file"], timeout=30).json()["access_token"]
        self.sf_base = f"{sf['instance_url']}/services/data/{API}"
        self.sf_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.hs_base = info["hubspot"]["base_url"]
        self.hs_headers = {"Authorization": f"Bearer {info['hubspot']['access_token']}"}
        # The simulated limits are not what is measured here: lift HubSpot's 10-second and daily ones.
        requests.post(f"{info['hubspot']['admin_url']}/rate-limits", json={"ten_second": 10**7, "daily": 10**9},
                      timeout=30).raise_for_status()
        self.pool = ThreadPoolExecutor(threads)
        self.local = threading.local()

    def session(self) -> requests.Session:
        """This thread's keep-alive session."""
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
            self.local.session.verify = self.info["salesforce"]["ca_file"]
        return self.local.session

    def run(self, calls) -> float:
        """Run the calls on the pool; returns seconds taken. Every call must succeed record by record."""
        start = time.perf_counter()
        for result in self.pool.map(lambda c: c(), calls):
            assert result, "a write failed"
        return time.perf_counter() - start


def sf_collections(c: Clients, n: int, tag: str) -> tuple[float, list[str]]:
    ids: list[str] = []

    def create(lo: int):
        records = [{"attributes": {"type": "Contact"}, **person(i, tag)} for i in range(lo, min(lo + 200, n))]
        r = c.session().post(f"{c.sf_base}/composite/sobjects", json={"allOrNone": False, "records": records},
                             headers=c.sf_headers, timeout=120)
        r.raise_for_status()
        out = r.json()
        ids.extend(x["id"] for x in out if x["success"])
        return all(x["success"] for x in out)

    return c.run([lambda lo=lo: create(lo) for lo in range(0, n, 200)]), ids


def sf_collection_upserts(c: Clients, n: int, tag: str) -> tuple[float]:
    def upsert(lo: int):
        records = [{"attributes": {"type": "Lead"}, **lead(i, tag)} for i in range(lo, min(lo + 200, n))]
        r = c.session().patch(f"{c.sf_base}/composite/sobjects/Lead/HubSpot_Id__c", headers=c.sf_headers,
                              json={"allOrNone": False, "records": records}, timeout=120)
        r.raise_for_status()
        return all(x["success"] and x["created"] for x in r.json())

    return (c.run([lambda lo=lo: upsert(lo) for lo in range(0, n, 200)]),)


def sf_collection_updates(c: Clients, ids: list[str]) -> float:
    def update(chunk: list[str]):
        records = [{"attributes": {"type": "Contact"}, "Id": rid, "Title": "Director"} for rid in chunk]
        r = c.session().patch(f"{c.sf_base}/composite/sobjects", json={"allOrNone": False, "records": records},
                              headers=c.sf_headers, timeout=120)
        r.raise_for_status()
        return all(x["success"] for x in r.json())

    return c.run([lambda ch=ids[lo:lo + 200]: update(ch) for lo in range(0, len(ids), 200)])


def sf_bulk_upsert(c: Clients, n: int, tag: str) -> float:
    """One ingest job of n rows, upsert on HubSpot_Id__c (the sync's path for large writes): upload to JobComplete."""
    s = c.session()
    job = s.post(f"{c.sf_base}/jobs/ingest", headers=c.sf_headers, timeout=60, json={
        "object": "Contact", "operation": "upsert", "externalIdFieldName": "HubSpot_Id__c",
        "contentType": "CSV", "lineEnding": "LF"}).json()
    lines = ["HubSpot_Id__c,FirstName,LastName,Email"]
    for i in range(n):
        p = person(i, tag)
        lines.append(f"{tag}{i},{p['FirstName']},{p['LastName']},{p['Email']}")
    start = time.perf_counter()
    s.put(f"{c.sf_base}/jobs/ingest/{job['id']}/batches", data="\n".join(lines).encode(), timeout=120,
          headers={**c.sf_headers, "Content-Type": "text/csv"}).raise_for_status()
    s.patch(f"{c.sf_base}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"}, headers=c.sf_headers,
            timeout=60).raise_for_status()
    while True:
        info = s.get(f"{c.sf_base}/jobs/ingest/{job['id']}", headers=c.sf_headers, timeout=60).json()
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            break
        time.sleep(0.05)
    taken = time.perf_counter() - start
    assert info["state"] == "JobComplete" and info["numberRecordsFailed"] == 0, info
    assert info["numberRecordsProcessed"] == n, info
    return taken


def hs_batch_create(c: Clients, n: int, tag: str) -> tuple[float, list[str]]:
    ids: list[str] = []

    def create(lo: int):
        inputs = [{"properties": hs_person(i, tag)} for i in range(lo, min(lo + 100, n))]
        r = c.session().post(f"{c.hs_base}/crm/v3/objects/contacts/batch/create", json={"inputs": inputs},
                             headers=c.hs_headers, timeout=120)
        r.raise_for_status()
        out = r.json()["results"]
        ids.extend(x["id"] for x in out)
        return len(out) == len(inputs)

    return c.run([lambda lo=lo: create(lo) for lo in range(0, n, 100)]), ids


def hs_batch_update(c: Clients, ids: list[str]) -> float:
    def update(chunk: list[str]):
        inputs = [{"id": i, "properties": {"jobtitle": "Director"}} for i in chunk]
        r = c.session().post(f"{c.hs_base}/crm/v3/objects/contacts/batch/update", json={"inputs": inputs},
                             headers=c.hs_headers, timeout=120)
        r.raise_for_status()
        return len(r.json()["results"]) == len(chunk)

    return c.run([lambda ch=ids[lo:lo + 100]: update(ch) for lo in range(0, len(ids), 100)])


def measure(info: dict, n: int, threads: int, tag: str) -> list[tuple[str, float, float]]:
    c = Clients(info, threads)
    procs = {s: psutil.Process(p) for s, p in info["pids"].items()}
    out = []

    def timed(label: str, system: str, fn):
        procs[system].cpu_percent(None)
        seconds, *rest = fn()
        cpu = procs[system].cpu_percent(None)
        out.append((label, n / seconds, cpu))
        return rest[0] if rest else None

    ids = timed("Salesforce collections, create 200/call", "salesforce", lambda: sf_collections(c, n, tag))
    timed("Salesforce collections, update 200/call", "salesforce", lambda: (sf_collection_updates(c, ids),))
    timed("Salesforce collections, upsert 200 Leads/call", "salesforce", lambda: sf_collection_upserts(c, n, tag))
    timed("Salesforce Bulk 2.0 ingest, upsert one job", "salesforce", lambda: (sf_bulk_upsert(c, n, tag + "B"),))
    hs_ids = timed("HubSpot batch create 100/call", "hubspot", lambda: hs_batch_create(c, n, tag))
    timed("HubSpot batch update 100/call", "hubspot", lambda: (hs_batch_update(c, hs_ids),))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000, help="records written per path")
    parser.add_argument("--prefill", type=int, default=0, help="rows loaded into each table before the second run")
    parser.add_argument("--threads", type=int, default=4, help="client threads (concurrent calls)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sandbox-writes-") as tmp:
        directory = Path(tmp) / "sandbox"
        rounds = [("empty tables", 0)] + ([(f"{args.prefill:,} rows per table", args.prefill)] if args.prefill else [])
        for label, prefill in rounds:
            if prefill:
                start = time.perf_counter()
                load_records(directory, "Contact", (person(i, "Pre") for i in range(prefill)))
                # No HubSpot id yet, as in an org before its first sync: the upserts look up a mostly-null field.
                load_records(directory, "Lead", ({k: v for k, v in lead(i, "Pre").items() if k != "HubSpot_Id__c"}
                                                 for i in range(prefill)))
                load_objects(directory, "contacts", (hs_person(i, "Pre") for i in range(prefill)))
                print(f"(prefilled {prefill:,} rows per side in {time.perf_counter() - start:.0f} s)")
            with running_sandbox(directory) as info:
                rows = measure(info, args.records, args.threads, "R" if not prefill else "P")
            print(f"\n{label}: {args.records:,} records per path, {args.threads} client threads")
            print(f"{'path':<46} {'records/s':>10} {'ratio':>8} {'server CPU':>11}")
            for name, rate, cpu in rows:
                print(f"{name:<46} {rate:>10,.0f} {rate / TARGET:>7.2f}x {cpu:>10.0f}%")
    print(f"\nratio = records/s over the {TARGET:,.0f} records/s target; server CPU = the writing CRM's process "
          "(100% = one core)")


if __name__ == "__main__":
    main()
