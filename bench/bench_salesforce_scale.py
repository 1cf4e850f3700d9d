"""Salesforce sandbox at scale: load N Contacts directly, then measure server memory and query page times.

Prints each figure as a ratio to its budget from the issue: memory under 3 GB for 1,000,000 Contacts, a
query page of 2,000 records in under 200 ms. Run: `.venv/bin/python bench/bench_salesforce_scale.py --n 1000000`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import psutil
from simple_salesforce import format_soql

from crm_sandbox.salesforce.loader import load_records
from crm_sandbox.server import running_sandbox
from crm_sync.connectors.salesforce import connect, sandbox_credentials

PAGE_TARGET_MS = 200.0
MEMORY_BUDGET_MB = 3 * 1024.0


def contacts(n: int):
    for i in range(n):
        yield {"FirstName": f"First{i % 5000}", "LastName": f"Last{i}", "Email": f"person{i}@example{i % 997}.com",
               "Phone": f"+1 555 {i % 10_000:04d}", "Title": "Engineer" if i % 3 else "Manager",
               "Department": f"D{i % 40}", "MailingCity": "Springfield", "MailingCountry": "US",
               "HubSpot_Id__c": str(10_000_000 + i) if i % 2 else None}


def timed(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def describe(label: str, samples: list[float]) -> str:
    p50 = statistics.median(samples)
    p95 = sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]
    return (f"{label:<46} p50 {p50:7.1f} ms = {p50 / PAGE_TARGET_MS:5.2f}x of 200 ms target;"
            f" p95 {p95:7.1f} ms = {p95 / PAGE_TARGET_MS:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sf-scale-") as tmp:
        directory = Path(tmp) / "sandbox"
        start = time.perf_counter()
        load_records(directory, "Contact", contacts(args.n))
        load_s = time.perf_counter() - start
        db_mb = (directory / "salesforce.sqlite3").stat().st_size / 2**20
        print(f"loaded {args.n:,} Contacts directly in {load_s:.1f} s ({args.n / load_s:,.0f} rows/s); "
              f"file {db_mb:,.0f} MB")
        with running_sandbox(directory) as info:
            server = psutil.Process(info["pids"]["salesforce"])
            sf = connect(sandbox_credentials(info))
            since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(microsecond=0)
            fields = "Id, FirstName, LastName, Email, Phone, Title, AccountId, HubSpot_Id__c, SystemModstamp"
            incremental = format_soql(f"SELECT {fields} FROM Contact WHERE SystemModstamp > {{}} "
                                      "ORDER BY SystemModstamp, Id", since)
            full = f"SELECT {fields} FROM Contact"
            peak = server.memory_info().rss
            first_incremental = timed(lambda: sf.query(incremental), args.reps)
            peak = max(peak, server.memory_info().rss)
            first_full = timed(lambda: sf.query(full), args.reps)
            peak = max(peak, server.memory_info().rss)
            page = sf.query(full)
            more = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
                more.append((time.perf_counter() - t0) * 1000.0)
            peak = max(peak, server.memory_info().rss)
            by_id = timed(lambda: sf.query(format_soql(f"SELECT {fields} FROM Contact WHERE Id > {{}} ORDER BY Id "
                                                       "LIMIT 2000", page["records"][-1]["Id"])), args.reps)
            peak = max(peak, server.memory_info().rss)
            print(f"records per page: {len(page['records'])}; totalSize {page['totalSize']:,}")
            print(describe("first page, incremental (SystemModstamp > t)", first_incremental))
            print(describe("first page, whole table (counts 1M rows)", first_full))
            print(describe("next page via nextRecordsUrl", more))
            print(describe("id-chunked page (Id > x ORDER BY Id LIMIT 2000)", by_id))
            peak_mb = peak / 2**20
            print(f"server RSS peak {peak_mb:,.0f} MB = {peak_mb / MEMORY_BUDGET_MB:.2f}x of the 3 GB budget")


if __name__ == "__main__":
    main()
