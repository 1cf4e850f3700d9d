"""What a run (or the whole state) amounts to: links, writes by kind, rejections with reasons, API calls."""

from __future__ import annotations

import duckdb


def run_summary(con: duckdb.DuckDBPyConnection, run_ids: list[str] | None = None) -> dict:
    """Counts for the given runs (all runs when None), read from sync.* tables."""
    runs = run_ids or [r[0] for r in con.execute("SELECT DISTINCT run_id FROM sync.audit UNION "
                                                   "SELECT DISTINCT run_id FROM sync.api_usage").fetchall()]
    marks = ", ".join("?" for _ in runs) or "NULL"
    links = dict(con.execute("SELECT pair, count(*) FROM sync.links GROUP BY pair ORDER BY pair").fetchall())
    linked_by = {f"{p}:{how}": n for p, how, n in con.execute(
        "SELECT pair, linked_by, count(*) FROM sync.links GROUP BY ALL ORDER BY ALL").fetchall()}
    writes = {f"{t}:{a}": n for t, a, n in con.execute(
        f"SELECT target, action, count(*) FROM sync.audit WHERE success AND run_id IN ({marks}) GROUP BY ALL "
        "ORDER BY ALL", runs).fetchall()}
    rejected = [dict(zip(("system", "code", "count", "example"), r, strict=True)) for r in con.execute(
        "SELECT system, code, count(*), min(message) FROM sync.errors WHERE resolved_at IS NULL AND kind <> 'skipped' "
        "GROUP BY ALL ORDER BY 3 DESC").fetchall()]
    # Values the plan decided not to write, by reason (each has its row in sync.errors, kind 'skipped').
    not_written = {f"{system}:{code}": n for system, code, n in con.execute(
        "SELECT system, code, count(*) FROM sync.errors WHERE resolved_at IS NULL AND kind = 'skipped' "
        "GROUP BY ALL ORDER BY ALL").fetchall()}
    usage = {f"{s}": n for s, n in con.execute(
        f"SELECT system, sum(calls) FROM sync.api_usage WHERE run_id IN ({marks}) GROUP BY ALL ORDER BY ALL",
        runs).fetchall()}
    conflicts = con.execute("SELECT count(*) FROM sync.link_candidates WHERE run_id IN (" + marks + ")",
                            runs).fetchone()[0]
    return {"links": links, "linked_by": linked_by, "writes": writes, "rejected": rejected, "api_calls": usage,
            "ambiguous_matches_reported": conflicts, "not_written": not_written}


def format_summary(summary: dict) -> str:
    lines = ["Links per pair:"] + [f"  {k:<28}{v:>10,}" for k, v in summary["links"].items()]
    lines += ["Linked by:"] + [f"  {k:<28}{v:>10,}" for k, v in summary["linked_by"].items()]
    lines += ["Writes sent (target:action):"] + [f"  {k:<28}{v:>10,}" for k, v in summary["writes"].items()]
    lines += ["API calls:"] + [f"  {k:<28}{v:>10,}" for k, v in summary["api_calls"].items()]
    lines.append(f"Ambiguous matches reported: {summary['ambiguous_matches_reported']:,}")
    if summary.get("not_written"):
        lines.append("Values not written (target:reason; each field and why in sync.errors, kind 'skipped'):")
        lines += [f"  {k:<40}{v:>10,}" for k, v in summary["not_written"].items()]
    if summary["rejected"]:
        lines.append("Open rejections (system, code, count, example):")
        lines += [f"  {r['system']:<11}{r['code']:<42}{r['count']:>6,}  {str(r['example'])[:80]}"
                  for r in summary["rejected"]]
    else:
        lines.append("Open rejections: none")
    return "\n".join(lines)
