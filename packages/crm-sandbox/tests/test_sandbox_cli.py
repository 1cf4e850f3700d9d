"""`python -m crm_sandbox up` (also `crm-sync sandbox up`): publishes sandbox.json, serves until SIGTERM, then stops
cleanly; seed and churn verbs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import requests

from tests.clients import http_session


def test_sandbox_up_writes_settings_and_stops_on_sigterm(tmp_path):
    directory = tmp_path / "sb"
    # Both ports free ones: the test never depends on the defaults (8443, 8090) being free.
    cli = [sys.executable, "-m", "crm_sandbox", "up", "--dir", str(directory), "--sf-port", "0", "--hs-port", "0"]
    proc = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        target = directory / "sandbox.json"
        deadline = time.monotonic() + 30
        while not target.exists():
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "sandbox.json did not appear"
            time.sleep(0.05)
        info = json.loads(target.read_text())
        sf = info["salesforce"]
        for key in ("instance_url", "token_url", "client_id", "client_secret", "ca_file"):
            assert sf[key], key
        assert sf["instance_url"].startswith("https://127.0.0.1:")
        resp = http_session(sf["ca_file"]).get(sf["instance_url"] + "/services/data/", timeout=10)
        assert resp.status_code == 200 and resp.json()[-1]["version"] == "59.0"  # versions listed oldest first
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not target.exists()
        try:
            requests.get(sf["instance_url"], verify=sf["ca_file"], timeout=2)
            raise AssertionError("server still answers after SIGTERM")
        except requests.exceptions.ConnectionError:
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sandbox_seed_command_prints_summary_and_refuses_twice(tmp_path):
    cli = [sys.executable, "-m", "crm_sandbox", "seed", "--dir", str(tmp_path / "sb"), "--size", "100",
           "--seed", "5"]
    first = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "Lead" in first.stdout and "contacts" in first.stdout
    second = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and str(tmp_path / "sb") in second.stderr


def test_sandbox_churn_command_needs_a_running_sandbox(tmp_path):
    cli = [sys.executable, "-m", "crm_sandbox", "churn", "--dir", str(tmp_path / "none"), "--duration", "1"]
    result = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "sandbox.json" in result.stderr
