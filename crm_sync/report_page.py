"""`crm-sync report`: one self-contained HTML page of the sync's health, charts drawn by matplotlib as inline
SVG (no script, no external file), each with its figures as a table beneath it. The figures are the engine's
(engine/figures.py); this module only draws them."""

from __future__ import annotations

import datetime as dt
import html
import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from crm_sync.config import ConfigError, SyncConfig, load_config  # noqa: E402
from crm_sync.engine import db, figures  # noqa: E402

COLORS = {"salesforce": "#00A1E0", "hubspot": "#FF7A59"}
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}table{border-collapse:collapse;font-size:.9em}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f5f5f5}td.t{text-align:left}
.head{display:flex;gap:1.5em;flex-wrap:wrap}.head div{background:#f5f5f5;padding:.6em 1em;border-radius:6px}
.head b{display:block;font-size:1.4em}.empty{color:#777}"""


def _svg(fig) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = out.getvalue()
    return text[text.index("<svg"):]


def _table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return ""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    def cell(value) -> str:
        value = value.item() if hasattr(value, "item") else value
        return f"<td>{value:,}</td>" if isinstance(value, int) else f"<td class=t>{html.escape(str(value))}</td>"

    rows = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in frame.itertuples(index=False))
    return f"<table><tr>{head}</tr>{rows}</table>"


def _calls_chart(calls: pd.DataFrame, config: SyncConfig):
    fig, ax = plt.subplots(figsize=(9, 3))
    days = sorted(calls["day"].unique())
    width = 0.4
    for n, system in enumerate(("salesforce", "hubspot")):
        mine = calls[calls["system"] == system].set_index("day")["calls"].reindex(days, fill_value=0)
        ax.bar([i + (n - 0.5) * width for i in range(len(days))], mine.values, width, label=system,
               color=COLORS[system])
        budget = getattr(config.budget, system).per_day
        if budget:
            ax.axhline(budget, color=COLORS[system], linestyle="--", linewidth=1, label=f"{system} budget per day")
        else:
            ax.plot([], [], " ", label=f"{system}: no daily budget set (budget.{system}.per_day)")
    ax.set_xticks(range(len(days)), [pd.Timestamp(d).strftime("%b %d") for d in days], rotation=45, ha="right")
    ax.set_ylabel("API calls")
    ax.legend(fontsize=8)
    return fig


def _writes_chart(writes: pd.DataFrame):
    runs = list(dict.fromkeys(writes["run_id"]))
    fig, ax = plt.subplots(figsize=(9, 3))
    bottom = [0] * len(runs)
    for system in ("salesforce", "hubspot"):
        for kind, alpha in (("landed", 1.0), ("refused", 0.45)):
            mine = writes[writes["system"] == system].set_index("run_id")[kind].reindex(runs, fill_value=0)
            ax.bar(range(len(runs)), mine.values, bottom=bottom, color=COLORS[system], alpha=alpha,
                   label=f"{system} {kind}", hatch="//" if kind == "refused" else None)
            bottom = [b + v for b, v in zip(bottom, mine.values, strict=True)]
    ax.set_xticks(range(len(runs)), [r[:8] for r in runs], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("record writes")
    ax.legend(fontsize=8)
    return fig


def _bars(labels: list[str], values: list[int], xlabel: str):
    fig, ax = plt.subplots(figsize=(9, max(1.5, 0.35 * len(labels) + 0.8)))
    ax.barh(labels[::-1], values[::-1], color="#888")
    ax.set_xlabel(xlabel)
    return fig


def page(config: SyncConfig, now: dt.datetime | None = None) -> str:
    """The page's HTML, from the state file of this configuration."""
    now = now or dt.datetime.now(dt.UTC)
    attempts = config.sync.max_attempts
    with db.opened_for(config) as con:
        calls, writes = figures.calls_per_day(con), figures.writes_per_run(con)
        errors, backlog = figures.open_errors(con), figures.backlog(con, attempts)
        head = figures.headline(con, attempts)
    sections = []

    def section(title: str, frame: pd.DataFrame, chart, empty: str) -> None:
        body = f"<p class=empty>{html.escape(empty)}</p>" if frame.empty else chart() + _table(frame)
        sections.append(f"<h2>{html.escape(title)}</h2>{body}")

    section("API calls per day, against each side's daily budget", calls,
            lambda: _svg(_calls_chart(calls, config)), "No API calls recorded yet: no run has happened.")
    section("Writes and rejections per run", writes, lambda: _svg(_writes_chart(writes)), "No run has written yet.")
    section("Open errors by cause", errors, lambda: _svg(_bars(
        [f"{r.system} {r.object} {r.code} {r.field}".strip() for r in errors.itertuples()],
        [int(v) for v in errors["errors"]], "open errors")),
        "No open errors: every value the sync decided to write was written.")
    section("Backlog in the outbox", backlog, lambda: _svg(_bars(
        [f"{r.pair} -> {r.target} ({kind})" for r in backlog.itertuples() for kind in ("due", "waiting")],
        [int(getattr(r, kind)) for r in backlog.itertuples() for kind in ("due", "waiting")], "record writes")),
        "The outbox is drained: nothing waits to be written.")
    tiles = "".join(f"<div>{html.escape(k.replace('_', ' '))}<b>{v:,}</b></div>" for k, v in head.items())
    return (f"<!doctype html><html><head><meta charset=utf-8><title>crm-sync report</title><style>{STYLE}</style>"
            f"</head><body><h1>crm-sync: sync health</h1><p>State {html.escape(config.state_path.name)}, written "
            f"{now:%Y-%m-%d %H:%M} UTC.</p><div class=head>{tiles}</div>{''.join(sections)}</body></html>")


def run_report(config_path: str, output: str | None = None) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"crm-sync report: {exc}", file=sys.stderr)
        return 2
    if not config.state_path.exists():
        print(f"crm-sync report: no state at {config.state_path} yet (nothing has run)", file=sys.stderr)
        return 1
    path = Path(output) if output else config.state_path.parent / "report.html"
    path.write_text(page(config))
    print(f"Report written to {path}")
    return 0
