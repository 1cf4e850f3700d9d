"""Each sandbox CRM serves from a process of its own, so one's CPU never slows the other's answers."""

from __future__ import annotations

import os
import signal

import psutil
import requests

from crm_sandbox.server import SANDBOX_FILE, running_sandbox


def _listening_ports(pid: int) -> set[int]:
    return {c.laddr.port for c in psutil.Process(pid).net_connections() if c.status == psutil.CONN_LISTEN}


def test_each_crm_serves_from_its_own_process(tmp_path):
    with running_sandbox(tmp_path / "sb") as info:
        sf_pid, hs_pid = info["pids"]["salesforce"], info["pids"]["hubspot"]
        assert len({info["pid"], sf_pid, hs_pid}) == 3
        sf_port = int(info["salesforce"]["instance_url"].rsplit(":", 1)[1])
        hs_port = int(info["hubspot"]["base_url"].rsplit(":", 1)[1])
        assert _listening_ports(sf_pid) == {sf_port}
        assert _listening_ports(hs_pid) == {hs_port}
        assert _listening_ports(info["pid"]) == set()  # the watcher serves nothing itself
        contacts = requests.get(f"{info['hubspot']['base_url']}/crm/v3/objects/contacts",
                                headers={"Authorization": f"Bearer {info['hubspot']['access_token']}"}, timeout=10)
        assert contacts.status_code == 200
    assert not psutil.pid_exists(sf_pid) and not psutil.pid_exists(hs_pid)
    assert not (tmp_path / "sb" / SANDBOX_FILE).exists()


def test_a_crm_process_that_dies_stops_the_sandbox(tmp_path):
    """A half-running sandbox would pass for a working one: when one CRM's process ends, the other is stopped
    and sandbox.json withdrawn, so clients fail at once instead of timing out on one side."""
    directory = tmp_path / "sb"
    with running_sandbox(directory) as info:
        os.kill(info["pids"]["hubspot"], signal.SIGKILL)
        watcher = psutil.Process(info["pid"])
        assert watcher.wait(timeout=20) == 1
        assert not psutil.pid_exists(info["pids"]["salesforce"])
        assert not (directory / SANDBOX_FILE).exists()
