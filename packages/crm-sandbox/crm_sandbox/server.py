"""Run the sandbox CRMs: bind the ports, serve until SIGTERM/Ctrl-C, publish connection settings in sandbox.json."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from crm_sandbox.tls import ensure_tls

DEFAULT_DIR = Path("data/sandbox")
DEFAULT_SF_PORT = 8443
DEFAULT_HS_PORT = 8090
SANDBOX_FILE = "sandbox.json"


class _Server(uvicorn.Server):
    # Several servers share one loop; signals are handled once, for all of them, in _serve_all.
    @contextlib.contextmanager
    def capture_signals(self):
        yield


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this: without it, Nagle plus delayed ACKs add ~40 ms to small keep-alive replies.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


async def _serve_all(directory: Path, sf_port: int, hs_port: int = DEFAULT_HS_PORT, hs_https: bool = False) -> None:
    from crm_sandbox.hubspot.app import HubSpotService
    from crm_sandbox.salesforce.app import SalesforceService

    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    tls = ensure_tls(directory)
    sf_sock = _bind(sf_port)
    sf_url = f"https://127.0.0.1:{sf_sock.getsockname()[1]}"
    salesforce = SalesforceService(directory, base_url=sf_url)
    hs_sock = _bind(hs_port)
    hs_url = f"{'https' if hs_https else 'http'}://127.0.0.1:{hs_sock.getsockname()[1]}"
    hubspot = HubSpotService(directory, base_url=hs_url)
    common = {"log_level": "warning", "access_log": False, "lifespan": "off", "timeout_keep_alive": 30,
              "timeout_graceful_shutdown": 5}
    hs_tls = {"ssl_certfile": str(tls.cert_file), "ssl_keyfile": str(tls.key_file)} if hs_https else {}
    servers = [
        (_Server(uvicorn.Config(salesforce.app, ssl_certfile=str(tls.cert_file), ssl_keyfile=str(tls.key_file),
                                **common)), sf_sock),
        (_Server(uvicorn.Config(hubspot.app, **hs_tls, **common)), hs_sock),
    ]
    s = salesforce.settings
    info = {
        "pid": os.getpid(),
        "started_at": time.time(),
        "salesforce": {
            "instance_url": sf_url,
            "token_url": f"{sf_url}/services/oauth2/token",
            "admin_url": f"{sf_url}/__sandbox",
            "client_id": s["client_id"],
            "client_secret": s["client_secret"],
            "username": s["username"],
            "password": s["password"],
            "security_token": s["security_token"],
            "api_version": s["api_version"],
            "ca_file": str(tls.ca_file),
        },
        "hubspot": {
            "base_url": hs_url,
            "access_token": hubspot.access_token,
            "admin_url": f"{hs_url}/__sandbox",
        },
    }
    if hs_https:
        info["hubspot"]["ca_file"] = str(tls.ca_file)
    loop = asyncio.get_running_loop()

    async def abort_idle_connections() -> None:
        # Idle keep-alive TLS connections wait for the client's close_notify (30 s by default);
        # clients never send it while idle, so give in-flight requests a moment and then cut them.
        await asyncio.sleep(0.5)
        for server, _ in servers:
            for connection in list(server.server_state.connections):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()

    def stop() -> None:
        for server, _ in servers:
            server.should_exit = True
        loop.create_task(abort_idle_connections())

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers]
    while not all(server.started for server, _ in servers):
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.01)
    target = directory / SANDBOX_FILE
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(target)  # readers never see a half-written file
    try:
        await asyncio.gather(*tasks)
    finally:
        salesforce.cursors.close_all()
        hubspot.close()
        with contextlib.suppress(FileNotFoundError):
            if json.loads(target.read_text()).get("pid") == os.getpid():
                target.unlink()


def serve(directory: Path = DEFAULT_DIR, sf_port: int = DEFAULT_SF_PORT, hs_port: int = DEFAULT_HS_PORT,
          hs_https: bool = False) -> None:
    """Serve in the foreground until SIGTERM or Ctrl-C."""
    asyncio.run(_serve_all(directory, sf_port, hs_port, hs_https))


@contextlib.contextmanager
def running_sandbox(directory: Path, sf_port: int = 0, hs_port: int = 0, hs_https: bool = False,
                    timeout: float = 60.0) -> Iterator[dict]:
    """Start the sandbox in a child process (port 0 = any free port) and yield its sandbox.json settings."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / SANDBOX_FILE
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    cmd = [sys.executable, "-m", "crm_sandbox", "up", "--dir", str(directory), "--sf-port", str(sf_port),
           "--hs-port", str(hs_port)] + (["--hs-https"] if hs_https else [])
    log = open(directory / "sandbox.log", "ab")  # noqa: SIM115 - kept open for the child's lifetime
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"sandbox exited with {proc.returncode}; see {directory / 'sandbox.log'}")
            if target.exists():
                info = json.loads(target.read_text())
                if info.get("pid") == proc.pid:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"sandbox did not start within {timeout}s; see {directory / 'sandbox.log'}")
            time.sleep(0.05)
        yield info
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
