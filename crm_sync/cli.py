"""The `crm-sync` command: the sandbox CRMs (up, seed, churn), one sync cycle, the demo, the Dagster UI."""

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


def _sandbox_seed(args: argparse.Namespace) -> int:
    from crm_sync.sandbox.seed import format_summary, seed_sandbox

    try:
        summary = seed_sandbox(Path(args.dir), size=args.size, seed=args.seed)
    except ValueError as exc:
        print(f"crm-sync sandbox seed: {exc}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    return 0


def _sandbox_churn(args: argparse.Namespace) -> int:
    from crm_sync.sandbox.churn import churn_main

    return churn_main(Path(args.dir), rate=args.rate, seed=args.seed, duration=args.duration)


def _run(args: argparse.Namespace) -> int:
    from crm_sync.runner import run_cycle

    return run_cycle(args.config)


def _ui(args: argparse.Namespace) -> int:
    from crm_sync.runner import run_ui

    return run_ui(args.config, port=args.port)


def _demo(args: argparse.Namespace) -> int:
    from crm_sync.demo import run_demo

    return run_demo(Path(args.dir), size=args.size, seed=args.seed, churn_seconds=args.churn_seconds)


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

    seed = sandbox_sub.add_parser("seed", help="fill an empty sandbox with a realistic org and portal")
    seed.add_argument("--dir", default=str(DEFAULT_DIR), help="state folder (default: %(default)s)")
    seed.add_argument("--size", type=int, default=2000, help="people per side, 100..1,000,000 (default: %(default)s)")
    seed.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives the same data")
    seed.set_defaults(func=_sandbox_seed)
    churn = sandbox_sub.add_parser("churn", help="edit both sides of a running sandbox like real users do")
    churn.add_argument("--dir", default=str(DEFAULT_DIR), help="state folder of the running sandbox")
    churn.add_argument("--rate", type=float, default=2.0, help="edits per second across both sides")
    churn.add_argument("--seed", type=int, default=1)
    churn.add_argument("--duration", type=float, default=30.0, help="seconds")
    churn.set_defaults(func=_sandbox_churn)

    run = sub.add_parser("run", help="run one sync cycle in-process and print a summary")
    run.add_argument("--config", default="sync.yaml", help="configuration file (default: %(default)s)")
    run.set_defaults(func=_run)

    ui = sub.add_parser("ui", help="open the Dagster UI on the configured connections (starts the sandbox if used)")
    ui.add_argument("--config", default="sync.yaml")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=_ui)

    demo = sub.add_parser("demo", help="sandbox + seed + sync until quiet + user edits + sync again, with a summary")
    demo.add_argument("--dir", default="data/demo", help="folder for the demo's sandbox and state")
    demo.add_argument("--size", type=int, default=2000, help="people per side (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=7, help="random seed for the data and the edits")
    demo.add_argument("--churn-seconds", type=float, default=20.0, help="how long users edit both sides")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
