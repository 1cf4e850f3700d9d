"""The sandbox's command line (`python -m crm_sandbox`, and `crm-sync sandbox` in crm-sync): up, seed, churn."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crm_sandbox.server import DEFAULT_DIR, DEFAULT_HS_PORT, DEFAULT_SF_PORT


def _up(args: argparse.Namespace) -> int:
    from crm_sandbox.server import serve

    hs_scheme = "https" if args.hs_https else "http"
    print(f"{args.prog}: serving from {args.dir} (Salesforce on https://127.0.0.1:{args.sf_port or 'any'}, HubSpot "
          f"on {hs_scheme}://127.0.0.1:{args.hs_port or 'any'}); connection settings in "
          f"{Path(args.dir) / 'sandbox.json'}. Ctrl-C to stop.", flush=True)
    return serve(Path(args.dir), sf_port=args.sf_port, hs_port=args.hs_port, hs_https=args.hs_https)


def _seed(args: argparse.Namespace) -> int:
    from crm_sandbox.seed import format_summary, seed_sandbox

    try:
        summary = seed_sandbox(Path(args.dir), size=args.size, seed=args.seed)
    except ValueError as exc:
        print(f"{args.prog} seed: {exc}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    return 0


def _churn(args: argparse.Namespace) -> int:
    from crm_sandbox.churn import churn_main

    return churn_main(Path(args.dir), rate=args.rate, seed=args.seed, duration=args.duration)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The up / seed / churn verbs, on any subparsers object (crm-sync nests them under `sandbox`)."""
    up = sub.add_parser("up", help="run the sandbox CRMs in the foreground until Ctrl-C or SIGTERM")
    up.add_argument("--dir", default=str(DEFAULT_DIR), help="state folder (default: %(default)s)")
    up.add_argument("--sf-port", type=int, default=DEFAULT_SF_PORT, help="Salesforce HTTPS port (0 = any free)")
    up.add_argument("--hs-port", type=int, default=DEFAULT_HS_PORT, help="HubSpot port (0 = any free)")
    up.add_argument("--hs-https", action="store_true", help="serve HubSpot over HTTPS with the sandbox CA")
    up.set_defaults(func=_up)
    seed = sub.add_parser("seed", help="fill an empty sandbox with a realistic org and portal")
    seed.add_argument("--dir", default=str(DEFAULT_DIR), help="state folder (default: %(default)s)")
    seed.add_argument("--size", type=int, default=2000, help="people per side, 100..1,000,000 (default: %(default)s)")
    seed.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives the same data")
    seed.set_defaults(func=_seed)
    churn = sub.add_parser("churn", help="edit both sides of a running sandbox like real users do")
    churn.add_argument("--dir", default=str(DEFAULT_DIR), help="state folder of the running sandbox")
    churn.add_argument("--rate", type=float, default=2.0, help="edits per second across both sides")
    churn.add_argument("--seed", type=int, default=1)
    churn.add_argument("--duration", type=float, default=30.0, help="seconds")
    churn.set_defaults(func=_churn)


def main(argv: list[str] | None = None, prog: str = "crm-sandbox") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Local Salesforce and HubSpot API servers.")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.prog = prog
    return args.func(args)
