"""`crm-sync demo`: start the sandbox CRMs in the background, load sample data, show what they serve, stop."""

from __future__ import annotations

import time
from pathlib import Path

from crm_sync.connectors.salesforce import connect, http_session, sandbox_credentials
from crm_sync.sandbox.server import running_sandbox

SF_OBJECTS = ("Lead", "Contact", "Account", "Opportunity", "Case", "Task", "User")


def _fresh(directory: Path) -> None:
    # The demo owns its folder: each run starts from an empty org so its figures are its own.
    if directory.exists():
        for name in ("salesforce.sqlite3", "salesforce.sqlite3-wal", "salesforce.sqlite3-shm", "sandbox.json"):
            (directory / name).unlink(missing_ok=True)
    else:
        directory.mkdir(parents=True)


def _sample_people(sf, size: int) -> int:
    """Accounts, then Contacts and Leads, written through sObject collections of 200 as a sync would."""
    accounts = [{"attributes": {"type": "Account"}, "Name": f"Company {i}", "Website": f"https://company{i}.example"}
                for i in range(max(1, size // 5))]
    account_ids = []
    for start in range(0, len(accounts), 200):
        results = sf.restful("composite/sobjects", method="POST", json={"records": accounts[start:start + 200]})
        account_ids += [r["id"] for r in results if r["success"]]
    people = []
    for i in range(size):
        if i % 5 < 3:
            people.append({"attributes": {"type": "Contact"}, "FirstName": f"Pat{i}", "LastName": f"Person{i}",
                           "Email": f"pat{i}@company{i % len(account_ids)}.example",
                           "AccountId": account_ids[i % len(account_ids)]})
        else:
            people.append({"attributes": {"type": "Lead"}, "FirstName": f"Lee{i}", "LastName": f"Lead{i}",
                           "Company": f"Prospect {i}", "Email": f"lee{i}@prospect{i}.example"})
    written = len(account_ids)
    for start in range(0, len(people), 200):
        results = sf.restful("composite/sobjects", method="POST", json={"records": people[start:start + 200]})
        written += sum(r["success"] for r in results)
    return written


def run_demo(directory: Path, size: int = 2000) -> int:
    directory = directory.resolve()
    _fresh(directory)
    started = time.perf_counter()
    with running_sandbox(directory) as info:
        sf_info = info["salesforce"]
        print(f"Sandbox CRMs running from {directory}")
        print(f"  Salesforce  {sf_info['instance_url']}  (token URL {sf_info['token_url']}, CA {sf_info['ca_file']})")
        print(f"  settings    {directory / 'sandbox.json'}")
        sf = connect(sandbox_credentials(info))
        written = _sample_people(sf, size)
        print(f"\nLoaded {written:,} sample records through the Salesforce REST API (sObject collections).\n")
        print(f"{'Salesforce object':<20}{'records':>10}")
        for name in SF_OBJECTS:
            print(f"{name:<20}{sf.query(f'SELECT COUNT() FROM {name}')['totalSize']:>10,}")
        usage = http_session(sf_info["ca_file"]).get(f"{sf_info['admin_url']}/usage", timeout=30).json()
        print(f"\nAPI calls today: {usage['today']:,} of {usage['allocation']:,}")
        for endpoint, calls in usage["by_endpoint"].items():
            print(f"  {endpoint:<40}{calls:>6,}")
    print(f"\nSandbox stopped after {time.perf_counter() - started:.1f} s; its state stays in {directory}.")
    print("Run it yourself: .venv/bin/crm-sync sandbox up --dir", directory)
    return 0
