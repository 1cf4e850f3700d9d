"""The `crm-sync` command: a sync cycle, reconcile, relink, the demo, the Dagster UI, the sandbox CRMs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SANDBOX_MISSING = ("crm-sync {verb}: the sandbox CRMs are not installed. They come with the `sandbox` extra: "
                   "`pip install 'crm-sync[sandbox]'`, or from a clone `pip install -e packages/crm-sandbox` "
                   "(./demo.sh and ./test.sh install it).")


def sandbox_module(verb: str):
    """crm_sandbox, imported only by the verbs that need it; a clear error naming the extra when it is missing."""
    try:
        import crm_sandbox.cli
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("crm_sandbox", "starlette", "uvicorn", "cryptography"):
            raise SystemExit(SANDBOX_MISSING.format(verb=verb)) from None
        raise
    return crm_sandbox


def _sandbox(args: argparse.Namespace) -> int:
    sandbox = sandbox_module("sandbox")
    return sandbox.cli.main(args.rest, prog="crm-sync sandbox")


def _run(args: argparse.Namespace) -> int:
    from crm_sync.runner import run_cycle

    return run_cycle(args.config, verbose=args.verbose)


def _backfill(args: argparse.Namespace) -> int:
    from crm_sync.runner import run_backfill

    return run_backfill(args.config, again=args.again, first=args.first, last=args.last)


def _reconcile(args: argparse.Namespace) -> int:
    from crm_sync.runner import run_reconcile

    return run_reconcile(args.config, verbose=args.verbose)


def _relink(args: argparse.Namespace) -> int:
    from crm_sync.runner import run_relink

    return run_relink(args.config)


def _plan(args: argparse.Namespace) -> int:
    from crm_sync.runner import run_plan

    return run_plan(args.config, json_path=args.json, sample=args.sample)


def _errors(args: argparse.Namespace) -> int:
    from crm_sync.health import run_errors

    return run_errors(args.config, code=args.code, field=args.field, system=args.system, as_json=args.json)


def _report(args: argparse.Namespace) -> int:
    from crm_sync.report_page import run_report

    return run_report(args.config, output=args.output)


def _retry(args: argparse.Namespace) -> int:
    from crm_sync.health import run_retry

    return run_retry(args.config, code=args.code, field=args.field, system=args.system)


def _check(args: argparse.Namespace) -> int:
    from crm_sync.runner import run_check

    return run_check(args.config)


def _explain(args: argparse.Namespace) -> int:
    from crm_sync.health import run_explain

    return run_explain(args.config, args.key, as_json=args.json, fresh=args.fresh)


def _schema(args: argparse.Namespace) -> int:
    from crm_sync.health import run_schema

    return run_schema()


def _selection(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
    command.add_argument("--code", help="only errors with this code (e.g. INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST)")
    command.add_argument("--field", help="only errors naming this field")
    command.add_argument("--system", choices=("salesforce", "hubspot"), help="only errors of writes to this CRM")
    return command


def _auth(args: argparse.Namespace) -> int:
    from crm_sync import auth
    from crm_sync.config import ConfigError

    try:
        flow = auth.salesforce if args.crm == "salesforce" else auth.hubspot
        return flow(args.config, port=args.port, save=args.save, open_browser=not args.no_browser,
                    timeout=args.timeout)
    except ConfigError as exc:
        print(f"crm-sync auth {args.crm}: {exc}", file=sys.stderr)
        return 2


def _ui(args: argparse.Namespace) -> int:
    from crm_sync.runner import run_ui

    return run_ui(args.config, port=args.port)


def _demo(args: argparse.Namespace) -> int:
    sandbox_module("demo")
    from crm_sync.demo import run_demo

    return run_demo(Path(args.dir), size=args.size, seed=args.seed, churn_seconds=args.churn_seconds)


def _with_config(command: argparse.ArgumentParser, verbose: str | None = None) -> argparse.ArgumentParser:
    """The options every verb that works on a connection takes: --config (and --verbose where it has a log)."""
    command.add_argument("--config", default="sync.yaml", help="configuration file (default: %(default)s)")
    if verbose:
        command.add_argument("--verbose", action="store_true", help=verbose)
    return command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm-sync", description="Bidirectional HubSpot <-> Salesforce sync.")
    sub = parser.add_subparsers(dest="command", required=True)

    sandbox = sub.add_parser("sandbox", help="the local sandbox CRMs: up | seed | churn (the `sandbox` extra)",
                             add_help=False)
    sandbox.add_argument("rest", nargs=argparse.REMAINDER, help="up | seed | churn and their options (see -h)")
    sandbox.set_defaults(func=_sandbox)

    run = _with_config(sub.add_parser("run", help="run one sync cycle in-process and print a summary"),
                       verbose="print Dagster's event log (every step's events)")
    run.set_defaults(func=_run)

    backfill = _with_config(sub.add_parser("backfill", help="the initial sync by creation-time partitions, with "
                                           "progress; run it again to resume"))
    backfill.add_argument("--from", dest="first", help="first partition key (e.g. 2023-01-01)")
    backfill.add_argument("--to", dest="last", help="last partition key")
    backfill.add_argument("--again", action="store_true", help="read partitions already read as well")
    backfill.set_defaults(func=_backfill)

    reconcile = _with_config(sub.add_parser("reconcile", help="read both CRMs whole, report what disagrees with "
                                            "the last sync (sync.drift, by cause) and heal it"),
                             verbose="print Dagster's event log")
    reconcile.set_defaults(func=_reconcile)

    relink = _with_config(sub.add_parser("relink", help="rebuild the links from the cross-ids both CRMs hold "
                                         "(after losing the state file, say); plans and writes nothing"))
    relink.set_defaults(func=_relink)

    plan = _with_config(sub.add_parser("plan", help="the next cycle's writes without sending any: counts by pair, "
                                       "target and action, and field diffs (old -> new, with the rule)"))
    plan.add_argument("--json", metavar="FILE", help="also write the plan to FILE (JSON) for review")
    plan.add_argument("--sample", type=int, default=20, help="field changes to show (default: %(default)s)")
    plan.set_defaults(func=_plan)

    errors = _selection(_with_config(sub.add_parser(
        "errors", help="open errors grouped by cause (kind, CRM, object, code, field) with counts and samples")))
    errors.add_argument("--json", action="store_true", help="print the groups as JSON")
    errors.set_defaults(func=_errors)
    report = _with_config(sub.add_parser(
        "report", help="write a self-contained HTML page of the sync's health (calls, writes, errors, backlog)"))
    report.add_argument("--output", help="where to write it (default: report.html beside the state file)")
    report.set_defaults(func=_report)

    retry = _selection(_with_config(sub.add_parser(
        "retry", help="re-queue refused writes now (all, or one group: --code, --field, --system)")))
    retry.set_defaults(func=_retry)

    check = _with_config(sub.add_parser("check", help="check the mappings against both CRMs' live metadata and "
                                        "the data last read, without syncing (exit 1 on errors)"))
    check.set_defaults(func=_check)

    explain = _with_config(sub.add_parser("explain", help="a record on each side: linked to what and how, why "
                                          "it is not in sync, its last synced values, its next writes"))
    explain.add_argument("key", help="an email, a HubSpot id or a Salesforce id")
    explain.add_argument("--json", action="store_true", help="print it as JSON")
    explain.add_argument("--fresh", action="store_true", help="first read both CRMs and plan the next cycle (the "
                         "plan job: nothing is sent), so its next writes include changes not read yet")
    explain.set_defaults(func=_explain)

    schema = sub.add_parser("schema", help="print the JSON schema of sync.yaml (for editors)")
    schema.set_defaults(func=_schema)

    auth = _with_config(sub.add_parser("auth", help="obtain a refresh token by the OAuth authorization-code flow "
                                       "(log in in a browser; the token is kept in an owner-only file)"))
    auth.add_argument("crm", choices=("salesforce", "hubspot"))
    auth.add_argument("--port", type=int, default=8765, help="local callback port: the app's callback URL must be "
                      "http://localhost:PORT/callback (default: %(default)s)")
    auth.add_argument("--save", help="where to keep the refresh token (default: ~/.config/crm-sync/<crm>-refresh-"
                      "token); a path inside a git working tree is refused")
    auth.add_argument("--no-browser", action="store_true", help="print the URL only")
    auth.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the login")
    auth.set_defaults(func=_auth)

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
