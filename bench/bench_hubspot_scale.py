"""HubSpot sandbox at scale: load N contacts directly, then measure server memory and list/search page times.

Prints each figure as a ratio to its budget from the issue: memory under 3 GB for 1,000,000 contacts, a list
page of 100 or a search page of 200 in under 200 ms (timed through hubspot-api-client, deserialisation included).
Run: `.venv/bin/python bench/bench_hubspot_scale.py --n 1000000`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path

import psutil
from hubspot import HubSpot
from hubspot.crm.contacts import PublicObjectSearchRequest

from crm_sandbox.hubspot.loader import load_objects
from crm_sandbox.hubspot.values import iso
from crm_sandbox.server import running_sandbox

PAGE_TARGET_MS = 200.0
MEMORY_BUDGET_MB = 3 * 1024.0
SEARCH_INTERVAL_S = 0.21  # search allows 5 requests per second per account
STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
PROPERTIES = ["email", "firstname", "lastname", "phone", "jobtitle", "company", "lifecyclestage", "city"]


def contacts(n: int, now: dt.datetime):
    # Modification times spread over a year (one every ~30 s of it), so windowed searches select realistic ranges.
    for i in range(n):
        modified = now - dt.timedelta(seconds=(n - i) * 31_536_000 / n)
        yield {"firstname": f"First{i % 5000}", "lastname": f"Last{i}", "email": f"person{i}@example{i % 997}.com",
               "phone": f"+1 555 {i % 10_000:04d}", "jobtitle": "Engineer" if i % 3 else "Manager",
               "company": f"Company {i % 20_000}", "lifecyclestage": STAGES[i % len(STAGES)], "city": "Springfield",
               "createdate": iso(modified - dt.timedelta(days=30)), "lastmodifieddate": iso(modified)}


def describe(label: str, samples: list[float]) -> str:
    p50 = statistics.median(samples)
    p95 = sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]
    return (f"{label:<52} p50 {p50:7.1f} ms = {p50 / PAGE_TARGET_MS:5.2f}x of 200 ms target;"
            f" p95 {p95:7.1f} ms = {p95 / PAGE_TARGET_MS:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    now = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory(prefix="hs-scale-") as tmp:
        directory = Path(tmp) / "sandbox"
        start = time.perf_counter()
        ids = load_objects(directory, "contacts", contacts(args.n, now))
        load_s = time.perf_counter() - start
        db_mb = (directory / "hubspot.sqlite3").stat().st_size / 2**20
        print(f"loaded {args.n:,} contacts directly in {load_s:.1f} s ({args.n / load_s:,.0f} rows/s); "
              f"file {db_mb:,.0f} MB")
        with running_sandbox(directory) as info:
            server = psutil.Process(info["pids"]["hubspot"])
            hs = HubSpot(access_token=info["hubspot"]["access_token"], host=info["hubspot"]["base_url"])
            peak = server.memory_info().rss

            def timed(fn, reps: int, pause: float = 0.0) -> list[float]:
                nonlocal peak
                out = []
                for _ in range(reps):
                    t0 = time.perf_counter()
                    fn()
                    out.append((time.perf_counter() - t0) * 1000.0)
                    peak = max(peak, server.memory_info().rss)
                    time.sleep(pause)
                return out

            deep = lambda: ids[rng.randrange(len(ids) // 2, len(ids) - 200)]  # noqa: E731
            listing = timed(lambda: hs.crm.contacts.basic_api.get_page(limit=100, after=deep(),
                                                                       properties=PROPERTIES), args.reps)
            page = hs.crm.contacts.basic_api.get_page(limit=100, after=deep(), properties=PROPERTIES)

            def search(days: float):
                since = str(int((now - dt.timedelta(days=days)).timestamp() * 1000))
                request = PublicObjectSearchRequest(
                    filter_groups=[{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE",
                                                 "value": since}]}],
                    sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                    properties=PROPERTIES, limit=200, after=str(rng.randrange(0, 49) * 200))
                return lambda: hs.crm.contacts.search_api.do_search(request)

            recent = timed(search(30), args.reps, SEARCH_INTERVAL_S)
            wide = timed(search(366), args.reps, SEARCH_INTERVAL_S)
            total = search(366)().total
            print(f"records per list page: {len(page.results)}; search total over the whole year: {total:,}")
            print(describe("list page of 100 (after= deep in the data)", listing))
            print(describe("search page of 200, last 30 days, sort lastmodifieddate", recent))
            print(describe("search page of 200, whole year (counts every row)", wide))
            peak_mb = peak / 2**20
            print(f"server RSS peak {peak_mb:,.0f} MB = {peak_mb / MEMORY_BUDGET_MB:.2f}x of the 3 GB budget "
                  "(both sandbox servers share the process)")


if __name__ == "__main__":
    main()
