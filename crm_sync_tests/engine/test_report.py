"""`crm-sync report`: the health figures from the state file, and the page that draws them (charts as inline
SVG, each with its figures as a table)."""

from __future__ import annotations

import re

from crm_sync.cli import main
from crm_sync.engine import figures, outbox
from crm_sync_tests.engine.test_errors import refused_people
from crm_sync_tests.engine.world import World


def test_the_figures_come_from_the_state(tmp_path):
    w = refused_people(tmp_path, n=4)  # 4 Lead creates refused (two codes), one run
    outbox.record_usage(w.con, "run-a", "salesforce", {"POST /composite/sobjects": 7, "GET /query": 3})
    outbox.record_usage(w.con, "run-a", "hubspot", {"POST /crm/v3/objects/contacts/search": 2})
    outbox.record_usage(w.con, "run-b", "salesforce", {"GET /query": 5})

    calls = figures.calls_per_day(w.con)
    assert dict(zip(calls["system"], calls["calls"], strict=True)) == {"salesforce": 15, "hubspot": 2}
    writes = figures.writes_per_run(w.con)
    refused = writes[writes["system"] == "salesforce"]
    assert (int(refused["landed"].sum()), int(refused["refused"].sum())) == (0, 4)
    errors = figures.open_errors(w.con)
    assert dict(zip(errors["code"], errors["errors"], strict=True)) == {
        "FIELD_CUSTOM_VALIDATION_EXCEPTION": 3, "INVALID_FIELD": 1}
    with_due = figures.backlog(w.con, max_attempts=5)
    # refused creates wait for their backoff; nothing is due this minute
    assert int(with_due["waiting"].sum()) == 4 and int(with_due["due"].sum()) == 0
    head = figures.headline(w.con, max_attempts=5)
    assert head == {"api_calls_today_salesforce": 15, "api_calls_today_hubspot": 2, "open_errors": 4,
                    "outbox_due": 0, "outbox_waiting": 4}


def test_the_page_draws_each_figure_and_writes_its_numbers(tmp_path, capsys):
    w = refused_people(tmp_path, n=4)
    outbox.record_usage(w.con, "run-a", "salesforce", {"GET /query": 1234})
    w.con.execute("CHECKPOINT")
    out = tmp_path / "health.html"
    assert main(["report", "--config", str(w.config_path), "--output", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    text = out.read_text()
    assert text.count("<svg") == 4  # calls per day, writes per run, errors by cause, backlog
    for title in ("API calls per day", "Writes and rejections per run", "Open errors by cause",
                  "Backlog in the outbox"):
        assert title in text
    assert "<td>1,234</td>" in text and "<b>1,234</b>" in text  # today's Salesforce calls, as table and tile
    assert re.search(r"FIELD_CUSTOM_VALIDATION_EXCEPTION</td><td class=t>Title</td><td>3</td>", text)
    assert not re.search(r"(src|href)=\"(https?:)?//", text) and "<script" not in text  # self-contained


def test_an_empty_state_gives_a_page_that_says_so_and_a_missing_one_an_error(tmp_path, capsys):
    w = World(tmp_path, only=("people",))
    w.con.execute("CHECKPOINT")
    out = tmp_path / "empty.html"
    assert main(["report", "--config", str(w.config_path), "--output", str(out)]) == 0
    text = out.read_text()
    assert "<svg" not in text and "no run has happened" in text and "The outbox is drained" in text
    w.con.close()
    w.config.state_path.unlink()
    assert main(["report", "--config", str(w.config_path)]) == 1
    assert "no state at" in capsys.readouterr().err
