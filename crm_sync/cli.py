"""The `crm-sync` command: run the sandbox CRMs, and (later) the sync itself."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crm_sync.sandbox.server import DEFAULT_DIR, DEFAULT_HS_PORT, DEFAULT_SF_PORT


def _sandbox_up(args: argparse.Namespace) -> int:
    from crm_sync.sandbox.server import serve

    hs_scheme = "https" if args.hs_https else "http"
    print(f"crm-sync sandbox: serving from {args.dir} (Salesforce on https://127.0.0.1:{args.sf_port}, HubSpot on "
          f"{hs_scheme}://127.0.0.1:{args.hs_port}); connection settings in {Path(args.dir) / 'sandbox.json'}. "
          "Ctrl-C to stop.", flush=True)
    serve(Path(args.dir), sf_port=args.sf_port, hs_port=args.hs_port, hs_https=args.hs_https)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from crm_sync.demo import run_demo

    return run_demo(Path(args.dir), size=args.size)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm-sync", description="Bidirectional HubSpot <-> Salesforce sync.")
    sub = parser.add_subparsers(dest="command", required=True)

    sandbox = sub.add_parser("sandbox", help="the local sandbox CRMs")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    up = sandbox_sub.add_parser("up", help="run the sandbox CRMs in the foreground until Ctrl-C or SIGTERM")
    up.add_argument("--dir", default=str(DEFAULT_DIR), help="state folder (default: %(default)s)")
    up.add_argument("--sf-port", type=int, default=DEFAULT_SF_PORT, help="Salesforce HTTPS port (0 = any free)")
    up.add_argument("--hs-port", type=int, default=DEFAULT_HS_PORT, help="HubSpot port (0 = any free)")
    up.add_argument("--hs-https", action="store_true", help="serve HubSpot over HTTPS with the sandbox CA")
    up.set_defaults(func=_sandbox_up)

    demo = sub.add_parser("demo", help="start the sandbox, load sample data, show what it serves, stop")
    demo.add_argument("--dir", default="data/demo", help="state folder (default: %(default)s)")
    demo.add_argument("--size", type=int, default=2000, help="sample people to load (default: %(default)s)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
