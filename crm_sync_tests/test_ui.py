"""`crm-sync ui` started in the background (SIGINT ignored, as a non-interactive shell's `&` leaves it) stops
on SIGTERM, and takes dagster dev, its webserver and its daemon with it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import psutil
import requests
import yaml

from crm_sync_tests.sync_harness import ROOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ui_in_the_background_stops_on_sigterm_with_everything_it_started(tmp_path):
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    # A real-org config: the UI loads the definitions without starting a sandbox or reading any secret.
    raw["connections"] = {"salesforce": {"kind": "client_credentials"}, "hubspot": {"kind": "private_app"}}
    raw["state_path"] = str(tmp_path / "state" / "crm_sync.duckdb")
    config = tmp_path / "sync.yaml"
    config.write_text(yaml.safe_dump(raw))
    port = _free_port()

    def as_background_job() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    log = (tmp_path / "ui.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "crm_sync.cli", "ui", "--config", str(config), "--port",
                             str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, preexec_fn=as_background_job,
                            start_new_session=True)
    started: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the Dagster UI did not answer within 180 s"
            try:
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        started = psutil.Process(proc.pid).children(recursive=True)
        assert len(started) >= 2, [p.cmdline() for p in started]  # dagster dev and what it started
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(started, timeout=30)
        assert alive == [], [p.cmdline() for p in alive]
    finally:
        for p in [*started, psutil.Process(proc.pid) if proc.poll() is None else None]:
            if p is not None and p.is_running():
                p.kill()
        log.close()
