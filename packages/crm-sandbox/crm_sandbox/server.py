"""Run the sandbox CRMs, each in a process of its own: bind the ports, serve until SIGTERM/Ctrl-C, publish the
connection settings in sandbox.json."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from crm_sandbox.tls import ensure_tls

DEFAULT_DIR = Path("data/sandbox")
DEFAULT_SF_PORT = 8443
DEFAULT_HS_PORT = 8090
SANDBOX_FILE = "sandbox.json"


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this: without it, Nagle plus delayed ACKs add ~40 ms to small keep-alive replies.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


SYSTEMS = ("salesforce", "hubspot")


def _part_file(directory: Path, system: str) -> Path:
    return directory / f"sandbox.{system}.json"


def _publish(target: Path, info: dict) -> None:
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(target)  # readers never see a half-written file


async def _serve_one(directory: Path, system: str, port: int, https: bool) -> None:
    """Serve one CRM in this process until SIGTERM/SIGINT; publish its settings in sandbox.SYSTEM.json."""
    import uvicorn  # here: the watching process of serve() never needs it

    class _Server(uvicorn.Server):
        # Signals are handled by the loop's handlers below, which also cut idle keep-alive connections.
        @contextlib.contextmanager
        def capture_signals(self):
            yield

    directory = directory.resolve()
    tls = ensure_tls(directory)
    sock = _bind(port)
    scheme = "https" if system == "salesforce" or https else "http"
    url = f"{scheme}://127.0.0.1:{sock.getsockname()[1]}"
    if system == "salesforce":
        from crm_sandbox.salesforce.app import SalesforceService

        service = SalesforceService(directory, base_url=url)
        s = service.settings
        info = {"instance_url": url, "token_url": f"{url}/services/oauth2/token", "admin_url": f"{url}/__sandbox",
                "client_id": s["client_id"], "client_secret": s["client_secret"], "username": s["username"],
                "password": s["password"], "security_token": s["security_token"], "api_version": s["api_version"],
                "ca_file": str(tls.ca_file)}
        close = service.cursors.close_all
    else:
        from crm_sandbox.hubspot.app import HubSpotService

        service = HubSpotService(directory, base_url=url)
        info = {"base_url": url, "access_token": service.access_token, "admin_url": f"{url}/__sandbox"}
        if https:
            info["ca_file"] = str(tls.ca_file)
        close = service.close
    tls_options = {"ssl_certfile": str(tls.cert_file), "ssl_keyfile": str(tls.key_file)} if scheme == "https" else {}
    # h11, not httptools: uvicorn's httptools protocol lower-cases every response header name, h11 writes them as
    # the app gives them (the middleware gives the services' own spelling). uvicorn's date and server headers are
    # lower-case and outside the app; the middleware sends Date itself and the real services send no uvicorn.
    server = _Server(uvicorn.Config(service.app, log_level="warning", access_log=False, lifespan="off",
                                    timeout_keep_alive=30, timeout_graceful_shutdown=5, http="h11",
                                    date_header=False, server_header=False, **tls_options))
    loop = asyncio.get_running_loop()

    async def abort_idle_connections() -> None:
        # Idle keep-alive TLS connections wait for the client's close_notify (30 s by default);
        # clients never send it while idle, so give in-flight requests a moment and then cut them.
        await asyncio.sleep(0.5)
        for connection in list(server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()

    def stop() -> None:
        server.should_exit = True
        loop.create_task(abort_idle_connections())

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    target = _part_file(directory, system)
    if server.started:
        _publish(target, {"pid": os.getpid(), system: info})
    try:
        await task
    finally:
        close()
        with contextlib.suppress(FileNotFoundError):
            if json.loads(target.read_text()).get("pid") == os.getpid():
                target.unlink()


def serve_one(directory: Path, system: str, port: int, https: bool = False) -> None:
    asyncio.run(_serve_one(directory, system, port, https))


def _stop(procs: list[subprocess.Popen], timeout: float = 20.0) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve(directory: Path = DEFAULT_DIR, sf_port: int = DEFAULT_SF_PORT, hs_port: int = DEFAULT_HS_PORT,
          hs_https: bool = False, timeout: float = 60.0) -> int:
    """Serve in the foreground until SIGTERM or Ctrl-C: each CRM in a process of its own, so neither one's CPU
    slows the other's answers; this process watches both and publishes sandbox.json once both are up.
    Returns 0 on a requested stop, 1 when a CRM's process ended by itself (its part of sandbox.log says why)."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    ensure_tls(directory)  # once, here: two processes must not both create the CA
    target = directory / SANDBOX_FILE
    for system in SYSTEMS:
        with contextlib.suppress(FileNotFoundError):
            _part_file(directory, system).unlink()
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    ports = {"salesforce": sf_port, "hubspot": hs_port}
    procs = {system: subprocess.Popen(
        [sys.executable, "-m", "crm_sandbox.server", "--dir", str(directory), "--system", system,
         "--port", str(ports[system])] + (["--https"] if system == "hubspot" and hs_https else []))
        for system in SYSTEMS}
    try:
        deadline = time.monotonic() + timeout
        parts: dict[str, dict] = {}
        while len(parts) < len(SYSTEMS):
            if stopping.is_set() or any(p.poll() is not None for p in procs.values()):
                return 0 if stopping.is_set() else 1
            if time.monotonic() > deadline:
                print(f"sandbox: not up within {timeout}s", file=sys.stderr)
                return 1
            for system, proc in procs.items():
                with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                    part = json.loads(_part_file(directory, system).read_text())
                    if part.get("pid") == proc.pid:
                        parts[system] = part[system]
            stopping.wait(0.02)
        _publish(target, {"pid": os.getpid(), "pids": {s: p.pid for s, p in procs.items()},
                          "started_at": time.time(), **parts})
        while not stopping.is_set():
            if any(p.poll() is not None for p in procs.values()):
                return 1
            stopping.wait(0.2)
        return 0
    finally:
        _stop(list(procs.values()))
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            if json.loads(target.read_text()).get("pid") == os.getpid():
                target.unlink()


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


def _main(argv: list[str] | None = None) -> None:
    """`python -m crm_sandbox.server --system salesforce|hubspot`: one CRM's process, started by serve()."""
    import argparse

    parser = argparse.ArgumentParser(prog="crm_sandbox.server")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--system", choices=SYSTEMS, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--https", action="store_true")
    args = parser.parse_args(argv)
    serve_one(Path(args.dir), args.system, args.port, args.https)


if __name__ == "__main__":
    _main()
